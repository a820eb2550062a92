"""The receipts area: models and service."""
