"""The production area: models and service."""
