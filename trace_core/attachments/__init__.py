"""The attachments area: models and service."""
