"""SQL for traces that return more than one shape of row: tagged rows of one fixed set of
columns, ``UNION ALL``-ed, so that one statement (one round trip) answers a trace.

``reach`` is the recursive walk every trace statement starts from: the nodes reached from the
expanding parameter ``roots`` in a direction. ``UNION`` (not ``UNION ALL``) makes each node
enter once, so cycles end and diamonds do not multiply.

``evidence_statement`` is a whole trace with the evidence of every node, for traces that fan
in (backward: a device's ancestry, tens of nodes): the nodes with their evidence and the edges
in one statement. Forward traces fan out to a hundred thousand serials, where one row per node
carrying every kind's evidence columns would cost more than it saves; they read evidence per
kind (``TraceService._describe``) or ask for the scope (``trace_core/trace/scope.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import (
    CTE,
    BigInteger,
    BindParameter,
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import aliased

from trace_core.attachments.models import Document
from trace_core.identity.models import Organization
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part, Specification
from trace_core.shipments.models import Shipment
from trace_core.trace.models import TraceEdge, TraceNode

Direction = Literal["backward", "forward"]
AnySelect = Select[*tuple[Any, ...]]
Columns = tuple[tuple[str, Any], ...]


def tagged(tag: str, columns: Columns, **values: Any) -> list[Any]:
    """The select list of one kind of row: ``tag`` then every column of ``columns``, the
    ones not given as typed NULLs (so that every branch of the union has the same types)."""
    unknown = set(values) - {name for name, _ in columns}
    if unknown:
        raise TypeError(f"no columns {sorted(unknown)}")
    selected = [literal(tag, String).label("tag")]
    for name, kind in columns:
        value = values.get(name)
        selected.append((sql_cast(null(), kind) if value is None else value).label(name))
    return selected


def reach(direction: Direction, roots: BindParameter[list[int]]) -> CTE:
    """The ids of the nodes reached from ``roots`` (the roots included)."""
    seed = (
        select(TraceNode.id.label("id")).where(TraceNode.id.in_(roots)).cte("reach", recursive=True)
    )
    if direction == "backward":
        near, far = TraceEdge.target_id, TraceEdge.source_id
    else:
        near, far = TraceEdge.source_id, TraceEdge.target_id
    return seed.union(select(far).join(seed, near == seed.c.id))


def found_nodes(direction: Direction, roots: BindParameter[list[int]]) -> CTE:
    """The nodes reached, with their kind, row, identifier and owning organization."""
    reached = reach(direction, roots)
    return (
        select(
            TraceNode.id,
            TraceNode.kind,
            TraceNode.ref_id,
            TraceNode.identifier,
            TraceNode.organization_id,
        )
        .join(reached, reached.c.id == TraceNode.id)
        .cte("found")
    )


#: The columns of ``evidence_statement``: a node row fills the node and evidence columns, an
#: edge row ``id`` (its near end), ``far`` and the edge's columns.
EVIDENCE_COLUMNS: Columns = (
    ("id", BigInteger),
    ("kind", String),
    ("ref_id", BigInteger),
    ("identifier", String),
    ("organization_id", BigInteger),
    ("far", BigInteger),
    ("event_type", String),
    ("event_id", BigInteger),
    ("quantity", String),
    ("unit", String),
    ("part_number", String),
    ("part_name", String),
    ("gtin", String),
    ("status", String),
    ("supplier", String),
    ("verdict", String),
    ("manufactured_on", Date),
    ("expires_on", Date),
    ("specification_revision", String),
    ("coa_document_id", BigInteger),
    ("coa_sha256", String),
    ("coa_filename", String),
    ("version", Integer),
    ("lot_kind", String),
    ("lot_number", String),
    ("consignee_name", String),
    ("consignee_address", String),
    ("shipped_at", Shipment.shipped_at.type),
)


def evidence_statement(direction: Direction) -> AnySelect:
    """A whole trace in one statement: ``node`` rows (every node reached, with the evidence
    of its kind) and ``edge`` rows (every edge leaving a node reached in ``direction``)."""
    return _EVIDENCE[direction]


def _evidence_statement(direction: Direction) -> AnySelect:
    roots: BindParameter[list[int]] = bindparam("roots", expanding=True)
    found = found_nodes(direction, roots)
    supplier_lot, internal_lot = aliased(SupplierLot), aliased(InternalLot)
    serial, serial_lot = aliased(Serial), aliased(InternalLot)
    shipment, part = aliased(Shipment), aliased(Part)
    organization, specification = aliased(Organization), aliased(Specification)
    document = aliased(Document)
    nodes = (
        select(
            *tagged(
                "node",
                EVIDENCE_COLUMNS,
                id=found.c.id,
                kind=found.c.kind,
                ref_id=found.c.ref_id,
                identifier=found.c.identifier,
                organization_id=found.c.organization_id,
                quantity=sql_cast(
                    func.coalesce(supplier_lot.quantity, internal_lot.quantity), String
                ),
                unit=func.coalesce(supplier_lot.unit, internal_lot.unit),
                part_number=part.number,
                part_name=part.name,
                gtin=part.gtin,
                status=func.coalesce(
                    supplier_lot.status, internal_lot.status, serial.status, shipment.status
                ),
                supplier=organization.name,
                verdict=supplier_lot.verdict,
                manufactured_on=supplier_lot.manufactured_on,
                expires_on=supplier_lot.expires_on,
                specification_revision=specification.revision,
                coa_document_id=supplier_lot.coa_document_id,
                coa_sha256=document.sha256,
                coa_filename=document.filename,
                version=supplier_lot.version,
                lot_kind=internal_lot.kind,
                lot_number=serial_lot.lot_number,
                consignee_name=shipment.consignee_name,
                consignee_address=shipment.consignee_address,
                shipped_at=shipment.shipped_at,
            )
        )
        .select_from(found)
        .outerjoin(
            supplier_lot,
            and_(found.c.kind == "supplier_lot", supplier_lot.id == found.c.ref_id),
        )
        .outerjoin(organization, organization.id == supplier_lot.organization_id)
        .outerjoin(specification, specification.id == supplier_lot.specification_id)
        .outerjoin(document, document.id == supplier_lot.coa_document_id)
        .outerjoin(
            internal_lot,
            and_(found.c.kind == "internal_lot", internal_lot.id == found.c.ref_id),
        )
        .outerjoin(serial, and_(found.c.kind == "serial", serial.id == found.c.ref_id))
        .outerjoin(serial_lot, serial_lot.id == serial.lot_id)
        .outerjoin(shipment, and_(found.c.kind == "shipment", shipment.id == found.c.ref_id))
        .outerjoin(
            part,
            part.id
            == func.coalesce(supplier_lot.part_id, internal_lot.part_id, serial_lot.part_id),
        )
    )
    if direction == "backward":
        near, far = TraceEdge.target_id, TraceEdge.source_id
    else:
        near, far = TraceEdge.source_id, TraceEdge.target_id
    edges = (
        select(
            *tagged(
                "edge",
                EVIDENCE_COLUMNS,
                id=near,
                far=far,
                kind=TraceEdge.kind,
                event_type=TraceEdge.event_type,
                event_id=TraceEdge.event_id,
                quantity=sql_cast(TraceEdge.quantity, String),
                unit=TraceEdge.unit,
            )
        )
        .select_from(found)
        .join(TraceEdge, near == found.c.id)
    )
    return union_all(nodes, edges).subquery("trace").select()


_EVIDENCE: dict[Direction, AnySelect] = {d: _evidence_statement(d) for d in ("backward", "forward")}
