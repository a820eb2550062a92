"""The composition root of the domain: ``Runtime`` holds what lives for the whole process
(session maker, object store, signing key, limits); ``Services`` is one unit of work for one
actor; ``provide_services()`` opens one without a web request (CLI, jobs, tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents import ObjectStore
from trace_core.identity.actor import Actor
from trace_core.identity.passwords import DEFAULT_COST
from trace_core.mail import Mailer, default_mailer
from trace_core.packing.sscc import SsccRange
from trace_core.records.keys import ServerSigningKey
from trace_core.records.service import RecordKeeper

if TYPE_CHECKING:
    from trace_core.attachments.service import AttachmentService
    from trace_core.certificates.service import CertificateService
    from trace_core.epcis.service import EpcisService
    from trace_core.gates.gate import MaterialGate
    from trace_core.gates.holds import HoldService
    from trace_core.identity.service import IdentityService
    from trace_core.inventory.service import InventoryService
    from trace_core.lots.service import LotService
    from trace_core.lots.staff_entry import StaffEntryService
    from trace_core.packing.service import PackingService
    from trace_core.parts.service import PartService
    from trace_core.processes.service import ProcessService
    from trace_core.production.service import ProductionService
    from trace_core.recalls.service import RecallService
    from trace_core.receipts.inspection import InspectionService
    from trace_core.receipts.service import ReceiptService
    from trace_core.records.audit_trail import AuditTrailService
    from trace_core.records.views import RecordService
    from trace_core.release.service import ReleaseService
    from trace_core.shipments.service import ShipmentService
    from trace_core.trace.service import TraceService


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 20 * 1024 * 1024
    """Largest accepted upload (bytes)."""
    pdf_timeout_s: float = 15.0
    """Wall-clock limit for reading one PDF."""
    pdf_max_pages: int = 500
    """PDFs with more pages are refused."""
    max_failed_logins: int = 5
    """Failed password checks (login or signing) before the account locks."""
    password_hash_cost: int = DEFAULT_COST
    """scrypt's cost N (a power of two) for new password and client-secret hashes; a stored
    hash keeps its own, so raising it, or lowering it in tests, locks nobody out."""
    session_idle_minutes: int = 15
    """A web session ends after this long without a request."""
    session_absolute_hours: int = 12
    """A web session ends this long after login, whatever the activity."""
    token_lifetime_s: int = 900
    """Lifetime of an OAuth2 access token."""
    signing_idle_minutes: int = 5
    """Continuous-session rule (P11-21): a signature more than this long after the session's
    previous one (or the first in a session) needs every component: user id, password and,
    when enrolled, the one-time code."""
    checkpoint_every: int = 500
    """The audit chain head is signed (a checkpoint) every this many events."""
    password_max_age_days: int = 0
    """Password aging (P11-23): an older password must be changed at the next sign-in; 0 = off."""
    login_window_seconds: int = 300
    """The login rate limit's sliding window."""
    login_max_per_ip: int = 20
    """Failed sign-ins from one address within the window before it is refused (429)."""
    login_max_per_account: int = 10
    """Failed sign-ins for one user name within the window before it is refused (429)."""
    invitation_valid_hours: int = 72
    """An invitation link works this long, once."""
    reset_valid_minutes: int = 60
    """A password-reset link works this long, once."""
    epcis_max_document_bytes: int = 8 * 1024 * 1024
    """Largest EPCIS document one capture accepts (bytes); larger ones answer 413."""
    epcis_max_events: int = 10_000
    """Most events one EPCIS capture may hold; more answer 413."""
    late_entry_days: int = 30
    """A CoA whose manufacture/test date is more than this many days before its submission is
    accepted with a visible late-entry flag (DI-02)."""
    totp_required_roles: tuple[str, ...] = ("qa_approver", "supplier_signer", "cm_signer")
    """Roles whose holders must enrol an authenticator (P11-26) before they can do anything
    else in the portal; empty turns the policy off."""


@dataclass(frozen=True)
class Runtime:
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    signing_key: ServerSigningKey
    token_key: bytes
    limits: Limits = Limits()
    #: Outgoing e-mail (``trace_core/mail.py``); without settings, the ``var/outbox`` folder.
    mailer: Mailer = field(default_factory=default_mailer)
    #: Our SSCC number range (GS1 company prefix and extension digit); ``None``: SSCCs are
    #: only typed or scanned, never allocated (``TRACEPORT_GS1_COMPANY_PREFIX``).
    sscc_range: SsccRange | None = None


class Services:
    """One unit of work: a database session and the domain services, acting for ``actor``."""

    def __init__(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> None:
        self.runtime = runtime
        self.session = session
        self.actor = actor
        self.store = runtime.store
        self.limits = runtime.limits
        self.keeper = RecordKeeper(
            session, actor, runtime.signing_key, checkpoint_every=runtime.limits.checkpoint_every
        )

    @cached_property
    def identity(self) -> IdentityService:
        from trace_core.identity.service import IdentityService

        return IdentityService(self)

    @cached_property
    def parts(self) -> PartService:
        from trace_core.parts.service import PartService

        return PartService(self)

    @cached_property
    def attachments(self) -> AttachmentService:
        from trace_core.attachments.service import AttachmentService

        return AttachmentService(self)

    @cached_property
    def lots(self) -> LotService:
        from trace_core.lots.service import LotService

        return LotService(self)

    @cached_property
    def staff_entry(self) -> StaffEntryService:
        from trace_core.lots.staff_entry import StaffEntryService

        return StaffEntryService(self)

    @cached_property
    def processes(self) -> ProcessService:
        from trace_core.processes.service import ProcessService

        return ProcessService(self)

    @cached_property
    def certificates(self) -> CertificateService:
        from trace_core.certificates.service import CertificateService

        return CertificateService(self)

    @cached_property
    def inventory(self) -> InventoryService:
        from trace_core.inventory.service import InventoryService

        return InventoryService(self)

    @cached_property
    def receipts(self) -> ReceiptService:
        from trace_core.receipts.service import ReceiptService

        return ReceiptService(self)

    @cached_property
    def inspections(self) -> InspectionService:
        from trace_core.receipts.inspection import InspectionService

        return InspectionService(self)

    @cached_property
    def production(self) -> ProductionService:
        from trace_core.production.service import ProductionService

        return ProductionService(self)

    @cached_property
    def release(self) -> ReleaseService:
        from trace_core.release.service import ReleaseService

        return ReleaseService(self)

    @cached_property
    def shipments(self) -> ShipmentService:
        from trace_core.shipments.service import ShipmentService

        return ShipmentService(self)

    @cached_property
    def packing(self) -> PackingService:
        from trace_core.packing.service import PackingService

        return PackingService(self)

    @cached_property
    def records(self) -> RecordService:
        from trace_core.records.views import RecordService

        return RecordService(self)

    @cached_property
    def recalls(self) -> RecallService:
        from trace_core.recalls.service import RecallService

        return RecallService(self)

    @cached_property
    def audit_trail(self) -> AuditTrailService:
        from trace_core.records.audit_trail import AuditTrailService

        return AuditTrailService(self)

    @cached_property
    def trace(self) -> TraceService:
        from trace_core.trace.service import TraceService

        return TraceService(self)

    @cached_property
    def epcis(self) -> EpcisService:
        from trace_core.epcis.service import EpcisService

        return EpcisService(self)

    @cached_property
    def gate(self) -> MaterialGate:
        """The material gate every movement asks before it writes (``docs/GATES.md``)."""
        from trace_core.gates.gate import MaterialGate

        return MaterialGate(self.session)

    @cached_property
    def holds(self) -> HoldService:
        from trace_core.gates.holds import HoldService

        return HoldService(self)


@asynccontextmanager
async def provide_services(runtime: Runtime, actor: Actor) -> AsyncIterator[Services]:
    """A unit of work outside a web request. Anything not committed is rolled back."""
    async with runtime.sessions() as session:
        yield Services(runtime, session, actor)
