"""Traceport's domain, free of any web framework: models, services (units of work), the
record layer (versions, audit chain, signatures), rules and genealogy queries.

Public surface: ``Runtime``, ``Services``, ``provide_services``, ``Limits``, ``Actor``."""

from trace_core.identity.actor import Actor
from trace_core.services import Limits, Runtime, Services, provide_services

__all__ = ["Actor", "Limits", "Runtime", "Services", "provide_services"]
