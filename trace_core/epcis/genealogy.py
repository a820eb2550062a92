"""Captured events as genealogy, like any other posting (DESIGN invariant 8).

- Every lot, item or logistic unit an event names becomes a trace node. An identifier that
  matches one of ours joins that node: an LGTIN with the lot number of an internal lot (and its
  part's GTIN, when the part has one), an SGTIN of one of our serials, a supplier lot (GTIN and
  lot number; for the supplier's own client, its lot number alone when the part has no GTIN),
  or Traceport's own ``urn:traceport:`` identifiers from an export, or an SSCC of one of our
  shipping units. Anything else becomes an
  EPCIS object (node kinds ``epc_lot``, ``epc_item``, ``sscc``).
- TransformationEvent: every input → every output lot (or item), ``consumption``, with the
  input's quantity; an output item whose GTIN matches an output lot is ``production`` from that
  lot instead.
- AggregationEvent (ADD, OBSERVE): every child → the parent, ``packing``.
- ObjectEvent with business step ``shipping`` and a destination: every object → the
  consignee (the owning or possessing party, else the location), ``shipment``.
- Nothing else makes edges; DELETE actions and error declarations make none either.

A capture whose edges would close a cycle is refused with one recursive query over the new
edges (:func:`find_cycle`). A supplier's client may only name its own lots and items: objects
it named first or its supplier lots, never our lots, serials or another organization's things.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import unquote

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.epcis.errors import EpcisRejected, Fault
from trace_core.epcis.identifiers import Gs1Identifier, index_form, read_gs1
from trace_core.epcis.models import EpcisObject
from trace_core.epcis.vocabulary import BIZ_STEP, expand_curie, standard_uri
from trace_core.errors import PermissionDenied
from trace_core.gates import Movement, Refusal
from trace_core.gates.gate import MaterialGate
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.packing.models import ShippingUnit
from trace_core.parts.models import Part
from trace_core.trace.models import TraceEdge, TraceNode

Position = Literal["object", "class", "consignee"]
EDGE_EVENT_TYPE = "epcis_event"
_PARTIES = ("owning_party", "possessing_party")


@dataclass(frozen=True)
class Resolved:
    node_id: int
    kind: str
    #: The organization owning it: a supplier lot's supplier, whoever first named an EPCIS
    #: object; ``None`` for our lots and serials.
    owner: int | None
    #: One of our lots or serials.
    internal: bool
    #: The row it names (internal lot, serial, supplier lot, shipping unit, EPCIS object).
    ref_id: int | None = None


@dataclass(frozen=True)
class Member:
    """An identifier of an event, where it is, and its quantity if it came with one."""

    uri: str
    pointer: str
    quantity: Decimal | None = None
    unit: str | None = None


class GenealogyWriter:
    """Turns the events of one capture into nodes and edges, in the capture's transaction."""

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self._resolved: dict[tuple[str, Position], Resolved] = {}
        #: Edges posted and not yet written (:meth:`write_edges`).
        self.edges: list[dict[str, Any]] = []
        #: What the events move, for the gate (:meth:`check_gate`): movement, pointer, node.
        self.moves: list[tuple[Movement, str, Resolved]] = []
        #: Supplier lots a receiving event names: each becomes a receipt.
        self.receivings: list[Receiving] = []

    async def prefetch(
        self, events: Iterable[Mapping[str, Any]], prefixes: Mapping[str, str]
    ) -> None:
        """Resolve the identifiers of many events with a few set queries, and make the new
        EPCIS objects and their nodes in two inserts: a capture may name thousands, and one
        round trip each would make a large capture slow. What could match one of our lots or
        serials (its lot or serial number exists) is left to :meth:`resolve`, one by one."""
        wanted = {
            (index_form(uri), position): None
            for event in events
            for uri, position in _named(event, prefixes)
        }
        pending = [key for key in wanted if key not in self._resolved]
        if not pending:
            return
        infos = {uri: read_gs1(uri) for uri, _ in pending}
        serials = {i.serial for i in infos.values() if i and i.level == "instance" and i.serial}
        lots = {i.lot for i in infos.values() if i and i.level == "class" and i.lot}
        taken = await self._existing(Serial.serial, serials)
        taken |= await self._existing(InternalLot.lot_number, lots)
        taken |= await self._existing(SupplierLot.lot_number, lots)
        ssccs = {i.sscc for i in infos.values() if i and i.sscc}
        taken |= await self._existing(ShippingUnit.sscc, ssccs)
        objects: dict[str, EpcisObject] = {}
        for chunk in _chunks(sorted({uri for uri, _ in pending})):
            for found in await self.session.scalars(
                select(EpcisObject).where(EpcisObject.uri.in_(chunk))
            ):
                objects[found.uri] = found
        made: list[EpcisObject] = []
        for uri, position in pending:
            info = infos[uri]
            maybe_ours = uri.startswith("urn:traceport:") or (
                info is not None
                and (info.serial in taken or info.lot in taken or info.sscc in taken)
            )
            if (maybe_ours and position != "consignee") or uri in objects:
                continue
            kind, identifier = _kind_and_identifier(uri, position, info)
            objects[uri] = EpcisObject(
                uri=uri,
                kind=kind,
                identifier=identifier,
                gtin=info.gtin if info else None,
                organization_id=self.actor.organization_id,
            )
            made.append(objects[uri])
        self.session.add_all(made)
        await self.session.flush()
        external = None if self.actor.is_internal else self.actor.organization_id
        self.session.add_all(
            TraceNode(kind=o.kind, ref_id=o.id, identifier=o.identifier, organization_id=external)
            for o in made
        )
        await self.session.flush()
        nodes: dict[tuple[str, int], int] = {}
        ids = sorted(o.id for o in objects.values())
        for chunk in _chunks(ids):
            rows = await self.session.execute(
                select(TraceNode.kind, TraceNode.ref_id, TraceNode.id).where(
                    TraceNode.ref_id.in_(chunk), TraceNode.kind.in_(EPCIS_NODE_KINDS)
                )
            )
            nodes.update({(kind, ref): int(node) for kind, ref, node in rows})
        for uri, position in pending:
            known = objects.get(uri)
            if known is not None and (known.kind, known.id) in nodes:
                node = nodes[(known.kind, known.id)]
                resolved = Resolved(node, known.kind, known.organization_id, False, known.id)
                self._resolved[(uri, position)] = resolved

    async def _existing(self, column: Any, values: set[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(values)):
            found.update(await self.session.scalars(select(column).where(column.in_(chunk))))
        return found

    async def post(
        self, event_row_id: int, event: Mapping[str, Any], where: str, prefixes: Mapping[str, str]
    ) -> None:
        kind = event.get("type")
        adds = event.get("action") != "DELETE"
        edges: list[tuple[Member, Resolved, Resolved, str]] = []
        if kind == "TransformationEvent":
            inputs = await self._all(event, where, ("inputEPCList",), ("inputQuantityList",))
            self._moves(Movement.CONSUME, inputs)
            out_items = await self._all(event, where, ("outputEPCList",), ())
            out_lots = await self._all(event, where, (), ("outputQuantityList",))
            for member, item in out_items:
                lots = [ref for m, ref in out_lots if _same_gtin(m.uri, member.uri)]
                if lots:
                    one = Member(member.uri, member.pointer, Decimal(1), "pcs")
                    edges += [(one, lot, item, "production") for lot in lots]
                else:
                    edges += [(m, ref, item, "consumption") for m, ref in inputs]
            for _member, lot in out_lots:
                edges += [(m, ref, lot, "consumption") for m, ref in inputs]
        elif kind == "AggregationEvent":
            parent = event.get("parentID")
            children = await self._all(event, where, ("childEPCs",), ("childQuantityList",))
            if adds:
                self._moves(Movement.PACK, children)
            if isinstance(parent, str):
                target = await self.resolve(parent, "object", f"{where}/parentID")
                if adds:
                    edges += [(m, ref, target, "packing") for m, ref in children]
        else:
            lists = ("epcList", "childEPCs")
            objects = await self._all(event, where, lists, ("quantityList", "childQuantityList"))
            if isinstance(event.get("parentID"), str):
                await self.resolve(event["parentID"], "object", f"{where}/parentID")
            if kind == "ObjectEvent" and adds and _is_step(event, prefixes, "receiving"):
                self._receive(event_row_id, where, objects)
            if kind == "ObjectEvent" and adds and _is_shipping(event, prefixes):
                self._moves(Movement.SHIP, objects)
                for consignee in await self._consignees(event, where):
                    edges += [(m, ref, consignee, "shipment") for m, ref in objects]
        seen: set[tuple[int, int, str]] = set()
        for member, source, target, edge_kind in edges:
            key = (source.node_id, target.node_id, edge_kind)
            if key in seen:
                continue
            seen.add(key)
            self.edges.append(
                {
                    "source_id": source.node_id,
                    "source_kind": source.kind,
                    "target_id": target.node_id,
                    "target_kind": target.kind,
                    "kind": edge_kind,
                    "event_type": EDGE_EVENT_TYPE,
                    "event_id": event_row_id,
                    "quantity": member.quantity,
                    "unit": member.unit,
                }
            )

    def _moves(self, movement: Movement, members: list[tuple[Member, Resolved]]) -> None:
        self.moves += [(movement, m.pointer, ref) for m, ref in members if ref.kind in _GATED]

    def _receive(
        self, event_row_id: int, where: str, members: list[tuple[Member, Resolved]]
    ) -> None:
        """A receiving ObjectEvent of supplier lots: each becomes a receipt (in the
        capture's unit of work, ``EpcisService``); anything else it names only moves."""
        for member, ref in members:
            if ref.kind == "supplier_lot" and ref.ref_id is not None:
                self.receivings.append(Receiving(event_row_id, member, ref.ref_id))
            elif ref.kind in _GATED:
                self.moves.append((Movement.RECEIVE, member.pointer, ref))

    async def check_gate(self, gate: MaterialGate) -> None:
        """Ask the material gate about everything the capture's events move (QMS-10, A11-02):
        any refusal rejects the whole document, naming the event's member and the record
        that blocks it. Receivings are asked by the receipt they become."""
        external = not self.actor.is_internal
        refusals = []
        for movement in Movement:
            named = [(where, ref) for m, where, ref in self.moves if m is movement]
            if not named:
                continue
            lots = await self._rows(InternalLot, named, "internal_lot")
            serials = await self._rows(Serial, named, "serial")
            supplier_lots = await self._rows(SupplierLot, named, "supplier_lot")
            refusals += await gate.refusals(
                movement,
                internal_lots=lots,
                serials=serials,
                supplier_lots=supplier_lots,
                external=external,
            )
        if refusals:
            raise GateRejected(refusals)

    async def _rows(
        self, model: Any, named: list[tuple[str, Resolved]], kind: str
    ) -> list[tuple[str, Any]]:
        wanted = [(where, ref.ref_id) for where, ref in named if ref.kind == kind and ref.ref_id]
        if not wanted:
            return []
        ids = sorted({ref for _, ref in wanted})
        rows = {
            row.id: row
            for row in (await self.session.scalars(select(model).where(model.id.in_(ids)))).unique()
        }
        return [(where, rows[ref]) for where, ref in wanted if ref in rows]

    async def write_edges(self) -> None:
        """Insert the edges :meth:`post` collected, in one statement."""
        if self.edges:
            await self.session.execute(insert(TraceEdge), self.edges)
            self.edges = []

    async def _all(
        self,
        event: Mapping[str, Any],
        where: str,
        object_lists: Iterable[str],
        class_lists: Iterable[str],
    ) -> list[tuple[Member, Resolved]]:
        found: list[tuple[Member, Resolved]] = []
        for name in object_lists:
            for index, uri in enumerate(event.get(name) or []):
                member = Member(uri, f"{where}/{name}/{index}")
                found.append((member, await self.resolve(uri, "object", member.pointer)))
        for name in class_lists:
            for index, element in enumerate(event.get(name) or []):
                member = Member(
                    element["epcClass"],
                    f"{where}/{name}/{index}/epcClass",
                    _decimal(element.get("quantity")),
                    element.get("uom"),
                )
                found.append((member, await self.resolve(member.uri, "class", member.pointer)))
        return found

    async def _consignees(self, event: Mapping[str, Any], where: str) -> list[Resolved]:
        return [
            await self.resolve(d["destination"], "consignee", f"{where}/destinationList/{i}")
            for i, d in _consignees_of(event)
        ]

    async def resolve(self, uri: str, position: Position, where: str) -> Resolved:
        """The trace node of an identifier, made when new; refuses a supplier's client naming
        something that is not its own."""
        canonical = index_form(uri)
        cached = self._resolved.get((canonical, position))
        if cached is None:
            cached = await self._known(canonical, position) or await self._object(
                canonical, position
            )
            self._resolved[(canonical, position)] = cached
        foreign = cached.internal or cached.owner != self.actor.organization_id
        if position != "consignee" and not self.actor.is_internal and foreign:
            raise PermissionDenied(
                f"The EPCIS document was rejected; nothing was stored. At {where}: "
                f"{uri!r} is not one of your organization's lots or items. A supplier's "
                "client captures events only about its own lots and items."
            )
        return cached

    async def _known(self, canonical: str, position: Position) -> Resolved | None:
        if position == "consignee":
            return None
        if canonical.startswith("urn:traceport:"):
            return await self._own_urn(canonical)
        info = read_gs1(canonical)
        if info is None:
            return None
        if info.level == "class" and info.lot is not None:
            return await self._lot(info)
        if info.sscc is not None:
            unit = await self.session.scalar(
                select(ShippingUnit.id).where(ShippingUnit.sscc == info.sscc)
            )
            if unit is not None:
                return await self._node("shipping_unit", unit, None, True)
        if info.level == "instance" and info.serial is not None:
            gtin_ok = or_(Part.gtin.is_(None), Part.gtin == info.gtin)
            serial = await self.session.scalar(
                select(Serial.id)
                .join(InternalLot, InternalLot.id == Serial.lot_id)
                .join(Part, Part.id == InternalLot.part_id)
                .where(Serial.serial == info.serial, gtin_ok)
            )
            if serial is not None:
                return await self._node("serial", serial, None, True)
        return None

    async def _lot(self, info: Gs1Identifier) -> Resolved | None:
        """Our internal lot or a supplier lot with this lot number. Our own systems match an
        internal lot also when its part has no GTIN; a supplier's client matches its own lots
        that way, and anything else only by the exact GTIN (then to be refused)."""
        same_gtin = Part.gtin == info.gtin
        loose = or_(Part.gtin.is_(None), same_gtin)
        own = SupplierLot.organization_id == self.actor.organization_id
        internal = await self.session.scalar(
            select(InternalLot.id)
            .join(Part, Part.id == InternalLot.part_id)
            .where(
                InternalLot.lot_number == info.lot, loose if self.actor.is_internal else same_gtin
            )
        )
        if self.actor.is_internal and internal is not None:
            return await self._node("internal_lot", internal, None, True)
        if not self.actor.is_internal:
            mine = await self._supplier_lot(info.lot, own & loose)
            if mine is not None or internal is None:
                return mine or await self._supplier_lot(info.lot, same_gtin)
            return await self._node("internal_lot", internal, None, True)
        return await self._supplier_lot(info.lot, same_gtin)

    async def _supplier_lot(self, lot_number: str | None, condition: Any) -> Resolved | None:
        rows = (
            await self.session.execute(
                select(SupplierLot.id, SupplierLot.organization_id)
                .join(Part, Part.id == SupplierLot.part_id)
                .where(SupplierLot.lot_number == lot_number, condition)
                .limit(2)
            )
        ).all()
        if len(rows) == 1:
            return await self._node("supplier_lot", rows[0][0], rows[0][1], False)
        return None

    async def _own_urn(self, canonical: str) -> Resolved | None:
        parts = [unquote(p) for p in canonical.split(":")[2:]]
        if parts[0] == "lot" and len(parts) == 2:
            found = await self.session.scalar(
                select(InternalLot.id).where(InternalLot.lot_number == parts[1])
            )
            return await self._node("internal_lot", found, None, True) if found else None
        if parts[0] == "serial" and len(parts) == 2:
            found = await self.session.scalar(select(Serial.id).where(Serial.serial == parts[1]))
            return await self._node("serial", found, None, True) if found else None
        if parts[0] == "supplier-lot" and len(parts) == 4 and parts[1].isdigit():
            found = await self.session.scalar(
                select(SupplierLot.id)
                .join(Part, Part.id == SupplierLot.part_id)
                .where(
                    SupplierLot.organization_id == int(parts[1]),
                    Part.number == parts[2],
                    SupplierLot.lot_number == parts[3],
                )
            )
            if found:
                return await self._node("supplier_lot", found, int(parts[1]), False)
        return None

    async def _node(self, kind: str, ref_id: int, owner: int | None, internal: bool) -> Resolved:
        node = await self.session.scalar(
            select(TraceNode.id).where(TraceNode.kind == kind, TraceNode.ref_id == ref_id)
        )
        if node is None:
            raise LookupError(f"{kind} {ref_id} has no trace node")
        return Resolved(int(node), kind, owner, internal, ref_id)

    async def _object(self, canonical: str, position: Position) -> Resolved:
        existing = await self.session.scalar(
            select(EpcisObject).where(EpcisObject.uri == canonical)
        )
        if existing is None:
            info = read_gs1(canonical)
            kind, identifier = _kind_and_identifier(canonical, position, info)
            existing = EpcisObject(
                uri=canonical,
                kind=kind,
                identifier=identifier,
                gtin=info.gtin if info else None,
                organization_id=self.actor.organization_id,
            )
            self.session.add(existing)
            await self.session.flush()
            external = None if self.actor.is_internal else self.actor.organization_id
            self.session.add(
                TraceNode(
                    kind=kind,
                    ref_id=existing.id,
                    identifier=identifier,
                    organization_id=external,
                )
            )
            await self.session.flush()
        return await self._node(existing.kind, existing.id, existing.organization_id, False)


async def find_cycle(session: AsyncSession, event_row_ids: Any) -> int | None:
    """A node that the new edges (those of the events selected by ``event_row_ids``, a
    subquery) would make its own ancestor, or ``None``. One recursive query: from each new
    edge's target, follow edges downstream, remembering the edge's source; a cycle is a
    source met again. ``UNION`` makes every (node, source) pair enter once, so it ends."""
    seed = (
        select(TraceEdge.target_id.label("node"), TraceEdge.source_id.label("origin"))
        .where(TraceEdge.event_type == EDGE_EVENT_TYPE, TraceEdge.event_id.in_(event_row_ids))
        .cte("reach", recursive=True)
    )
    reach = seed.union(
        select(TraceEdge.target_id, seed.c.origin).join(seed, TraceEdge.source_id == seed.c.node)
    )
    found = await session.scalar(
        select(reach.c.origin).where(reach.c.node == reach.c.origin).limit(1)
    )
    return int(found) if found is not None else None


def cycle_fault(pointer: str, identifier: str) -> EpcisRejected:
    return EpcisRejected(
        Fault(
            pointer,
            f"this event would make {identifier!r} its own ancestor: the genealogy already "
            "leads from it to this event's inputs (a cycle); correct the event or declare the "
            "earlier one erroneous",
        )
    )


EPCIS_NODE_KINDS = ("epc_lot", "epc_item", "sscc", "consignee")


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _named(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> Iterable[tuple[str, Position]]:
    """Every identifier :meth:`GenealogyWriter.post` resolves for ``event``, with its place."""
    for name in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        for uri in event.get(name) or []:
            yield uri, "object"
    for name in ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"):
        for element in event.get(name) or []:
            yield element["epcClass"], "class"
    if isinstance(event.get("parentID"), str):
        yield event["parentID"], "object"
    shipped = event.get("type") == "ObjectEvent" and event.get("action") != "DELETE"
    if shipped and _is_shipping(event, prefixes):
        for _index, item in _consignees_of(event):
            yield item["destination"], "consignee"


def _consignees_of(event: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The destinations a shipment goes to: the owning or possessing parties, else all."""
    destinations = [
        (index, item)
        for index, item in enumerate(event.get("destinationList") or [])
        if isinstance(item, dict)
    ]
    parties = [(i, d) for i, d in destinations if str(d.get("type", "")).endswith(_PARTIES)]
    return parties or destinations


def _kind_and_identifier(
    canonical: str, position: Position, info: Gs1Identifier | None
) -> tuple[str, str]:
    if position == "consignee":
        return "consignee", canonical[:120]
    if position == "class":
        return "epc_lot", (info.lot if info and info.lot else canonical)[:120]
    if info is not None and info.sscc:
        return "sscc", info.sscc
    if info is not None and info.serial:
        return "epc_item", info.serial[:120]
    return "epc_item", canonical[:120]


def _same_gtin(lot_uri: str, item_uri: str) -> bool:
    lot, item = read_gs1(lot_uri), read_gs1(item_uri)
    return bool(lot and item and lot.gtin and lot.gtin == item.gtin)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _is_shipping(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> bool:
    return _is_step(event, prefixes, "shipping")


def _is_step(event: Mapping[str, Any], prefixes: Mapping[str, str], name: str) -> bool:
    step = event.get("bizStep")
    if not isinstance(step, str):
        return False
    return standard_uri(BIZ_STEP, expand_curie(step, prefixes)) == BIZ_STEP.web_prefix + name


#: The node kinds the gate knows the status of.
_GATED = ("internal_lot", "serial", "supplier_lot")


@dataclass(frozen=True)
class Receiving:
    """A supplier lot a receiving ObjectEvent names, with the quantity it came with."""

    event_row_id: int
    member: Member
    supplier_lot_id: int


class GateRejected(EpcisRejected):
    """The gate refused material a captured event moves: the whole document is rejected,
    every refusal under its event's JSON pointer (A11-02)."""

    def __init__(self, refusals: list[Refusal]) -> None:
        first = refusals[0]
        super().__init__(Fault(first.field, first.message))
        self.refusals = refusals
        for refusal in refusals[1:]:
            where = refusal.field or "/"
            known = self.errors.get(where)
            self.errors[where] = f"{known} {refusal.message}" if known else refusal.message
        if len(refusals) > 1:
            self.message += f" ({len(refusals) - 1} more refusal(s) in the fields.)"
