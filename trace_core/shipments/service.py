"""Shipments: only released, in-stock serials leave, each to a consignee with an address.

Implantables (QMS-12, 21 CFR 821.25(a)(2)): a shipment holding any serial of an implantable
part also needs the consignee's full postal address (street and town on separate lines or
separated by commas), a named contact person and a telephone number, and the shipment record
keeps them, so that a recall reaches someone who can locate each device. Other parts need a
name and an address as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from trace_core.errors import NotFound, ValidationFailed
from trace_core.gates import Movement
from trace_core.identity.actor import Actor
from trace_core.inventory.models import Serial
from trace_core.shipments.models import Shipment, ShipmentItem
from trace_core.trace.models import TraceEdge, TraceNode

if TYPE_CHECKING:
    from trace_core.services import Services


@dataclass(frozen=True)
class ShipmentInput:
    number: str
    consignee_name: str
    consignee_address: str
    serials: list[str]
    #: SSCCs of closed shipping units (cases or pallets): everything in them ships.
    units: list[str] = field(default_factory=list)
    #: Required when an implantable ships (QMS-12): who at the consignee, and a telephone.
    consignee_contact: str = ""
    consignee_phone: str = ""


def _implant_consignee(address: str, contact: str, phone: str, errors: dict[str, str]) -> None:
    """What a shipment of implantables needs of its consignee (QMS-12)."""
    lines = [p.strip() for p in address.replace("\n", ",").split(",") if p.strip()]
    if address.strip() and len(lines) < 2:
        errors["consignee_address"] = (
            "This shipment holds implantable devices: give the consignee's full postal address "
            "(street, then postcode and town, and country) (QMS-12)."
        )
    if not contact:
        errors["consignee_contact"] = (
            "This shipment holds implantable devices: name the contact person at the consignee "
            "(QMS-12)."
        )
    digits = sum(ch.isdigit() for ch in phone)
    if not phone:
        errors["consignee_phone"] = (
            "This shipment holds implantable devices: give the consignee's telephone number "
            "(QMS-12)."
        )
    elif digits < 6 or any(ch not in "0123456789+-() ./x" for ch in phone):
        errors["consignee_phone"] = "The telephone number is not valid (digits, +, -, spaces)."


class ShipmentService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def ship(self, actor: Actor, data: ShipmentInput) -> Shipment:
        actor.require("shipments.post")
        if not actor.is_internal:
            raise NotFound("No such serial.")
        errors: dict[str, str] = {}
        number = data.number.strip()
        if not number:
            errors["number"] = "The shipment number is required."
        elif await self.session.scalar(select(Shipment.id).where(Shipment.number == number)):
            errors["number"] = f"Shipment {number} already exists."
        if not data.consignee_name.strip():
            errors["consignee_name"] = "The consignee's name is required."
        if not data.consignee_address.strip():
            errors["consignee_address"] = (
                "The consignee's address is required (it is needed to reach them in a recall)."
            )
        wanted = list(dict.fromkeys(s.strip() for s in data.serials if s.strip()))
        units, in_units = await self.s.packing.for_shipment(data.units, errors)
        rows: list[Serial] = []
        if not wanted and not data.units:
            errors["serials"] = "Choose at least one serial number or shipping unit."
        problems = []
        if wanted:
            found = {
                s.serial: s
                for s in (
                    await self.session.scalars(select(Serial).where(Serial.serial.in_(wanted)))
                ).unique()
            }
            packed = await self.s.packing.packed_in(s.id for s in found.values())
            for serial in wanted:
                row = found.get(serial)
                if row is None:
                    problems.append(f"{serial} does not exist")
                elif row.id in in_units:
                    continue  # in a unit this shipment lists: it ships with the unit
                elif row.id in packed:
                    problems.append(
                        f"{serial} is packed in {packed[row.id]}; ship the unit or unpack it first"
                    )
                else:
                    rows.append(row)
        if in_units:
            rows += (
                await self.session.scalars(select(Serial).where(Serial.id.in_(list(in_units))))
            ).unique()
        # QMS-10: only released, in-stock material from nothing held upstream leaves.
        refused = await self.s.gate.refusals(
            Movement.SHIP,
            serials=[("serials", r) for r in rows],
            labels={
                r.id: f"{r.serial} (in {in_units[r.id].sscc})" for r in rows if r.id in in_units
            },
        )
        problems += [r.message.rstrip(".") for r in refused]
        if problems:
            errors["serials"] = "; ".join(problems) + "."
        contact = data.consignee_contact.strip()
        phone = data.consignee_phone.strip()
        if len(contact) > 200:
            errors["consignee_contact"] = "The contact's name is longer than 200 characters."
        if len(phone) > 40:
            errors["consignee_phone"] = "The telephone number is longer than 40 characters."
        if any(row.lot.part.implantable for row in rows):
            _implant_consignee(data.consignee_address, contact, phone, errors)
        if errors:
            raise ValidationFailed(errors)
        shipment = Shipment(
            number=number,
            consignee_name=data.consignee_name.strip(),
            consignee_address=data.consignee_address.strip(),
            consignee_contact=contact or None,
            consignee_phone=phone or None,
        )
        self.session.add(shipment)
        await self.session.flush()
        self.session.add(TraceNode(kind="shipment", ref_id=shipment.id, identifier=number))
        await self.session.flush()
        target = await self.session.scalar(
            select(TraceNode.id).where(
                TraceNode.kind == "shipment", TraceNode.ref_id == shipment.id
            )
        )
        node_rows = await self.session.execute(
            select(TraceNode.ref_id, TraceNode.id).where(
                TraceNode.kind == "serial", TraceNode.ref_id.in_([r.id for r in rows])
            )
        )
        serial_nodes = dict(node_rows.all())
        for row in rows:
            row.status = "shipped"
            self.session.add(ShipmentItem(shipment_id=shipment.id, serial_id=row.id))
            self.session.add(
                TraceEdge(
                    source_id=serial_nodes[row.id],
                    source_kind="serial",
                    target_id=target,
                    target_kind="shipment",
                    kind="shipment",
                    event_type="shipment",
                    event_id=shipment.id,
                )
            )
        if units:
            # Each serial also gets its own edge to the shipment (above): who received a
            # serial is answered without walking through the cases and pallets it rode in.
            assert target is not None
            await self.s.packing.ship_units(units, shipment, target)
        content: dict[str, object] = {
            "number": number,
            "consignee_name": shipment.consignee_name,
            "consignee_address": shipment.consignee_address,
            "consignee_contact": shipment.consignee_contact,
            "consignee_phone": shipment.consignee_phone,
            "serials": [r.serial for r in rows],
        }
        if units:
            content["units"] = sorted(u.sscc for u in units)
        await self.keeper.write_version(
            "shipment",
            shipment.id,
            status="shipped",
            action="create",
            data=content,
        )
        await self.keeper.commit()
        return shipment

    async def list(self, actor: Actor) -> list[Shipment]:
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        return list(
            (
                await self.session.scalars(
                    select(Shipment)
                    .order_by(Shipment.shipped_at.desc(), Shipment.id.desc())
                    .limit(200)
                )
            ).unique()
        )
