"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from trace_core.attachments.models import Document
from trace_core.db import Base
from trace_core.identity.models import ApiClient, Organization, User, WebSession
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import LotResult, SupplierLot
from trace_core.parts.models import ApprovedSupplier, Characteristic, Part, Specification
from trace_core.production.models import WorkOrder, WorkOrderInput
from trace_core.receipts.models import Receipt
from trace_core.records.models import AuditEvent, RecordVersion, ServerKey, Signature
from trace_core.shipments.models import Shipment, ShipmentItem
from trace_core.trace.models import TraceEdge, TraceNode

__all__ = [
    "ApiClient",
    "ApprovedSupplier",
    "AuditEvent",
    "Base",
    "Characteristic",
    "Document",
    "InternalLot",
    "LotResult",
    "Organization",
    "Part",
    "Receipt",
    "RecordVersion",
    "Serial",
    "ServerKey",
    "Shipment",
    "ShipmentItem",
    "Signature",
    "Specification",
    "SupplierLot",
    "TraceEdge",
    "TraceNode",
    "User",
    "WebSession",
    "WorkOrder",
    "WorkOrderInput",
]
