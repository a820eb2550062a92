"""The machine API's contract: msgspec structs, converted explicitly from domain objects so
that the API does not change when a table does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from trace_core.attachments.models import Document
from trace_core.certificates.coverage import Coverage
from trace_core.certificates.service import CertificateDetail
from trace_core.gates.models import MaterialHold
from trace_core.lots.service import LotDetail
from trace_core.parts.models import Part, Specification
from trace_core.processes.service import RunDetail
from trace_core.records.models import AuditEvent, RecordVersion


class CharacteristicOut(msgspec.Struct):
    code: str
    name: str
    kind: str
    unit: str | None
    lower_limit: str | None
    upper_limit: str | None
    expected_text: str | None
    required: bool
    criterion: str
    #: What a result can physically be, apart from our limits (moisture ≥ 0, a percentage ≤
    #: 100); a result outside is refused as an input error (422), never judged.
    physical_min: str | None = None
    physical_max: str | None = None


class SpecificationOut(msgspec.Struct):
    id: int
    revision: str
    title: str
    effective_from: dt.date
    characteristics: list[CharacteristicOut]


class PartOut(msgspec.Struct):
    number: str
    name: str
    unit: str
    kind: str
    specification: SpecificationOut | None


class DocumentOut(msgspec.Struct):
    id: int
    sha256: str
    filename: str
    content_type: str
    size: int
    page_count: int | None
    uploaded_at: dt.datetime
    extracted_text: str | None = None


class ResultIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    value: str
    unit: str | None = None


class LotIn(msgspec.Struct, forbid_unknown_fields=True):
    part_number: str
    lot_number: str
    quantity: str
    unit: str
    manufactured_on: str
    coa_document_id: int
    results: list[ResultIn]
    expires_on: str | None = None


class LotRevisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A correction: the full new content, the version you saw and why."""

    reason: str
    expected_version: int
    quantity: str
    unit: str
    manufactured_on: str
    results: list[ResultIn]
    expires_on: str | None = None
    #: Omit to keep the current CoA document.
    coa_document_id: int | None = None


class SuspectIn(msgspec.Struct, forbid_unknown_fields=True):
    description: str


class VoidIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    expected_version: int


class ResultOut(msgspec.Struct):
    code: str
    name: str
    value: str
    unit: str | None
    value_in_our_unit: str | None
    criterion: str
    verdict: str
    explanation: str


class SignatureOut(msgspec.Struct):
    printed_name: str
    signed_at: dt.datetime
    meaning: str
    comment: str | None
    version: int
    content_sha256: str
    valid: bool
    covers_current_version: bool


class LotOut(msgspec.Struct):
    id: int
    supplier: str
    part_number: str
    specification_revision: str
    lot_number: str
    quantity: str
    unit: str
    manufactured_on: dt.date
    expires_on: dt.date | None
    status: str
    verdict: str
    version: int
    coa_document: DocumentOut
    results: list[ResultOut]
    signatures: list[SignatureOut]
    submitted_at: dt.datetime
    #: The material hold (docs/GATES.md): null, on_hold, recalled, scrapped or returned;
    #: apart from the review status. A supplier reads QA's notice on its lot page.
    hold_status: str | None = None
    #: Days between the CoA's manufacture/test date and its submission when more than the
    #: late-entry setting (DI-02: accepted and flagged); null for a timely entry.
    late_entry_days: int | None = None
    #: Our staff typed the lot from the supplier's paper CoA (A11-03); it counts once a second
    #: person has verified it (status ``needs_verification`` until then).
    entered_by_staff: bool = False


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


def _dec(value: Any) -> str | None:
    return None if value is None else str(value)


def part_out(part: Part, spec: Specification | None) -> PartOut:
    return PartOut(
        part.number,
        part.name,
        part.unit,
        part.kind,
        None
        if spec is None
        else SpecificationOut(
            spec.id,
            spec.revision,
            spec.title,
            spec.effective_from,
            [
                CharacteristicOut(
                    c.code,
                    c.name,
                    c.kind,
                    c.unit,
                    _dec(c.lower_limit),
                    _dec(c.upper_limit),
                    c.expected_text,
                    c.required,
                    c.criterion(),
                    _dec(c.physical_min),
                    _dec(c.physical_max),
                )
                for c in spec.characteristics
            ],
        ),
    )


def document_out(document: Document, with_text: bool = False) -> DocumentOut:
    return DocumentOut(
        document.id,
        document.sha256,
        document.filename,
        document.content_type,
        document.size,
        document.page_count,
        document.created_at,
        document.extracted_text if with_text else None,
    )


def lot_out(detail: LotDetail) -> LotOut:
    lot = detail.lot
    return LotOut(
        lot.id,
        lot.organization.name,
        lot.part.number,
        lot.specification.revision,
        lot.lot_number,
        str(lot.quantity),
        lot.unit,
        lot.manufactured_on,
        lot.expires_on,
        lot.status,
        lot.verdict,
        lot.version,
        document_out(lot.coa_document),
        [
            ResultOut(
                r.characteristic.code,
                r.characteristic.name,
                r.value_text,
                r.unit,
                _dec(r.value_numeric),
                r.characteristic.criterion(),
                r.verdict,
                r.explanation,
            )
            for r in lot.results
        ],
        [
            SignatureOut(
                s.printed_name,
                s.signed_at,
                s.meaning,
                s.comment,
                s.version,
                s.content_sha256,
                s.valid,
                s.covers_current,
            )
            for s in detail.signatures
        ],
        lot.created_at,
        lot.hold_status,
        lot.late_entry_days,
        lot.entered_by_staff,
    )


class MeasuredValueIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    value: str
    unit: str | None = None
    lower_limit: str | None = None
    upper_limit: str | None = None


class RunLotIn(msgspec.Struct, forbid_unknown_fields=True):
    lot_number: str
    quantity: str
    unit: str | None = None
    #: For a new output lot: the input lot numbers it came from (default: all inputs).
    sources: list[str] = []


class ProcessRunIn(msgspec.Struct, forbid_unknown_fields=True):
    """A run record. Machine clients create drafts; a person of the contractor signs them on
    the portal (machines cannot sign, DI-01)."""

    process_kind: str
    run_number: str
    started_on: str
    ended_on: str
    parameters: list[MeasuredValueIn]
    results: list[MeasuredValueIn]
    inputs: list[RunLotIn]
    outputs: list[RunLotIn]
    cycle_id: str | None = None
    certificate_document_id: int | None = None


class MeasuredValueOut(msgspec.Struct):
    kind: str
    name: str
    value: str
    unit: str | None
    lower_limit: str | None
    upper_limit: str | None
    verdict: str


class RunLotOut(msgspec.Struct):
    role: str
    lot_number: str
    quantity: str
    unit: str
    same_identity: bool
    sources: list[str]


class ProcessRunOut(msgspec.Struct):
    id: int
    contractor: str
    process_kind: str
    agreement_reference: str
    run_number: str
    cycle_id: str | None
    started_on: dt.date
    ended_on: dt.date
    status: str
    verdict: str
    version: int
    certificate_document: DocumentOut | None
    values: list[MeasuredValueOut]
    lots: list[RunLotOut]
    signatures: list[SignatureOut]
    created_at: dt.datetime
    posted_at: dt.datetime | None


def _signature_out(s: Any) -> SignatureOut:
    return SignatureOut(
        s.printed_name,
        s.signed_at,
        s.meaning,
        s.comment,
        s.version,
        s.content_sha256,
        s.valid,
        s.covers_current,
    )


def process_run_out(detail: RunDetail) -> ProcessRunOut:
    run = detail.run
    return ProcessRunOut(
        run.id,
        run.organization.name,
        run.process_kind,
        run.approval.agreement_reference,
        run.run_number,
        run.cycle_id,
        run.started_on,
        run.ended_on,
        run.status,
        run.verdict,
        run.version,
        document_out(run.certificate) if run.certificate else None,
        [
            MeasuredValueOut(
                v.kind,
                v.name,
                v.value_text,
                v.unit,
                _dec(v.lower_limit),
                _dec(v.upper_limit),
                v.verdict,
            )
            for v in run.values
        ],
        [
            RunLotOut(
                lot.role,
                lot.lot_number,
                str(lot.quantity),
                lot.unit,
                lot.same_identity,
                [s for s in lot.sources.split(",") if s],
            )
            for lot in run.lots
        ],
        [_signature_out(s) for s in detail.signatures],
        run.created_at,
        run.posted_at,
    )


class CertificateIn(msgspec.Struct, forbid_unknown_fields=True):
    """A supplier certificate as printed, with its PDF (upload it first to
    ``/api/v1/documents``) and the parts of ours it covers: part numbers and/or whole part
    kinds. Machine clients create drafts; a person of the supplier signs them on the portal
    (machines cannot sign, DI-01)."""

    standard: str
    certificate_number: str
    issuer: str
    sites: list[str]
    valid_from: str
    valid_until: str
    document_id: int
    product_scope: str = ""
    part_numbers: list[str] = []
    part_kinds: list[str] = []


class CertificateOut(msgspec.Struct):
    id: int
    supplier: str
    standard: str
    certificate_number: str
    issuer: str
    sites: list[str]
    product_scope: str
    part_numbers: list[str]
    part_kinds: list[str]
    valid_from: dt.date
    valid_until: dt.date
    status: str
    #: Suspended or withdrawn: the first day it no longer held.
    ended_on: dt.date | None
    version: int
    document: DocumentOut
    signatures: list[SignatureOut]
    created_at: dt.datetime
    accepted_at: dt.datetime | None


class CoveringCertificateOut(msgspec.Struct):
    id: int
    standard: str
    certificate_number: str
    issuer: str
    valid_from: dt.date
    valid_until: dt.date
    status: str
    ended_on: dt.date | None
    version: int


class CoverageOut(msgspec.Struct):
    """Was the part from this supplier covered on the day, with what we know now (CERT-01)."""

    supplier: str
    part_number: str
    day: dt.date
    #: covered, lapsed, not_covered or none (docs/CERTIFICATES.md).
    status: str
    explanation: str
    #: The certificate the answer rests on (None when the supplier had none).
    certificate: CoveringCertificateOut | None


def coverage_out(supplier: str, part_number: str, coverage: Coverage) -> CoverageOut:
    c = coverage.certificate
    return CoverageOut(
        supplier,
        part_number.strip(),
        coverage.day,
        coverage.status,
        coverage.explanation(),
        CoveringCertificateOut(
            c.id,
            c.standard,
            c.certificate_number,
            c.issuer,
            c.valid_from,
            c.valid_until,
            c.status,
            c.ended_on,
            c.version,
        )
        if c
        else None,
    )


def certificate_out(detail: CertificateDetail) -> CertificateOut:
    c = detail.certificate
    return CertificateOut(
        c.id,
        c.organization.name,
        c.standard,
        c.certificate_number,
        c.issuer,
        c.site_list,
        c.product_scope,
        c.part_numbers,
        c.kinds,
        c.valid_from,
        c.valid_until,
        c.status,
        c.ended_on,
        c.version,
        document_out(c.document),
        [_signature_out(s) for s in detail.signatures],
        c.created_at,
        c.accepted_at,
    )


def version_out(row: RecordVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "status": row.status,
        "content": row.content,
        "content_sha256": row.content_sha256,
        "prev_sha256": row.prev_sha256,
        "action": row.action,
        "reason": row.reason,
        "author": row.author_name,
        "author_kind": row.author_kind,
        "channel": row.channel,
        "created_at": row.created_at,
    }


def event_out(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "actor": event.actor_name,
        "actor_kind": event.actor_kind,
        "channel": event.channel,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "version": event.version,
        "old_values": event.old_values,
        "new_values": event.new_values,
        "reason": event.reason,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class PackIn(msgspec.Struct, forbid_unknown_fields=True):
    """Pack serials (and, on a pallet, cases) into a shipping unit. ``sscc`` as typed or
    scanned (18 digits, ``(00)…`` or a Digital Link); empty: Traceport allocates one."""

    level: str = ""
    sscc: str = ""
    serials: list[str] = msgspec.field(default_factory=list)
    units: list[str] = msgspec.field(default_factory=list)


class UnpackIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    serials: list[str] = msgspec.field(default_factory=list)
    units: list[str] = msgspec.field(default_factory=list)
    everything: bool = False


class ShipmentIn(msgspec.Struct, forbid_unknown_fields=True):
    number: str
    consignee_name: str
    consignee_address: str
    serials: list[str] = msgspec.field(default_factory=list)
    #: SSCCs of closed cases or pallets: everything in them ships.
    units: list[str] = msgspec.field(default_factory=list)
    #: Required when the shipment holds an implantable part (QMS-12): a named contact at the
    #: consignee and a telephone number (the address then needs street and town).
    consignee_contact: str = ""
    consignee_phone: str = ""


class PackingEventOut(msgspec.Struct):
    action: str
    biz_step: str
    serials: list[str]
    units: list[str]
    reason: str | None
    by: str
    posted_at: dt.datetime
    #: The CBV 2.0 hash id of the EPCIS AggregationEvent this posting is exported as.
    epcis_event_id: str


class ShippingUnitOut(msgspec.Struct):
    id: int
    sscc: str
    level: str
    status: str
    allocated: bool
    packed_by: str
    packed_at: dt.datetime
    closed_at: dt.datetime | None
    shipped_at: dt.datetime | None
    on_pallet: str | None
    shipment: str | None
    serials: list[str]
    units: list[str]
    history: list[PackingEventOut]


# -- material holds (docs/GATES.md) ---------------------------------------------------------


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    #: Supplier lots only: what the supplier is shown on its lot (never our reason).
    supplier_notice: str = ""


class SerialHoldIn(msgspec.Struct, forbid_unknown_fields=True):
    serial_first: str
    serial_last: str
    reason: str


class HoldReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class HoldOut(msgspec.Struct):
    id: int
    number: str
    #: ``supplier_lot``, ``internal_lot`` or ``serial_range``.
    target_kind: str
    #: The lot number, or ``first…last`` for a serial range.
    target: str
    #: ``hold`` (QA by hand, or a system) or ``recall``.
    hold_kind: str
    #: The recall number when a recall placed the hold.
    recall: str | None
    #: ``active``, ``released``, ``scrapped`` or ``returned``.
    status: str
    reason: str
    supplier_notice: str | None
    serials: list[str]
    placed_at: dt.datetime
    placed_by: str
    ended_at: dt.datetime | None
    ended_by: str | None
    end_reason: str | None


class RefusalOut(msgspec.Struct):
    field: str
    record: str
    rule: str
    message: str


# -- goods receipts and incoming inspection (QMS-06) ------------------------------------------


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    """A goods receipt: the supplier lot, the quantity received as an exact decimal string,
    and its unit (default: the supplier lot's unit; kg/g/mg/t, l/ml/m3, pcs, m/cm/mm convert
    into each other within their kind)."""

    supplier_lot_id: int
    quantity: str
    unit: str | None = None
    internal_lot_number: str | None = None


class InspectionResultIn(msgspec.Struct, forbid_unknown_fields=True):
    """What goods-in found for one characteristic of the part's inspection plan, and how many
    units it inspected (at least the plan's sample size)."""

    code: str
    value: str
    sampled: int
    unit: str | None = None


class InspectionResultsIn(msgspec.Struct, forbid_unknown_fields=True):
    results: list[InspectionResultIn]
    #: The inspection version you saw (``inspection.version`` of the receipt).
    expected_version: int


class InspectionResultOut(msgspec.Struct):
    code: str
    name: str
    criterion: str
    value: str
    unit: str | None
    sample_size: int
    sampled: int
    verdict: str
    explanation: str


class InspectionOut(msgspec.Struct):
    id: int
    status: str
    version: int
    results: list[InspectionResultOut]
    released_at: dt.datetime | None


class ReceiptOut(msgspec.Struct):
    id: int
    number: str
    supplier_lot_id: int
    supplier_lot_number: str
    supplier: str
    part_number: str
    internal_lot_number: str
    internal_lot_status: str
    #: In the supplier lot's unit (what the cap, the internal lot and the trace count).
    quantity: str
    unit: str
    #: As received, before conversion.
    quantity_received: str
    unit_received: str
    received_at: dt.datetime
    certificate_status: str | None
    #: The incoming inspection, when the part has an inspection plan.
    inspection: InspectionOut | None


class ReceiptLimitOut(msgspec.Struct):
    """What may be received of the supplier lot, in its unit."""

    declared: str
    received_before: str
    tolerance_pct: str
    maximum: str
    remaining: str
    unit: str


class ErrorOut(msgspec.Struct):
    """Every error answer of the API: the domain error's name, an English message naming the
    rule and the record that blocks, the fields it names (422, and the gate's 409), the
    gate's refusals (409) and, for an over-receipt, what may still be received."""

    error: str
    message: str
    fields: dict[str, str] | None = None
    refusals: list[RefusalOut] | None = None
    limit: ReceiptLimitOut | None = None


def hold_out(hold: MaterialHold, target: str, recall: str | None) -> HoldOut:
    return HoldOut(
        hold.id,
        hold.number,
        hold.target_kind,
        target,
        hold.hold_kind,
        recall,
        hold.status,
        hold.reason,
        hold.supplier_notice,
        list(hold.serials or []),
        hold.placed_at,
        hold.placed_by,
        hold.ended_at,
        hold.ended_by,
        hold.end_reason,
    )


# -- production and finished-device release (docs/RELEASE.md) --------------------------------


class ConsumedLotIn(msgspec.Struct, forbid_unknown_fields=True):
    lot_number: str
    quantity: str


class WorkOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """A posted work order: internal lots consumed, one finished lot with its serials. The
    finished lot starts in quarantine. ``manufactured_on``/``expires_on`` (YYYY-MM-DD) are the
    UDI dates, required before release for a part with a GTIN (QMS-16)."""

    number: str
    part_number: str
    output_lot_number: str
    inputs: list[ConsumedLotIn]
    serials: list[str]
    manufactured_on: str | None = None
    expires_on: str | None = None


class WorkOrderOut(msgspec.Struct):
    id: int
    number: str
    output_lot_id: int
    output_lot_number: str
    lot_status: str
    release_status: str
    manufactured_on: dt.date | None
    expires_on: dt.date | None


class BlockerOut(msgspec.Struct):
    """One reason the lot cannot be released: the field (``status``, ``upstream``,
    ``required_processes``, ``udi``), the requirement, the record that blocks, the message."""

    field: str
    requirement: str
    record: str
    message: str


class JudgedValueOut(msgspec.Struct):
    name: str
    value: str | None
    unit: str | None
    our_criterion: str
    verdict: str


class RequiredRunOut(msgspec.Struct):
    run_id: int
    run_number: str
    contractor: str
    status: str
    ended_on: dt.date
    validation_lapsed: bool
    values: list[JudgedValueOut]


class RequiredProcessOut(msgspec.Struct):
    process_kind: str
    label: str
    satisfied: bool
    runs: list[RequiredRunOut]


class UdiOut(msgspec.Struct):
    gtin: str | None
    lot_number: str
    manufactured_on: dt.date | None
    expires_on: dt.date | None
    serial_count: int
    element_string_hri: str | None
    digital_link: str | None


class UpstreamOut(msgspec.Struct):
    kind: str
    identifier: str
    status: str | None
    verdict: str | None


class FinishedLotOut(msgspec.Struct):
    """A finished lot's device history record review: what the release page shows."""

    id: int
    lot_number: str
    part_number: str
    lot_status: str
    release_status: str
    release_version: int
    work_order: str
    releasable: bool
    blockers: list[BlockerOut]
    required_processes: list[RequiredProcessOut]
    udi: UdiOut
    upstream: list[UpstreamOut]


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: str
    version: int
    comment: str = ""
