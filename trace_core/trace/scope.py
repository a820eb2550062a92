"""The scope of a trace: what a person asks first of a forward trace ("what did this lot reach,
how much of it, and who received it?"), computed in the database.

A raw lot used for two years reaches a hundred thousand serials. Listing each of them as a node
of a tree answers nobody's question and costs seconds to build (docs/PERFORMANCE.md); the
scope instead lists every node that is *not* a serial (lots, shipments, shipping units, …)
with its evidence, every edge between them with its quantity, and the serials as **bundles**:
"lot IL-4711 made 23 of the serials in scope", "shipment SH-88 carried 12 of them". The
bundles open on demand (``TraceService.bundle``), a page at a time.

One statement (``scope_statement``) walks the genealogy with the same recursive query as the
full trace and returns tagged rows: the count of nodes per kind, the listed nodes, the links
between them and the serial bundles. Evidence for the listed nodes comes from the same
per-kind queries the full trace uses, so a node looks the same in both answers;
``scope_of`` derives the scope from a full ``TraceResult`` and the tests hold the two equal.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import aliased

from trace_core.db import json_array_agg
from trace_core.inventory.models import InternalLot, Serial
from trace_core.parts.models import Part
from trace_core.shipments.models import Shipment
from trace_core.trace.models import NODE_KINDS, TraceEdge, TraceNode
from trace_core.trace.statements import AnySelect, Direction, reach, tagged

if TYPE_CHECKING:
    from trace_core.trace.service import EdgeView, NodeView, TraceResult

#: The nested tree of a scope is for people; past this many entries it is cut.
SCOPE_TREE_LIMIT = 2000


class SerialBundle(NamedTuple):
    """The serials in scope that follow one listed node by one kind of edge (the serials a
    lot made, forward; those a shipment carried, backward). What follows a bundled serial is
    counted in ``TraceScope.counts`` and listed when the bundle is opened."""

    node: int
    kind: str
    serials: int

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "via": self.kind, "serials": self.serials}


class SerialGroup(NamedTuple):
    """Serials in scope that share their lot, status and shipment (a recall keeps them
    so): ``lot`` the id of the lot that made them (``TraceScope.serial_lots``), ``shipment``
    the node of the shipment that carried them (None: not shipped), ``serials`` their
    identifiers, in no particular order."""

    lot: int | None
    status: str | None
    shipment: int | None
    serials: list[str]


class SerialLot(NamedTuple):
    """The lot that made serials in scope: its number, part and the part's GTIN."""

    lot_number: str | None
    part_number: str | None
    gtin: str | None


@dataclass
class TraceScope:
    query: str
    direction: Direction
    roots: list[int]
    #: Nodes reached, per kind, serials included.
    counts: dict[str, int]
    #: Every node reached that is not a serial, and the roots, with their evidence.
    nodes: dict[int, NodeView]
    #: The edges between listed nodes, in the direction material flows.
    links: list[EdgeView]
    #: Empty when the serials are listed (``serial_groups``) instead.
    bundles: list[SerialBundle] = field(default_factory=list)
    #: Only when asked for (``TraceService.scope(..., serials=True)``, a recall, forward):
    #: every serial reached, in groups; the lots that made them, by lot id; and the edges
    #: from those serials into internal lots that carry a quantity (as ``links`` do between
    #: listed nodes).
    serial_groups: list[SerialGroup] = field(default_factory=list)
    serial_lots: dict[int, SerialLot] = field(default_factory=dict)
    serial_links: list[EdgeView] = field(default_factory=list)

    # -- derived views -------------------------------------------------------------------
    def serials_after(self) -> dict[int, int]:
        """For each listed node, how many serials in scope follow it."""
        found: dict[int, int] = defaultdict(int)
        for bundle in self.bundles:
            found[bundle.node] += bundle.serials
        return dict(found)

    def lots(self) -> list[dict[str, Any]]:
        """The internal lots in scope: what each is, how much material in scope went into it
        where the postings recorded quantities, and how many serials in scope it made."""
        received: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for link in self.links:
            if link.quantity is not None and link.unit:
                into = link.target if self.direction == "forward" else link.source
                received[into][link.unit] += link.quantity
        serials = self.serials_after()
        rows = []
        for node in self.nodes.values():
            if node.kind != "internal_lot":
                continue
            d = node.details
            rows.append(
                {
                    "node": node.id,
                    "lot_number": node.identifier,
                    "part_number": d.get("part_number"),
                    "part_name": d.get("part_name"),
                    "kind": d.get("lot_kind"),
                    "status": d.get("status"),
                    "quantity": d.get("quantity"),
                    "unit": d.get("unit"),
                    "from_scope": dict(sorted(received[node.id].items())),
                    "serials": serials.get(node.id, 0),
                }
            )
        rows.sort(key=lambda r: (str(r["part_number"]), r["lot_number"]))
        return rows

    def consignees(self) -> list[dict[str, Any]]:
        """Every shipment in scope with its consignee and address — the recall's mailing
        list."""
        return sorted(
            (
                {
                    "shipment": n.identifier,
                    "name": n.details["consignee_name"],
                    "address": n.details["consignee_address"],
                    "shipped_at": n.details.get("shipped_at"),
                }
                for n in self.nodes.values()
                if n.kind == "shipment"
            ),
            key=lambda c: (c["name"], c["shipment"]),
        )

    def tree(self, limit: int = SCOPE_TREE_LIMIT) -> list[dict[str, Any]]:
        """The roots and what follows them: links to listed nodes and serial bundles, each
        node expanded once (a node reached again is marked ``repeat``), cut after ``limit``
        entries (``truncated``); then, marked ``through_serials``, the trees of the nodes
        reached only through bundled serials (shipments, shipping units)."""
        following: dict[int, list[tuple[EdgeView, int]]] = defaultdict(list)
        for link in self.links:
            near, far = (
                (link.source, link.target)
                if self.direction == "forward"
                else (link.target, link.source)
            )
            following[near].append((link, far))
        for items in following.values():
            items.sort(key=lambda pair: (self.nodes[pair[1]].kind, self.nodes[pair[1]].identifier))
        bundled: dict[int, list[SerialBundle]] = defaultdict(list)
        for bundle in self.bundles:
            bundled[bundle.node].append(bundle)
        budget = [limit]
        expanded: set[int] = set()

        def build(node_id: int, link: EdgeView | None) -> dict[str, Any]:
            budget[0] -= 1
            entry: dict[str, Any] = {"node": node_id}
            if link is not None:
                entry.update(via=link.kind, quantity=link.quantity, unit=link.unit)
            if node_id in expanded:
                entry["repeat"] = True
                return entry
            expanded.add(node_id)
            entry["serials"] = [b.as_dict() for b in sorted(bundled.get(node_id, []))]
            children = []
            for next_link, next_id in following.get(node_id, []):
                if budget[0] <= 0:
                    entry["truncated"] = True
                    break
                children.append(build(next_id, next_link))
            entry["children"] = children
            return entry

        tree = [build(root, None) for root in self.roots if root in self.nodes]
        # Nodes reached only through bundled serials (the shipments that carried them, the
        # cases and pallets they were packed in) start trees of their own, after the roots.
        linked_to = {far for items in following.values() for _, far in items}
        for node_id in sorted(
            self.nodes, key=lambda i: (self.nodes[i].kind, self.nodes[i].identifier)
        ):
            if node_id in expanded or node_id in linked_to:
                continue
            if budget[0] <= 0:
                tree.append({"truncated": True, "through_serials": True})
                break
            entry = build(node_id, None)
            entry["through_serials"] = True
            tree.append(entry)
        return tree

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "direction": self.direction,
            "roots": self.roots,
            "counts": self.counts,
            "nodes": [self.nodes[i].as_dict() for i in sorted(self.nodes)],
            "links": [
                link.as_dict()
                for link in sorted(self.links, key=lambda e: (e.source, e.target, e.event_id))
            ],
            "serial_bundles": [b.as_dict() for b in sorted(self.bundles)],
            "lots": self.lots(),
            "consignees": self.consignees(),
            "tree": self.tree(),
        }


def scope_of(result: TraceResult) -> TraceScope:
    """The scope of a full trace, computed from its nodes and edges (in memory). The service
    computes the same in SQL for internal traces; suppliers' traces, already cut to what they
    may see, are scoped with this."""
    roots = set(result.roots)
    # Serials are bundled, except the roots: a trace from a serial lists that serial.
    serial = {i for i, n in result.nodes.items() if n.kind == "serial" and i not in roots}
    listed = {i: n for i, n in result.nodes.items() if i not in serial}
    counts: dict[str, int] = defaultdict(int)
    for node in result.nodes.values():
        counts[node.kind] += 1
    links = []
    bundles: dict[tuple[int, str], int] = defaultdict(int)
    forward = result.direction == "forward"
    for edge in result.edges:
        near, far = (edge.source, edge.target) if forward else (edge.target, edge.source)
        if near in serial:
            continue  # what follows a bundled serial is counted, not listed
        if far in serial:
            bundles[(near, edge.kind)] += 1
        else:
            links.append(edge)
    return TraceScope(
        result.query,
        result.direction,
        list(result.roots),
        dict(counts),
        listed,
        links,
        [SerialBundle(node, kind, n) for (node, kind), n in bundles.items()],
    )


def scope_statement(direction: Direction, serials: bool = False) -> AnySelect:
    """The scope as one statement over the expanding parameter ``roots``. Tagged rows of
    ``tag`` and sixteen more columns (three more with ``serials``): ``a``, ``b``, ``kind``,
    ``identifier``, ``c``, ``event_type``, ``event_id``, ``quantity`` (raw text), ``unit``,
    then evidence:

    - ``count``: ``kind`` and ``a`` = how many nodes of that kind were reached;
    - ``node``: a listed node — ``a`` id, ``b`` ref id, ``kind``, ``identifier``,
      ``c`` organization; for internal lots and shipments also their evidence (``quantity``
      and ``unit`` of the lot, ``part_number`` … ``shipped_at``);
    - ``link``: an edge between listed nodes — ``a`` near, ``b`` far (in the walk's
      direction), ``kind``, ``event_type``, ``event_id``, ``quantity``, ``unit``;
    - ``next``: a serial bundle — ``a`` the listed node, ``kind`` of the edges, ``b`` how
      many serials (not with ``serials``);
    - with ``serials`` (a recall; forward only), from the same walk — a recall walks the
      genealogy once: ``serial_group`` rows, every serial reached in groups of the same lot
      (``c``), ``status`` and shipment (``b``, the node of the shipment that carried it,
      or NULL), ``a`` how many, ``serials`` their identifiers as a JSON array;
      ``serial_lot`` rows, each of those lots once — ``a`` its id, ``identifier`` its
      number, ``part_number``, ``gtin``; ``serial_link`` rows, each edge from a serial in
      scope into an internal lot with a quantity — ``a`` the serial, ``b`` the lot,
      ``kind``, ``quantity``, ``unit``.
    """
    if serials and direction != "forward":
        raise ValueError("a scope lists its serials forward only (a recall)")
    return _SCOPES[(direction, serials)]


def _scope_statement(direction: Direction, serials: bool) -> AnySelect:
    roots: BindParameter[list[int]] = bindparam("roots", expanding=True)
    # The walk reads each reached node's kind from the edges (``reach``); only the listed
    # nodes (not serials, a tenth of a wide scope) are read from ``trace_nodes``.
    reached = reach(direction, TraceNode.id.in_(roots), kinds=True)
    listed = (
        select(
            TraceNode.id,
            TraceNode.kind,
            TraceNode.ref_id,
            TraceNode.identifier,
            TraceNode.organization_id,
        )
        .join(reached, reached.c.id == TraceNode.id)
        .where(or_(reached.c.kind != "serial", reached.c.id.in_(roots)))
        .cte("listed")
    )
    edge = aliased(TraceEdge, name="edge")
    if direction == "backward":
        e_near, e_far, far_kind = edge.target_id, edge.source_id, edge.source_kind
    else:
        e_near, e_far, far_kind = edge.source_id, edge.target_id, edge.target_kind
    # Every edge leaving a listed node leads to a node reached (the walk follows every edge
    # leaving a node it reached): a listed one, or a serial in scope. Both conditions are on
    # the walk index's columns (kinds as a list, not "<> 'serial'", so that the index finds
    # them), and the serials are counted from the index alone.
    to_listed = (
        far_kind.in_([kind for kind in NODE_KINDS if kind != "serial"]),
        and_(far_kind == "serial", e_far.in_(roots)),
    )
    to_serial_in_scope = and_(far_kind == "serial", e_far.not_in(roots))

    columns = _SCOPE_COLUMNS + (_SERIAL_COLUMNS if serials else ())

    def row(tag: str, **values: Any) -> list[Any]:
        return tagged(tag, columns, **values)

    counts = select(*row("count", a=func.count(), kind=reached.c.kind)).group_by(reached.c.kind)
    node = {
        "a": listed.c.id,
        "b": listed.c.ref_id,
        "kind": listed.c.kind,
        "identifier": listed.c.identifier,
        "c": listed.c.organization_id,
    }
    # Listed nodes, with the evidence of the two kinds a wide scope is made of: one branch
    # per kind, so that each probes only its own table.
    lot, part, shipment = aliased(InternalLot), aliased(Part), aliased(Shipment)
    lots = (
        select(
            *row(
                "node",
                **node,
                quantity=sql_cast(lot.quantity, String),
                unit=lot.unit,
                part_number=part.number,
                part_name=part.name,
                lot_kind=lot.kind,
                status=lot.status,
            )
        )
        .select_from(listed)
        .outerjoin(lot, lot.id == listed.c.ref_id)
        .outerjoin(part, part.id == lot.part_id)
        .where(listed.c.kind == "internal_lot")
    )
    shipments = (
        select(
            *row(
                "node",
                **node,
                status=shipment.status,
                consignee_name=shipment.consignee_name,
                consignee_address=shipment.consignee_address,
                shipped_at=shipment.shipped_at,
            )
        )
        .select_from(listed)
        .outerjoin(shipment, shipment.id == listed.c.ref_id)
        .where(listed.c.kind == "shipment")
    )
    others = select(*row("node", **node)).where(listed.c.kind.not_in(("internal_lot", "shipment")))
    links = [
        select(
            *row(
                "link",
                a=e_near,
                b=e_far,
                kind=edge.kind,
                event_type=edge.event_type,
                event_id=edge.event_id,
                quantity=sql_cast(edge.quantity, String),
                unit=edge.unit,
            )
        )
        .select_from(listed)
        .join(edge, e_near == listed.c.id)
        .where(condition)
        for condition in to_listed
    ]
    # The serials that follow each listed node, counted from the walk index alone.
    made = (
        select(*row("next", a=e_near, b=func.count(), kind=edge.kind))
        .select_from(listed)
        .join(edge, e_near == listed.c.id)
        .where(to_serial_in_scope)
        .group_by(e_near, edge.kind)
    )
    branches = [counts, lots, shipments, others, *links]
    # A recall lists its serials (in groups) and reads no bundles: they are not counted.
    branches += _serial_rows(reached, listed, row) if serials else [made]
    return union_all(*branches).subquery("scope").select()


def _serial_rows(reached: Any, listed: Any, row: Any) -> list[AnySelect]:
    """The ``serial_group``, ``serial_lot`` and ``serial_link`` rows of a forward scope.
    Grouping happens in the database: a few thousand rows come back instead of one per
    serial (128,249 at the benchmark plant's widest lot), and each serial's lot, part and
    GTIN are read once per lot."""
    serial_node = aliased(TraceNode)
    facts = (
        select(serial_node.id, serial_node.identifier, Serial.status, Serial.lot_id)
        .select_from(reached)
        .join(serial_node, serial_node.id == reached.c.id)
        .outerjoin(Serial, Serial.id == serial_node.ref_id)
        .where(reached.c.kind == "serial")
        .cte("serial_facts")
    )
    # The shipment that carried each serial, from the walk index alone. A serial leaves on
    # one shipment; were there ever two, the one with the highest node id counts (as in
    # ``recall_scope``).
    shipped = aliased(TraceEdge, name="shipped")
    shipment = (
        select(func.max(shipped.target_id))
        .where(
            shipped.source_id == facts.c.id,
            shipped.target_kind == "shipment",
            shipped.kind == "shipment",
        )
        .scalar_subquery()
    )
    carried = select(
        facts.c.identifier, facts.c.status, facts.c.lot_id, shipment.label("shipment")
    ).subquery("carried")
    groups = select(
        *row(
            "serial_group",
            a=func.count(),
            b=carried.c.shipment,
            c=carried.c.lot_id,
            status=carried.c.status,
            serials=json_array_agg(carried.c.identifier),
        )
    ).group_by(carried.c.shipment, carried.c.lot_id, carried.c.status)
    lot, part = aliased(InternalLot), aliased(Part)
    lots = (
        select(
            *row(
                "serial_lot",
                a=lot.id,
                identifier=lot.lot_number,
                part_number=part.number,
                gtin=part.gtin,
            )
        )
        .outerjoin(part, part.id == lot.part_id)
        .where(lot.id.in_(select(facts.c.lot_id)))
    )
    # Only quantities into internal lots count ("suspect material in it"). Every lot a
    # serial in scope went into is reached, so listed: the edges are found from the listed
    # lots' side (a few thousand index probes, not one per serial) and kept when their
    # serial is in scope.
    edge = aliased(TraceEdge, name="serial_edge")
    links = (
        select(
            *row(
                "serial_link",
                a=edge.source_id,
                b=edge.target_id,
                kind=edge.kind,
                event_type=edge.event_type,
                event_id=edge.event_id,
                quantity=sql_cast(edge.quantity, String),
                unit=edge.unit,
            )
        )
        .select_from(listed)
        .join(edge, edge.target_id == listed.c.id)
        .where(
            listed.c.kind == "internal_lot",
            edge.source_kind == "serial",
            edge.quantity.is_not(None),
            edge.source_id.in_(select(facts.c.id)),
        )
    )
    return [groups, lots, links]


_SCOPE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("a", BigInteger),
    ("b", BigInteger),
    ("kind", String),
    ("identifier", String),
    ("c", BigInteger),
    ("event_type", String),
    ("event_id", BigInteger),
    ("quantity", String),
    ("unit", String),
    # Evidence of listed lots and shipments (``node`` rows only).
    ("part_number", String),
    ("part_name", String),
    ("lot_kind", String),
    ("status", String),
    ("consignee_name", String),
    ("consignee_address", String),
    ("shipped_at", Shipment.shipped_at.type),
)

#: The columns only ``serial`` rows fill.
_SERIAL_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("gtin", String),
    ("serials", String),
)

_SCOPES: dict[tuple[Direction, bool], AnySelect] = {
    ("backward", False): _scope_statement("backward", False),
    ("forward", False): _scope_statement("forward", False),
    ("forward", True): _scope_statement("forward", True),
}


SCOPE_LISTS = ("lots", "consignees")
LOT_COLUMNS: tuple[str, ...] = ("lot", "part", "part_name", "kind", "status", "quantity", "unit")
LOT_COLUMNS += ("from_scope", "serials")


def scope_csv(scope: TraceScope, which: str) -> str:
    """One of the scope's lists as CSV (``lots`` or ``consignees``). Cells that a
    spreadsheet would read as a formula are prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    if which == "lots":
        writer.writerow(LOT_COLUMNS)
        for lot in scope.lots():
            received = "; ".join(f"{q} {unit}" for unit, q in lot["from_scope"].items())
            writer.writerow(
                _cells(
                    lot["lot_number"],
                    lot["part_number"],
                    lot["part_name"],
                    lot["kind"],
                    lot["status"],
                    lot["quantity"],
                    lot["unit"],
                    received,
                    lot["serials"],
                )
            )
    elif which == "consignees":
        writer.writerow(["shipment", "consignee", "address", "shipped_at"])
        for c in scope.consignees():
            shipped = c["shipped_at"].isoformat() if c["shipped_at"] else ""
            writer.writerow(_cells(c["shipment"], c["name"], c["address"], shipped))
    else:
        raise ValueError(f"no list {which!r}; one of {', '.join(SCOPE_LISTS)}")
    return out.getvalue()


def _cells(*values: Any) -> list[str]:
    cells = []
    for value in values:
        text = "" if value is None else str(value)
        cells.append("'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text)
    return cells
