"""The lots area: models and service."""
