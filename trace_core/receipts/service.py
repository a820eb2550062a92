"""Goods receipts. A received lot lands in quarantine unless its CoA is already approved and its
part has no incoming inspection plan; QA's approval of the supplier lot later releases it (once
a required inspection is released too), a rejection rejects it (QMS-06).

A receipt cannot exceed what the supplier declared it shipped: the supplier lot's quantity,
plus the part's over-receipt tolerance (default 0 %), less what was received of it before,
all in the lot's unit (a receipt in another unit is converted exactly first,
``trace_core.units``). Partial receipts are fine; an over-receipt is refused, not warned.
Receipts of one supplier lot are serialised by a row lock on the lot, so two receipts posted
at once cannot both take the last kilogram.

Receipt numbers come from ``receipt_number_seq`` (PostgreSQL) or the ``number_counters`` row
(SQLite), never from counting rows, so receipts posted at once get distinct numbers.

Each receipt also records whether the supplier's accepted certificates covered the part on
the receipt date (CERT-01): the answer and the certificate version it rests on are part of
the receipt's first version, and a flag (anything but ``covered``) is its own audit event so
that QA finds it in the trail. A flag does not block the receipt — the approved supplier list
does that (QMS-01); a certificate lapse is QA's to judge."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import select

from trace_core.certificates.coverage import coverage_on
from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, ValidationFailed
from trace_core.gates import Movement
from trace_core.identity.actor import Actor
from trace_core.lots.models import SupplierLot
from trace_core.numbering import next_in_series
from trace_core.parts.models import Part
from trace_core.quantities import check_storable, parse_quantity
from trace_core.receipts.models import InspectionPlanItem, Receipt
from trace_core.trace.models import TraceEdge, node_id
from trace_core.units import UnitError, canonical_unit, convert_quantity, plain_decimal

if TYPE_CHECKING:
    from trace_core.services import Services

#: The largest over-receipt tolerance a part may carry, in percent.
MAX_TOLERANCE_PCT = Decimal(100)

#: The over-receipt rule, in the words a refusal gives (values filled in; the portal
#: translates the rule before filling them in).
OVER_RECEIPT = (
    "Over-receipt refused: supplier lot %(lot)s (part %(part)s) was declared as %(declared)s "
    "%(unit)s; %(received)s %(unit)s were received before; with the part's over-receipt "
    "tolerance of %(tolerance)s %% at most %(maximum)s %(unit)s may be received in all, so at "
    "most %(remaining)s %(unit)s now — this receipt is %(quantity)s %(unit)s."
)


def unit_problem(reason: str) -> str:
    """What is wrong with a receipt's unit (the field ``unit``), by ``UnitError.reason``."""
    if reason == "missing":
        return "Name a unit, or leave it out to use the lot's unit."
    if reason == "unknown":
        return "This unit is not known; use the supplier lot's unit or one convertible into it."
    if reason == "incompatible":
        return "This unit cannot be converted into the supplier lot's unit."
    return "In the lot's unit this quantity would need more than 6 decimal places."


class ReceiptRefused(Conflict):
    """A receipt or inspection step refused by a rule that names the record blocking it.
    ``rule`` is the fixed English text with ``%(name)s`` placeholders, ``values`` fill them,
    ``field`` is the input the refusal is about; ``message`` is the filled-in English text."""

    def __init__(self, rule: str, field: str, **values: object) -> None:
        super().__init__(rule % values)
        self.rule = rule
        self.field = field
        self.values = values


@dataclass(frozen=True)
class ReceiptInput:
    supplier_lot_id: int
    quantity: str
    internal_lot_number: str | None = None
    #: The unit the quantity is counted in; None: the supplier lot's unit.
    unit: str | None = None


@dataclass(frozen=True)
class ReceiptAllowance:
    """What may still be received of a supplier lot, all in the lot's unit."""

    declared: Decimal
    received: Decimal
    tolerance_pct: Decimal
    unit: str

    @property
    def maximum(self) -> Decimal:
        return plain_decimal(self.declared + self.declared * self.tolerance_pct / 100)

    @property
    def remaining(self) -> Decimal:
        return plain_decimal(max(self.maximum - self.received, Decimal(0)))


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
        received_quantity: Decimal | None = None
        try:
            received_quantity = parse_quantity(data.quantity)
        except ValueError as exc:
            errors["quantity"] = str(exc)
        unit_received = lot.unit if data.unit is None else canonical_unit(data.unit)
        quantity = received_quantity
        if received_quantity is not None:
            try:
                quantity = convert_quantity(received_quantity, unit_received, lot.unit)
            except UnitError as exc:
                errors["unit"] = unit_problem(exc.reason)
        elif not unit_received.strip():
            errors["unit"] = unit_problem("missing")
        if errors:
            raise ValidationFailed(errors)
        assert quantity is not None and received_quantity is not None
        # QMS-10: review status and material hold (recall, QA hold) in one place.
        await self.s.gate.check(Movement.RECEIVE, supplier_lots=[("supplier_lot_id", lot)])
        if not await self.s.parts.is_approved_supplier(lot.organization_id, lot.part_id):
            raise Conflict(
                f"{lot.organization.name} is not an approved supplier of part "
                f"{lot.part.number}; the receipt is blocked."
            )
        # Receipts of one lot wait for each other here (PostgreSQL row lock; SQLite has one
        # writer), so the sum below is the sum the receipt is checked against at commit.
        await self.session.execute(
            select(SupplierLot.id).where(SupplierLot.id == lot.id).with_for_update()
        )
        allowance = await self.allowance(lot)
        if allowance.received + quantity > allowance.maximum:
            raise ReceiptRefused(
                OVER_RECEIPT,
                "quantity",
                lot=lot.lot_number,
                part=lot.part.number,
                declared=allowance.declared,
                received=allowance.received,
                tolerance=allowance.tolerance_pct,
                maximum=allowance.maximum,
                remaining=allowance.remaining,
                quantity=quantity,
                unit=lot.unit,
            )
        number = f"GR-{await next_in_series(self.session, 'receipt'):06d}"
        internal_number = (data.internal_lot_number or "").strip() or f"IL-{number[3:]}"
        inspected = await self.has_inspection_plan(lot.part_id)
        # An inspection plan keeps the lot in quarantine whatever the CoA says (QMS-06).
        status = "released" if lot.status == "approved" and not inspected else "quarantine"
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
            quantity_received=received_quantity,
            unit_received=unit_received,
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
                "quantity_received": received_quantity,
                "unit_received": unit_received,
                "declared_quantity": allowance.declared,
                "received_before": allowance.received,
                "over_receipt_tolerance_pct": allowance.tolerance_pct,
                "internal_lot_status": status,
                "inspection_required": inspected,
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
        if inspected:
            await self.s.inspections.open(receipt)
        if commit:
            await self.keeper.commit()
        return receipt

    async def allowance(self, lot: SupplierLot) -> ReceiptAllowance:
        """Declared, received so far and the part's tolerance for ``lot`` (the cap's inputs)."""
        # Summed here, exactly: SQLite keeps quantities as text and would sum them as floats.
        rows = await self.session.scalars(
            select(Receipt.quantity).where(Receipt.supplier_lot_id == lot.id)
        )
        received = sum(rows, Decimal(0))
        return ReceiptAllowance(
            declared=plain_decimal(lot.quantity),
            received=plain_decimal(received),
            tolerance_pct=plain_decimal(lot.part.over_receipt_tolerance_pct or Decimal(0)),
            unit=lot.unit,
        )

    async def set_tolerance(self, actor: Actor, part: Part, percent: str | Decimal) -> Part:
        """Set how much more than declared may be received of ``part`` (QA, supplier
        quality), as a new version of the part."""
        actor.require("suppliers.approve")
        try:
            value = Decimal(str(percent).strip())
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or not Decimal(0) <= value <= MAX_TOLERANCE_PCT:
            raise ValidationFailed(
                {"over_receipt_tolerance_pct": "The tolerance must be 0 to 100 percent."}
            )
        check_storable(value)
        part.over_receipt_tolerance_pct = value
        await self.keeper.write_version(
            "part",
            part.id,
            status="active",
            action="revise",
            reason=f"over-receipt tolerance set to {value} %",
            data={
                "number": part.number,
                "name": part.name,
                "kind": part.kind,
                "unit": part.unit,
                "gtin": part.gtin,
                "implantable": part.implantable,
                "over_receipt_tolerance_pct": value,
            },
        )
        return part

    async def has_inspection_plan(self, part_id: int) -> bool:
        return (
            await self.session.scalar(
                select(InspectionPlanItem.id)
                .where(
                    InspectionPlanItem.part_id == part_id, InspectionPlanItem.retired_at.is_(None)
                )
                .limit(1)
            )
        ) is not None

    async def on_supplier_lot_decided(self, lot: SupplierLot, status: str) -> None:
        """Release (or reject) the quarantined internal lots received from ``lot``."""
        receipts = await self.session.scalars(
            select(Receipt).where(Receipt.supplier_lot_id == lot.id)
        )
        for receipt in receipts.unique():
            if receipt.internal_lot.status != "quarantine":
                continue
            if status == "approved":
                # A receipt awaiting its incoming inspection stays in quarantine: the
                # inspection's release will release it (trace_core.receipts.inspection).
                if not await self.s.inspections.clears(receipt):
                    continue
                new = "released"
            else:
                new = "rejected"
            await self.s.inventory.set_status(
                receipt.internal_lot, new, f"supplier lot {lot.lot_number} {status}"
            )

    async def get(self, actor: Actor, receipt_id: int) -> Receipt:
        actor.require("lots.read")
        receipt = await self.session.get(Receipt, receipt_id) if actor.is_internal else None
        if receipt is None:
            raise NotFound("No such receipt.")
        return receipt

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
