"""The shipments area: models and service."""
