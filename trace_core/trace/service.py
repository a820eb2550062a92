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
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    String,
    func,
    select,
)
from sqlalchemy import type_coerce as raw_value
from sqlalchemy.orm import InstrumentedAttribute

from trace_core.attachments.models import Document
from trace_core.certificates.coverage import FACT_COLUMNS, certificate_facts
from trace_core.certificates.evidence import certificate_evidence, receipts_evidence
from trace_core.db import among_ids, fetch_rows, plain_decimal
from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.gs1 import ScanError, identifiers_for_trace
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.packing.service import describe_shipping_units
from trace_core.parts.models import Part, Specification
from trace_core.processes.evidence import process_evidence
from trace_core.shipments.models import Shipment
from trace_core.trace.models import TraceEdge, TraceNode
from trace_core.trace.scope import (
    SerialBundle,
    SerialGroup,
    SerialLot,
    TraceScope,
    scope_of,
    scope_statement,
)
from trace_core.trace.statements import (
    EVIDENCE_COLUMNS,
    AnySelect,
    Direction,
    ends,
    evidence_statement,
    reach,
    seeds_by_id,
)

if TYPE_CHECKING:
    from trace_core.services import Services

#: The nested tree is for people; past this many entries it is cut (the flat lists are whole).
TREE_LIMIT = 2000
#: Serials listed per page when a bundle of a scope is opened (and at most, when asked).
BUNDLE_PAGE = 100
BUNDLE_PAGE_MAX = 1000


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
        actor.require("trace.read")
        text = identifier.strip()
        if actor.is_internal and text:
            # The identifier as typed seeds the walk: resolving it costs no round trip. Only
            # when nothing has that identifier does ``resolve`` read it as a scanned code.
            found = await self._walk_with_evidence(
                evidence_statement("backward", by_identifier=True), {"identifier": text}, "backward"
            )
            if found[0]:
                roots = sorted(i for i, ref in found[0].items() if ref.identifier == text)
                return await self._evidence_result(actor, text, roots, "backward", found)
        return await self._trace(actor, identifier, "backward")

    async def forward(self, actor: Actor, identifier: str) -> TraceResult:
        return await self._trace(actor, identifier, "forward")

    async def scope(
        self,
        actor: Actor,
        identifier: str,
        direction: Direction = "forward",
        *,
        serials: bool = False,
    ) -> TraceScope:
        """What a trace reaches, with serials bundled (``trace_core/trace/scope.py``): the
        answer to a recall question in one statement, however wide the lot. With ``serials``
        (for our own staff only) the same statement also lists every serial reached, with
        the edges leaving it (``TraceScope.serials``): what a recall keeps of each."""
        if serials and not actor.is_internal:
            raise PermissionDenied("Serial lists are for our own staff.")
        if serials and direction != "forward":
            # A caller's mistake, not a person's: only recalls ask, and always forward.
            raise ValueError("a scope lists its serials forward only (a recall)")
        roots = await self.resolve(actor, identifier)
        root_ids = [n.id for n in roots]
        if not actor.is_internal:
            # A supplier's view is its own lots and their receipts: small, cut in memory.
            return scope_of(await self._walk_result(actor, identifier, root_ids, direction))
        with collector_paused():  # tens of thousands of rows and views, no cycles
            counts: dict[str, int] = {}
            refs: dict[int, NodeRef] = {}
            links: list[EdgeView] = []
            bundles: list[SerialBundle] = []
            quantity_of = quantity_reader()
            forward = direction == "forward"
            details: dict[int, dict[str, Any]] = {}
            groups: list[SerialGroup] = []
            serial_lots: dict[int, SerialLot] = {}
            serial_links: list[EdgeView] = []
            statement = scope_statement(direction, serials)
            for row in (await self._core(statement, {"roots": root_ids})).all():
                tag, a, b, kind, name, c, event_type, event_id, quantity, unit = row[:10]
                if tag == "serial_group":
                    # status 13, serials 18 (a JSON array)
                    groups.append(SerialGroup(c, row[13], b, json.loads(row[18])))
                elif tag == "serial_lot":
                    serial_lots[a] = SerialLot(name, row[10], row[17])  # part_number, gtin
                elif tag == "serial_link":
                    serial_links.append(
                        EdgeView(a, b, kind, event_type, event_id, quantity_of(quantity), unit)
                    )
                elif tag == "node":
                    refs[a] = NodeRef(kind, b, name, c)
                    # Lots and shipments come with their evidence (the scope's bulk); the
                    # few others are described below as in a full trace.
                    if kind == "internal_lot":
                        details[a] = internal_lot_details(
                            b, row[10], row[11], row[12], row[13], quantity_of(quantity), unit
                        )
                    elif kind == "shipment":
                        details[a] = shipment_details(b, row[14], row[15], row[16], row[13])
                elif tag == "link":
                    source, target = (a, b) if forward else (b, a)
                    links.append(
                        EdgeView(
                            source, target, kind, event_type, event_id, quantity_of(quantity), unit
                        )
                    )
                elif tag == "count":
                    counts[kind] = a
                else:
                    bundles.append(SerialBundle(a, kind, b))
            details.update(
                await self._describe({i: r for i, r in refs.items() if i not in details})
            )
            await self._attach_process_runs(actor, refs, details)
            await self._attach_certificates(actor, refs, details)
            nodes = {
                node_id: NodeView(node_id, ref.kind, ref.identifier, details.get(node_id) or {})
                for node_id, ref in refs.items()
            }
        return TraceScope(
            identifier.strip(),
            direction,
            root_ids,
            counts,
            nodes,
            links,
            bundles,
            groups,
            serial_lots,
            serial_links,
        )

    async def bundle(
        self,
        actor: Actor,
        node_id: int,
        direction: Direction = "forward",
        offset: int = 0,
        limit: int = BUNDLE_PAGE,
    ) -> dict[str, Any]:
        """A page of the serials that follow node ``node_id`` in ``direction`` (a bundle of a
        scope opened: the serials a lot made, forward), each with what follows it (the
        shipment and its consignee)."""
        actor.require("trace.read")
        if not actor.is_internal:
            raise PermissionDenied("Serial lists are for our own staff.")
        if offset < 0 or not 1 <= limit <= BUNDLE_PAGE_MAX:
            raise ValidationFailed(
                {"limit": f"Ask for 1 to {BUNDLE_PAGE_MAX} serials from offset 0 or more."}
            )
        node = await self.session.get(TraceNode, node_id)
        if node is None:
            raise NotFound(f"No trace node {node_id}.")
        near, far, far_kind = ends(direction)
        following_serials = (near == node_id, far_kind == "serial")
        # Counted from the walk index alone; the page reads its serials' rows.
        total = await self.session.scalar(select(func.count()).where(*following_serials))
        serials = (
            select(TraceNode.id, TraceNode.identifier, Serial.status, TraceEdge.kind)
            .join(TraceEdge, far == TraceNode.id)
            .join(Serial, Serial.id == TraceNode.ref_id)
            .where(*following_serials)
        )
        page = (
            await self.session.execute(
                serials.order_by(TraceNode.identifier, TraceNode.id).offset(offset).limit(limit)
            )
        ).all()
        following: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if page:
            after = (
                select(near, TraceEdge.kind, TraceNode.id, TraceNode.kind, TraceNode.ref_id)
                .add_columns(TraceNode.identifier)
                .join(TraceNode, TraceNode.id == far)
                .where(near.in_([row[0] for row in page]))
                .order_by(near, TraceNode.kind, TraceNode.identifier)
            )
            rows = (await self.session.execute(after)).all()
            refs = {row[2]: NodeRef(row[3], row[4], row[5], None) for row in rows}
            details = await self._describe(refs)
            for serial_id, via, next_id, kind, _ref, identifier in rows:
                following[serial_id].append(
                    {
                        "id": next_id,
                        "kind": kind,
                        "identifier": identifier,
                        "via": via,
                        **details.get(next_id, {}),
                    }
                )
        return {
            "node": {"id": node.id, "kind": node.kind, "identifier": node.identifier},
            "direction": direction,
            "total": total or 0,
            "offset": offset,
            "limit": limit,
            "serials": [
                {
                    "id": serial_id,
                    "serial": identifier,
                    "status": status,
                    "via": via,
                    "next": following.get(serial_id, []),
                }
                for serial_id, identifier, status, via in page
            ],
        }

    async def _trace(self, actor: Actor, identifier: str, direction: Direction) -> TraceResult:
        roots = await self.resolve(actor, identifier)
        return await self._walk_result(actor, identifier, [n.id for n in roots], direction)

    async def _walk_result(
        self, actor: Actor, identifier: str, root_ids: list[int], direction: Direction
    ) -> TraceResult:
        if direction == "backward":
            # Fans in: a device's ancestry is tens of nodes, read with their evidence at once.
            found = await self._walk_with_evidence(
                evidence_statement(direction), {"roots": root_ids}, direction
            )
            return await self._evidence_result(actor, identifier, root_ids, direction, found)
        with collector_paused():
            refs, edges = await self._walk(root_ids, direction)
            if not actor.is_internal:
                refs, edges = _external_view(actor, refs, edges)
            details = await self._describe(refs)
            await self._attach_process_runs(actor, refs, details)
            await self._attach_certificates(actor, refs, details)
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
        quantity_of = quantity_reader()
        for row in await self._core(walk_statement(direction), {"roots": root_ids}):
            node_id, far = row[0], row[5]
            if node_id not in refs:
                refs[node_id] = NodeRef(row[1], row[2], row[3], row[4])
            if far is None:
                continue  # a node no edge leaves in this direction
            quantity = quantity_of(row[9])
            source, target = (node_id, far) if forward else (far, node_id)
            edges.append(EdgeView(source, target, row[6], row[7], row[8], quantity, row[10]))
        return refs, edges

    async def _evidence_result(
        self,
        actor: Actor,
        identifier: str,
        root_ids: list[int],
        direction: Direction,
        found: Evidence,
    ) -> TraceResult:
        refs, edges, details, more, _ = found
        if not actor.is_internal:
            refs, edges = _external_view(actor, refs, edges)
        # Kinds the statement carries no evidence for (shipping units): read as a full trace
        # does (no query when there are none).
        details.update(await self._describe({i: r for i, r in refs.items() if i not in details}))
        # Signatures and process runs: asked for only where the statement found some.
        for node_id, ref in refs.items():
            if ref.kind == "supplier_lot" and node_id not in more and node_id in details:
                details[node_id]["signatures"] = []
        followed = {i: r for i, r in refs.items() if i in more}
        await self._attach_signatures(followed, details)
        await self._attach_process_runs(actor, followed, details)
        # The statement judged the certificate status on every receipt date already.
        for node_id, receipts in found.certificates.items():
            lot = refs.get(node_id)
            if lot is not None and (
                actor.is_internal or lot.organization_id == actor.organization_id
            ):
                details.setdefault(node_id, {})["certificates"] = receipts
        nodes = {
            node_id: NodeView(node_id, ref.kind, ref.identifier, details.get(node_id) or {})
            for node_id, ref in refs.items()
        }
        return TraceResult(identifier.strip(), direction, root_ids, nodes, edges)

    async def _walk_with_evidence(
        self, statement: AnySelect, parameters: dict[str, Any], direction: Direction
    ) -> Evidence:
        """Nodes, edges and evidence from one ``evidence_statement``."""
        forward = direction == "forward"
        refs: dict[int, NodeRef] = {}
        edges: list[EdgeView] = []
        details: dict[int, dict[str, Any]] = {}
        more: set[int] = set()
        receipts: list[tuple[Any, ...]] = []
        certificates: list[tuple[Any, ...]] = []
        certificate_parts: list[tuple[int, int]] = []
        quantity_of = quantity_reader()
        # By position (``EVIDENCE_COLUMNS`` after the tag), never by name: a backward trace
        # reads about two hundred rows of 45 columns, and a named lookup on a row costs a
        # mapping lookup each time.
        connection = await self.session.connection()
        for row in await fetch_rows(connection, statement, parameters):
            tag, near, kind, ref_id, identifier, organization_id, far, event_type = row[:8]
            if tag == "node":
                refs[near] = NodeRef(kind, ref_id, identifier, organization_id)
                if (described := _evidence(kind, row, quantity_of)) is not None:
                    details[near] = described
                if row[_MORE_EVIDENCE]:
                    more.add(near)
            elif tag == "edge":
                source, target = (near, far) if forward else (far, near)
                amount = quantity_of(row[_QUANTITY])
                edges.append(EdgeView(source, target, kind, event_type, row[8], amount, row[_UNIT]))
            elif tag == "receipt":
                receipts.append((near, ref_id, identifier, *_RECEIPT_FIELDS(row)))
            elif tag == "certificate":
                certificates.append((near, organization_id, *_CERTIFICATE_FIELDS(row)))
            else:  # certificate_part
                certificate_parts.append((near, row[_PART_ID]))
        judged = receipts_evidence(receipts, certificate_facts(certificates, certificate_parts))
        return Evidence(refs, edges, details, more, judged)

    async def _attach_signatures(
        self, refs: dict[int, NodeRef], details: dict[int, dict[str, Any]]
    ) -> None:
        """The verified signatures of the supplier lots among ``refs``, into their evidence."""
        lots = {ref.ref_id: node_id for node_id, ref in refs.items() if ref.kind == "supplier_lot"}
        if not lots:
            return
        signatures = await self.s.keeper.signatures_for_many("supplier_lot", list(lots))
        for lot_id, node_id in lots.items():
            if node_id in details:
                details[node_id]["signatures"] = [s.as_dict() for s in signatures.get(lot_id, [])]

    async def _attach_process_runs(
        self, actor: Actor, refs: dict[int, NodeRef], details: dict[int, dict[str, Any]]
    ) -> None:
        """The outsourced process runs of the internal lots among ``refs``, with their
        parameters, results and signatures (QMS-08), into their evidence. Internal actors
        only: a supplier's trace reaches our lots received from it and must not see other
        contractors' runs on them."""
        if not actor.is_internal:
            return
        lots = {ref.ref_id: node_id for node_id, ref in refs.items() if ref.kind == "internal_lot"}
        if not lots:
            return
        for lot_id, runs in (await process_evidence(self.session, lots)).items():
            details.setdefault(lots[lot_id], {})["process_runs"] = runs

    async def _attach_certificates(
        self, actor: Actor, refs: dict[int, NodeRef], details: dict[int, dict[str, Any]]
    ) -> None:
        """The supplier's certificate status on each receipt date of the supplier lots among
        ``refs`` (CERT-01), into their evidence as ``certificates``. A supplier's trace holds
        only its own lots; the filter says so again rather than trusting that."""
        lots = {
            ref.ref_id: node_id
            for node_id, ref in refs.items()
            if ref.kind == "supplier_lot"
            and (actor.is_internal or ref.organization_id == actor.organization_id)
        }
        if not lots:
            return
        for lot_id, receipts in (await certificate_evidence(self.session, lots)).items():
            details.setdefault(lots[lot_id], {})["certificates"] = receipts

    async def _core(self, statement: Any, parameters: dict[str, Any] | None = None) -> Any:
        """Runs a trace statement on the unit of work's connection as plain Core: the rows
        are columns, never ORM objects, and the ORM's per-statement work (about 2 ms a
        backward trace, measured) is not paid."""
        connection = await self.session.connection()
        return await connection.execute(statement, parameters or {})

    async def _rows(
        self, query: AnySelect, column: InstrumentedAttribute[int], ids: Collection[int]
    ) -> list[Any]:
        rows: list[Any] = []
        dialect = self.session.get_bind().dialect.name
        for condition in among_ids(dialect, column, ids):
            rows += (await self._core(query.where(condition))).all()
        return rows

    async def _describe(self, refs: dict[int, NodeRef]) -> dict[int, dict[str, Any]]:
        """The evidence for each node, by node id: the rows behind it, one query per kind."""
        details: dict[int, dict[str, Any]] = {}
        by_kind: dict[str, dict[int, int]] = defaultdict(dict)
        for node_id, ref in refs.items():
            by_kind[ref.kind][ref.ref_id] = node_id
        if ids := by_kind.get("supplier_lot"):
            for lot in await self._rows(_SUPPLIER_LOTS, SupplierLot.id, ids):
                details[ids[lot[0]]] = supplier_lot_details(*lot)
            await self._attach_signatures(
                {
                    node_id: NodeRef("supplier_lot", lot_id, "", None)
                    for lot_id, node_id in ids.items()
                },
                details,
            )
        if ids := by_kind.get("internal_lot"):
            for row in await self._rows(_INTERNAL_LOTS, InternalLot.id, ids):
                details[ids[row[0]]] = internal_lot_details(*row)
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
                details[ids[serial_id]] = serial_details(number, name, gtin, lot_number, status)
        if ids := by_kind.get("shipment"):
            for row in await self._rows(_SHIPMENTS, Shipment.id, ids):
                details[ids[row[0]]] = shipment_details(*row)
        if ids := by_kind.get("shipping_unit"):
            for unit_id, evidence in (await describe_shipping_units(self.session, ids)).items():
                details[ids[unit_id]] = evidence
        return details


def supplier_lot_details(
    lot_id: int,
    supplier: str,
    part_number: str,
    part_name: str,
    status: str,
    verdict: str | None,
    quantity: Decimal | None,
    unit: str | None,
    manufactured_on: Any,
    expires_on: Any,
    specification_revision: str | None,
    coa_document_id: int | None,
    coa_sha256: str | None,
    coa_filename: str | None,
    version: int,
) -> dict[str, Any]:
    """A supplier lot's evidence in a trace: the CoA and its hash, the verdict, the record
    version (its signatures are attached by ``TraceService._attach_signatures``)."""
    return {
        "supplier": supplier,
        "part_number": part_number,
        "part_name": part_name,
        "status": status,
        "verdict": verdict,
        "quantity": quantity,
        "unit": unit,
        "manufactured_on": manufactured_on,
        "expires_on": expires_on,
        "specification_revision": specification_revision,
        "coa": {"document_id": coa_document_id, "sha256": coa_sha256, "filename": coa_filename},
        "signatures": [],
        "record": {"type": "supplier_lot", "id": lot_id, "version": version},
    }


def serial_details(
    part_number: str, part_name: str, gtin: str | None, lot_number: str, status: str
) -> dict[str, Any]:
    """A serial's evidence: its lot's part and number, and its own status."""
    return {
        "part_number": part_number,
        "part_name": part_name,
        "gtin": gtin,
        "lot_number": lot_number,
        "status": status,
    }


def _evidence(
    kind: str, row: Any, quantity_of: Callable[[Any], Decimal | None]
) -> dict[str, Any] | None:
    """The evidence of a node row of ``evidence_statement``, as ``_describe`` builds it."""
    if kind == "supplier_lot":
        (ref_id, supplier, number, name, status, verdict, quantity, *rest) = _SUPPLIER_LOT(row)
        return supplier_lot_details(
            ref_id, supplier, number, name, status, verdict, quantity_of(quantity), *rest
        )
    if kind == "internal_lot":
        ref_id, number, name, lot_kind, status, quantity, unit = _INTERNAL_LOT(row)
        return internal_lot_details(
            ref_id, number, name, lot_kind, status, quantity_of(quantity), unit
        )
    if kind == "serial":
        return serial_details(*_SERIAL(row))
    if kind == "shipment":
        return shipment_details(*_SHIPMENT(row))
    return None


def _columns(*names: str) -> Callable[[Any], tuple[Any, ...]]:
    """Reads the named ``EVIDENCE_COLUMNS`` of a tagged row (the tag first), by position."""
    positions = [_POSITION[name] for name in names]
    getter = itemgetter(*positions)
    return (lambda row: (getter(row),)) if len(positions) == 1 else getter


_POSITION = {name: 1 + i for i, (name, _) in enumerate(EVIDENCE_COLUMNS)}
_QUANTITY, _UNIT, _PART_ID = _POSITION["quantity"], _POSITION["unit"], _POSITION["part_id"]
#: ``supplier_lot_details``'s arguments, in order (the quantity still raw).
_SUPPLIER_LOT = _columns(
    "ref_id",
    "supplier",
    "part_number",
    "part_name",
    "status",
    "verdict",
    "quantity",
    "unit",
    "manufactured_on",
    "expires_on",
    "specification_revision",
    "coa_document_id",
    "coa_sha256",
    "coa_filename",
    "version",
)
_INTERNAL_LOT = _columns(
    "ref_id", "part_number", "part_name", "lot_kind", "status", "quantity", "unit"
)
_SERIAL = _columns("part_number", "part_name", "gtin", "lot_number", "status")
_SHIPMENT = _columns("ref_id", "consignee_name", "consignee_address", "shipped_at", "status")
#: A receipt row as ``receipts_evidence`` reads it, after the key, id and number.
_RECEIPT_FIELDS = _columns(
    "received_at",
    "status",
    "certificate_id",
    "certificate_version",
    "certificate_sha256",
    "organization_id",
    "part_id",
    "part_kind",
)
#: A certificate row as ``certificate_facts`` reads it, after id and organization (the
#: evidence statement calls the version's hash ``certificate_sha256``).
_CERTIFICATE_FIELDS = _columns(
    *("certificate_sha256" if n == "content_sha256" else n for n in FACT_COLUMNS[2:])
)


def internal_lot_details(
    lot_id: int,
    part_number: str,
    part_name: str,
    lot_kind: str,
    status: str,
    quantity: Decimal | None,
    unit: str | None,
) -> dict[str, Any]:
    """An internal lot's evidence in a trace (the full trace and the scope say the same)."""
    return {
        "part_number": part_number,
        "part_name": part_name,
        "lot_kind": lot_kind,
        "status": status,
        "quantity": quantity,
        "unit": unit,
        "record": {"type": "internal_lot", "id": lot_id},
    }


def shipment_details(
    shipment_id: int, name: str, address: str, shipped_at: Any, status: str
) -> dict[str, Any]:
    """A shipment's evidence in a trace: the consignee a recall writes to."""
    return {
        "consignee_name": name,
        "consignee_address": address,
        "shipped_at": shipped_at,
        "status": status,
        "record": {"type": "shipment", "id": shipment_id},
    }


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


def quantity_reader() -> Callable[[Any], Decimal | None]:
    """Converts raw quantity values (text or numeric) to plain decimals, each distinct value
    once: a recall's 128,249 production edges all say 1."""
    seen: dict[Any, Decimal] = {}

    def convert(raw: Any) -> Decimal | None:
        if raw is None:
            return None
        if (value := seen.get(raw)) is None:
            value = seen[raw] = plain_decimal(Decimal(str(raw)))
        return value

    return convert


class NodeRef(NamedTuple):
    """A trace node as the walk returns it: its kind, the row it names, its identifier and,
    for supplier lots, the owning organization."""

    kind: str
    ref_id: int
    identifier: str
    organization_id: int | None


#: The position of ``more_evidence`` in an evidence statement's rows (the tag comes first).
_MORE_EVIDENCE = _POSITION["more_evidence"]


class Evidence(NamedTuple):
    """What one evidence statement gives."""

    refs: dict[int, NodeRef]
    edges: list[EdgeView]
    #: Each node's evidence, by node id.
    details: dict[int, dict[str, Any]]
    #: The nodes with more evidence to read: signatures, process runs.
    more: set[int]
    #: Each supplier lot's receipts with the certificate status on each receipt date, by
    #: node id (CERT-01).
    certificates: dict[int, list[dict[str, Any]]]


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
    # The final join must use the *recursive* CTE (the one ``reach`` returns), not the seed.
    reached = reach(direction, seeds_by_id())
    near, far, _ = ends(direction)
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
        .select_from(reached)
        .join(TraceNode, TraceNode.id == reached.c.id)
        .outerjoin(TraceEdge, near == reached.c.id)
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
