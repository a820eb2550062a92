"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from trace_core.attachments.models import Document
from trace_core.certificates.models import CertificatePart, SupplierCertificate
from trace_core.db import Base
from trace_core.epcis.models import EpcisCapture, EpcisEvent, EpcisEventIdentifier, EpcisObject
from trace_core.gates.models import MaterialHold
from trace_core.identity.models import ApiClient, ClientSecret, Organization, User, WebSession
from trace_core.identity.onboarding_models import (
    IdentityVerification,
    Invitation,
    LoginAttempt,
    PasswordReset,
    Site,
)
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import LotResult, SupplierLot
from trace_core.packing.models import PackingEvent, ShippingUnit, ShippingUnitItem
from trace_core.parts.models import (
    ApprovedSupplier,
    Characteristic,
    Part,
    PartRequiredProcess,
    Specification,
)
from trace_core.processes.models import (
    ProcessApproval,
    ProcessRun,
    ProcessRunLot,
    ProcessRunValue,
)
from trace_core.production.models import WorkOrder, WorkOrderInput
from trace_core.recalls.models import FieldAction, Recall, SuspectReport
from trace_core.receipts.models import (
    InspectionPlanItem,
    InspectionResult,
    NumberCounter,
    Receipt,
    ReceiptInspection,
)
from trace_core.records.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditReview,
    RecordVersion,
    ServerKey,
    Signature,
)
from trace_core.release.models import FinishedLotRelease
from trace_core.shipments.models import Shipment, ShipmentItem
from trace_core.trace.models import TraceEdge, TraceNode

__all__ = [
    "ApiClient",
    "ApprovedSupplier",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditReview",
    "Base",
    "CertificatePart",
    "Characteristic",
    "ClientSecret",
    "Document",
    "EpcisCapture",
    "EpcisEvent",
    "EpcisEventIdentifier",
    "EpcisObject",
    "FieldAction",
    "FinishedLotRelease",
    "IdentityVerification",
    "InspectionPlanItem",
    "InspectionResult",
    "InternalLot",
    "Invitation",
    "LoginAttempt",
    "LotResult",
    "MaterialHold",
    "NumberCounter",
    "Organization",
    "PackingEvent",
    "Part",
    "PartRequiredProcess",
    "PasswordReset",
    "ProcessApproval",
    "ProcessRun",
    "ProcessRunLot",
    "ProcessRunValue",
    "Recall",
    "Receipt",
    "ReceiptInspection",
    "RecordVersion",
    "Serial",
    "ServerKey",
    "Shipment",
    "ShipmentItem",
    "ShippingUnit",
    "ShippingUnitItem",
    "Signature",
    "Site",
    "Specification",
    "SupplierCertificate",
    "SupplierLot",
    "SuspectReport",
    "TraceEdge",
    "TraceNode",
    "User",
    "WebSession",
    "WorkOrder",
    "WorkOrderInput",
]
