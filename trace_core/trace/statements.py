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
    Boolean,
    Date,
    Integer,
    Select,
    String,
    bindparam,
    exists,
    null,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import aliased

from trace_core.attachments.models import Document
from trace_core.certificates.coverage import fact_columns, relied_on, version_join
from trace_core.certificates.models import CertificatePart, SupplierCertificate
from trace_core.db import constant, constants
from trace_core.identity.models import Organization
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part, Specification
from trace_core.processes.models import ProcessRun, ProcessRunLot
from trace_core.receipts.models import Receipt
from trace_core.records.models import RecordVersion, Signature
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
    selected = [constant(tag).label("tag")]
    for name, kind in columns:
        value = values.get(name)
        selected.append((sql_cast(null(), kind) if value is None else value).label(name))
    return selected


def reach(direction: Direction, seeds: Any, *, kinds: bool = False) -> CTE:
    """The ids of the nodes reached from the nodes ``seeds`` selects (a condition on
    ``TraceNode``: ids in the expanding parameter ``roots``, or the identifier typed), and
    with ``kinds`` their ``kind``, read from the walk index alone (the edges carry the kinds
    of their ends). Without, the walk's dedup hashes a number, not a number and a text: the
    statements that read ``trace_nodes`` anyway do not ask for kinds."""
    columns: list[Any] = [TraceNode.id.label("id")]
    if kinds:
        columns.append(TraceNode.kind.label("kind"))
    seed = select(*columns).where(seeds).cte("reach", recursive=True)
    near, far, far_kind = ends(direction)
    step = select(far, far_kind) if kinds else select(far)
    return seed.union(step.join(seed, near == seed.c.id))


def ends(direction: Direction) -> tuple[Any, Any, Any]:
    """The edge columns a walk in ``direction`` goes from and to: near end, far end, and the
    far end's kind."""
    if direction == "backward":
        return TraceEdge.target_id, TraceEdge.source_id, TraceEdge.source_kind
    return TraceEdge.source_id, TraceEdge.target_id, TraceEdge.target_kind


def found_nodes(direction: Direction, seeds: Any) -> CTE:
    """The nodes reached, with their kind, row, identifier and owning organization."""
    reached = reach(direction, seeds)
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


def seeds_by_id() -> Any:
    """The roots by node id (the expanding parameter ``roots``)."""
    roots: BindParameter[list[int]] = bindparam("roots", expanding=True)
    return TraceNode.id.in_(roots)


def seeds_by_identifier() -> Any:
    """The roots by the identifier as typed (the parameter ``identifier``): every node of
    that identifier, as ``TraceService.resolve`` finds them for our own staff."""
    return TraceNode.identifier == bindparam("identifier", type_=String)


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
    # Whether a follow-up query has more to read for the node: a supplier lot's signatures,
    # an internal lot's posted process runs (most have none; the service then asks nothing).
    ("more_evidence", Boolean),
    # Receipt rows (``id`` the supplier lot's node, ``ref_id`` the receipt, ``identifier`` its
    # number, ``status`` the certificate check recorded at receipt) and certificate rows
    # (``id`` the certificate, ``status`` its own): the supplier's certificate status on each
    # receipt date (CERT-01), judged in the same round trip as the rest of the trace.
    ("received_at", Receipt.received_at.type),
    ("part_id", BigInteger),
    ("part_kind", String),
    ("certificate_id", BigInteger),
    ("certificate_version", Integer),
    ("certificate_sha256", String),
    ("standard", String),
    ("certificate_number", String),
    ("issuer", String),
    ("valid_from", Date),
    ("valid_until", Date),
    ("ended_on", Date),
    ("part_kinds", String),
)


def evidence_statement(direction: Direction, by_identifier: bool = False) -> AnySelect:
    """A whole trace in one statement: ``node`` rows (every node reached, with the evidence
    of its kind) and ``edge`` rows (every edge leaving a node reached in ``direction``), from
    the nodes in the parameter ``roots`` or, ``by_identifier``, from every node of the
    ``identifier`` typed (so that resolving it costs no round trip of its own)."""
    return _EVIDENCE[(direction, by_identifier)]


def _evidence_statement(direction: Direction, by_identifier: bool) -> AnySelect:
    found = found_nodes(direction, seeds_by_identifier() if by_identifier else seeds_by_id())
    # One branch per node kind, each joining its own tables by primary key: the planner
    # cannot estimate how many nodes a walk reaches, and one row with every kind's outer
    # joins invited it to hash whole tables (50,000 shipments, 250,000 lots) for a trace of
    # sixty nodes. Outer joins: a node is never lost for want of its evidence.
    lot, serial_lot = aliased(InternalLot), aliased(InternalLot)
    node = {
        "id": found.c.id,
        "kind": found.c.kind,
        "ref_id": found.c.ref_id,
        "identifier": found.c.identifier,
        "organization_id": found.c.organization_id,
    }

    def nodes_with(**evidence: Any) -> AnySelect:
        return select(*tagged("node", EVIDENCE_COLUMNS, **node, **evidence)).select_from(found)

    supplier_lots = (
        nodes_with(
            quantity=sql_cast(SupplierLot.quantity, String),
            unit=SupplierLot.unit,
            part_number=Part.number,
            part_name=Part.name,
            status=SupplierLot.status,
            supplier=Organization.name,
            verdict=SupplierLot.verdict,
            manufactured_on=SupplierLot.manufactured_on,
            expires_on=SupplierLot.expires_on,
            specification_revision=Specification.revision,
            coa_document_id=SupplierLot.coa_document_id,
            coa_sha256=Document.sha256,
            coa_filename=Document.filename,
            version=SupplierLot.version,
            more_evidence=exists().where(
                Signature.record_type == "supplier_lot", Signature.record_id == found.c.ref_id
            ),
        )
        .outerjoin(SupplierLot, SupplierLot.id == found.c.ref_id)
        .outerjoin(Organization, Organization.id == SupplierLot.organization_id)
        .outerjoin(Part, Part.id == SupplierLot.part_id)
        .outerjoin(Specification, Specification.id == SupplierLot.specification_id)
        .outerjoin(Document, Document.id == SupplierLot.coa_document_id)
        .where(found.c.kind == "supplier_lot")
    )
    internal_lots = (
        nodes_with(
            quantity=sql_cast(lot.quantity, String),
            unit=lot.unit,
            part_number=Part.number,
            part_name=Part.name,
            status=lot.status,
            lot_kind=lot.kind,
            more_evidence=exists().where(
                ProcessRunLot.lot_id == found.c.ref_id,
                ProcessRun.id == ProcessRunLot.run_id,
                ProcessRun.posted_at.is_not(None),
            ),
        )
        .outerjoin(lot, lot.id == found.c.ref_id)
        .outerjoin(Part, Part.id == lot.part_id)
        .where(found.c.kind == "internal_lot")
    )
    serials = (
        nodes_with(
            part_number=Part.number,
            part_name=Part.name,
            gtin=Part.gtin,
            status=Serial.status,
            lot_number=serial_lot.lot_number,
        )
        .outerjoin(Serial, Serial.id == found.c.ref_id)
        .outerjoin(serial_lot, serial_lot.id == Serial.lot_id)
        .outerjoin(Part, Part.id == serial_lot.part_id)
        .where(found.c.kind == "serial")
    )
    shipments = (
        nodes_with(
            status=Shipment.status,
            consignee_name=Shipment.consignee_name,
            consignee_address=Shipment.consignee_address,
            shipped_at=Shipment.shipped_at,
        )
        .outerjoin(Shipment, Shipment.id == found.c.ref_id)
        .where(found.c.kind == "shipment")
    )
    others = nodes_with().where(found.c.kind.not_in(constants(DESCRIBED_KINDS)))
    near, far, _ = ends(direction)
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
    receipts, certificates, certificate_parts = _certificate_branches(found)
    branches = (
        supplier_lots,
        internal_lots,
        serials,
        shipments,
        others,
        edges,
        receipts,
        certificates,
        certificate_parts,
    )
    return union_all(*branches).subquery("trace").select()


def _certificate_branches(found: CTE) -> tuple[AnySelect, AnySelect, AnySelect]:
    """The receipts of the supplier lots found, with the certificate check recorded at each
    (and the content hash of the certificate version it relied on); the certificates our QA
    accepted of those lots' suppliers; and the parts those certificates name. What
    ``trace_core.certificates.evidence.receipts_evidence`` judges."""
    relied_version = aliased(RecordVersion)
    receipts = (
        select(
            *tagged(
                "receipt",
                EVIDENCE_COLUMNS,
                id=found.c.id,
                ref_id=Receipt.id,
                identifier=Receipt.number,
                organization_id=SupplierLot.organization_id,
                received_at=Receipt.received_at,
                status=Receipt.certificate_status,
                certificate_id=Receipt.certificate_id,
                certificate_version=Receipt.certificate_version,
                certificate_sha256=relied_version.content_sha256,
                part_id=SupplierLot.part_id,
                part_kind=Part.kind,
            )
        )
        .select_from(found)
        .join(Receipt, Receipt.supplier_lot_id == found.c.ref_id)
        .join(SupplierLot, SupplierLot.id == found.c.ref_id)
        .join(Part, Part.id == SupplierLot.part_id)
        .outerjoin(
            relied_version,
            version_join(relied_version, Receipt.certificate_id, Receipt.certificate_version),
        )
        .where(found.c.kind == "supplier_lot")
    )
    suppliers = (
        select(SupplierLot.organization_id)
        .join(found, found.c.ref_id == SupplierLot.id)
        .where(found.c.kind == "supplier_lot")
    )
    relied = (SupplierCertificate.organization_id.in_(suppliers), *relied_on())
    current_version = aliased(RecordVersion)
    facts = fact_columns(current_version)
    # The evidence statement calls the certificate version's hash ``certificate_sha256``.
    facts["certificate_sha256"] = facts.pop("content_sha256")
    certificates = (
        select(*tagged("certificate", EVIDENCE_COLUMNS, **facts))
        .outerjoin(
            current_version,
            version_join(current_version, SupplierCertificate.id, SupplierCertificate.version),
        )
        .where(*relied)
    )
    certificate_parts = (
        select(
            *tagged(
                "certificate_part",
                EVIDENCE_COLUMNS,
                id=CertificatePart.certificate_id,
                part_id=CertificatePart.part_id,
            )
        )
        .join(SupplierCertificate, SupplierCertificate.id == CertificatePart.certificate_id)
        .where(*relied)
    )
    return receipts, certificates, certificate_parts


#: The node kinds whose evidence the trace statements read (others carry none).
DESCRIBED_KINDS = ("supplier_lot", "internal_lot", "serial", "shipment")


_EVIDENCE: dict[tuple[Direction, bool], AnySelect] = {
    (d, by): _evidence_statement(d, by) for d in ("backward", "forward") for by in (False, True)
}
