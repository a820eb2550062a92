"""Packing postings: serials into a case, cases (or serials) onto a pallet, each shipping unit
named by an SSCC (typed, scanned or allocated from our GS1 company prefix); unpacking and
closing; the contents a shipment takes when it ships a unit.

Every posting is one unit of work with the record invariants: a ``packing_events`` row
(append-only, the source of the EPCIS AggregationEvent), a new version of the
``shipping_unit`` record with its audit event, and the genealogy edges ``packing`` from each
serial (or case) to the unit's trace node (kind ``shipping_unit``, identifier the SSCC).

Unpacking ends the edge its packing wrote, in the same transaction, and says so in the
audit trail: a serial taken out of a case before the case ships did not go where the case
went, and a trace that kept the edge would name a consignee who never received it. The
ended edge is kept whole in the append-only ``ended_trace_edges`` (when, by which unpacking,
why); the packing history itself is never changed: the packing events, the unit's versions
and the EPCIS ADD/DELETE events keep both postings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.gates import Movement
from trace_core.identity.actor import Actor
from trace_core.inventory.models import Serial
from trace_core.packing.models import UNIT_LEVELS, PackingEvent, ShippingUnit, ShippingUnitItem
from trace_core.packing.sscc import SsccProblem, read_sscc
from trace_core.shipments.models import Shipment
from trace_core.trace.models import TraceEdge, TraceNode, end_edges, node_id

if TYPE_CHECKING:
    from trace_core.services import Services

NODE_KIND = "shipping_unit"
#: The node kind an EPCIS capture gives an SSCC it does not know (``trace_core.epcis.genealogy``).
CAPTURED_SSCC_KIND = "sscc"
EDGE_EVENT_TYPE = "packing"
#: SQLite refuses statements with more than 32,766 bound values.
_CHUNK = 5_000


@dataclass(frozen=True)
class PackInput:
    #: The SSCC as typed or scanned; empty: allocate one from our company prefix.
    sscc: str
    #: ``case`` or ``pallet``, for a new unit (an existing one keeps its level).
    level: str
    serials: list[str] = field(default_factory=list)
    #: SSCCs of cases to put on a pallet.
    units: list[str] = field(default_factory=list)


@dataclass
class UnitContents:
    serials: list[Serial]
    units: list[ShippingUnit]


class PackingService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    def _require(self, actor: Actor, permission: str = "shipments.post") -> None:
        actor.require(permission)
        if not actor.is_internal:
            # Suppliers never see our shipping units: the same answer as an unknown one.
            raise NotFound("No such shipping unit.")

    # -- reading ---------------------------------------------------------------------------

    async def get(self, actor: Actor, sscc_text: str) -> ShippingUnit:
        self._require(actor, "trace.read")
        try:
            sscc = read_sscc(sscc_text)
        except SsccProblem as exc:
            raise ValidationFailed({"sscc": _sentence(exc)}) from exc
        unit = await self._by_sscc(sscc)
        if unit is None:
            raise NotFound(f"No shipping unit has SSCC {sscc}.")
        return unit

    async def by_id(self, actor: Actor, unit_id: int) -> ShippingUnit:
        self._require(actor, "trace.read")
        unit = await self.session.get(ShippingUnit, unit_id)
        if unit is None:
            raise NotFound("No such shipping unit.")
        return unit

    async def units(self, actor: Actor, status: str | None = None) -> list[ShippingUnit]:
        actor.require("trace.read")
        if not actor.is_internal:
            raise PermissionDenied("Shipping units are our own; suppliers do not see them.")
        query = select(ShippingUnit).order_by(ShippingUnit.packed_at.desc(), ShippingUnit.id.desc())
        if status:
            query = query.where(ShippingUnit.status == status)
        return list(await self.session.scalars(query.limit(200)))

    async def contents(self, unit: ShippingUnit) -> UnitContents:
        """What is in the unit now: its serials and its cases."""
        serials = list(
            (
                await self.session.scalars(
                    select(Serial)
                    .join(ShippingUnitItem, ShippingUnitItem.serial_id == Serial.id)
                    .where(
                        ShippingUnitItem.unit_id == unit.id,
                        ShippingUnitItem.unpacked_by_id.is_(None),
                    )
                    .order_by(Serial.serial)
                )
            ).unique()
        )
        units = list(
            await self.session.scalars(
                select(ShippingUnit)
                .join(ShippingUnitItem, ShippingUnitItem.child_unit_id == ShippingUnit.id)
                .where(
                    ShippingUnitItem.unit_id == unit.id,
                    ShippingUnitItem.unpacked_by_id.is_(None),
                )
                .order_by(ShippingUnit.sscc)
            )
        )
        return UnitContents(serials, units)

    async def history(self, unit: ShippingUnit) -> list[PackingEvent]:
        return list(
            await self.session.scalars(
                select(PackingEvent)
                .where(PackingEvent.unit_id == unit.id)
                .order_by(PackingEvent.id)
            )
        )

    async def history_with_event_ids(self, unit: ShippingUnit) -> list[tuple[PackingEvent, str]]:
        """Each posting with the CBV 2.0 hash id of the EPCIS event it is exported as."""
        from trace_core.epcis.event_hash import event_hash
        from trace_core.epcis.export import packing_event

        result = []
        for event in await self.history(unit):
            serials = list(
                (
                    await self.session.scalars(
                        select(Serial)
                        .where(Serial.serial.in_(event.serials))
                        .order_by(Serial.serial)
                    )
                ).unique()
            )
            result.append((event, event_hash(packing_event(event, unit.sscc, serials))))
        return result

    async def parent_sscc(self, unit: ShippingUnit) -> str | None:
        if unit.parent_id is None:
            return None
        parent = await self.session.get(ShippingUnit, unit.parent_id)
        return parent.sscc if parent else None

    async def shipment_number(self, unit: ShippingUnit) -> str | None:
        if unit.shipment_id is None:
            return None
        shipment = await self.session.get(Shipment, unit.shipment_id)
        return shipment.number if shipment else None

    # -- packing ---------------------------------------------------------------------------

    async def pack(self, actor: Actor, data: PackInput) -> ShippingUnit:
        """Pack serials (and, on a pallet, cases) into the unit named by ``data.sscc``: an open
        unit takes more, an unknown SSCC starts a new unit, an empty one allocates an SSCC."""
        self._require(actor)
        errors: dict[str, str] = {}
        level = data.level.strip().lower()
        unit: ShippingUnit | None = None
        sscc: str | None = None
        allocate = not data.sscc.strip()
        if allocate:
            if self.s.runtime.sscc_range is None:
                errors["sscc"] = (
                    "Type or scan the SSCC of the label: no GS1 company prefix is configured "
                    "(TRACEPORT_GS1_COMPANY_PREFIX), so Traceport cannot allocate one."
                )
        else:
            try:
                sscc = read_sscc(data.sscc)
            except SsccProblem as exc:
                errors["sscc"] = _sentence(exc)
            else:
                unit = await self._by_sscc(sscc)
                ours = self.s.runtime.sscc_range
                if unit is None and ours is not None and not ours.owns(sscc):
                    errors["sscc"] = (
                        f"SSCC {sscc} does not carry our GS1 company prefix "
                        f"{ours.company_prefix}; use one of our labels or leave the field "
                        "empty to allocate an SSCC."
                    )
        if unit is not None:
            if unit.status != "open":
                raise Conflict(
                    f"Shipping unit {unit.sscc} is {unit.status}; only an open unit takes more."
                )
            if level and level != unit.level:
                errors["level"] = f"Shipping unit {unit.sscc} is a {unit.level}, not a {level}."
            level = unit.level
        elif level not in UNIT_LEVELS:
            errors["level"] = "Choose case or pallet for a new shipping unit."
        serial_names = _unique(data.serials)
        unit_names = _unique(data.units)
        if not serial_names and not unit_names:
            errors["serials"] = "Scan at least one serial number" + (
                " or case." if level == "pallet" else "."
            )
        serials = await self._packable_serials(serial_names, errors)
        children = await self._packable_cases(unit_names, level, unit, sscc, errors)
        if errors:
            raise ValidationFailed(errors)
        if unit is None:
            unit = await self._new_unit(actor, sscc, level)
        event = await self._event(actor, unit, "ADD", [s.serial for s in serials], children, None)
        target = await node_id(self.session, NODE_KIND, unit.id)
        try:
            for serial in serials:
                edge = await self._edge(
                    await node_id(self.session, "serial", serial.id), "serial", target, event
                )
                self.session.add(
                    ShippingUnitItem(
                        unit_id=unit.id, serial_id=serial.id, packed_by_id=event.id, edge_id=edge
                    )
                )
            for child in children:
                edge = await self._edge(
                    await node_id(self.session, NODE_KIND, child.id), NODE_KIND, target, event
                )
                self.session.add(
                    ShippingUnitItem(
                        unit_id=unit.id, child_unit_id=child.id, packed_by_id=event.id, edge_id=edge
                    )
                )
                child.parent_id = unit.id
            await self.session.flush()
        except IntegrityError as exc:
            # Another packing took one of these serials or cases after our checks.
            raise Conflict(
                "Another packing took one of these serials or cases at the same moment; "
                "look at the units again and repeat."
            ) from exc
        for child in children:
            await self._version(child, "pack", f"put on pallet {unit.sscc}")
        is_new = await self.keeper.latest_version("shipping_unit", unit.id) is None
        await self._version(unit, "create" if is_new else "pack", None)
        await self.keeper.commit()
        return unit

    async def _packable_serials(self, names: list[str], errors: dict[str, str]) -> list[Serial]:
        if not names:
            return []
        found = {
            s.serial: s
            for s in (
                await self.session.scalars(select(Serial).where(Serial.serial.in_(names)))
            ).unique()
        }
        packed = await self._packed_in(s.id for s in found.values())
        # QMS-10: the gate says which serials may be packed (status, lot, upstream holds).
        refused = {
            r.params["record"]: r.message.rstrip(".")
            for r in await self.s.gate.refusals(
                Movement.PACK, serials=[("serials", s) for s in found.values()]
            )
        }
        rows, problems = [], []
        for name in names:
            row = found.get(name)
            if row is None:
                problems.append(f"{name} does not exist")
            elif name in refused:
                problems.append(refused[name])
            elif row.id in packed:
                problems.append(f"{name} is already packed in {packed[row.id]}")
            else:
                rows.append(row)
        if problems:
            errors["serials"] = "; ".join(problems) + "."
        return rows

    async def _packable_cases(
        self,
        names: list[str],
        level: str,
        parent: ShippingUnit | None,
        parent_sscc: str | None,
        errors: dict[str, str],
    ) -> list[ShippingUnit]:
        if not names:
            return []
        if level != "pallet":
            errors["units"] = "Only a pallet takes cases; pack serials into a case."
            return []
        rows, problems = [], []
        for name in names:
            try:
                sscc = read_sscc(name)
            except SsccProblem as exc:
                problems.append(str(exc))
                continue
            child = await self._by_sscc(sscc)
            if child is None:
                problems.append(f"no shipping unit has SSCC {sscc}")
            elif sscc == parent_sscc or (parent is not None and child.id == parent.id):
                problems.append(f"{sscc} cannot go into itself")
            elif child.level != "case":
                problems.append(f"{sscc} is a {child.level}; only cases go onto a pallet")
            elif child.status == "shipped":
                problems.append(f"{sscc} was shipped")
            elif child.parent_id is not None:
                problems.append(
                    f"{sscc} is already on pallet {await self._sscc_of(child.parent_id)}"
                )
            else:
                rows.append(child)
        if problems:
            errors["units"] = "; ".join(problems) + "."
        return rows

    async def _new_unit(self, actor: Actor, sscc: str | None, level: str) -> ShippingUnit:
        allocated = sscc is None
        if sscc is None:
            sscc = await self._allocate()
        unit = ShippingUnit(
            sscc=sscc, level=level, status="open", allocated=allocated, packed_by=actor.name
        )
        self.session.add(unit)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            # Another packing allocated or typed this SSCC after our checks.
            raise Conflict(
                f"SSCC {sscc} was just taken by another packing; repeat the packing."
            ) from exc
        await self._unit_node(unit)
        return unit

    async def _unit_node(self, unit: ShippingUnit) -> None:
        """The unit's trace node. When a captured EPCIS event named this SSCC before we packed
        it (a forwarder's or a customer's event), the capture made a node for the bare SSCC:
        the unit takes that node over, so what the capture linked to it (a receipt, a
        shipping onward) and what our packing links to it are one genealogy, and a trace of
        the SSCC has one root. The takeover is audited with the EPCIS object it was."""
        captured = await self.session.scalar(
            select(TraceNode).where(
                TraceNode.kind == CAPTURED_SSCC_KIND, TraceNode.identifier == unit.sscc
            )
        )
        if captured is None:
            self.session.add(TraceNode(kind=NODE_KIND, ref_id=unit.id, identifier=unit.sscc))
            await self.session.flush()
            return
        epcis_object = captured.ref_id
        captured.kind, captured.ref_id = NODE_KIND, unit.id
        # Edges carry their ends' kinds (for the walk's index): they follow the node.
        await self.session.execute(
            update(TraceEdge)
            .where(TraceEdge.source_id == captured.id)
            .values(source_kind=NODE_KIND)
        )
        await self.session.execute(
            update(TraceEdge)
            .where(TraceEdge.target_id == captured.id)
            .values(target_kind=NODE_KIND)
        )
        await self.session.flush()
        self.keeper.audit(
            "genealogy_adopted",
            "shipping_unit",
            unit.id,
            old={
                "trace_node": captured.id,
                "kind": CAPTURED_SSCC_KIND,
                "epcis_object": epcis_object,
            },
            new={"trace_node": captured.id, "kind": NODE_KIND, "shipping_unit": unit.id},
            reason=f"SSCC {unit.sscc} was named in a captured EPCIS event before it was packed",
        )

    async def _allocate(self) -> str:
        """The next SSCC of our range: one more than the highest serial reference used. A
        concurrent allocation of the same number fails on the unique SSCC and is repeated by
        the caller; the number range is never reused (GS1 asks for at least a year)."""
        ours = self.s.runtime.sscc_range
        assert ours is not None
        highest = await self.session.scalar(
            select(func.max(ShippingUnit.sscc)).where(ShippingUnit.sscc.startswith(ours.stem))
        )
        reference = (ours.reference_of(highest) or 0) + 1 if highest else 1
        try:
            return ours.make(reference)
        except SsccProblem as exc:
            raise Conflict(_sentence(exc)) from exc

    async def _event(
        self,
        actor: Actor,
        unit: ShippingUnit,
        action: str,
        serials: list[str],
        units: list[ShippingUnit],
        reason: str | None,
    ) -> PackingEvent:
        event = PackingEvent(
            unit_id=unit.id,
            action=action,
            serials=sorted(serials),
            units=sorted(u.sscc for u in units),
            reason=reason,
            actor_name=actor.name,
            channel=actor.channel,
        )
        self.session.add(event)
        await self.session.flush()
        return event

    async def _edge(self, source: int, source_kind: str, target: int, event: PackingEvent) -> int:
        edge = TraceEdge(
            source_id=source,
            source_kind=source_kind,
            target_id=target,
            target_kind=NODE_KIND,
            kind="packing",
            event_type=EDGE_EVENT_TYPE,
            event_id=event.id,
        )
        self.session.add(edge)
        await self.session.flush()
        return edge.id

    # -- unpacking and closing -------------------------------------------------------------

    async def unpack(
        self,
        actor: Actor,
        sscc_text: str,
        serials: list[str],
        units: list[str],
        reason: str,
        everything: bool = False,
    ) -> ShippingUnit:
        """Take serials or cases out of a unit (all of it with ``everything``): a posting of
        its own (EPCIS ``DELETE``), with a reason; a closed unit is open again afterwards."""
        self._require(actor)
        unit = await self._posted_unit(sscc_text)
        errors: dict[str, str] = {}
        reason = (reason or "").strip()
        if not reason:
            errors["reason"] = "Say why the unit is unpacked."
        if unit.status == "shipped":
            raise Conflict(
                f"Shipping unit {unit.sscc} was shipped on {await self.shipment_number(unit)}; "
                "nothing can be taken out of it."
            )
        items = list(
            await self.session.scalars(
                select(ShippingUnitItem).where(
                    ShippingUnitItem.unit_id == unit.id,
                    ShippingUnitItem.unpacked_by_id.is_(None),
                )
            )
        )
        contents = await self.contents(unit)
        serial_ids = {s.serial: s.id for s in contents.serials}
        unit_ids = {u.sscc: u.id for u in contents.units}
        serial_names, unit_names = _unique(serials), _unique(units)
        if everything:
            serial_names, unit_names = sorted(serial_ids), sorted(unit_ids)
        if not serial_names and not unit_names:
            errors["serials"] = "Name the serials or cases to take out, or unpack everything."
        missing = [n for n in serial_names if n not in serial_ids]
        if missing:
            errors["serials"] = f"Not in {unit.sscc}: {', '.join(missing)}."
        case_ssccs = []
        for name in unit_names:
            try:
                case_ssccs.append(read_sscc(name))
            except SsccProblem as exc:
                errors["units"] = _sentence(exc)
        absent = [s for s in case_ssccs if s not in unit_ids]
        if absent:
            errors["units"] = f"Not on {unit.sscc}: {', '.join(absent)}."
        if errors:
            raise ValidationFailed(errors)
        taken_serials = {serial_ids[n] for n in serial_names}
        taken_units = {unit_ids[s] for s in case_ssccs}
        removed = [
            i for i in items if i.serial_id in taken_serials or i.child_unit_id in taken_units
        ]
        children = [u for u in contents.units if u.id in taken_units]
        event = await self._event(actor, unit, "DELETE", serial_names, children, reason)
        edges = [i.edge_id for i in removed if i.edge_id is not None]
        for item in removed:
            item.unpacked_by_id = event.id
        for child in children:
            child.parent_id = None
        await end_edges(self.session, edges, "packing", event.id, reason)
        await self.session.flush()
        self.keeper.audit(
            "genealogy_unlinked",
            "shipping_unit",
            unit.id,
            new={
                "packing_event": event.id,
                "serials": sorted(serial_names),
                "units": sorted(case_ssccs),
                "trace_edges_ended": sorted(edges),
            },
            reason=reason,
        )
        for child in children:
            await self._version(child, "unpack", f"taken off pallet {unit.sscc}: {reason}")
        if unit.status == "closed":
            unit.status = "open"
            unit.closed_at = None
        await self._version(unit, "unpack", reason)
        await self.keeper.commit()
        return unit

    async def close(self, actor: Actor, sscc_text: str) -> ShippingUnit:
        """Close a packed unit: it is ready to ship and takes nothing more."""
        self._require(actor)
        unit = await self._posted_unit(sscc_text)
        if unit.status != "open":
            raise Conflict(f"Shipping unit {unit.sscc} is {unit.status}; only an open unit closes.")
        contents = await self.contents(unit)
        if not contents.serials and not contents.units:
            raise ValidationFailed({"sscc": f"Shipping unit {unit.sscc} is empty."})
        unit.status = "closed"
        unit.closed_at = utc_now()
        await self._version(unit, "close", None)
        await self.keeper.commit()
        return unit

    # -- shipping --------------------------------------------------------------------------

    async def for_shipment(
        self, names: list[str], errors: dict[str, str]
    ) -> tuple[list[ShippingUnit], dict[int, ShippingUnit]]:
        """The units a shipment lists, checked, and every serial in them (nested cases
        included) with the top unit it ships in. Problems go into ``errors["units"]``."""
        units: list[ShippingUnit] = []
        problems = []
        for name in _unique(names):
            try:
                sscc = read_sscc(name)
            except SsccProblem as exc:
                problems.append(str(exc))
                continue
            unit = await self._by_sscc(sscc)
            if unit is None:
                problems.append(f"no shipping unit has SSCC {sscc}")
            elif unit.status == "shipped":
                problems.append(f"{sscc} was already shipped on {await self.shipment_number(unit)}")
            elif unit.parent_id is not None:
                problems.append(
                    f"{sscc} is on pallet {await self._sscc_of(unit.parent_id)}; ship the pallet"
                )
            elif unit.status != "closed":
                problems.append(f"{sscc} is still open; close it before shipping")
            else:
                units.append(unit)
        if problems:
            errors["units"] = "; ".join(problems) + "."
        return units, await self._serials_within(units)

    async def _serials_within(self, units: list[ShippingUnit]) -> dict[int, ShippingUnit]:
        """Serial id → the top unit it is in, for every serial inside ``units``."""
        top_of: dict[int, ShippingUnit] = {u.id: u for u in units}
        frontier = [u.id for u in units]
        serials: dict[int, ShippingUnit] = {}
        while frontier:
            rows = (
                await self.session.execute(
                    select(
                        ShippingUnitItem.unit_id,
                        ShippingUnitItem.serial_id,
                        ShippingUnitItem.child_unit_id,
                    ).where(
                        ShippingUnitItem.unit_id.in_(frontier),
                        ShippingUnitItem.unpacked_by_id.is_(None),
                    )
                )
            ).all()
            frontier = []
            for parent, serial_id, child_id in rows:
                if serial_id is not None:
                    serials[serial_id] = top_of[parent]
                elif child_id is not None and child_id not in top_of:
                    top_of[child_id] = top_of[parent]
                    frontier.append(child_id)
        return serials

    async def packed_in(self, serial_ids: Iterable[int]) -> dict[int, str]:
        """Serial id → SSCC of the unit it is packed in now, for those that are."""
        return await self._packed_in(serial_ids)

    async def ship_units(
        self, units: list[ShippingUnit], shipment: Shipment, shipment_node: int
    ) -> None:
        """Mark ``units`` and every case on them shipped with ``shipment``, with an edge from
        each top unit to the shipment and a new version of each unit (caller commits)."""
        everything = list(units)
        frontier = [u.id for u in units]
        while frontier:
            nested = list(
                await self.session.scalars(
                    select(ShippingUnit).where(ShippingUnit.parent_id.in_(frontier))
                )
            )
            everything += nested
            frontier = [u.id for u in nested]
        now = utc_now()
        for unit in everything:
            unit.status = "shipped"
            unit.shipment_id = shipment.id
            unit.shipped_at = now
        for unit in units:
            self.session.add(
                TraceEdge(
                    source_id=await node_id(self.session, NODE_KIND, unit.id),
                    source_kind=NODE_KIND,
                    target_id=shipment_node,
                    target_kind="shipment",
                    kind="shipment",
                    event_type="shipment",
                    event_id=shipment.id,
                )
            )
        await self.session.flush()
        for unit in everything:
            await self._version(unit, "ship", None, shipment=shipment.number)

    # -- helpers ---------------------------------------------------------------------------

    async def _posted_unit(self, sscc_text: str) -> ShippingUnit:
        """The unit a posting names; an unreadable or unknown SSCC is a 422 on the field."""
        try:
            sscc = read_sscc(sscc_text)
        except SsccProblem as exc:
            raise ValidationFailed({"sscc": _sentence(exc)}) from exc
        unit = await self._by_sscc(sscc)
        if unit is None:
            raise ValidationFailed({"sscc": f"No shipping unit has SSCC {sscc}."})
        return unit

    async def _by_sscc(self, sscc: str) -> ShippingUnit | None:
        unit: ShippingUnit | None = await self.session.scalar(
            select(ShippingUnit).where(ShippingUnit.sscc == sscc)
        )
        return unit

    async def _sscc_of(self, unit_id: int) -> str:
        return str(
            await self.session.scalar(select(ShippingUnit.sscc).where(ShippingUnit.id == unit_id))
        )

    async def _packed_in(self, serial_ids: Iterable[int]) -> dict[int, str]:
        ids = list(serial_ids)
        found: dict[int, str] = {}
        for start in range(0, len(ids), _CHUNK):
            rows = await self.session.execute(
                select(ShippingUnitItem.serial_id, ShippingUnit.sscc)
                .join(ShippingUnit, ShippingUnit.id == ShippingUnitItem.unit_id)
                .where(
                    ShippingUnitItem.serial_id.in_(ids[start : start + _CHUNK]),
                    ShippingUnitItem.unpacked_by_id.is_(None),
                )
            )
            found.update(
                {int(serial): str(sscc) for serial, sscc in rows.all() if serial is not None}
            )
        return found

    async def _version(
        self, unit: ShippingUnit, action: str, reason: str | None, shipment: str | None = None
    ) -> None:
        contents = await self.contents(unit)
        await self.keeper.write_version(
            "shipping_unit",
            unit.id,
            status=unit.status,
            action=action,
            reason=reason,
            data={
                "sscc": unit.sscc,
                "level": unit.level,
                "allocated": unit.allocated,
                "packed_by": unit.packed_by,
                "serials": [s.serial for s in contents.serials],
                "units": [u.sscc for u in contents.units],
                "on_pallet": await self.parent_sscc(unit),
                "shipment": shipment or await self.shipment_number(unit),
            },
        )


async def describe_shipping_units(
    session: AsyncSession, ids: Collection[int]
) -> dict[int, dict[str, Any]]:
    """Trace evidence for shipping units, by ``shipping_units.id`` (a trace node's ``ref_id``):
    SSCC, level, status, who packed it and when, the pallet it is on, the shipment it left
    with, and how many serials and cases it holds now. Two queries for any number of units."""
    parent = aliased(ShippingUnit)
    values = list(ids)
    details: dict[int, dict[str, Any]] = {}
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        rows = await session.execute(
            select(
                ShippingUnit.id,
                ShippingUnit.sscc,
                ShippingUnit.level,
                ShippingUnit.status,
                ShippingUnit.packed_by,
                ShippingUnit.packed_at,
                ShippingUnit.closed_at,
                ShippingUnit.shipped_at,
                parent.sscc,
                Shipment.number,
            )
            .outerjoin(parent, parent.id == ShippingUnit.parent_id)
            .outerjoin(Shipment, Shipment.id == ShippingUnit.shipment_id)
            .where(ShippingUnit.id.in_(chunk))
        )
        for row in rows.all():
            details[row[0]] = {
                "sscc": row[1],
                "level": row[2],
                "status": row[3],
                "packed_by": row[4],
                "packed_at": row[5],
                "closed_at": row[6],
                "shipped_at": row[7],
                "on_pallet": row[8],
                "shipment": row[9],
                "serials": 0,
                "cases": 0,
                "record": {"type": "shipping_unit", "id": row[0]},
            }
        counts = await session.execute(
            select(
                ShippingUnitItem.unit_id,
                func.count(ShippingUnitItem.serial_id),
                func.count(ShippingUnitItem.child_unit_id),
            )
            .where(ShippingUnitItem.unit_id.in_(chunk), ShippingUnitItem.unpacked_by_id.is_(None))
            .group_by(ShippingUnitItem.unit_id)
        )
        for unit_id, serials, cases in counts.all():
            if unit_id in details:
                details[unit_id]["serials"] = int(serials)
                details[unit_id]["cases"] = int(cases)
    return details


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
