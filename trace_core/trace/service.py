"""Trace queries: backward (where did this come from?) and forward (where did it go?) from any
identifier. The walk is one recursive SQL query per direction (DESIGN invariant 8); ``UNION``
(not ``UNION ALL``) makes a node enter the walk once, so cycles end and diamonds don't
multiply. The same statement returns each node found with the edges it was left by, so the
recursion runs once. Evidence for the nodes found is then loaded with one query per node
*kind* (per 10,000 nodes on SQLite), by plain columns: a recall reaches 100,000 serials, and
ORM objects with their eager relationships would cost seconds there (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    Select,
    String,
    any_,
    bindparam,
    literal,
    select,
)
from sqlalchemy import type_coerce as raw_value
from sqlalchemy.orm import InstrumentedAttribute

from trace_core.attachments.models import Document
from trace_core.db import plain_decimal
from trace_core.errors import NotFound, ValidationFailed
from trace_core.gs1 import ScanError, identifiers_for_trace
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part, Specification
from trace_core.processes.evidence import process_evidence  # process-run hook (QMS-08)
from trace_core.shipments.models import Shipment
from trace_core.trace.models import TraceEdge, TraceNode

if TYPE_CHECKING:
    from trace_core.services import Services

Direction = Literal["backward", "forward"]
AnySelect = Select[*tuple[Any, ...]]
#: The nested tree is for people; past this many entries it is cut (the flat lists are whole).
TREE_LIMIT = 2000
#: SQLite refuses statements with more bound values than 32,766; evidence is read in chunks.
SQLITE_CHUNK = 10_000


@dataclass(slots=True)
class NodeView:
    id: int
    kind: str
    identifier: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "identifier": self.identifier, **self.details}


class EdgeView(NamedTuple):
    """An edge of the trace (immutable; a named tuple because a recall builds 100,000s)."""

    source: int
    target: int
    kind: str
    event_type: str
    event_id: int
    quantity: Decimal | None
    unit: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "kind": self.kind,
            "event": {"type": self.event_type, "id": self.event_id},
            "quantity": self.quantity,
            "unit": self.unit,
        }


@dataclass
class TraceResult:
    query: str
    direction: Direction
    roots: list[int]
    nodes: dict[int, NodeView]
    edges: list[EdgeView]

    def next_of(self) -> dict[int, list[tuple[EdgeView, int]]]:
        """For each node, the edges leading on in the trace's direction, with the next node."""
        following: dict[int, list[tuple[EdgeView, int]]] = defaultdict(list)
        for edge in self.edges:
            if self.direction == "forward":
                following[edge.source].append((edge, edge.target))
            else:
                following[edge.target].append((edge, edge.source))
        for items in following.values():
            items.sort(key=lambda pair: (self.nodes[pair[1]].kind, self.nodes[pair[1]].identifier))
        return following

    def tree(self) -> list[dict[str, Any]]:
        following = self.next_of()
        budget = [TREE_LIMIT]
        expanded: set[int] = set()

        def build(node_id: int, edge: EdgeView | None) -> dict[str, Any]:
            budget[0] -= 1
            entry: dict[str, Any] = {"node": node_id}
            if edge is not None:
                entry["via"] = edge.kind
                entry["quantity"] = edge.quantity
                entry["unit"] = edge.unit
            if node_id in expanded:
                entry["repeat"] = True  # shown in full elsewhere in the tree (a diamond)
                return entry
            expanded.add(node_id)
            children = []
            for next_edge, next_id in following.get(node_id, []):
                if budget[0] <= 0:
                    entry["truncated"] = True
                    break
                children.append(build(next_id, next_edge))
            entry["children"] = children
            return entry

        return [build(root, None) for root in self.roots]

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for node in self.nodes.values():
            totals[node.kind] += 1
        return dict(totals)

    def consignees(self) -> list[dict[str, Any]]:
        return sorted(
            (
                {
                    "shipment": n.identifier,
                    "name": n.details["consignee_name"],
                    "address": n.details["consignee_address"],
                }
                for n in self.nodes.values()
                if n.kind == "shipment"
            ),
            key=lambda c: (c["name"], c["shipment"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "direction": self.direction,
            "roots": self.roots,
            "counts": self.counts(),
            "nodes": [self.nodes[i].as_dict() for i in sorted(self.nodes)],
            # The walk returns edges node by node; a document lists them in a stable order.
            "edges": [
                e.as_dict()
                for e in sorted(self.edges, key=lambda e: (e.source, e.target, e.event_id))
            ],
            "consignees": self.consignees(),
            "tree": self.tree(),
        }


class TraceService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session

    async def resolve(self, actor: Actor, identifier: str) -> list[TraceNode]:
        """Nodes whose identifier is exactly ``identifier`` (identifiers are verbatim; the same
        lot number from two suppliers gives two roots)."""
        actor.require("trace.read")
        text = identifier.strip()
        if not text:
            raise ValidationFailed({"identifier": "Type or scan an identifier."})
        nodes = await self._nodes(actor, text)
        if nodes:
            return nodes
        # Not an identifier as typed: perhaps a scanned UDI / GS1 barcode or Digital Link.
        try:
            candidates = identifiers_for_trace(text)
        except ScanError as exc:
            raise ValidationFailed({"identifier": f"The scanned code is not valid: {exc}"}) from exc
        others = [c for c in candidates if c != text]
        nodes = await self._nodes(actor, *others) if others else []
        # A scanned serial names one device; prefer it over the lot printed beside it.
        serials = [n for n in nodes if n.kind == "serial"]
        if serials or nodes:
            return serials or nodes
        raise NotFound(f"Nothing is known by the identifier {text!r}.")

    async def _nodes(self, actor: Actor, *identifiers: str) -> list[TraceNode]:
        query = select(TraceNode).where(TraceNode.identifier.in_(identifiers))
        if not actor.is_internal:
            query = query.where(
                TraceNode.kind == "supplier_lot", TraceNode.organization_id == actor.organization_id
            )
        return list(await self.session.scalars(query.order_by(TraceNode.id)))

    async def backward(self, actor: Actor, identifier: str) -> TraceResult:
        return await self._trace(actor, identifier, "backward")

    async def forward(self, actor: Actor, identifier: str) -> TraceResult:
        return await self._trace(actor, identifier, "forward")

    async def _trace(self, actor: Actor, identifier: str, direction: Direction) -> TraceResult:
        roots = await self.resolve(actor, identifier)
        root_ids = [n.id for n in roots]
        with collector_paused():
            refs, edges = await self._walk(root_ids, direction)
            if not actor.is_internal:
                refs, edges = _external_view(actor, refs, edges)
            details = await self._describe(refs)
            nodes = {
                node_id: NodeView(node_id, ref.kind, ref.identifier, details.get(node_id) or {})
                for node_id, ref in refs.items()
            }
        return TraceResult(identifier.strip(), direction, root_ids, nodes, edges)

    async def _walk(
        self, root_ids: list[int], direction: Direction
    ) -> tuple[dict[int, NodeRef], list[EdgeView]]:
        """The nodes reached and the edges followed, from the one walk statement."""
        forward = direction == "forward"
        refs: dict[int, NodeRef] = {}
        edges: list[EdgeView] = []
        quantities: dict[Any, Decimal] = {}
        for row in await self.session.execute(walk_statement(direction), {"roots": root_ids}):
            node_id, far = row[0], row[5]
            if node_id not in refs:
                refs[node_id] = NodeRef(row[1], row[2], row[3], row[4])
            if far is None:
                continue  # a node no edge leaves in this direction
            raw = row[9]
            if raw is None:
                quantity = None
            elif (quantity := quantities.get(raw)) is None:
                quantity = quantities[raw] = plain_decimal(Decimal(str(raw)))
            source, target = (node_id, far) if forward else (far, node_id)
            edges.append(EdgeView(source, target, row[6], row[7], row[8], quantity, row[10]))
        return refs, edges

    def _among(self, column: InstrumentedAttribute[int], ids: Collection[int]) -> Iterator[Any]:
        """Conditions that together select the rows whose ``column`` is one of ``ids``: a
        single array parameter on PostgreSQL (an IN list of 100,000 values would exceed the
        driver's 32,767 parameters), IN lists of ``SQLITE_CHUNK`` values on SQLite."""
        if self.session.get_bind().dialect.name == "postgresql":
            yield column == any_(literal(list(ids), ARRAY(BigInteger)))
            return
        values = list(ids)
        for start in range(0, len(values), SQLITE_CHUNK):
            yield column.in_(values[start : start + SQLITE_CHUNK])

    async def _rows(
        self, query: AnySelect, column: InstrumentedAttribute[int], ids: Collection[int]
    ) -> list[Any]:
        rows: list[Any] = []
        for condition in self._among(column, ids):
            rows += (await self.session.execute(query.where(condition))).all()
        return rows

    async def _describe(self, refs: dict[int, NodeRef]) -> dict[int, dict[str, Any]]:
        """The evidence for each node, by node id: the rows behind it, one query per kind."""
        details: dict[int, dict[str, Any]] = {}
        by_kind: dict[str, dict[int, int]] = defaultdict(dict)
        for node_id, ref in refs.items():
            by_kind[ref.kind][ref.ref_id] = node_id
        if ids := by_kind.get("supplier_lot"):
            lots = await self._rows(_SUPPLIER_LOTS, SupplierLot.id, ids)
            signatures = await self.s.keeper.signatures_for_many("supplier_lot", list(ids))
            for lot in lots:
                details[ids[lot[0]]] = {
                    "supplier": lot[1],
                    "part_number": lot[2],
                    "part_name": lot[3],
                    "status": lot[4],
                    "verdict": lot[5],
                    "quantity": lot[6],
                    "unit": lot[7],
                    "manufactured_on": lot[8],
                    "expires_on": lot[9],
                    "specification_revision": lot[10],
                    "coa": {"document_id": lot[11], "sha256": lot[12], "filename": lot[13]},
                    "signatures": [s.as_dict() for s in signatures.get(lot[0], [])],
                    "record": {"type": "supplier_lot", "id": lot[0], "version": lot[14]},
                }
        if ids := by_kind.get("internal_lot"):
            for lot_id, number, name, kind, status, quantity, unit in await self._rows(
                _INTERNAL_LOTS, InternalLot.id, ids
            ):
                details[ids[lot_id]] = {
                    "part_number": number,
                    "part_name": name,
                    "lot_kind": kind,
                    "status": status,
                    "quantity": quantity,
                    "unit": unit,
                    "record": {"type": "internal_lot", "id": lot_id},
                }
        # -- process-run evidence hook (issue 5, QMS-08); keep when rewriting this file --------
        # Internal actors only: a supplier's trace reaches our lots received from it, and must
        # not see other contractors' runs on them.
        if (ids := by_kind.get("internal_lot")) and self.s.actor.is_internal:
            for lot_id, runs in (await process_evidence(self.session, ids)).items():
                details.setdefault(ids[lot_id], {})["process_runs"] = runs
        # -- end of the process-run evidence hook ------------------------------------------------
        if ids := by_kind.get("serial"):
            serials = await self._rows(_SERIALS, Serial.id, ids)
            # A serial's part and lot number are its lot's: read once per lot, not per serial.
            lots_of = {
                row[0]: row[1:]
                for row in await self._rows(
                    _SERIAL_LOTS, InternalLot.id, {row[2] for row in serials}
                )
            }
            for serial_id, status, lot_id in serials:
                number, name, gtin, lot_number = lots_of[lot_id]
                details[ids[serial_id]] = {
                    "part_number": number,
                    "part_name": name,
                    "gtin": gtin,
                    "lot_number": lot_number,
                    "status": status,
                }
        if ids := by_kind.get("shipment"):
            for shipment_id, name, address, shipped_at, status in await self._rows(
                _SHIPMENTS, Shipment.id, ids
            ):
                details[ids[shipment_id]] = {
                    "consignee_name": name,
                    "consignee_address": address,
                    "shipped_at": shipped_at,
                    "status": status,
                    "record": {"type": "shipment", "id": shipment_id},
                }
        return details


# The evidence read for each node kind (built once; each trace adds its WHERE).
_SUPPLIER_LOTS = (
    select(
        SupplierLot.id,
        Organization.name,
        Part.number,
        Part.name,
        SupplierLot.status,
        SupplierLot.verdict,
        SupplierLot.quantity,
        SupplierLot.unit,
        SupplierLot.manufactured_on,
        SupplierLot.expires_on,
        Specification.revision,
        SupplierLot.coa_document_id,
        Document.sha256,
        Document.filename,
        SupplierLot.version,
    )
    .join(Organization, Organization.id == SupplierLot.organization_id)
    .join(Part, Part.id == SupplierLot.part_id)
    .join(Specification, Specification.id == SupplierLot.specification_id)
    .join(Document, Document.id == SupplierLot.coa_document_id)
)
_INTERNAL_LOTS = select(
    InternalLot.id,
    Part.number,
    Part.name,
    InternalLot.kind,
    InternalLot.status,
    InternalLot.quantity,
    InternalLot.unit,
).join(Part, Part.id == InternalLot.part_id)
_SERIALS = select(Serial.id, Serial.status, Serial.lot_id)
_SERIAL_LOTS = select(
    InternalLot.id, Part.number, Part.name, Part.gtin, InternalLot.lot_number
).join(Part, Part.id == InternalLot.part_id)
_SHIPMENTS = select(
    Shipment.id,
    Shipment.consignee_name,
    Shipment.consignee_address,
    Shipment.shipped_at,
    Shipment.status,
)


_pauses = 0
_pauses_lock = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a trace builds its result.

    A forward trace of a wide lot creates about a million small objects (rows, node and edge
    views) that mostly stay alive as the result. The collector is triggered every 700 new
    objects and keeps traversing the growing pile: a third of such a trace and its consignee
    list (docs/PERFORMANCE.md). Those objects hold no reference cycles, so there is nothing
    for it to find in them; cycles other code makes meanwhile are collected when it resumes,
    and reference counting frees everything else as usual. Overlapping traces (tasks or
    threads) share the pause; a collector someone else switched off stays off.
    """
    global _pauses
    with _pauses_lock:
        if _pauses == 0 and not gc.isenabled():
            paused = False
        else:
            paused = True
            _pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if paused:
            with _pauses_lock:
                _pauses -= 1
                if _pauses == 0:
                    gc.enable()


class NodeRef(NamedTuple):
    """A trace node as the walk returns it: its kind, the row it names, its identifier and,
    for supplier lots, the owning organization."""

    kind: str
    ref_id: int
    identifier: str
    organization_id: int | None


def walk_statement(direction: Direction) -> AnySelect:
    """The walk as one SQL statement: every node reached from the nodes in the expanding
    parameter ``roots``, with each edge that leaves it in ``direction`` (one row per edge, or
    one row with no edge). Built once per direction.

    Columns: node id, kind, ref_id, identifier, organization_id, then the edge's far node (the
    next one in the walk), kind, event type, event id, quantity, unit. The quantity is the
    raw column value (the service converts each distinct value once). The benchmark times
    this statement alone as the floor of a trace.
    """
    return _WALKS[direction]


def _walk_statement(direction: Direction) -> AnySelect:
    roots: BindParameter[list[int]] = bindparam("roots", expanding=True)
    seed = (
        select(TraceNode.id.label("id")).where(TraceNode.id.in_(roots)).cte("reach", recursive=True)
    )
    # Follow edges against the flow (backward) or with it (forward). The final join must use
    # the *recursive* CTE, i.e. the one returned by union(), not the seed.
    if direction == "backward":
        near, far = TraceEdge.target_id, TraceEdge.source_id
    else:
        near, far = TraceEdge.source_id, TraceEdge.target_id
    reach = seed.union(select(far).join(seed, near == seed.c.id))
    return (
        select(
            TraceNode.id,
            TraceNode.kind,
            TraceNode.ref_id,
            TraceNode.identifier,
            TraceNode.organization_id,
            far,
            TraceEdge.kind,
            TraceEdge.event_type,
            TraceEdge.event_id,
            raw_value(TraceEdge.quantity, String),
            TraceEdge.unit,
        )
        .select_from(reach)
        .join(TraceNode, TraceNode.id == reach.c.id)
        .outerjoin(TraceEdge, near == reach.c.id)
    )


_WALKS: dict[Direction, AnySelect] = {d: _walk_statement(d) for d in ("backward", "forward")}


def _external_view(
    actor: Actor, refs: dict[int, NodeRef], edges: list[EdgeView]
) -> tuple[dict[int, NodeRef], list[EdgeView]]:
    """A supplier sees its own lots and the receipts of them into our stock — not our
    production, other suppliers' lots or our customers."""
    own = {
        node_id
        for node_id, ref in refs.items()
        if ref.kind == "supplier_lot" and ref.organization_id == actor.organization_id
    }
    kept_edges = [e for e in edges if e.kind == "receipt" and e.source in own]
    keep = own | {e.target for e in kept_edges}
    return {i: ref for i, ref in refs.items() if i in keep}, kept_edges
