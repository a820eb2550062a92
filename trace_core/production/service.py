"""Work orders: consume released internal lots, produce one finished lot with serials, and
write the genealogy edges at posting time.

The finished lot starts in **quarantine** with its release record: it is released only by
QA's signed device history record review (``trace_core.release``), never at posting. The
work order states the UDI dates (QMS-16): date of manufacture and expiry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from trace_core.dates import parse_date
from trace_core.db import utc_now
from trace_core.errors import NotFound, ValidationFailed
from trace_core.gates import Movement
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.parts.models import Part
from trace_core.production.models import WorkOrder, WorkOrderInput
from trace_core.quantities import parse_quantity
from trace_core.trace.models import TraceEdge, TraceNode, node_id

if TYPE_CHECKING:
    from trace_core.services import Services

MAX_SERIALS_PER_ORDER = 10_000


@dataclass(frozen=True)
class ConsumedLot:
    lot_number: str
    quantity: str


@dataclass(frozen=True)
class WorkOrderInputData:
    number: str
    part_number: str
    output_lot_number: str
    inputs: list[ConsumedLot]
    serials: list[str] = field(default_factory=list)
    #: UDI production identifiers (QMS-16), ``YYYY-MM-DD`` or a date; required at release
    #: for a part with a GTIN, optional at posting.
    manufactured_on: str | dt.date | None = None
    expires_on: str | dt.date | None = None


class ProductionService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def post(self, actor: Actor, data: WorkOrderInputData) -> WorkOrder:
        actor.require("production.post")
        if not actor.is_internal:
            raise NotFound("No such part.")
        errors: dict[str, str] = {}
        number = data.number.strip()
        if not number:
            errors["number"] = "The work order number is required."
        elif await self.session.scalar(select(WorkOrder.id).where(WorkOrder.number == number)):
            errors["number"] = f"Work order {number} already exists."
        part = await self.session.scalar(
            select(Part).where(Part.number == data.part_number.strip())
        )
        if part is None:
            errors["part_number"] = f"Unknown part {data.part_number!r}."
        elif part.kind != "finished":
            errors["part_number"] = f"Part {part.number} is not a finished product."
        output_number = data.output_lot_number.strip()
        if not output_number:
            errors["output_lot_number"] = "The finished lot number is required."
        serials = [s.strip() for s in data.serials if s.strip()]
        if not serials:
            errors["serials"] = "Give at least one serial number."
        elif len(set(serials)) != len(serials):
            errors["serials"] = "A serial number is listed twice."
        elif len(serials) > MAX_SERIALS_PER_ORDER:
            errors["serials"] = f"At most {MAX_SERIALS_PER_ORDER} serials per work order."
        else:
            taken = list(
                await self.session.scalars(select(Serial.serial).where(Serial.serial.in_(serials)))
            )
            if taken:
                errors["serials"] = f"Serial numbers already exist: {', '.join(taken[:5])}."
        manufactured_on = expires_on = None
        if data.manufactured_on not in (None, ""):
            manufactured_on = parse_date(data.manufactured_on, "manufactured_on", errors)
        if data.expires_on not in (None, ""):
            expires_on = parse_date(data.expires_on, "expires_on", errors)
        if manufactured_on and manufactured_on > utc_now().date():
            errors["manufactured_on"] = "The date of manufacture is in the future."
        if manufactured_on and expires_on and expires_on <= manufactured_on:
            errors["expires_on"] = "The expiry date must come after the date of manufacture."
        if not data.inputs:
            errors["inputs"] = "Name at least one consumed lot."
        consumed: list[tuple[InternalLot, Decimal]] = []
        for index, item in enumerate(data.inputs):
            key = f"inputs.{index}"
            lot = await self.session.scalar(
                select(InternalLot).where(InternalLot.lot_number == item.lot_number.strip())
            )
            if lot is None:
                errors[key] = f"No internal lot {item.lot_number!r}."
                continue
            refused = await self.s.gate.refusals(Movement.CONSUME, internal_lots=[(key, lot)])
            if refused:
                errors[key] = refused[0].message
                continue
            try:
                quantity = parse_quantity(item.quantity)
            except ValueError as exc:
                errors[key] = str(exc)
                continue
            remaining = await self.s.inventory.remaining(lot)
            if quantity > remaining:
                errors[key] = f"Only {remaining} {lot.unit} of lot {lot.lot_number} is left."
                continue
            consumed.append((lot, quantity))
        if errors:
            raise ValidationFailed(errors)
        assert part is not None
        output = await self.s.inventory.create_lot(
            output_number, part, "finished", Decimal(len(serials)), "pcs", "quarantine", "produce"
        )
        order = WorkOrder(
            number=number,
            output_lot_id=output.id,
            output_lot=output,
            manufactured_on=manufactured_on,
            expires_on=expires_on,
        )
        self.session.add(order)
        await self.session.flush()
        output_node = await node_id(self.session, "internal_lot", output.id)
        for lot, quantity in consumed:
            self.session.add(
                WorkOrderInput(
                    work_order_id=order.id, lot_id=lot.id, quantity=quantity, unit=lot.unit
                )
            )
            self.session.add(
                TraceEdge(
                    source_id=await node_id(self.session, "internal_lot", lot.id),
                    source_kind="internal_lot",
                    target_id=output_node,
                    target_kind="internal_lot",
                    kind="consumption",
                    event_type="work_order",
                    event_id=order.id,
                    quantity=quantity,
                    unit=lot.unit,
                )
            )
        serial_rows = [Serial(serial=s, lot_id=output.id) for s in serials]
        self.session.add_all(serial_rows)
        await self.session.flush()
        nodes = [
            TraceNode(kind="serial", ref_id=row.id, identifier=row.serial, part_id=part.id)
            for row in serial_rows
        ]
        self.session.add_all(nodes)
        await self.session.flush()
        self.session.add_all(
            TraceEdge(
                source_id=output_node,
                source_kind="internal_lot",
                target_id=node.id,
                target_kind="serial",
                kind="production",
                event_type="work_order",
                event_id=order.id,
                quantity=Decimal(1),
                unit="pcs",
            )
            for node in nodes
        )
        await self.keeper.write_version(
            "work_order",
            order.id,
            status="posted",
            action="create",
            data={
                "number": number,
                "part_number": part.number,
                "output_lot_number": output_number,
                "inputs": [
                    {"lot_number": lot.lot_number, "quantity": q, "unit": lot.unit}
                    for lot, q in consumed
                ],
                "serials": serials,
                "manufactured_on": manufactured_on,
                "expires_on": expires_on,
            },
        )
        await self.s.release.open(output, order)
        await self.keeper.commit()
        return order

    async def list(self, actor: Actor) -> list[WorkOrder]:
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        return list(
            (
                await self.session.scalars(
                    select(WorkOrder)
                    .order_by(WorkOrder.posted_at.desc(), WorkOrder.id.desc())
                    .limit(200)
                )
            ).unique()
        )
