"""The machine API's contract: msgspec structs, converted explicitly from domain objects so
that the API does not change when a table does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from trace_core.attachments.models import Document
from trace_core.certificates.coverage import Coverage
from trace_core.certificates.service import CertificateDetail
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
