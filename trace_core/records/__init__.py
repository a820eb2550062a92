"""The record layer: immutable versions, the hash-chained audit trail and electronic
signatures. Public surface: ``RecordKeeper``, ``SIGNATURE_MEANINGS``, the models."""

from trace_core.records.models import AuditEvent, RecordVersion, ServerKey, Signature
from trace_core.records.service import SIGNATURE_MEANINGS, RecordKeeper, SignatureView

__all__ = [
    "SIGNATURE_MEANINGS",
    "AuditEvent",
    "RecordKeeper",
    "RecordVersion",
    "ServerKey",
    "Signature",
    "SignatureView",
]
