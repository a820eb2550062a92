"""The trace area: models and service."""
