"""Accurate copies of a record (P11-02): the JSON bundle verifies offline and names whatever was
changed in it; the PDF carries every field, every signature manifestation (P11-15/16), the
"revised" banner and the history (A11-05), the audit trail (P11-07) and the CoA's own pages."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pypdf import PdfReader
from sqlalchemy import inspect, select

from documents.pdf import make_pdf
from portal.cli import main as traceport
from trace_core.attachments.models import Document
from trace_core.demo import DEMO_PASSWORD
from trace_core.errors import NotFound
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.records.canonical import canonical_json
from trace_core.records.export import (
    CHECKPOINT_FIELDS,
    DOCUMENT_FIELDS,
    EVENT_FIELDS,
    SIGNATURE_FIELDS,
    VERSION_FIELDS,
    export_bundle,
    export_pdf,
    find_records,
    shown,
    utc_text,
    verify_bundle,
)
from trace_core.records.keys import ServerSigningKey
from trace_core.records.models import AuditCheckpoint, AuditEvent, RecordVersion, Signature
from trace_core.records.views import flatten
from trace_core.services import Runtime, provide_services

pytestmark = pytest.mark.req("P11-02")

ANNA_EMAIL, QA_EMAIL, SAM_EMAIL = (
    "anna@acme-polymers.example",
    "qa@traceport.example",
    "sam@steripro.example",
)
ANNA = SigningCredentials(DEMO_PASSWORD, ANNA_EMAIL)
QA = SigningCredentials(DEMO_PASSWORD, QA_EMAIL)
GOOD = {"MFI": "10.1", "MOIST": "0.03", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
# Beyond Latin-1, as supplier staff write it; the product's own fonts draw it (docs/PDF.md).
REASON = "Menge nach Nachwägung in Zürich korrigiert – 4,5 kg ≥ Mindestmenge (Ωmega-Waage)"
# Drawn in Noto Sans SC, which travels with the product: extracted back exactly.
APPROVAL = "CoA reviewed; conforming 合格"

CoA = tuple[int, bytes]


async def _user(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


def _submission(lot_number: str, quantity: str, coa_id: int) -> LotSubmission:
    return LotSubmission(
        "RES-100",
        lot_number,
        quantity,
        "kg",
        dt.date(2026, 10, 1),
        dt.date(2028, 10, 1),
        coa_id,
        [ResultInput(code, value) for code, value in GOOD.items()],
    )


async def _upload(runtime: Runtime, actor: Actor, name: str, lines: list[str]) -> CoA:
    data = make_pdf("Certificate of Analysis", lines)
    async with provide_services(runtime, actor) as s:
        return (await s.attachments.upload_pdf(actor, name, data)).id, data


async def _approved_revised_lot(runtime: Runtime, lot_number: str) -> tuple[int, CoA, CoA]:
    """Submitted, revised with a reason and a corrected two-page CoA, signed by the supplier,
    audit trail reviewed and approved by QA: versions 1 create, 2 revise, 3 submitted,
    4 approved; three signatures."""
    anna, qa = await _user(runtime, ANNA_EMAIL), await _user(runtime, QA_EMAIL)
    first = await _upload(runtime, anna, "coa.pdf", [f"Lot {lot_number}", "Quantity 5 kg"])
    corrected = await _upload(
        runtime,
        anna,
        "coa-corrected.pdf",
        [f"Lot {lot_number} (corrected)", *(f"Line {n}: quantity 4.5 kg" for n in range(70))],
    )
    async with provide_services(runtime, anna) as s:
        lot_id = (await s.lots.submit(anna, _submission(lot_number, "5", first[0]))).id
    async with provide_services(runtime, anna) as s:
        await s.lots.revise(anna, lot_id, _submission(lot_number, "4.5", corrected[0]), REASON, 1)
    async with provide_services(runtime, anna) as s:
        await s.lots.sign_submission(anna, lot_id, ANNA, 2)
    async with provide_services(runtime, qa) as s:
        await s.lots.sign_audit_review(qa, lot_id, QA, 3, "revision checked")
    async with provide_services(runtime, qa) as s:
        await s.lots.decide(qa, lot_id, "approve", QA, APPROVAL, 3)
    return lot_id, first, corrected


async def _bundle(runtime: Runtime, lot_id: int, email: str = QA_EMAIL) -> dict[str, Any]:
    actor = await _user(runtime, email)
    async with provide_services(runtime, actor) as s:
        bundle = await export_bundle(s, actor, "supplier_lot", lot_id)
    # What an auditor receives is the file, not the Python objects.
    loaded: dict[str, Any] = json.loads(json.dumps(bundle))
    return loaded


async def _export_events(runtime: Runtime, lot_id: int) -> list[AuditEvent]:
    async with provide_services(runtime, Actor.system()) as s:
        return list(
            await s.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.action == "export",
                    AuditEvent.record_type == "supplier_lot",
                    AuditEvent.record_id == lot_id,
                )
                .order_by(AuditEvent.seq)
            )
        )


@pytest.mark.req("P11-07")
async def test_bundle_verifies_and_holds_its_own_export(
    runtime: Runtime, signing_key: ServerSigningKey
) -> None:
    lot_id, first, corrected = await _approved_revised_lot(runtime, "T-EXP-OK")
    bundle = await _bundle(runtime, lot_id)

    report = verify_bundle(bundle, [signing_key.public_pem])
    assert report.ok, report.summary_lines()
    assert (report.versions, report.signatures, report.documents) == (4, 3, 2)
    assert report.summary_lines()[-1].startswith("OK")
    assert bundle["record"] == {
        "type": "supplier_lot",
        "id": lot_id,
        "title": "Supplier lot T-EXP-OK",
        "label": "Supplier lot",
        "status": "approved",
        "current_version": 4,
        "revised": True,
        "voided": False,
    }
    assert [(v["version"], v["action"]) for v in bundle["versions"]] == [
        (1, "create"),
        (2, "revise"),
        (3, "status"),
        (4, "status"),
    ]
    assert bundle["versions"][1]["reason"] == REASON
    assert [
        (s["printed_name"], s["meaning"], s["version"], s["valid"]) for s in bundle["signatures"]
    ] == [
        ("Anna Schmidt", "submitted as accurate", 2, True),
        ("Quinn Avery", "audit trail reviewed", 3, True),
        ("Quinn Avery", "approved", 3, True),
    ]
    assert [d["sha256"] for d in bundle["documents"]] == [
        _sha256(first[1]),
        _sha256(corrected[1]),
    ]
    # The export is audited before the bundle is built, so the bundle holds that event.
    last = bundle["audit_events"][-1]
    assert (last["action"], last["new_values"], last["version"]) == (
        "export",
        {"format": "json"},
        4,
    )
    assert last["actor_name"] == "Quinn Avery" and last["seal"] is not None
    assert bundle["exported_at"] == last["occurred_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", bundle["exported_at"])
    assert [e["action"] for e in bundle["audit_events"]] == [
        "create",
        "revise",
        "sign",
        "status",
        "sign",
        "sign",
        "status",
        "export",
    ]
    assert bundle["public_keys"] == [
        {"key_id": signing_key.key_id, "public_key_pem": signing_key.public_pem}
    ]
    assert bundle["bundle_signature"]["key_id"] == signing_key.key_id
    assert [e.actor_name for e in await _export_events(runtime, lot_id)] == ["Quinn Avery"]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _event(bundle: dict[str, Any], action: str) -> dict[str, Any]:
    return next(e for e in bundle["audit_events"] if e["action"] == action)


def _change_version_value(b: dict[str, Any]) -> str:
    b["versions"][1]["content"]["quantity"] = "45"
    return f"version supplier_lot {b['record']['id']} v2: its content no longer matches"


def _change_version_reason(b: dict[str, Any]) -> str:
    b["versions"][1]["reason"] = "typo"
    seq = _event(b, "revise")["seq"]
    return (
        f"version supplier_lot {b['record']['id']} v2: its reason differs from what audit "
        f"event {seq} recorded"
    )


def _remove_middle_version(b: dict[str, Any]) -> str:
    del b["versions"][1]
    return f"version supplier_lot {b['record']['id']} v2: missing or out of order"


def _remove_last_version(b: dict[str, Any]) -> str:
    del b["versions"][-1]
    seq = b["audit_events"][-2]["seq"]
    return (
        f"version supplier_lot {b['record']['id']} v4: recorded by audit event {seq} but "
        "missing from the bundle"
    )


def _change_event_reason(b: dict[str, Any]) -> str:
    event = _event(b, "revise")
    event["reason"] = "typo"
    return f"audit event {event['seq']}: its content no longer matches its hash"


def _remove_sign_event(b: dict[str, Any]) -> str:
    event = _event(b, "sign")
    b["audit_events"].remove(event)
    return f"signature {event['new_values']['signature_id']}: no audit event in the bundle"


def _change_printed_name(b: dict[str, Any]) -> str:
    b["signatures"][0]["printed_name"] = "Somebody Else"
    return f"signature {b['signatures'][0]['id']}: the server signature over its manifestation"


def _change_document_hash(b: dict[str, Any]) -> str:
    document = b["documents"][0]
    document["sha256"] = "0" * 64
    return f"document {document['id']} (coa.pdf): its SHA-256 differs from the one version"


def _change_exporter(b: dict[str, Any]) -> str:
    b["exported_by"] = "Somebody Else"
    return "bundle: its signature does not verify"


def _forge_bundle_signature(b: dict[str, Any]) -> str:
    b["bundle_signature"]["signature"] = ServerSigningKey.generate().sign(b"anything")
    return "bundle: its signature does not verify"


TAMPERING: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("a version value", _change_version_value),
    ("a version's reason", _change_version_reason),
    ("a version removed from the middle", _remove_middle_version),
    ("the last version removed", _remove_last_version),
    ("an event's reason", _change_event_reason),
    ("a signature's audit event removed", _remove_sign_event),
    ("a signature's printed name", _change_printed_name),
    ("a document hash", _change_document_hash),
    ("the exporter's name", _change_exporter),
    ("the bundle signature", _forge_bundle_signature),
]


async def test_tampering_with_a_bundle_fails_and_names_the_item(runtime: Runtime) -> None:
    lot_id, _first, _corrected = await _approved_revised_lot(runtime, "T-EXP-TAMPER")
    original = await _bundle(runtime, lot_id)
    for change, tamper in TAMPERING:
        bundle = copy.deepcopy(original)
        expected = tamper(bundle)
        report = verify_bundle(bundle)
        assert not report.ok, change
        assert str(report.first_problem).startswith(expected), (change, report.summary_lines())
        # Whatever else was changed, the bundle's own signature no longer holds.
        assert str(report.problems[-1]).startswith("bundle: its signature does not verify")


async def test_keys_other_than_the_trusted_ones_are_named(
    runtime: Runtime, signing_key: ServerSigningKey
) -> None:
    lot_id, _first, _corrected = await _approved_revised_lot(runtime, "T-EXP-KEY")
    bundle = await _bundle(runtime, lot_id)
    assert verify_bundle(bundle, [signing_key.public_pem]).ok
    report = verify_bundle(bundle, [ServerSigningKey.generate().public_pem])
    assert len(report.problems) == 1, report.summary_lines()
    assert str(report.first_problem).startswith(
        f"public key {signing_key.key_id}: is not trusted; it signed the seal of audit event "
        f"{bundle['audit_events'][0]['seq']}, "
    )
    # A forger who re-signs the whole bundle with a key of their own is caught the same way.
    forger = ServerSigningKey.generate()
    forged = copy.deepcopy(bundle)
    forged["exported_by"] = "Somebody Else"
    forged["public_keys"].append({"key_id": forger.key_id, "public_key_pem": forger.public_pem})
    forged.pop("bundle_signature")
    forged["bundle_signature"] = {
        "key_id": forger.key_id,
        "signature": forger.sign(canonical_json(forged).encode("utf-8")),
    }
    assert verify_bundle(forged).ok  # integrity alone: the bundle is self-consistent
    anchored = verify_bundle(forged, [signing_key.public_pem])
    assert [str(p) for p in anchored.problems] == [
        f"public key {forger.key_id}: is not trusted; it signed the bundle"
    ]


async def test_a_checkpoint_signed_with_the_export_is_bundled_and_checked(
    runtime: Runtime,
) -> None:
    lot_id, _first, _corrected = await _approved_revised_lot(runtime, "T-EXP-CKPT")
    # Every commit crosses a checkpoint interval: the export's own batch ends with the
    # checkpoint event (which belongs to no record), so the export event itself is unsealed.
    every_commit = replace(runtime, limits=replace(runtime.limits, checkpoint_every=1))
    bundle = await _bundle(every_commit, lot_id)
    [checkpoint] = bundle["checkpoints"]
    assert checkpoint["seq"] == bundle["audit_events"][-1]["seq"] + 1
    assert checkpoint["trigger"] == "interval"
    assert bundle["audit_events"][-1]["seal"] is None
    assert verify_bundle(bundle).ok, verify_bundle(bundle).summary_lines()
    checkpoint["trigger"] = "on demand"
    report = verify_bundle(bundle)
    assert str(report.first_problem) == (
        f"checkpoint {checkpoint['id']} (seq {checkpoint['seq']}): its signature does not "
        "verify with a bundled key"
    )


def _with(bundle: dict[str, Any], path: list[str | int], value: object) -> dict[str, Any]:
    """``bundle`` with the value at ``path`` replaced, or removed when ``value`` is MISSING."""
    parent: Any = bundle
    for step in path[:-1]:
        parent = parent[step]
    if value is MISSING:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return bundle


MISSING = object()

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("not an object", lambda b: [b], "bundle: is not a JSON object"),
    ("another format", lambda b: {**b, "format": "x/1"}, "bundle: its format is 'x/1'"),
    ("a section missing", lambda b: _with(b, ["versions"], MISSING), "bundle: has no 'versions'"),
    ("a section of the wrong type", lambda b: {**b, "versions": {}}, "bundle: 'versions' must"),
    (
        "a record summary without a title",
        lambda b: _with(b, ["record", "title"], MISSING),
        "bundle: has no 'title'",
    ),
    (
        "a version without content",
        lambda b: _with(b, ["versions", 0, "content"], MISSING),
        "version supplier_lot {id} v1: has no 'content'",
    ),
    (
        "a version that is not an object",
        lambda b: _with(b, ["versions", 0], "v1"),
        "versions[0]: is not a JSON object",
    ),
    (
        "a hash that is not hex",
        lambda b: _with(b, ["versions", 0, "content_sha256"], "zz"),
        "version supplier_lot {id} v1: 'content_sha256' must be 64 lowercase hex digits",
    ),
    (
        "a sequence number as text",
        lambda b: _with(b, ["audit_events", 0, "seq"], "5"),
        "audit_events[0]: 'seq' must be an integer",
    ),
    (
        "a time that is not UTC",
        lambda b: _with(b, ["audit_events", 0, "occurred_at"], "2026-01-01T10:00:00+02:00"),
        "audit event {seq}: 'occurred_at' must be an ISO 8601 UTC time",
    ),
    (
        "a float size",
        lambda b: _with(b, ["documents", 0, "size"], 1.5),
        "document {doc}: 'size' must be an integer",
    ),
    (
        "a signature's valid flag as text",
        lambda b: _with(b, ["signatures", 0, "valid"], "yes"),
        "signature {sig}: 'valid' must be true or false",
    ),
    (
        "a float in version content",
        lambda b: _with(b, ["versions", 0, "content", "quantity"], 4.5),
        "version supplier_lot {id} v1: cannot be checked: TypeError: floats are not allowed",
    ),
    (
        "a public key that is no key",
        lambda b: _with(b, ["public_keys", 0, "public_key_pem"], "-----BEGIN nonsense"),
        "public key {key}: is not the Ed25519 key its id names",
    ),
]


async def test_malformed_bundles_fail_cleanly(runtime: Runtime) -> None:
    lot_id, _first, _corrected = await _approved_revised_lot(runtime, "T-EXP-SHAPE")
    original = await _bundle(runtime, lot_id)
    names = {
        "id": lot_id,
        "seq": original["audit_events"][0]["seq"],
        "doc": original["documents"][0]["id"],
        "sig": original["signatures"][0]["id"],
        "key": original["public_keys"][0]["key_id"],
    }
    for case, damage, expected in MALFORMED:
        report = verify_bundle(damage(copy.deepcopy(original)))  # type: ignore[arg-type]
        assert not report.ok, case
        assert str(report.first_problem).startswith(expected.format(**names)), (
            case,
            report.summary_lines(),
        )
        assert "BROKEN" in "\n".join(report.summary_lines())


async def test_documents_folder_is_checked_file_by_file(runtime: Runtime, tmp_path: Path) -> None:
    lot_id, first, corrected = await _approved_revised_lot(runtime, "T-EXP-FILES")
    bundle = await _bundle(runtime, lot_id)
    for _id, data in (first, corrected):
        (tmp_path / f"{_sha256(data)}.pdf").write_bytes(data)
    assert verify_bundle(bundle, documents_dir=tmp_path).ok
    damaged = tmp_path / f"{_sha256(first[1])}.pdf"
    damaged.write_bytes(first[1] + b"\n%changed")
    report = verify_bundle(bundle, documents_dir=tmp_path)
    assert str(report.first_problem).startswith(f"document {first[0]} (coa.pdf): its file ")
    assert "hashes to" in str(report.first_problem)
    damaged.unlink()
    report = verify_bundle(bundle, documents_dir=tmp_path)
    assert (
        str(report.first_problem) == f"document {first[0]} (coa.pdf): its file {damaged} is missing"
    )


def _text(pages: list[Any]) -> str:
    return "\n".join(page.extract_text() for page in pages)


def _squeezed(text: str) -> str:
    """Text without whitespace: the PDF wraps long values (hashes) across lines."""
    return re.sub(r"\s+", "", text)


@pytest.mark.req("P11-15")
@pytest.mark.req("P11-16")
@pytest.mark.req("A11-05")
@pytest.mark.req("P11-07")
async def test_pdf_holds_fields_signatures_history_audit_trail_and_the_coa_pages(
    runtime: Runtime,
) -> None:
    lot_id, first, corrected = await _approved_revised_lot(runtime, "T-EXP-PDF")
    qa = await _user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        pdf = await export_pdf(s, qa, "supplier_lot", lot_id)
        view = await s.records.record(qa, "supplier_lot", lot_id)
    reader = PdfReader(io.BytesIO(pdf))
    coas = [PdfReader(io.BytesIO(data)) for _id, data in (first, corrected)]
    attached = sum(len(c.pages) for c in coas)
    assert [len(c.pages) for c in coas] == [1, 2]
    report_pages = list(reader.pages)[: len(reader.pages) - attached]
    text = _text(report_pages)
    flat = _squeezed(text)

    assert "Supplier lot T-EXP-PDF" in text
    assert "REVISED AFTER FIRST ENTRY" in text
    assert "VOIDED" not in text
    assert _squeezed(REASON) in flat
    # Every field of the current version, with its value.
    fields = flatten(view.current.content)
    assert len(fields) > 20
    for name, value in fields.items():
        assert _squeezed(name) in flat, name
        assert _squeezed(shown(value)) in flat, (name, value)
    # Every signature's manifestation: printed name, UTC date and time, meaning, state.
    assert len(view.signatures) == 3
    for sig in view.signatures:
        when = utc_text(sig.signed_at)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", when)
        assert f"{sig.printed_name}: {sig.meaning}" in text
        assert f"Signed {when}; meaning: {sig.meaning}" in text
        assert _squeezed(sig.content_sha256) in flat
    assert [line for line in text.splitlines() if line.strip() == "VALID"] == ["VALID"] * 3
    # Beyond Latin-1: drawn in the product's own fonts and extracted back exactly, whatever
    # fonts the host has (tests/documents/test_typeset.py; .ci/cjk-fonts-check).
    assert f"Comment: {APPROVAL}" in text.splitlines()
    assert "\x00" not in text and "[U+" not in text
    # History: every version with its hash, and the revision's change old → new.
    for row in view.versions:
        assert f"Version {row.version}: {row.action}, status {row.status}" in text
        assert _squeezed(row.content_sha256) in flat
    assert _squeezed("quantity 5 4.5") in flat
    # The audit trail of the record, including this export.
    assert [e.action for e in view.events][-1] == "export"
    for event in view.events:
        assert _squeezed(f"{event.seq}{utc_text(event.occurred_at)[:-4]}") in flat
    assert [e.new_values for e in await _export_events(runtime, lot_id)] == [{"format": "pdf"}]
    # The CoAs' own pages follow, unchanged and in upload order.
    original_pages = [page for coa in coas for page in coa.pages]
    for appended, original in zip(reader.pages[-attached:], original_pages, strict=True):
        assert appended.extract_text() == original.extract_text()
        assert appended.get_contents().get_data() == original.get_contents().get_data()
    assert "(corrected)" in coas[1].pages[0].extract_text()


@pytest.mark.req("A11-05")
async def test_voided_record_copy_says_so_and_still_verifies(runtime: Runtime) -> None:
    anna = await _user(runtime, ANNA_EMAIL)
    coa_id, _data = await _upload(runtime, anna, "coa.pdf", ["Lot T-EXP-VOID"])
    async with provide_services(runtime, anna) as s:
        lot_id = (await s.lots.submit(anna, _submission("T-EXP-VOID", "5", coa_id))).id
    async with provide_services(runtime, anna) as s:
        await s.lots.void(anna, lot_id, "Entered twice by mistake", 1)
    async with provide_services(runtime, anna) as s:
        pdf = await export_pdf(s, anna, "supplier_lot", lot_id)
    text = _text(list(PdfReader(io.BytesIO(pdf)).pages))
    assert "VOIDED" in text and "Reason: Entered twice by mistake" in text
    assert "REVISED AFTER FIRST ENTRY" not in text
    assert "The record has no electronic signature." in text
    bundle = await _bundle(runtime, lot_id, ANNA_EMAIL)
    assert bundle["record"]["voided"] is True and bundle["record"]["revised"] is False
    assert verify_bundle(bundle).ok


async def test_a_character_no_font_has_is_printed_as_its_code_point(runtime: Runtime) -> None:
    """A copy may lose a glyph, never the information: text the product's fonts cannot draw
    (here CJK Extension B U+20000 and an emoji) is printed as its code point."""
    anna = await _user(runtime, ANNA_EMAIL)
    coa_id, _data = await _upload(runtime, anna, "coa.pdf", ["Lot T-EXP-GLYPH"])
    async with provide_services(runtime, anna) as s:
        lot_id = (await s.lots.submit(anna, _submission("T-EXP-GLYPH", "5", coa_id))).id
    async with provide_services(runtime, anna) as s:
        await s.lots.void(anna, lot_id, "Doppelt erfasst 𠀀 😀 – 重复", 1)
    async with provide_services(runtime, anna) as s:
        pdf = await export_pdf(s, anna, "supplier_lot", lot_id)
    text = _text(list(PdfReader(io.BytesIO(pdf)).pages))
    assert "Reason: Doppelt erfasst [U+20000] [U+1F600] – 重复" in text.splitlines()


@pytest.mark.req("P11-04")
async def test_another_suppliers_actor_gets_not_found_and_nothing_is_audited(
    runtime: Runtime,
) -> None:
    lot_id, _first, _corrected = await _approved_revised_lot(runtime, "T-EXP-ISO")
    sam = await _user(runtime, SAM_EMAIL)
    for export_copy in (export_bundle, export_pdf):
        async with provide_services(runtime, sam) as s:
            with pytest.raises(NotFound):
                await export_copy(s, sam, "supplier_lot", lot_id)
    assert await _export_events(runtime, lot_id) == []
    # The supplier that owns the lot gets its copy, and it verifies.
    assert verify_bundle(await _bundle(runtime, lot_id, ANNA_EMAIL)).ok
    async with provide_services(runtime, sam) as s:
        with pytest.raises(NotFound):
            await export_bundle(s, sam, "no_such_type", lot_id)


async def test_records_are_found_by_the_identifiers_people_use(runtime: Runtime) -> None:
    system = Actor.system("cli")
    sam = await _user(runtime, SAM_EMAIL)
    coa_id, _data = await _upload(runtime, sam, "coa.pdf", ["Lot AP-24-0815 of SteriPro"])
    async with provide_services(runtime, sam) as s:
        # The same lot number from another supplier: two records, both offered.
        await s.lots.submit(
            sam,
            LotSubmission(
                "STE-200",
                "AP-24-0815",
                "1",
                "load",
                dt.date(2026, 10, 1),
                None,
                coa_id,
                [
                    ResultInput("DOSE", "27.5"),
                    ResultInput("BI", "pass"),
                    ResultInput("DOSIM", "38"),
                ],
            ),
        )
    async with provide_services(runtime, system) as s:
        found = await find_records(s, system, "AP-24-0815")
        assert [(r.record_type, r.description) for r in found] == [
            ("supplier_lot", "Supplier lot AP-24-0815 (Acme Polymers)"),
            ("supplier_lot", "Supplier lot AP-24-0815 (SteriPro)"),
        ]
        for identifier, kind in (
            ("WO-1001", "work_order"),
            ("SH-0001", "shipment"),
            ("IL-RES-0001", "internal_lot"),
        ):
            assert [r.record_type for r in await find_records(s, system, identifier)] == [kind]
        assert [
            (r.record_type, r.record_id) for r in await find_records(s, system, "receipt:7")
        ] == [("receipt", 7)]
        with pytest.raises(NotFound, match="serial number"):
            await find_records(s, system, "SN-DEMO-0001")
        with pytest.raises(NotFound, match="No record is known by 'NOPE-1'"):
            await find_records(s, system, "NOPE-1")
    async with provide_services(runtime, sam) as s:
        # A supplier finds only its own lot by a number another supplier also uses.
        assert len(await find_records(s, sam, "AP-24-0815")) == 1
        with pytest.raises(NotFound):
            await find_records(s, sam, "WO-1001")


@pytest.mark.parametrize("identifier", ["WO-1001", "SH-0001", "IL-RES-0001", "SP-24-0117"])
async def test_other_kinds_of_records_export_and_verify(
    runtime: Runtime, signing_key: ServerSigningKey, identifier: str
) -> None:
    system = Actor.system("cli")
    async with provide_services(runtime, system) as s:
        [ref] = await find_records(s, system, identifier)
        bundle = await export_bundle(s, system, ref.record_type, ref.record_id)
        pdf = await export_pdf(s, system, ref.record_type, ref.record_id)
    report = verify_bundle(json.loads(json.dumps(bundle)), [signing_key.public_pem])
    assert report.ok, report.summary_lines()
    first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert first_page.startswith(bundle["record"]["title"])
    assert identifier in bundle["record"]["title"]


def test_bundle_fields_are_every_column() -> None:
    """A column added to a record table must be added to the bundle format on purpose."""
    for spec, model in (
        (VERSION_FIELDS, RecordVersion),
        (EVENT_FIELDS, AuditEvent),
        (SIGNATURE_FIELDS, Signature),
        (CHECKPOINT_FIELDS, AuditCheckpoint),
    ):
        assert set(spec) == {c.key for c in inspect(model).column_attrs}, model.__name__
    assert set(DOCUMENT_FIELDS) <= {c.key for c in inspect(Document).column_attrs}


# -- the command line --------------------------------------------------------------------------


def _cli(*args: str) -> Result:
    """Run ``traceport`` in a thread of its own: the command runs its own event loop."""
    outcome: list[Result] = []
    thread = threading.Thread(target=lambda: outcome.append(CliRunner().invoke(traceport, args)))
    thread.start()
    thread.join()
    return outcome[0]


def test_cli_exports_a_lot_by_its_number_and_verifies_it_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TRACEPORT_DATABASE_URL", "TRACEPORT_STORAGE_URL", "TRACEPORT_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    var = tmp_path / "var"
    monkeypatch.setenv("TRACEPORT_VAR_DIR", str(var))
    seeded = _cli("demo", "--no-serve")
    assert seeded.exit_code == 0, seeded.output

    out = tmp_path / "copy"
    exported = _cli("record", "export", "AP-24-0815", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    bundle_file = next(out.glob("supplier_lot-*.json"))
    stem = bundle_file.stem
    bundle = json.loads(bundle_file.read_text("utf-8"))
    coa = bundle["documents"][0]["sha256"]
    assert exported.output.splitlines() == [
        str(out / f"{stem}.json"),
        str(out / f"{stem}.pdf"),
        str(out / "documents" / f"{coa}.pdf"),
    ]
    assert bundle["exported_by"] == "system"
    assert [e["new_values"] for e in bundle["audit_events"][-2:]] == [
        {"format": "pdf"},
        {"format": "json"},
    ]
    pdf = PdfReader(out / f"{stem}.pdf")
    assert "Supplier lot AP-24-0815" in pdf.pages[0].extract_text()

    verified = _cli("record", "verify", str(bundle_file))
    assert verified.exit_code == 0, verified.output
    assert f"files checked in {out / 'documents'}" in verified.output
    assert verified.output.splitlines()[-1].startswith("OK")
    key_file = var / "keys" / "server-ed25519.pem"
    anchored = _cli("record", "verify", str(bundle_file), "--trusted-key", str(key_file))
    assert anchored.exit_code == 0, anchored.output
    assert "checked against the trusted keys given" in anchored.output

    bundle["signatures"][0]["meaning"] = "approved by someone else"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bundle), "utf-8")
    broken = _cli("record", "verify", str(tampered))
    assert broken.exit_code == 1, broken.output
    sig_id = bundle["signatures"][0]["id"]
    assert f"BROKEN: 3 problem(s); first: signature {sig_id}: the server signature" in (
        broken.output
    )

    (out / "documents" / f"{coa}.pdf").write_bytes(b"%PDF-1.4 replaced")
    replaced = _cli("record", "verify", str(bundle_file))
    assert replaced.exit_code == 1
    assert "its file" in replaced.output and "hashes to" in replaced.output

    missing = _cli("record", "export", "NOPE-1", "--out", str(out))
    assert missing.exit_code == 2
    assert "No record is known by 'NOPE-1'" in missing.output
    unknown = _cli("record", "export", "supplier_lot:999999", "--out", str(out))
    assert unknown.exit_code == 2
    assert "No such supplier lot" in unknown.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01 not json", "is not a readable JSON file"),
        (b"[1, 2, 3]", "is not a traceport-record-bundle/1 bundle"),
        (b'{"format": "something-else/1"}', "is not a traceport-record-bundle/1 bundle"),
        (b"\xff\xfe", "is not a readable JSON file"),
    ],
)
def test_cli_verify_refuses_what_is_not_a_bundle(
    tmp_path: Path, content: bytes, message: str
) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(content)
    result = _cli("record", "verify", str(garbage))
    assert result.exit_code == 2
    assert message in result.output
