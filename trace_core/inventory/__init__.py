"""The inventory area: models and service."""
