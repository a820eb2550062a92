"""The identity area: models and service."""
