"""Internal lots and serials: creation with their versions and trace nodes, and the status
rules every consumer of material must respect (QMS-10)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from trace_core.db import among_ids
from trace_core.errors import Conflict, NotFound
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.parts.models import Part
from trace_core.production.models import WorkOrderInput
from trace_core.trace.models import TraceNode

if TYPE_CHECKING:
    from trace_core.services import Services


def internal_lot_content(lot: InternalLot) -> dict[str, Any]:
    return {
        "lot_number": lot.lot_number,
        "part_number": lot.part.number,
        "kind": lot.kind,
        "quantity": lot.quantity,
        "unit": lot.unit,
    }


class InventoryService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def create_lot(
        self,
        lot_number: str,
        part: Part,
        kind: str,
        quantity: Decimal,
        unit: str,
        status: str,
        action: str,
    ) -> InternalLot:
        if (
            await self.session.scalar(
                select(InternalLot.id).where(InternalLot.lot_number == lot_number)
            )
            is not None
        ):
            raise Conflict(f"Internal lot {lot_number} already exists.")
        lot = InternalLot(
            lot_number=lot_number,
            part_id=part.id,
            part=part,
            kind=kind,
            quantity=quantity,
            unit=unit,
            status=status,
        )
        self.session.add(lot)
        await self.session.flush()
        self.session.add(
            TraceNode(kind="internal_lot", ref_id=lot.id, identifier=lot_number, part_id=part.id)
        )
        await self.keeper.write_version(
            "internal_lot", lot.id, status=status, action=action, data=internal_lot_content(lot)
        )
        return lot

    async def set_status(self, lot: InternalLot, status: str, reason: str) -> None:
        if lot.status == status:
            return
        lot.status = status
        await self.keeper.write_version(
            "internal_lot",
            lot.id,
            status=status,
            action="status",
            data=internal_lot_content(lot),
            reason=reason,
        )

    async def set_statuses(self, lots: Sequence[InternalLot], status: str, reason: str) -> int:
        """``set_status`` for many lots in one go (a recall's thousands): each lot whose status
        changes gets its new version and audit event; the count of those."""
        changed = [lot for lot in lots if lot.status != status]
        # One UPDATE for all of them (the unit of work would send one per lot, its parameters
        # built one by one: about 0.1 s per thousand lots); the loaded lots are told their
        # new status without being marked changed.
        dialect = self.session.get_bind().dialect.name
        ids = [lot.id for lot in changed]
        for condition in among_ids(dialect, InternalLot.id, ids) if ids else ():
            await self.session.execute(
                update(InternalLot)
                .where(condition)
                .values(status=status)
                .execution_options(synchronize_session=False)
            )
        for lot in changed:
            set_committed_value(lot, "status", status)
        await self.keeper.write_versions(
            "internal_lot",
            [(lot.id, status, internal_lot_content(lot)) for lot in changed],
            action="status",
            reason=reason,
        )
        return len(changed)

    async def lot_by_number(self, actor: Actor, lot_number: str) -> InternalLot:
        if not actor.is_internal:
            raise NotFound(f"No internal lot {lot_number}.")
        lot = await self.session.scalar(
            select(InternalLot).where(InternalLot.lot_number == lot_number.strip())
        )
        if lot is None:
            raise NotFound(f"No internal lot {lot_number}.")
        return lot

    async def remaining(self, lot: InternalLot) -> Decimal:
        consumed = await self.session.scalars(
            select(WorkOrderInput.quantity).where(WorkOrderInput.lot_id == lot.id)
        )
        return lot.quantity - sum(consumed, Decimal(0))

    async def lots(self, actor: Actor, kind: str | None = None) -> list[InternalLot]:
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        query = select(InternalLot).order_by(InternalLot.created_at.desc(), InternalLot.id.desc())
        if kind:
            query = query.where(InternalLot.kind == kind)
        return list((await self.session.scalars(query.limit(500))).unique())

    async def serials_in_stock(self, actor: Actor) -> list[Serial]:
        if not actor.is_internal:
            return []
        return list(
            (
                await self.session.scalars(
                    select(Serial)
                    .where(Serial.status == "in_stock")
                    .order_by(Serial.serial)
                    .limit(500)
                )
            ).unique()
        )

    async def serial_count(self, lot_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(Serial).where(Serial.lot_id == lot_id)
            )
            or 0
        )
