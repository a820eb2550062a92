"""Trace queries: backward (where did this come from?) and forward (where did it go?) from any
identifier. The walk is one recursive SQL query per direction (DESIGN invariant 8); ``UNION``
(not ``UNION ALL``) makes a node enter the walk once, so cycles end and diamonds don't
multiply. Evidence for the nodes found is then loaded with one query per node *kind*.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from trace_core.errors import NotFound, ValidationFailed
from trace_core.gs1 import ScanError, identifiers_for_trace
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.shipments.models import Shipment
from trace_core.trace.models import TraceEdge, TraceNode

if TYPE_CHECKING:
    from trace_core.services import Services

Direction = Literal["backward", "forward"]
#: The nested tree is for people; past this many entries it is cut (the flat lists are whole).
TREE_LIMIT = 2000


@dataclass
class NodeView:
    id: int
    kind: str
    identifier: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "identifier": self.identifier, **self.details}


@dataclass(frozen=True)
class EdgeView:
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
            "edges": [e.as_dict() for e in self.edges],
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
        seed = (
            select(TraceNode.id.label("id"))
            .where(TraceNode.id.in_(root_ids))
            .cte("reach", recursive=True)
        )
        # Follow edges against the flow (backward) or with it (forward). The edge query must
        # join the *recursive* CTE, i.e. the one returned by union(), not the seed.
        if direction == "backward":
            reach = seed.union(
                select(TraceEdge.source_id).join(seed, TraceEdge.target_id == seed.c.id)
            )
            edge_query = select(TraceEdge).join(reach, TraceEdge.target_id == reach.c.id)
        else:
            reach = seed.union(
                select(TraceEdge.target_id).join(seed, TraceEdge.source_id == seed.c.id)
            )
            edge_query = select(TraceEdge).join(reach, TraceEdge.source_id == reach.c.id)
        edge_query = edge_query.order_by(TraceEdge.id)
        edges = [
            EdgeView(e.source_id, e.target_id, e.kind, e.event_type, e.event_id, e.quantity, e.unit)
            for e in await self.session.scalars(edge_query)
        ]
        node_rows = list(
            await self.session.scalars(
                select(TraceNode).where(TraceNode.id.in_(select(reach.c.id)))
            )
        )
        nodes = {n.id: NodeView(n.id, n.kind, n.identifier) for n in node_rows}
        if not actor.is_internal:
            nodes, edges = _external_view(actor, node_rows, nodes, edges)
        await self._describe(node_rows, nodes)
        return TraceResult(identifier.strip(), direction, root_ids, nodes, edges)

    async def _describe(self, rows: list[TraceNode], nodes: dict[int, NodeView]) -> None:
        by_kind: dict[str, dict[int, int]] = defaultdict(dict)
        for row in rows:
            if row.id in nodes:
                by_kind[row.kind][row.ref_id] = row.id
        if ids := by_kind.get("supplier_lot"):
            lots = (
                await self.session.scalars(select(SupplierLot).where(SupplierLot.id.in_(ids)))
            ).unique()
            signatures = await self.s.keeper.signatures_for_many("supplier_lot", list(ids))
            for lot in lots:
                nodes[ids[lot.id]].details = {
                    "supplier": lot.organization.name,
                    "part_number": lot.part.number,
                    "part_name": lot.part.name,
                    "status": lot.status,
                    "verdict": lot.verdict,
                    "quantity": lot.quantity,
                    "unit": lot.unit,
                    "manufactured_on": lot.manufactured_on,
                    "expires_on": lot.expires_on,
                    "specification_revision": lot.specification.revision,
                    "coa": {
                        "document_id": lot.coa_document_id,
                        "sha256": lot.coa_document.sha256,
                        "filename": lot.coa_document.filename,
                    },
                    "signatures": [s.as_dict() for s in signatures.get(lot.id, [])],
                    "record": {"type": "supplier_lot", "id": lot.id, "version": lot.version},
                }
        if ids := by_kind.get("internal_lot"):
            for internal in (
                await self.session.scalars(select(InternalLot).where(InternalLot.id.in_(ids)))
            ).unique():
                nodes[ids[internal.id]].details = {
                    "part_number": internal.part.number,
                    "part_name": internal.part.name,
                    "lot_kind": internal.kind,
                    "status": internal.status,
                    "quantity": internal.quantity,
                    "unit": internal.unit,
                    "record": {"type": "internal_lot", "id": internal.id},
                }
        if ids := by_kind.get("serial"):
            for serial in (
                await self.session.scalars(select(Serial).where(Serial.id.in_(ids)))
            ).unique():
                nodes[ids[serial.id]].details = {
                    "part_number": serial.lot.part.number,
                    "part_name": serial.lot.part.name,
                    "gtin": serial.lot.part.gtin,
                    "lot_number": serial.lot.lot_number,
                    "status": serial.status,
                }
        if ids := by_kind.get("shipment"):
            for shipment in (
                await self.session.scalars(select(Shipment).where(Shipment.id.in_(ids)))
            ).unique():
                nodes[ids[shipment.id]].details = {
                    "consignee_name": shipment.consignee_name,
                    "consignee_address": shipment.consignee_address,
                    "shipped_at": shipment.shipped_at,
                    "status": shipment.status,
                    "record": {"type": "shipment", "id": shipment.id},
                }


def _external_view(
    actor: Actor, rows: list[TraceNode], nodes: dict[int, NodeView], edges: list[EdgeView]
) -> tuple[dict[int, NodeView], list[EdgeView]]:
    """A supplier sees its own lots and the receipts of them into our stock — not our
    production, other suppliers' lots or our customers."""
    own = {
        r.id
        for r in rows
        if r.kind == "supplier_lot" and r.organization_id == actor.organization_id
    }
    kept_edges = [e for e in edges if e.kind == "receipt" and e.source in own]
    keep = own | {e.target for e in kept_edges}
    return {i: n for i, n in nodes.items() if i in keep}, kept_edges
