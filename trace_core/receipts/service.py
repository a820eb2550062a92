"""Goods receipts. A received lot lands in quarantine unless its CoA is already approved; QA's
approval of the supplier lot later releases it, a rejection rejects it (QMS-06).

Each receipt also records whether the supplier's accepted certificates covered the part on
the receipt date (CERT-01): the answer and the certificate version it rests on are part of
the receipt's first version, and a flag (anything but ``covered``) is its own audit event so
that QA finds it in the trail. A flag does not block the receipt — the approved supplier list
does that (QMS-01); a certificate lapse is QA's to judge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from trace_core.certificates.coverage import coverage_on
from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, ValidationFailed
from trace_core.gates import Movement
from trace_core.identity.actor import Actor
from trace_core.lots.models import SupplierLot
from trace_core.quantities import parse_quantity
from trace_core.receipts.models import Receipt
from trace_core.trace.models import TraceEdge, node_id

if TYPE_CHECKING:
    from trace_core.services import Services


@dataclass(frozen=True)
class ReceiptInput:
    supplier_lot_id: int
    quantity: str
    internal_lot_number: str | None = None


class ReceiptService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def post(self, actor: Actor, data: ReceiptInput, *, commit: bool = True) -> Receipt:
        """Receive a supplier lot. ``commit=False``: inside a larger unit of work that commits
        (an EPCIS capture's receiving events, ``trace_core/epcis/service.py``)."""
        actor.require("receipts.post")
        if not actor.is_internal:
            raise NotFound("No such lot.")
        lot = await self.session.get(SupplierLot, data.supplier_lot_id)
        if lot is None:
            raise ValidationFailed({"supplier_lot_id": "No such supplier lot."})
        errors: dict[str, str] = {}
        try:
            quantity = parse_quantity(data.quantity)
        except ValueError as exc:
            errors["quantity"] = str(exc)
        if errors:
            raise ValidationFailed(errors)
        # QMS-10: review status and material hold (recall, QA hold) in one place.
        await self.s.gate.check(Movement.RECEIVE, supplier_lots=[("supplier_lot_id", lot)])
        if not await self.s.parts.is_approved_supplier(lot.organization_id, lot.part_id):
            raise Conflict(
                f"{lot.organization.name} is not an approved supplier of part "
                f"{lot.part.number}; the receipt is blocked."
            )
        received = (
            await self.session.scalar(select(func.coalesce(func.count(), 0)).select_from(Receipt))
            or 0
        )
        number = f"GR-{received + 1:06d}"
        internal_number = (data.internal_lot_number or "").strip() or f"IL-{number[3:]}"
        status = "released" if lot.status == "approved" else "quarantine"
        internal = await self.s.inventory.create_lot(
            internal_number, lot.part, "material", quantity, lot.unit, status, "receive"
        )
        received_at = utc_now()
        coverage = await coverage_on(
            self.session, lot.organization_id, lot.part_id, lot.part.kind, received_at.date()
        )
        certificate = coverage.certificate
        receipt = Receipt(
            number=number,
            supplier_lot_id=lot.id,
            internal_lot_id=internal.id,
            quantity=quantity,
            unit=lot.unit,
            supplier_lot=lot,
            internal_lot=internal,
            received_at=received_at,
            certificate_status=coverage.status,
            certificate_id=certificate.id if certificate else None,
            certificate_version=certificate.version if certificate else None,
        )
        self.session.add(receipt)
        await self.session.flush()
        source = await node_id(self.session, "supplier_lot", lot.id)
        target = await node_id(self.session, "internal_lot", internal.id)
        self.session.add(
            TraceEdge(
                source_id=source,
                source_kind="supplier_lot",
                target_id=target,
                target_kind="internal_lot",
                kind="receipt",
                event_type="receipt",
                event_id=receipt.id,
                quantity=quantity,
                unit=lot.unit,
            )
        )
        await self.keeper.write_version(
            "receipt",
            receipt.id,
            status="posted",
            action="create",
            data={
                "number": number,
                "supplier_lot_id": lot.id,
                "supplier": lot.organization.name,
                "supplier_lot_number": lot.lot_number,
                "internal_lot_number": internal_number,
                "quantity": quantity,
                "unit": lot.unit,
                "internal_lot_status": status,
                "certificate_check": coverage.as_dict(),
            },
        )
        if coverage.flagged:
            self.keeper.audit(
                "certificate_flag",
                "receipt",
                receipt.id,
                new={
                    "certificate_status": coverage.status,
                    "supplier_lot_number": lot.lot_number,
                    "explanation": coverage.explanation(),
                },
            )
        if commit:
            await self.keeper.commit()
        return receipt

    async def on_supplier_lot_decided(self, lot: SupplierLot, status: str) -> None:
        """Release (or reject) the quarantined internal lots received from ``lot``."""
        receipts = await self.session.scalars(
            select(Receipt).where(Receipt.supplier_lot_id == lot.id)
        )
        for receipt in receipts.unique():
            if receipt.internal_lot.status == "quarantine":
                new = "released" if status == "approved" else "rejected"
                await self.s.inventory.set_status(
                    receipt.internal_lot, new, f"supplier lot {lot.lot_number} {status}"
                )

    async def list(self, actor: Actor) -> list[Receipt]:
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        return list(
            (
                await self.session.scalars(
                    select(Receipt)
                    .order_by(Receipt.received_at.desc(), Receipt.id.desc())
                    .limit(200)
                )
            ).unique()
        )
