"""The parts area: models and service."""
