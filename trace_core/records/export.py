"""Accurate and complete copies of one record (21 CFR 11.10(b), P11-02): a JSON bundle that an
auditor re-verifies offline, and a readable PDF with the signature manifestations, the history
and the attached documents.

This module owns the bundle format (``traceport-record-bundle/1``), ``export_bundle`` and
``verify_bundle``, ``export_pdf`` and the lookup of a record by the identifier people use.

Every export is itself audited ("export", which writes no version) and committed *before* the
copy is built, so the copy contains the event that records its own making (P11-07). The bundle
carries the rows exactly as the hashes were computed over them: the verifier rebuilds the model
objects and calls the same hash functions the record keeper used, rather than a second
implementation that could drift from the first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import importlib.metadata
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from sqlalchemy import select

from documents.typeset import WHITE
from documents.typeset import Document as PdfDocument
from trace_core.attachments.models import Document
from trace_core.attachments.service import PDF_TYPES
from trace_core.errors import NotFound
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.production.models import WorkOrder
from trace_core.records.canonical import canonical_json, plain
from trace_core.records.keys import key_id_of_pem, verify_with_pem
from trace_core.records.models import (
    AuditCheckpoint,
    AuditEvent,
    RecordVersion,
    ServerKey,
    Signature,
)
from trace_core.records.registry import RECORD_TYPES
from trace_core.records.service import (
    audit_event_hash,
    checkpoint_payload,
    seal_message,
    signature_digest,
    signature_payload,
    version_is_intact,
)
from trace_core.records.verify import NON_VERSION_ACTIONS, ProblemList
from trace_core.records.views import RecordView, flatten

if TYPE_CHECKING:
    from trace_core.services import Services

BUNDLE_FORMAT = "traceport-record-bundle/1"

# -- the bundle's fields ----------------------------------------------------------------------
#
# Each section lists its fields with their JSON kind and whether null is allowed. The exporter
# writes exactly these fields and the verifier requires them; a test checks that they cover
# every column, so a new column is a deliberate change of the format, not an accident.

FieldKind = Literal["int", "str", "bool", "time", "object", "sha256", "key_id"]
FieldSpec = dict[str, tuple[FieldKind, bool]]

RECORD_FIELDS: FieldSpec = {
    "type": ("str", False),
    "id": ("int", False),
    "title": ("str", False),
    "label": ("str", False),
    "status": ("str", False),
    "current_version": ("int", False),
    "revised": ("bool", False),
    "voided": ("bool", False),
}
VERSION_FIELDS: FieldSpec = {
    "id": ("int", False),
    "record_type": ("str", False),
    "record_id": ("int", False),
    "version": ("int", False),
    "status": ("str", False),
    "content": ("object", False),
    "content_sha256": ("sha256", False),
    "data_sha256": ("sha256", False),
    "prev_sha256": ("sha256", True),
    "action": ("str", False),
    "reason": ("str", True),
    "author_kind": ("str", False),
    "author_id": ("int", True),
    "author_name": ("str", False),
    "channel": ("str", False),
    "created_at": ("time", False),
}
EVENT_FIELDS: FieldSpec = {
    "seq": ("int", False),
    "occurred_at": ("time", False),
    "actor_kind": ("str", False),
    "actor_id": ("int", True),
    "actor_name": ("str", False),
    "organization_id": ("int", True),
    "channel": ("str", False),
    "action": ("str", False),
    "record_type": ("str", True),
    "record_id": ("int", True),
    "version": ("int", True),
    "old_values": ("object", True),
    "new_values": ("object", True),
    "reason": ("str", True),
    "record_sha256": ("sha256", True),
    "prev_hash": ("sha256", False),
    "hash": ("sha256", False),
    "seal_key_id": ("key_id", True),
    "seal": ("str", True),
}
SIGNATURE_FIELDS: FieldSpec = {
    "id": ("int", False),
    "record_type": ("str", False),
    "record_id": ("int", False),
    "version": ("int", False),
    "version_row_id": ("int", False),
    "content_sha256": ("sha256", False),
    "signer_id": ("int", False),
    "printed_name": ("str", False),
    "signed_at": ("time", False),
    "meaning": ("str", False),
    "comment": ("str", True),
    "key_id": ("key_id", False),
    "server_signature": ("str", False),
}
#: What the server concluded when it read the signature for the export (not a stored column).
SIGNATURE_READ_FIELDS: FieldSpec = {
    "valid": ("bool", False),
    "covers_current_version": ("bool", False),
}
CHECKPOINT_FIELDS: FieldSpec = {
    "id": ("int", False),
    "seq": ("int", False),
    "head_hash": ("sha256", False),
    "created_at": ("time", False),
    "trigger": ("str", False),
    "created_by": ("str", False),
    "key_id": ("key_id", False),
    "signature": ("str", False),
}
DOCUMENT_FIELDS: FieldSpec = {
    "id": ("int", False),
    "filename": ("str", False),
    "sha256": ("sha256", False),
    "size": ("int", False),
    "content_type": ("str", False),
}
KEY_FIELDS: FieldSpec = {"key_id": ("key_id", False), "public_key_pem": ("str", False)}
BUNDLE_SIGNATURE_FIELDS: FieldSpec = {"key_id": ("key_id", False), "signature": ("str", False)}

_SECTIONS: dict[str, type] = {
    "record": dict,
    "versions": list,
    "audit_events": list,
    "signatures": list,
    "documents": list,
    "public_keys": list,
    "checkpoints": list,
    "bundle_signature": dict,
    "exported_at": str,
    "exported_by": str,
    "software_version": str,
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_Row = TypeVar("_Row")
_KEY_ID = re.compile(r"[0-9a-f]{32}")


def software_version() -> str:
    try:
        return importlib.metadata.version("traceport")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- finding a record -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRef:
    record_type: str
    record_id: int
    description: str

    def __str__(self) -> str:
        return f"{self.record_type}:{self.record_id}  {self.description}"


def parse_record_ref(text: str) -> tuple[str, int] | None:
    """``supplier_lot:3`` → (``supplier_lot``, 3); anything else is an identifier."""
    kind, sep, number = text.strip().partition(":")
    if sep and kind in RECORD_TYPES and re.fullmatch(r"[0-9]{1,18}", number):
        return kind, int(number)
    return None


async def find_records(services: Services, actor: Actor, identifier: str) -> list[RecordRef]:
    """The records ``identifier`` names: ``TYPE:ID``, or a supplier or internal lot number,
    shipment number (through the trace nodes) or work order number. Several when the same
    lot number came from several suppliers; NotFound when none."""
    ref = parse_record_ref(identifier)
    if ref is not None:
        return [RecordRef(*ref, RECORD_TYPES[ref[0]].label)]
    text = identifier.strip()
    try:
        nodes = await services.trace.resolve(actor, text)
    except NotFound:
        nodes = []
    names: dict[int, str] = {}
    owners = {n.organization_id for n in nodes if n.organization_id is not None}
    if owners:
        rows = await services.session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(owners))
        )
        names = dict(rows.all())
    found = [
        RecordRef(
            n.kind,
            n.ref_id,
            f"{RECORD_TYPES[n.kind].label} {n.identifier}"
            + (f" ({names[n.organization_id]})" if n.organization_id in names else ""),
        )
        for n in nodes
        if n.kind in RECORD_TYPES
    ]
    if actor.is_internal and actor.can("trace.read"):
        for order_id in await services.session.scalars(
            select(WorkOrder.id).where(WorkOrder.number == text).order_by(WorkOrder.id)
        ):
            found.append(RecordRef("work_order", order_id, f"Work order {text}"))
    if not found:
        serial = any(n.kind == "serial" for n in nodes)
        raise NotFound(
            f"{text!r} is a serial number; serials have no record of their own: export its lot."
            if serial
            else f"No record is known by {text!r}."
        )
    return found


# -- export -----------------------------------------------------------------------------------


async def export_bundle(
    services: Services, actor: Actor, record_type: str, record_id: int
) -> dict[str, Any]:
    """The record as a signed JSON bundle: every version, audit event, signature, document hash
    and the public keys needed to check them. The export is audited first, so the bundle holds
    its own export event."""
    view = await _audited_view(services, actor, record_type, record_id, "json")
    signatures = list(
        await services.session.scalars(
            select(Signature)
            .where(Signature.record_type == record_type, Signature.record_id == record_id)
            .order_by(Signature.id)
        )
    )
    checkpoints = await _covering_checkpoints(services, view.events)
    read = {s.id: s for s in view.signatures}
    body: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "exported_at": _export_time(view, actor, "json"),
        "exported_by": actor.name,
        "software_version": software_version(),
        "record": _record_summary(view),
        "versions": [_row(v, VERSION_FIELDS) for v in view.versions],
        "audit_events": [_row(e, EVENT_FIELDS) for e in view.events],
        "signatures": [
            {
                **_row(s, SIGNATURE_FIELDS),
                "valid": s.id in read and read[s.id].valid,
                "covers_current_version": s.id in read and read[s.id].covers_current,
            }
            for s in signatures
        ],
        "documents": [_row(d, DOCUMENT_FIELDS) for d in view.documents],
        "public_keys": await _public_keys(services, view.events, signatures, checkpoints),
        "checkpoints": [_row(c, CHECKPOINT_FIELDS) for c in checkpoints],
    }
    key = services.keeper.signing_key
    body["bundle_signature"] = {
        "key_id": key.key_id,
        "signature": key.sign(canonical_json(body).encode("utf-8")),
    }
    return body


async def referenced_documents(
    services: Services, actor: Actor, record_type: str, record_id: int
) -> list[tuple[Document, bytes]]:
    """The documents the record refers to, with their bytes (hash-verified by the store)."""
    view = await services.records.record(actor, record_type, record_id)
    return await _read_documents(services, actor, view)


async def _audited_view(
    services: Services, actor: Actor, record_type: str, record_id: int, fmt: str
) -> RecordView:
    view = await services.records.record(actor, record_type, record_id)
    services.keeper.audit(
        "export", record_type, record_id, view.current.version, new={"format": fmt}, actor=actor
    )
    await services.keeper.commit()
    # The export event just committed belongs in the copy (P11-07); nothing else changed.
    view.events = await services.records.events(record_type, record_id)
    return view


def _export_time(view: RecordView, actor: Actor, fmt: str) -> str:
    for event in reversed(view.events):
        if (
            event.action == "export"
            and (event.new_values or {}).get("format") == fmt
            and (event.actor_kind, event.actor_id) == (actor.kind, actor.id)
        ):
            return str(plain(event.occurred_at))
    raise LookupError("the export event just committed was not read back")


def _record_summary(view: RecordView) -> dict[str, Any]:
    return {
        "type": view.type.name,
        "id": view.record_id,
        "title": view.title,
        "label": view.type.label,
        "status": view.current.status,
        "current_version": view.current.version,
        "revised": view.revised,
        "voided": view.voided,
    }


def _row(row: object, spec: FieldSpec) -> dict[str, Any]:
    return {name: plain(getattr(row, name)) for name in spec}


async def _covering_checkpoints(
    services: Services, events: list[AuditEvent]
) -> list[AuditCheckpoint]:
    """The earliest checkpoint at or after the record's last event: it pins that event."""
    if not events:
        return []
    checkpoint = await services.session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq >= events[-1].seq)
        .order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
        .limit(1)
    )
    return [checkpoint] if checkpoint is not None else []


async def _public_keys(
    services: Services,
    events: list[AuditEvent],
    signatures: list[Signature],
    checkpoints: list[AuditCheckpoint],
) -> list[dict[str, str]]:
    key = services.keeper.signing_key
    wanted = {key.key_id}
    wanted |= {e.seal_key_id for e in events if e.seal_key_id is not None}
    wanted |= {s.key_id for s in signatures} | {c.key_id for c in checkpoints}
    stored = {
        k.key_id: k.public_key_pem
        for k in await services.session.scalars(
            select(ServerKey).where(ServerKey.key_id.in_(wanted))
        )
    }
    stored.setdefault(key.key_id, key.public_pem)
    return [{"key_id": k, "public_key_pem": stored[k]} for k in sorted(stored)]


async def _read_documents(
    services: Services, actor: Actor, view: RecordView
) -> list[tuple[Document, bytes]]:
    return [await services.attachments.read(actor, d.id) for d in view.documents]


# -- offline verification ---------------------------------------------------------------------


@dataclass
class BundleReport(ProblemList):
    """What ``verify_bundle`` found; ``problems`` in check order, the first names the first
    broken item."""

    record: str = ""
    versions: int = 0
    audit_events: int = 0
    sealed_events: int = 0
    signatures: int = 0
    documents: int = 0
    documents_dir: str | None = None
    checkpoints: int = 0
    keys: list[str] = field(default_factory=list)
    anchored: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "record": self.record,
            "versions": self.versions,
            "audit_events": self.audit_events,
            "sealed_events": self.sealed_events,
            "signatures": self.signatures,
            "documents": self.documents,
            "documents_dir": self.documents_dir,
            "checkpoints": self.checkpoints,
            "public_keys": self.keys,
            "trust_anchored": self.anchored,
            "first_problem": str(self.first_problem) if self.first_problem else None,
            "problems": [str(p) for p in self.problems],
        }

    def summary_lines(self) -> list[str]:
        files = (
            f"files checked in {self.documents_dir}"
            if self.documents_dir
            else "files not checked (give the documents folder)"
        )
        lines = [
            f"record         {self.record or '(unreadable)'}",
            f"versions       {self.versions}",
            f"audit events   {self.audit_events} ({self.sealed_events} sealed)",
            f"signatures     {self.signatures}",
            f"documents      {self.documents}, {files}",
            f"checkpoints    {self.checkpoints}",
            f"public keys    {', '.join(self.keys) or 'none'}"
            + (
                ", checked against the trusted keys given"
                if self.anchored
                else " (no trusted key given: the bundle's own keys were trusted)"
            ),
        ]
        if self.ok:
            lines.append(
                "OK: every version, audit event, signature, document hash and the bundle "
                "signature verify"
            )
        else:
            lines.append(f"BROKEN: {len(self.problems)} problem(s); first: {self.first_problem}")
            lines.extend(f"  - {p}" for p in self.problems[1:20])
            if len(self.problems) > 20:
                lines.append(f"  ... and {len(self.problems) - 20} more")
        return lines


class _Malformed(ValueError):
    """A bundle entry that does not have the shape of the format."""


@dataclass(frozen=True)
class _DocumentEntry:
    id: int
    filename: str
    sha256: str
    size: int
    content_type: str

    @property
    def item(self) -> str:
        return f"document {self.id} ({self.filename})"


@dataclass
class _Bundle:
    """A bundle read into model objects; malformed entries are reported and left out."""

    record_type: str
    record_id: int
    record: dict[str, Any]
    exported_at: str
    versions: list[RecordVersion]
    events: list[AuditEvent]
    signatures: list[Signature]
    checkpoints: list[AuditCheckpoint]
    documents: list[_DocumentEntry]
    keys: dict[str, str]
    signed_with: str
    signature: str
    #: key id → what it signed, for the trust check.
    key_uses: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def verify_bundle(
    bundle: dict[str, Any],
    trusted_public_pems: list[str] | None = None,
    documents_dir: Path | None = None,
) -> BundleReport:
    """Re-check an exported bundle without any database.

    With ``trusted_public_pems`` every key the bundle uses must be one of them (otherwise the
    bundle's own keys are trusted, which proves integrity but not origin). With
    ``documents_dir`` each document must be there as ``<sha256>.pdf`` with that hash.
    """
    report = BundleReport(
        anchored=trusted_public_pems is not None,
        documents_dir=str(documents_dir) if documents_dir is not None else None,
    )
    parsed = _read_bundle(bundle, report)
    if parsed is None:
        return report
    _check_versions(parsed, report)
    _check_version_events(parsed, report)
    _check_record_summary(parsed, report)
    _check_events(parsed, report)
    _check_signatures(parsed, report)
    _check_checkpoints(parsed, report)
    _check_documents(parsed, report, documents_dir)
    if trusted_public_pems is not None:
        _check_trust(parsed, trusted_public_pems, report)
    _check_bundle_signature(bundle, parsed, report)
    return report


@contextmanager
def _guard(report: BundleReport, item: str) -> Iterator[None]:
    """Whatever a hostile bundle holds, the verifier reports it instead of failing."""
    try:
        yield
    except (TypeError, ValueError, KeyError, RecursionError, UnsupportedAlgorithm) as exc:
        report.add(item, f"cannot be checked: {exc.__class__.__name__}: {exc}")


def _read_bundle(bundle: object, report: BundleReport) -> _Bundle | None:
    if not isinstance(bundle, dict):
        report.add("bundle", "is not a JSON object")
        return None
    if bundle.get("format") != BUNDLE_FORMAT:
        report.add("bundle", f"its format is {bundle.get('format')!r}, not {BUNDLE_FORMAT!r}")
        return None
    for name, kind in _SECTIONS.items():
        if name not in bundle:
            report.add("bundle", f"has no '{name}'")
        elif not isinstance(bundle[name], kind):
            report.add("bundle", f"'{name}' must be a JSON {_json_kind(kind)}")
    if report.problems:
        return None
    try:
        record = _fields(bundle["record"], RECORD_FIELDS)
        signed = _fields(bundle["bundle_signature"], BUNDLE_SIGNATURE_FIELDS)
    except _Malformed as exc:
        report.add("bundle", str(exc))
        return None
    report.record = f"{record['type']} {record['id']} ({record['title']})"
    parsed = _Bundle(
        record_type=record["type"],
        record_id=record["id"],
        record=record,
        exported_at=bundle["exported_at"],
        versions=_entries(bundle["versions"], VERSION_FIELDS, _version_item, RecordVersion, report),
        events=_entries(bundle["audit_events"], EVENT_FIELDS, _event_item, AuditEvent, report),
        signatures=_signature_entries(bundle["signatures"], report),
        checkpoints=_entries(
            bundle["checkpoints"], CHECKPOINT_FIELDS, _checkpoint_item, AuditCheckpoint, report
        ),
        documents=_document_entries(bundle["documents"], report),
        keys=_key_entries(bundle["public_keys"], report),
        signed_with=signed["key_id"],
        signature=signed["signature"],
    )
    report.versions, report.audit_events = len(parsed.versions), len(parsed.events)
    report.signatures, report.documents = len(parsed.signatures), len(parsed.documents)
    report.checkpoints, report.keys = len(parsed.checkpoints), sorted(parsed.keys)
    report.sealed_events = sum(1 for e in parsed.events if e.seal is not None)
    return parsed


def _json_kind(kind: type) -> str:
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(kind, kind.__name__)


def _fields(raw: object, spec: FieldSpec) -> dict[str, Any]:
    """``raw`` checked against ``spec``; times become datetimes. Raises ``_Malformed``."""
    if not isinstance(raw, dict):
        raise _Malformed("is not a JSON object")
    values: dict[str, Any] = {}
    for name, (kind, nullable) in spec.items():
        if name not in raw:
            raise _Malformed(f"has no '{name}'")
        values[name] = _value(name, raw[name], kind, nullable)
    return values


def _value(name: str, value: Any, kind: FieldKind, nullable: bool) -> Any:
    if value is None:
        if nullable:
            return None
        raise _Malformed(f"'{name}' must not be null")
    if kind == "time":
        return _utc_time(name, value)
    valid = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "object": isinstance(value, dict),
        "sha256": isinstance(value, str) and _SHA256.fullmatch(value) is not None,
        "key_id": isinstance(value, str) and _KEY_ID.fullmatch(value) is not None,
    }[kind]
    if not valid:
        raise _Malformed(f"'{name}' must be {_KIND_NAMES[kind]}, not {value!r:.80}")
    return value


_KIND_NAMES: dict[FieldKind, str] = {
    "int": "an integer",
    "bool": "true or false",
    "str": "a string",
    "object": "a JSON object",
    "sha256": "64 lowercase hex digits",
    "key_id": "32 lowercase hex digits",
    "time": "an ISO 8601 UTC time",
}


def _utc_time(name: str, value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.utcoffset() == dt.timedelta(0):
            return parsed.astimezone(dt.UTC)
    raise _Malformed(f"'{name}' must be {_KIND_NAMES['time']}, not {value!r:.80}")


def _entries(
    raw: list[Any],
    spec: FieldSpec,
    name: Callable[[Any, int], str],
    model: Callable[..., _Row],
    report: BundleReport,
) -> list[_Row]:
    rows: list[_Row] = []
    for index, entry in enumerate(raw):
        try:
            rows.append(model(**_fields(entry, spec)))
        except _Malformed as exc:
            report.add(name(entry, index), str(exc))
    return rows


def _version_item(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and {"record_type", "record_id", "version"} <= raw.keys():
        return f"version {raw['record_type']} {raw['record_id']} v{raw['version']}"
    return f"versions[{index}]"


def _event_item(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("seq"), int):
        return f"audit event {raw['seq']}"
    return f"audit_events[{index}]"


def _checkpoint_item(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), int):
        return f"checkpoint {raw['id']}"
    return f"checkpoints[{index}]"


def _signature_entries(raw: list[Any], report: BundleReport) -> list[Signature]:
    entries: list[Signature] = []
    for index, entry in enumerate(raw):
        try:
            # What the server concluded on reading is checked for shape only: the verifier
            # draws its own conclusion.
            _fields(entry, SIGNATURE_READ_FIELDS)
            entries.append(Signature(**_fields(entry, SIGNATURE_FIELDS)))
        except _Malformed as exc:
            item = f"signature {entry['id']}" if isinstance(entry, dict) and "id" in entry else ""
            report.add(item or f"signatures[{index}]", str(exc))
    return entries


def _document_entries(raw: list[Any], report: BundleReport) -> list[_DocumentEntry]:
    entries: list[_DocumentEntry] = []
    for index, entry in enumerate(raw):
        try:
            entries.append(_DocumentEntry(**_fields(entry, DOCUMENT_FIELDS)))
        except _Malformed as exc:
            item = f"document {entry['id']}" if isinstance(entry, dict) and "id" in entry else ""
            report.add(item or f"documents[{index}]", str(exc))
    return entries


def _key_entries(raw: list[Any], report: BundleReport) -> dict[str, str]:
    """Usable keys: well formed, Ed25519, and named by their own fingerprint."""
    keys: dict[str, str] = {}
    for index, entry in enumerate(raw):
        try:
            values = _fields(entry, KEY_FIELDS)
        except _Malformed as exc:
            report.add(f"public_keys[{index}]", str(exc))
            continue
        key_id, pem = values["key_id"], values["public_key_pem"]
        if key_id_of_pem(pem) != key_id:
            report.add(f"public key {key_id}", "is not the Ed25519 key its id names")
        else:
            keys[key_id] = pem
    return keys


def _verifies(keys: dict[str, str], key_id: str | None, message: bytes, signature: str) -> bool:
    pem = keys.get(key_id or "")
    if pem is None:
        return False
    try:
        return verify_with_pem(pem, message, signature)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _version_name(b: _Bundle, number: int) -> str:
    return f"version {b.record_type} {b.record_id} v{number}"


def _check_versions(b: _Bundle, report: BundleReport) -> None:
    previous: RecordVersion | None = None
    for index, row in enumerate(b.versions):
        item = f"version {row.record_type} {row.record_id} v{row.version}"
        with _guard(report, item):
            if (row.record_type, row.record_id) != (b.record_type, b.record_id):
                report.add(item, f"belongs to another record than {b.record_type} {b.record_id}")
            if row.version != index + 1:
                report.add(
                    _version_name(b, index + 1),
                    f"missing or out of order: the bundle's version {index + 1} is numbered "
                    f"{row.version}",
                )
            if row.prev_sha256 != (previous.content_sha256 if previous else None):
                report.add(item, "does not link to the version before it (prev_sha256 differs)")
            if not version_is_intact(row):
                report.add(item, "its content no longer matches its hashes (changed after export)")
        previous = row


def _check_version_events(b: _Bundle, report: BundleReport) -> None:
    """Each version has the audit event that wrote it, and each such event its version."""
    writers: dict[tuple[int, str], list[AuditEvent]] = defaultdict(list)
    for event in b.events:
        if (
            (event.record_type, event.record_id) == (b.record_type, b.record_id)
            and event.version is not None
            and event.action not in NON_VERSION_ACTIONS
        ):
            writers[(event.version, event.action)].append(event)
    numbers = {row.version for row in b.versions}
    for row in b.versions:
        item = f"version {row.record_type} {row.record_id} v{row.version}"
        events = writers.get((row.version, row.action), [])
        if not events:
            report.add(item, "no audit event in the bundle records it")
        elif events[0].record_sha256 is not None and events[0].record_sha256 != row.content_sha256:
            report.add(item, f"differs from what audit event {events[0].seq} recorded")
        elif differing := _metadata_differences(row, events[0]):
            verb = "differs" if len(differing) == 1 else "differ"
            report.add(
                item,
                f"its {', '.join(differing)} {verb} from what audit event {events[0].seq} recorded",
            )
    for (number, _action), events in sorted(writers.items()):
        if number not in numbers:
            report.add(
                _version_name(b, number),
                f"recorded by audit event {events[0].seq} but missing from the bundle",
            )


def _metadata_differences(row: RecordVersion, event: AuditEvent) -> list[str]:
    """Who wrote a version, how and why are outside its content hash; the (hashed) audit event
    that wrote it holds the same facts. A changed event is reported as such, not here."""
    if not _event_intact(event):
        return []
    pairs = {
        "author_kind": (row.author_kind, event.actor_kind),
        "author_id": (row.author_id, event.actor_id),
        "author_name": (row.author_name, event.actor_name),
        "channel": (row.channel, event.channel),
        "reason": (row.reason, event.reason),
    }
    return [name for name, (ours, theirs) in pairs.items() if ours != theirs]


def _event_intact(event: AuditEvent) -> bool:
    try:
        return audit_event_hash(event) == event.hash
    except (TypeError, ValueError, RecursionError):
        return False


def _check_record_summary(b: _Bundle, report: BundleReport) -> None:
    if not b.versions:
        report.add("record", "the bundle holds no version of it")
        return
    current = b.versions[-1]
    claims = {
        "current_version": current.version,
        "status": current.status,
        "revised": any(v.action == "revise" for v in b.versions),
        "voided": current.status == "voided",
    }
    for name, actual in claims.items():
        if b.record[name] != actual:
            report.add("record", f"says {name} is {b.record[name]!r}; its versions say {actual!r}")


def _check_events(b: _Bundle, report: BundleReport) -> None:
    last_seq = 0
    for event in b.events:
        item = f"audit event {event.seq}"
        with _guard(report, item):
            if (event.record_type, event.record_id) != (b.record_type, b.record_id):
                report.add(item, "belongs to another record")
            if event.seq <= last_seq:
                report.add(item, "is out of order or repeated")
            last_seq = max(last_seq, event.seq)
            if audit_event_hash(event) != event.hash:
                report.add(item, "its content no longer matches its hash (changed after export)")
            if event.seal is not None:
                b.key_uses[event.seal_key_id or ""].append(f"the seal of {item}")
                if not _verifies(b.keys, event.seal_key_id, seal_message(event.hash), event.seal):
                    report.add(item, "its server seal does not verify with a bundled key")
    if not any(
        e.action == "export"
        and (e.new_values or {}).get("format") == "json"
        and plain(e.occurred_at) == b.exported_at
        for e in b.events
    ):
        report.add("bundle", "its own export event is missing from its audit events")


def _check_signatures(b: _Bundle, report: BundleReport) -> None:
    versions = {row.version: row for row in b.versions}
    recorded: dict[int, AuditEvent] = {}
    legacy: dict[tuple[int, str], int] = defaultdict(int)
    for event in b.events:
        if event.action != "sign":
            continue
        sig_id = (event.new_values or {}).get("signature_id")
        if isinstance(sig_id, int) and not isinstance(sig_id, bool):
            recorded[sig_id] = event
        else:
            # Written before schema 0003, such events name no signature id.
            legacy[(event.version or 0, str((event.new_values or {}).get("meaning")))] += 1
    for sig in b.signatures:
        item = f"signature {sig.id}"
        with _guard(report, item):
            b.key_uses[sig.key_id].append(item)
            message = canonical_json(signature_payload(sig)).encode("utf-8")
            if not _verifies(b.keys, sig.key_id, message, sig.server_signature):
                report.add(item, "the server signature over its manifestation does not verify")
            version = versions.get(sig.version)
            if (
                (sig.record_type, sig.record_id) != (b.record_type, b.record_id)
                or version is None
                or version.content_sha256 != sig.content_sha256
                or not version_is_intact(version)
            ):
                report.add(item, "is not bound to an intact bundled version with its content")
            found = recorded.pop(sig.id, None)
            if found is None and legacy[(sig.version, sig.meaning)] > 0:
                legacy[(sig.version, sig.meaning)] -= 1
            elif found is None:
                report.add(item, "no audit event in the bundle records it")
            elif found.record_sha256 is not None and found.record_sha256 != signature_digest(sig):
                report.add(item, f"differs from what audit event {found.seq} recorded")
    for sig_id, event in sorted(recorded.items()):
        report.add(
            f"signature {sig_id}",
            f"recorded by audit event {event.seq} but missing from the bundle",
        )


def _check_checkpoints(b: _Bundle, report: BundleReport) -> None:
    hashes = {e.seq: e.hash for e in b.events}
    for checkpoint in b.checkpoints:
        item = f"checkpoint {checkpoint.id} (seq {checkpoint.seq})"
        with _guard(report, item):
            b.key_uses[checkpoint.key_id].append(item)
            message = canonical_json(checkpoint_payload(checkpoint)).encode("utf-8")
            if not _verifies(b.keys, checkpoint.key_id, message, checkpoint.signature):
                report.add(item, "its signature does not verify with a bundled key")
            if checkpoint.seq in hashes and hashes[checkpoint.seq] != checkpoint.head_hash:
                report.add(item, f"does not pin audit event {checkpoint.seq} as bundled")
            if b.events and checkpoint.seq < b.events[-1].seq:
                report.add(item, "is older than the record's last event, so it pins none of it")


def _check_documents(b: _Bundle, report: BundleReport, documents_dir: Path | None) -> None:
    bundled = {d.id: d for d in b.documents}
    for row in b.versions:
        version = f"version {row.record_type} {row.record_id} v{row.version}"
        with _guard(report, version):
            for doc_id, sha256 in _document_references(row.content):
                document = bundled.get(doc_id)
                if document is None:
                    report.add(f"document {doc_id}", f"referenced by {version}, not in the bundle")
                elif sha256 is not None and document.sha256 != sha256:
                    report.add(
                        document.item, f"its SHA-256 differs from the one {version} recorded"
                    )
    if documents_dir is None:
        return
    for document in b.documents:
        path = documents_dir / f"{document.sha256}.pdf"
        try:
            if not path.is_file():
                report.add(document.item, f"its file {path} is missing")
            elif (actual := _file_sha256(path)) != document.sha256:
                report.add(document.item, f"its file {path} hashes to {actual}, not its SHA-256")
            elif path.stat().st_size != document.size:
                report.add(document.item, f"its file is not {document.size} bytes long")
        except OSError as exc:
            report.add(document.item, f"its file {path} cannot be read: {exc}")


def _document_references(content: dict[str, Any]) -> list[tuple[int, str | None]]:
    """(id, sha256) of every ``…document`` object in a version's content (a CoA)."""
    flat = flatten(content)
    found: list[tuple[int, str | None]] = []
    for path, value in flat.items():
        prefix = path.removesuffix(".id")
        if path.endswith("document.id") and isinstance(value, int):
            sha256 = flat.get(f"{prefix}.sha256")
            found.append((value, sha256 if isinstance(sha256, str) else None))
    return found


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_trust(b: _Bundle, trusted_public_pems: list[str], report: BundleReport) -> None:
    trusted = {key_id_of_pem(pem) for pem in trusted_public_pems} - {""}
    b.key_uses[b.signed_with].append("the bundle")
    for key_id, uses in sorted(b.key_uses.items()):
        if key_id not in trusted:
            shown = ", ".join(uses[:3]) + (f" and {len(uses) - 3} more" if len(uses) > 3 else "")
            report.add(f"public key {key_id or '(none)'}", f"is not trusted; it signed {shown}")


def _check_bundle_signature(bundle: dict[str, Any], b: _Bundle, report: BundleReport) -> None:
    with _guard(report, "bundle"):
        body = {k: v for k, v in bundle.items() if k != "bundle_signature"}
        message = canonical_json(body).encode("utf-8")
        if b.signed_with not in b.keys:
            report.add("bundle", f"signed with key {b.signed_with}, which is not in the bundle")
        elif not _verifies(b.keys, b.signed_with, message, b.signature):
            report.add("bundle", "its signature does not verify: it was changed after export")


# -- the PDF ----------------------------------------------------------------------------------


async def export_pdf(services: Services, actor: Actor, record_type: str, record_id: int) -> bytes:
    """The record as a readable PDF: banners, current data, signature manifestations, history,
    audit trail, and every attached PDF appended page by page, unchanged."""
    view = await _audited_view(services, actor, record_type, record_id, "pdf")
    documents = await _read_documents(services, actor, view)
    # Typesetting is CPU-bound (the first PDF of a process also prepares its fonts): off the
    # event loop, like the appending below.
    report = await asyncio.to_thread(_render_report, view, _export_time(view, actor, "pdf"), actor)
    attached = [
        (document.filename, data)
        for document, data in documents
        if document.content_type in PDF_TYPES and data.lstrip()[:5] == b"%PDF-"
    ]
    # pypdf is CPU-bound; off the event loop. The attached files passed the sandboxed
    # extraction when they were uploaded and come from the hash-verified store.
    return await asyncio.to_thread(_append_documents, report, attached)


def _append_documents(report: bytes, documents: list[tuple[str, bytes]]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(report)))
    for filename, data in documents:
        writer.append(PdfReader(io.BytesIO(data)), outline_item=filename, import_outline=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def utc_text(moment: dt.datetime) -> str:
    """``2026-11-24 13:05:09 UTC``: how every time is printed on a copy."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def shown(value: Any) -> str:
    """A field value as printed on a copy."""
    if value is None or value == [] or value == {}:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def signature_state(valid: bool, covers_current: bool, version: int) -> str:
    if not valid:
        return "INVALID: the signed version or the server signature does not verify"
    if not covers_current:
        return f"valid for an earlier version (v{version}); the data changed after signing"
    return "VALID"


def _render_report(view: RecordView, exported_at: str, actor: Actor) -> bytes:
    """The readable part of the copy (documents.typeset); the attached PDFs are appended
    afterwards."""
    marks = (["REVISED AFTER FIRST ENTRY"] if view.revised else []) + (
        ["VOIDED"] if view.voided else []
    )
    doc = PdfDocument(
        view.title,
        footer=" · ".join([f"{view.title}, accurate copy", *marks]),
        page_label="  ·  report page {page} of {pages}",
        creator=f"Traceport {software_version()}",
        margin=15,
        bottom_margin=16,
    )
    _header(doc, view, exported_at, actor)
    _banners(doc, view)
    _current_data(doc, view)
    _signatures(doc, view)
    _history(doc, view)
    _audit_trail(doc, view)
    _documents(doc, view)
    return doc.render()


def _heading(doc: PdfDocument, text: str) -> None:
    doc.space(4)
    doc.text(text, size=12, bold=True)
    doc.space(1)


def _header(doc: PdfDocument, view: RecordView, exported_at: str, actor: Actor) -> None:
    doc.text(view.title, size=16, bold=True)
    current = view.current
    doc.text(
        f"Accurate copy of record {view.type.name} {view.record_id}: version {current.version} "
        f"of {len(view.versions)}, status {current.status}"
    )
    when = dt.datetime.fromisoformat(exported_at)
    doc.text(f"Exported {utc_text(when)} by {actor.name} ({actor.kind}, {actor.channel})")
    doc.text(f"Content SHA-256 of the current version: {current.content_sha256}", size=8)
    doc.text(f"Traceport {software_version()}", size=8)


def _banners(doc: PdfDocument, view: RecordView) -> None:
    banners: list[tuple[str, str, tuple[int, int, int]]] = []
    if view.revised:
        revisions = [v for v in view.versions if v.action == "revise"]
        banners.append(
            (
                "REVISED AFTER FIRST ENTRY",
                f"Changed {len(revisions)} time(s) after it was first entered; the history "
                "below shows every change with its reason.",
                (176, 0, 32),
            )
        )
    if view.voided:
        banners.append(("VOIDED", f"Reason: {view.current.reason or '(none given)'}", (70, 70, 70)))
    for title, detail, colour in banners:
        doc.space(3)
        doc.text(title, size=15, bold=True, height=9, colour=WHITE, fill=colour, align="C")
        doc.text(detail, size=9, height=5, colour=WHITE, fill=colour, align="C")


def _current_data(doc: PdfDocument, view: RecordView) -> None:
    _heading(doc, f"Data of the current version (v{view.current.version})")
    rows = [("Field", "Value"), ("status", view.current.status)]
    rows += [(name, shown(value)) for name, value in flatten(view.current.content).items()]
    doc.table((60, 120), rows)


def _signatures(doc: PdfDocument, view: RecordView) -> None:
    _heading(doc, "Electronic signatures")
    if not view.signatures:
        doc.text("The record has no electronic signature.")
    for sig in view.signatures:
        doc.space(1)
        doc.text(f"{sig.printed_name}: {sig.meaning}", size=10, bold=True)
        doc.text(f"Signed {utc_text(sig.signed_at)}; meaning: {sig.meaning}")
        doc.text(f"Version {sig.version}, content SHA-256 {sig.content_sha256}", size=8)
        if sig.comment:
            doc.text(f"Comment: {sig.comment}")
        doc.text(signature_state(sig.valid, sig.covers_current, sig.version), bold=True)


def _history(doc: PdfDocument, view: RecordView) -> None:
    _heading(doc, "History")
    for row in view.versions:
        doc.space(1)
        doc.text(
            f"Version {row.version}: {row.action}, status {row.status}, {utc_text(row.created_at)}",
            size=10,
            bold=True,
        )
        doc.text(f"By {row.author_name} ({row.author_kind}, {row.channel})")
        if row.reason:
            doc.text(f"Reason: {row.reason}")
        doc.text(f"Content SHA-256 {row.content_sha256}", size=8)
        changes = view.changes(row.version)
        if row.version == 1:
            doc.text("First entry.")
        elif changes:
            rows = [("Field", "Before", "After")]
            rows += [(c.field, shown(c.old), shown(c.new)) for c in changes]
            doc.table((50, 65, 65), rows)


def _audit_trail(doc: PdfDocument, view: RecordView) -> None:
    _heading(doc, "Audit trail of the record")
    rows = [("Seq", "Time (UTC)", "Actor", "Channel", "Action", "Reason")]
    rows += [
        (
            str(e.seq),
            utc_text(e.occurred_at).removesuffix(" UTC"),
            e.actor_name,
            e.channel,
            e.action + (f" v{e.version}" if e.version is not None else ""),
            e.reason or "",
        )
        for e in view.events
    ]
    doc.table((14, 36, 38, 16, 26, 50), rows)


def _documents(doc: PdfDocument, view: RecordView) -> None:
    _heading(doc, "Documents")
    if not view.documents:
        doc.text("The record refers to no document.")
        return
    doc.text("Every PDF below is appended to this copy, unchanged, in this order.")
    for document in view.documents:
        doc.space(1)
        doc.text(f"{document.filename} (document {document.id})", size=10, bold=True)
        doc.text(
            f"{document.size} bytes, {document.page_count or '?'} page(s), uploaded "
            f"{utc_text(document.created_at)} by {document.uploaded_by_name}",
        )
        doc.text(f"SHA-256 {document.sha256}", size=8)
    doc.text(
        "The JSON bundle exported with this copy holds the same record with every hash and "
        "signature; `traceport record verify` checks it offline.",
        size=8,
    )
