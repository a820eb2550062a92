"""Supplier certificates through the services, on SQLite and PostgreSQL (CERT-01): the record
with its scope and validity, signatures and versions, the check of every receipt against the
receipt date (not today), the trace evidence, isolation, and every refusal — each of which must
leave nothing behind."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from documents.pdf import make_pdf
from tests.conftest import person, row_counts
from trace_core.certificates.coverage import CertificateFacts, judge
from trace_core.certificates.models import SupplierCertificate
from trace_core.certificates.service import CertificateInput
from trace_core.demo import DEMO_PASSWORD
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import Actor, permissions_for_scopes
from trace_core.identity.service import SigningCredentials
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part
from trace_core.receipts.models import Receipt
from trace_core.receipts.service import ReceiptInput
from trace_core.records.models import AuditEvent
from trace_core.services import Runtime, provide_services

pytestmark = pytest.mark.req("CERT-01")

SAM, ANNA, QA = "sam@steripro.example", "anna@acme-polymers.example", "qa@traceport.example"
OPS = "ops@traceport.example"
TODAY = dt.datetime.now(dt.UTC).date()
WATCHED = (
    "supplier_certificates",
    "supplier_certificate_parts",
    "record_versions",
    "audit_events",
    "signatures",
    "documents",
)


async def upload(runtime: Runtime, actor: Actor, text: str = "ISO 13485 certificate") -> int:
    async with provide_services(runtime, actor) as s:
        document = await s.attachments.upload_pdf(
            actor, "certificate.pdf", make_pdf("Certificate", [text])
        )
        return document.id


def certificate(document: int | None, **changes: Any) -> CertificateInput:
    data: dict[str, Any] = {
        "standard": "ISO 13485:2016",
        "certificate_number": "T-13485-1",
        "issuer": "Test Registrar",
        "sites": ["Acme Polymers, Ludwigshafen"],
        "valid_from": TODAY - dt.timedelta(days=30),
        "valid_until": TODAY + dt.timedelta(days=300),
        "document_id": document,
        "product_scope": "PEEK resins",
        "part_numbers": ["RES-100"],
    }
    data.update(changes)
    return CertificateInput(**data)


async def submit(runtime: Runtime, actor: Actor, data: CertificateInput) -> SupplierCertificate:
    async with provide_services(runtime, actor) as s:
        return await s.certificates.submit(actor, data)


async def sign(
    runtime: Runtime, actor: Actor, email: str, certificate_id: int, version: int
) -> SupplierCertificate:
    async with provide_services(runtime, actor) as s:
        return await s.certificates.sign(
            actor, certificate_id, SigningCredentials(DEMO_PASSWORD, email), version
        )


async def decide(
    runtime: Runtime,
    certificate_id: int,
    decision: str,
    version: int,
    comment: str = "",
    ended_on: dt.date | None = None,
) -> SupplierCertificate:
    qa = await person(runtime, QA)
    async with provide_services(runtime, qa) as s:
        return await s.certificates.decide(
            qa,
            certificate_id,
            decision,
            SigningCredentials(DEMO_PASSWORD, QA),
            comment,
            version,
            ended_on,
        )


async def accepted(
    runtime: Runtime, email: str, data: CertificateInput | None = None
) -> SupplierCertificate:
    """A certificate recorded, signed by the supplier and accepted by our QA."""
    actor = await person(runtime, email)
    made = await submit(runtime, actor, data or certificate(await upload(runtime, actor)))
    signed = await sign(runtime, actor, email, made.id, made.version)
    return await decide(runtime, made.id, "accept", signed.version)


async def same_in_one_statement(runtime: Runtime, *identifiers: str) -> None:
    """Our staff's backward trace judges certificates within its one evidence statement; the
    answer equals the trace that reads receipts and certificates by separate queries."""
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        for identifier in identifiers:
            one = (await s.trace.backward(system, identifier)).as_dict()
            separate = (await s.trace._trace(system, identifier, "backward")).as_dict()
            assert json.loads(json.dumps(one, default=str)) == json.loads(
                json.dumps(separate, default=str)
            ), identifier
            assert any(n.get("certificates") for n in one["nodes"]), identifier


async def demo_certificate(runtime: Runtime, number: str) -> SupplierCertificate:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(SupplierCertificate).where(SupplierCertificate.certificate_number == number)
        )
    assert found is not None
    return found


async def receive(runtime: Runtime, lot_number: str, internal: str) -> Receipt:
    ops = await person(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        lot = await s.session.scalar(
            select(SupplierLot).where(SupplierLot.lot_number == lot_number)
        )
        assert lot is not None
        return await s.receipts.post(ops, ReceiptInput(lot.id, "1", internal))


async def receipt_of(runtime: Runtime, lot_number: str) -> Receipt:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(Receipt)
            .join(SupplierLot, SupplierLot.id == Receipt.supplier_lot_id)
            .where(SupplierLot.lot_number == lot_number)
            .order_by(Receipt.id.desc())
        )
    assert found is not None
    return found


# -- coverage on a day: the rule itself --------------------------------------------------------


def facts(**changes: Any) -> CertificateFacts:
    data: dict[str, Any] = {
        "id": 1,
        "organization_id": 7,
        "standard": "ISO 13485:2016",
        "certificate_number": "C-1",
        "issuer": "Registrar",
        "valid_from": dt.date(2025, 1, 1),
        "valid_until": dt.date(2025, 12, 31),
        "status": "accepted",
        "ended_on": None,
        "version": 3,
        "content_sha256": "0" * 64,
        "part_ids": frozenset({10}),
        "kinds": frozenset(),
    }
    data.update(changes)
    return CertificateFacts(**data)


@pytest.mark.parametrize(
    ("certificates", "part", "kind", "day", "status"),
    [
        ([facts()], 10, "material", dt.date(2025, 12, 31), "covered"),  # last day inclusive
        ([facts()], 10, "material", dt.date(2025, 1, 1), "covered"),  # first day inclusive
        ([facts()], 10, "material", dt.date(2026, 1, 1), "lapsed"),  # the day after
        ([facts()], 10, "material", dt.date(2024, 12, 31), "lapsed"),  # not yet valid
        ([facts()], 11, "material", dt.date(2025, 6, 1), "not_covered"),  # another part
        ([facts(kinds=frozenset({"material"}))], 11, "material", dt.date(2025, 6, 1), "covered"),
        (
            [facts(kinds=frozenset({"finished"}))],
            11,
            "material",
            dt.date(2025, 6, 1),
            "not_covered",
        ),
        ([], 10, "material", dt.date(2025, 6, 1), "none"),
        ([facts()], 11, "material", dt.date(2026, 6, 1), "none"),  # nothing held that day
        # Suspended from 1 June: days before stay covered, that day and after are not.
        (
            [facts(status="suspended", ended_on=dt.date(2025, 6, 1))],
            10,
            "material",
            dt.date(2025, 5, 31),
            "covered",
        ),
        (
            [facts(status="suspended", ended_on=dt.date(2025, 6, 1))],
            10,
            "material",
            dt.date(2025, 6, 1),
            "lapsed",
        ),
        # A renewal that starts the day the old one ends covers without a gap.
        (
            [
                facts(),
                facts(id=2, valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2028, 12, 31)),
            ],
            10,
            "material",
            dt.date(2026, 1, 1),
            "covered",
        ),
    ],
)
def test_coverage_is_judged_for_the_day_given(
    certificates: list[CertificateFacts], part: int, kind: str, day: dt.date, status: str
) -> None:
    found = judge(certificates, part, kind, day)
    assert found.status == status, found.explanation()
    assert (found.certificate is None) == (status == "none")


def test_the_explanation_says_why_in_words() -> None:
    lapsed = judge([facts()], 10, "material", dt.date(2026, 1, 5))
    assert lapsed.explanation() == (
        "ISO 13485:2016 certificate C-1 (Registrar) lapsed on 2025-12-31, before 2026-01-05."
    )
    ended = judge(
        [facts(status="suspended", ended_on=dt.date(2025, 6, 1))], 10, "x", dt.date(2025, 7, 1)
    )
    assert "was suspended from 2025-06-01" in ended.explanation()


# -- the demo: one receipt covered, one flagged ------------------------------------------------


async def test_the_demo_receipts_record_the_certificate_status_on_their_receipt_date(
    runtime: Runtime,
) -> None:
    acme = await receipt_of(runtime, "AP-24-0815")
    steri = await receipt_of(runtime, "SP-24-0117")
    iso = await demo_certificate(runtime, "DE-13485-2291")
    lapsed = await demo_certificate(runtime, "SP-11137-0042")
    assert (acme.certificate_status, acme.certificate_id, acme.certificate_version) == (
        "covered",
        iso.id,
        3,
    )
    assert (steri.certificate_status, steri.certificate_id) == ("lapsed", lapsed.id)
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        (version,) = await s.keeper.versions("receipt", steri.id)
        flags = list(
            await s.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "certificate_flag", AuditEvent.record_id == steri.id
                )
            )
        )
    check = version.content["certificate_check"]
    assert check["status"] == "lapsed"
    assert check["certificate"]["certificate_number"] == "SP-11137-0042"
    assert check["explanation"].startswith("ISO 11137-1:2006 certificate SP-11137-0042")
    assert "lapsed on" in check["explanation"]
    assert [(e.record_type, e.new_values["certificate_status"]) for e in flags] == [  # type: ignore[index]
        ("receipt", "lapsed")
    ]


async def test_the_backward_trace_shows_the_certificate_status_at_each_supplier_lot(
    runtime: Runtime,
) -> None:
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        trace = await s.trace.backward(system, "SN-DEMO-0001")
        forward = await s.trace.forward(system, "AP-24-0815")
        scope = await s.trace.scope(system, "AP-24-0815")
    nodes = {n.identifier: n for n in trace.nodes.values()}
    (resin,) = nodes["AP-24-0815"].details["certificates"]
    assert resin["receipt"]["number"].startswith("GR-")
    assert resin["receipt"]["received_on"] == TODAY
    assert resin["at_receipt"]["status"] == "covered"
    shown = resin["at_receipt"]["certificate"]
    assert (shown["standard"], shown["certificate_number"], shown["issuer"]) == (
        "ISO 13485:2016",
        "DE-13485-2291",
        "CertNord GmbH (notified body 0999)",
    )
    assert shown["valid_from"] == TODAY - dt.timedelta(days=400)
    assert shown["valid_until"] == TODAY + dt.timedelta(days=700)
    assert shown["record"]["version"] == 3 and len(shown["record"]["content_sha256"]) == 64
    assert resin["on_receipt_date"]["status"] == "covered"
    (sterile,) = nodes["SP-24-0117"].details["certificates"]
    assert sterile["at_receipt"]["status"] == "lapsed"
    assert sterile["on_receipt_date"]["certificate"]["certificate_number"] == "SP-11137-0042"
    # Internal lots carry no certificate evidence; the forward trace and the scope do show it.
    assert "certificates" not in nodes["IL-RES-0001"].details
    for answer in (forward, scope):
        lot = next(n for n in answer.nodes.values() if n.identifier == "AP-24-0815")
        assert lot.details["certificates"][0]["at_receipt"]["status"] == "covered"


# -- the check at receipt: negative cases ------------------------------------------------------


async def test_a_lot_received_after_the_certificate_was_suspended_is_flagged_not_blocked(
    runtime: Runtime,
) -> None:
    iso = await demo_certificate(runtime, "DE-13485-2291")
    await decide(
        runtime,
        iso.id,
        "suspend",
        iso.version,
        "Registrar suspended it",
        TODAY - dt.timedelta(days=1),
    )
    receipt = await receive(runtime, "AP-24-0816", "IL-RES-T1")
    assert receipt.certificate_status == "lapsed"
    assert receipt.certificate_id == iso.id and receipt.certificate_version == 4
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        trace = await s.trace.backward(system, "IL-RES-T1")
    lot = next(n for n in trace.nodes.values() if n.identifier == "AP-24-0816")
    (check,) = lot.details["certificates"]
    assert check["at_receipt"]["status"] == "lapsed"
    assert "was suspended from" in check["on_receipt_date"]["explanation"]
    # The earlier receipt was judged covered when posted and keeps that answer; with what we
    # know now (suspended from yesterday) its day is no longer covered, and the trace says so.
    earlier = await receipt_of(runtime, "AP-24-0815")
    async with provide_services(runtime, system) as s:
        back = await s.trace.backward(system, "AP-24-0815")
    (old,) = next(iter(back.nodes.values())).details["certificates"]
    assert earlier.certificate_status == "covered" and old["at_receipt"]["status"] == "covered"
    assert old["on_receipt_date"]["status"] == "lapsed" and old["changed_since_receipt"]
    await same_in_one_statement(runtime, "IL-RES-T1", "AP-24-0815", "SN-DEMO-0001")


async def test_a_part_outside_the_certificate_scope_is_flagged_not_covered(
    runtime: Runtime,
) -> None:
    """Acme's ISO 13485 names RES-100 only. Approved for STE-200 as well, Acme ships a lot
    of it: the certificate held that day, but its scope does not cover the part."""
    from trace_core.lots.service import LotSubmission, ResultInput

    anna, system = await person(runtime, ANNA), Actor.system()
    async with provide_services(runtime, system) as s:
        acme = await s.identity.organization_by_name("Acme Polymers")
        steril = await s.session.scalar(select(Part).where(Part.number == "STE-200"))
        assert steril is not None
        await s.parts.approve_supplier(steril, acme, "A")
        await s.keeper.commit()
    async with provide_services(runtime, anna) as s:
        coa = await s.attachments.upload_pdf(anna, "coa.pdf", make_pdf("CoA", ["AP-STE-1"]))
        lot = await s.lots.submit(
            anna,
            LotSubmission(
                "STE-200",
                "AP-STE-1",
                "1",
                "load",
                TODAY - dt.timedelta(days=2),
                None,
                coa.id,
                [ResultInput("DOSE", "27"), ResultInput("BI", "pass"), ResultInput("DOSIM", "30")],
            ),
        )
        await s.lots.sign_submission(
            anna, lot.id, SigningCredentials(DEMO_PASSWORD, ANNA), lot.version
        )
    receipt = await receive(runtime, "AP-STE-1", "IL-STE-T2")
    assert receipt.certificate_status == "not_covered"  # flagged, not blocked
    iso = await demo_certificate(runtime, "DE-13485-2291")
    assert receipt.certificate_id == iso.id
    async with provide_services(runtime, anna) as s:
        coverage = await s.certificates.coverage(anna, acme.id, "STE-200", TODAY)
        assert coverage.status == "not_covered"
        assert "does not cover this part" in coverage.explanation()
        assert (await s.certificates.coverage(anna, acme.id, "RES-100", TODAY)).status == (
            "covered"
        )
    # A whole kind of part is a scope too: a certificate for every "material" covers it.
    await accepted(
        runtime,
        ANNA,
        certificate(
            await upload(runtime, anna),
            part_numbers=[],
            part_kinds=["material"],
            certificate_number="X-2",
        ),
    )
    async with provide_services(runtime, anna) as s:
        assert (await s.certificates.coverage(anna, acme.id, "STE-200", TODAY)).status == (
            "covered"
        )


async def test_a_certificate_accepted_late_still_answers_for_the_receipt_date(
    runtime: Runtime,
) -> None:
    """SteriPro's lot was received after its certificate lapsed (flagged). The renewal, valid
    from before that day, is uploaded and accepted afterwards: the receipt keeps what was
    judged then, and the trace shows that the day is covered with what we know now."""
    sam = await person(runtime, SAM)
    receipt = await receipt_of(runtime, "SP-24-0117")
    day = receipt.received_at.date()
    async with provide_services(runtime, sam) as s:
        steri = sam.organization_id or 0
        assert (await s.certificates.coverage(sam, steri, "STE-200", day)).status == "lapsed"
    renewal = await accepted(
        runtime,
        SAM,
        certificate(
            await upload(runtime, sam, "ISO 11137 renewal"),
            standard="ISO 11137-1:2006",
            certificate_number="SP-11137-0043",
            sites=["SteriPro, Columbus"],
            part_numbers=["STE-200"],
            valid_from=TODAY - dt.timedelta(days=12),
            valid_until=TODAY + dt.timedelta(days=1000),
        ),
    )
    async with provide_services(runtime, sam) as s:
        now = await s.certificates.coverage(sam, steri, "STE-200", day)
        old = await s.certificates.coverage(sam, steri, "STE-200", day - dt.timedelta(days=30))
    assert now.status == "covered" and now.certificate and now.certificate.id == renewal.id
    assert old.status == "covered"  # the lapsed one still covered that day
    assert old.certificate and old.certificate.certificate_number == "SP-11137-0042"
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        trace = await s.trace.backward(system, "SP-24-0117")
        stored = await s.session.get(Receipt, receipt.id)
    (check,) = next(iter(trace.nodes.values())).details["certificates"]
    assert check["at_receipt"]["status"] == "lapsed"
    assert check["on_receipt_date"]["status"] == "covered"
    assert check["on_receipt_date"]["certificate"]["certificate_number"] == "SP-11137-0043"
    assert check["changed_since_receipt"] is True
    assert stored is not None and stored.certificate_status == "lapsed"  # never rewritten
    await same_in_one_statement(runtime, "SP-24-0117", "SN-DEMO-0001")


# -- the record: versions, signatures, audit ---------------------------------------------------


async def test_versions_signatures_and_audit_events_of_a_certificate(runtime: Runtime) -> None:
    made = await accepted(runtime, ANNA)
    suspended = await decide(
        runtime, made.id, "suspend", made.version, "Major nonconformity at surveillance audit"
    )
    assert suspended.status == "suspended" and suspended.ended_on == TODAY
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        versions = await s.keeper.versions("supplier_certificate", made.id)
        signatures = await s.keeper.signatures("supplier_certificate", made.id)
        events = list(
            await s.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.record_type == "supplier_certificate",
                    AuditEvent.record_id == made.id,
                )
                .order_by(AuditEvent.seq)
            )
        )
        record = await s.records.record(system, "supplier_certificate", made.id)
    assert [(v.version, v.status, v.action, v.reason) for v in versions] == [
        (1, "draft", "create", None),
        (2, "submitted", "status", None),
        (3, "accepted", "status", None),
        (4, "suspended", "status", "Major nonconformity at surveillance audit"),
    ]
    assert versions[0].content["part_numbers"] == ["RES-100"]
    assert versions[0].content["sites"] == ["Acme Polymers, Ludwigshafen"]
    assert versions[3].content["ended_on"] == TODAY.isoformat()
    assert [(x.printed_name, x.meaning, x.version, x.valid) for x in signatures] == [
        ("Anna Schmidt", "submitted as accurate", 1, True),
        ("Quinn Avery", "approved", 2, True),
        ("Quinn Avery", "suspended", 3, True),
    ]
    assert [(e.action, e.version, e.actor_name) for e in events] == [
        ("create", 1, "Anna Schmidt"),
        ("sign", 1, "Anna Schmidt"),
        ("status", 2, "Anna Schmidt"),
        ("sign", 2, "Quinn Avery"),
        ("status", 3, "Quinn Avery"),
        ("sign", 3, "Quinn Avery"),
        ("status", 4, "Quinn Avery"),
    ]
    assert events[-1].old_values == {"status": "accepted", "ended_on": None}
    assert record.versions[0].version == 1


async def test_a_withdrawal_after_a_suspension_keeps_the_earlier_end(runtime: Runtime) -> None:
    made = await accepted(runtime, ANNA)
    start = TODAY - dt.timedelta(days=20)
    suspended = await decide(runtime, made.id, "suspend", made.version, "audit finding", start)
    withdrawn = await decide(runtime, made.id, "withdraw", suspended.version, "not renewed")
    assert withdrawn.status == "withdrawn" and withdrawn.ended_on == start
    anna = await person(runtime, ANNA)
    async with provide_services(runtime, anna) as s:  # our QA's decisions only: not a draft
        draft = await s.certificates.submit(anna, certificate(await upload(runtime, anna)))
    with pytest.raises(Conflict, match="draft cannot be withdrawn by us"):
        await decide(runtime, draft.id, "withdraw", draft.version, "no")


@pytest.mark.req("P11-08")
async def test_illegal_and_stale_steps_are_refused(runtime: Runtime) -> None:
    anna = await person(runtime, ANNA)
    draft = await submit(runtime, anna, certificate(await upload(runtime, anna)))
    with pytest.raises(Conflict, match="draft cannot be accepted"):
        await decide(runtime, draft.id, "accept", draft.version)
    with pytest.raises(Conflict, match="now version 1, you saw 5"):
        await sign(runtime, anna, ANNA, draft.id, 5)
    signed = await sign(runtime, anna, ANNA, draft.id, draft.version)
    with pytest.raises(Conflict, match="submitted cannot be signed"):
        await sign(runtime, anna, ANNA, draft.id, signed.version)
    with pytest.raises(ValidationFailed, match="Say why the certificate is rejected"):
        await decide(runtime, draft.id, "reject", signed.version)
    rejected = await decide(runtime, draft.id, "reject", signed.version, "wrong site")
    assert rejected.status == "rejected"
    with pytest.raises(Conflict, match="rejected cannot be withdrawn"):
        async with provide_services(runtime, anna) as s:
            await s.certificates.withdraw(anna, draft.id, "no", rejected.version)


@pytest.mark.req("P11-09")
async def test_only_a_signer_signs_and_only_our_qa_approver_decides(runtime: Runtime) -> None:
    anna = await person(runtime, ANNA)
    async with provide_services(runtime, Actor.system()) as s:
        acme = await s.identity.organization_by_name("Acme Polymers")
        clerk_user = await s.identity.create_user(
            acme, "clerk@acme-polymers.example", "Carl Clerk", DEMO_PASSWORD, ["supplier_user"]
        )
        await s.keeper.commit()
    clerk = await person(runtime, clerk_user.email)
    draft = await submit(runtime, clerk, certificate(await upload(runtime, clerk)))
    before = await row_counts(runtime, WATCHED)
    with pytest.raises(PermissionDenied):  # a supplier user without signing rights
        await sign(runtime, clerk, clerk_user.email, draft.id, draft.version)
    client = Actor(
        "client",
        9,
        "acme-edi",
        anna.organization_id,
        "supplier",
        "api",
        permissions_for_scopes(["lots:write", "lots:read"]),
    )
    async with provide_services(runtime, client) as s:  # machines never sign
        with pytest.raises(PermissionDenied):
            await s.certificates.sign(
                client, draft.id, SigningCredentials(DEMO_PASSWORD, ANNA), draft.version
            )
    qa = await person(runtime, QA)
    async with provide_services(runtime, qa) as s:  # our QA cannot sign for the supplier
        with pytest.raises(PermissionDenied):
            await s.certificates.sign(
                qa, draft.id, SigningCredentials(DEMO_PASSWORD, QA), draft.version
            )
    signed = await sign(runtime, anna, ANNA, draft.id, draft.version)
    for email in (ANNA, OPS):  # the supplier, and our operations people, cannot accept
        actor = await person(runtime, email)
        async with provide_services(runtime, actor) as s:
            with pytest.raises(PermissionDenied):
                await s.certificates.decide(
                    actor, draft.id, "accept", SigningCredentials(DEMO_PASSWORD, email), "", 2
                )
    async with provide_services(runtime, qa) as s:  # a wrong password signs nothing
        with pytest.raises(AuthenticationFailed):
            await s.certificates.decide(
                qa, draft.id, "accept", SigningCredentials("wrong", QA), "", signed.version
            )
    async with runtime.sessions() as session:
        assert (await session.get(SupplierCertificate, draft.id)).status == "submitted"  # type: ignore[union-attr]
    after = await row_counts(runtime, WATCHED)
    assert after["signatures"] == before["signatures"] + 1  # Anna's only


# -- bad input: specific messages, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"valid_from": TODAY, "valid_until": TODAY - dt.timedelta(days=1)},
            "valid_until",
            "The certificate cannot expire",
        ),
        ({"valid_from": "2026-02-30"}, "valid_from", "'2026-02-30' is not a date"),
        ({"valid_until": ""}, "valid_until", "A date is required"),
        ({"part_numbers": ["NOPE-1"]}, "parts", "We have no part NOPE-1"),
        ({"part_numbers": [], "part_kinds": ["gizmo"]}, "part_kinds", "'gizmo' is not a kind"),
        ({"part_numbers": []}, "parts", "Say which of the parts"),
        ({"sites": [" "]}, "sites", "Name at least one site"),
        ({"standard": ""}, "standard", "The standard is required."),
        ({"issuer": "x" * 201}, "issuer", "The certification body is longer than 200"),
        ({"document_id": None}, "document", "Attach the certificate as a PDF."),
    ],
)
async def test_bad_certificates_are_refused_with_a_specific_message(
    runtime: Runtime, changes: dict[str, Any], field: str, message: str
) -> None:
    anna = await person(runtime, ANNA)
    document = await upload(runtime, anna)
    before = await row_counts(runtime, WATCHED)
    with pytest.raises(ValidationFailed) as caught:
        await submit(runtime, anna, certificate(document, **changes))
    assert caught.value.errors[field].startswith(message), caught.value.errors
    assert await row_counts(runtime, WATCHED) == before


async def test_a_non_pdf_is_refused_as_the_certificate(runtime: Runtime) -> None:
    anna = await person(runtime, ANNA)
    before = await row_counts(runtime, WATCHED)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(ValidationFailed) as caught:
            await s.attachments.upload_pdf(anna, "certificate.pdf", b"GIF89a not a pdf")
    assert "file" in caught.value.errors
    assert await row_counts(runtime, WATCHED) == before


# -- isolation (P11-04) ------------------------------------------------------------------------


@pytest.mark.req("P11-04")
async def test_a_supplier_sees_and_touches_only_its_own_certificates(runtime: Runtime) -> None:
    sam, anna = await person(runtime, SAM), await person(runtime, ANNA)
    acme_iso = await demo_certificate(runtime, "DE-13485-2291")
    steri_doc = await upload(runtime, sam, "SteriPro's own PDF")
    before = await row_counts(runtime, WATCHED)
    async with provide_services(runtime, sam) as s:
        with pytest.raises(NotFound):
            await s.certificates.get(sam, acme_iso.id)
        with pytest.raises(NotFound):
            await s.records.record(sam, "supplier_certificate", acme_iso.id)
        with pytest.raises(NotFound):
            await s.certificates.withdraw(sam, acme_iso.id, "mine now", acme_iso.version)
        with pytest.raises(NotFound):
            await s.certificates.coverage(sam, acme_iso.organization_id, "RES-100", TODAY)
        assert [c.certificate_number for c in await s.certificates.list(sam)] == ["SP-11137-0042"]
    async with provide_services(runtime, sam) as s:
        with pytest.raises(NotFound):
            await s.certificates.sign(
                sam, acme_iso.id, SigningCredentials(DEMO_PASSWORD, SAM), acme_iso.version
            )
    # Another supplier's document cannot be named as one's certificate.
    with pytest.raises(ValidationFailed) as caught:
        await submit(runtime, anna, certificate(steri_doc))
    assert caught.value.errors == {"document": "The certificate document was not found."}
    assert await row_counts(runtime, WATCHED) == before
    # A supplier's own trace shows its own certificate status, never another supplier's.
    async with provide_services(runtime, sam) as s:
        own = await s.trace.backward(sam, "SP-24-0117")
        with pytest.raises(NotFound):
            await s.trace.backward(sam, "AP-24-0815")
    (node,) = [n for n in own.nodes.values() if n.kind == "supplier_lot"]
    assert node.details["certificates"][0]["at_receipt"]["status"] == "lapsed"
    assert "DE-13485-2291" not in repr(own.as_dict())
