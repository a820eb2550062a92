"""Supplier lots our staff type from a supplier's paper Certificate of Analysis, and the second
person's check of what was typed (A11-03).

A supplier without portal access sends its CoA on paper or as a scan. Someone of ours types the
lot number, expiry, quantity and results on the supplier's behalf and attaches the scan. Typed
data is the commonest source of a wrong record, so it does not count until a *different* person
has compared the typed values with the PDF and signed "verified against the source document":
until then the lot is ``needs_verification`` — it cannot be approved, received or used, and it
shows in no review queue. The typist cannot verify their own typing (separation of duties). A
wrong entry is voided with a reason and typed again; the void, like everything else, stays in
the record.

States: needs_verification → submitted (verify) | voided (void); from submitted the lot follows
the supplier lot's ordinary path (``trace_core/lots/service.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.identity.service import SigningCredentials
from trace_core.lots.models import SupplierLot
from trace_core.lots.service import ENTRY_VERIFIED_MEANING, LotSubmission
from trace_core.parts.models import ApprovedSupplier
from trace_core.records.signing import require_signing_person

if TYPE_CHECKING:
    from trace_core.services import Services

NEEDS_VERIFICATION = "needs_verification"


class StaffEntryService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session

    async def suppliers(self, actor: Actor) -> list[Organization]:
        """The organizations on the approved supplier list, for whom our staff may type a lot."""
        actor.require("lots.enter_for_supplier")
        query = (
            select(Organization)
            .join(ApprovedSupplier, ApprovedSupplier.organization_id == Organization.id)
            .where(ApprovedSupplier.status == "approved")
            .order_by(Organization.name)
        )
        return list((await self.session.scalars(query)).unique())

    async def enter(
        self, actor: Actor, organization_id: int | None, submission: LotSubmission
    ) -> SupplierLot:
        """Record a lot typed from a supplier's paper CoA; it waits for a second person's
        verification. Every problem is reported at once; nothing is written unless all is
        valid."""
        actor.require("lots.enter_for_supplier")
        if not actor.is_internal or actor.kind != "user" or actor.id is None:
            raise PermissionDenied(
                "Only a named person of ours enters a lot on a supplier's behalf."
            )
        supplier = (
            await self.session.get(Organization, organization_id)
            if organization_id is not None
            else None
        )
        if supplier is None or supplier.kind == "internal":
            raise ValidationFailed({"supplier": "Choose the supplier whose certificate this is."})
        valid = await self.s.lots._validate(actor, submission, None, supplier.id)
        return await self.s.lots._record(
            actor, valid, supplier.id, NEEDS_VERIFICATION, entered_by_staff=True
        )

    async def verify(
        self,
        actor: Actor,
        lot_id: int,
        credentials: SigningCredentials,
        expected_version: int,
        comment: str = "",
    ) -> SupplierLot:
        """A second person signs that the typed values match the source PDF; the lot is then
        submitted for QA's review like any other."""
        require_signing_person(actor)
        actor.require("lots.verify_entry")
        if not actor.is_internal:
            raise PermissionDenied("Only our staff verify what our staff typed.")
        lots = self.s.lots
        lot = await lots._for_transition(actor, lot_id, "verify", expected_version)
        if not lot.entered_by_staff:  # pragma: no cover - only staff entries need verification
            raise NotFound("No such lot waiting for verification.")
        if lot.created_by_id == actor.id:
            raise PermissionDenied(
                "You typed this lot; a different person must verify it against the certificate."
            )
        await lots.flow.sign(
            actor, lot, credentials, "verify", ENTRY_VERIFIED_MEANING, comment.strip() or None
        )
        return await lots.flow.move(lot, "submitted")

    async def waiting(self, actor: Actor) -> list[SupplierLot]:
        """Lots typed by our staff that wait for a second person's verification."""
        actor.require("lots.verify_entry")
        return await self.s.lots.list(actor, status=NEEDS_VERIFICATION)
