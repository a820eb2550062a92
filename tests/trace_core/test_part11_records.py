"""Part 11 record integrity through the services: revisions with reasons and diffs, voiding,
signing components and the continuous-session rule, TOTP, the signed audit-trail review that
gates approval of a revised lot, the audit-trail filter, checkpoints and key rotation."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from trace_core.demo import DEMO_PASSWORD
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import Actor
from trace_core.identity.models import User, WebSession
from trace_core.identity.service import SigningCredentials, actor_for_client, actor_for_user
from trace_core.identity.totp import code_at, new_secret
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.records.admin import rotate_signing_key
from trace_core.records.audit_trail import parse_filter
from trace_core.records.keys import ServerSigningKey
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.records.verify import verify_records
from trace_core.services import Runtime, provide_services

from .test_slice_services import ANNA, GOOD, QA, new_lot, user

ANNA_EMAIL = "anna@acme-polymers.example"


def revision(lot_number: str, results: dict[str, str], quantity: str = "5") -> LotSubmission:
    return LotSubmission(
        part_number="RES-100",
        lot_number=lot_number,
        quantity=quantity,
        unit="kg",
        manufactured_on=dt.date(2026, 10, 1),
        expires_on=dt.date(2028, 10, 1),
        coa_document_id=None,
        results=[ResultInput(k, v) for k, v in results.items()],
    )


async def _revise(runtime: Runtime, actor: Actor, lot_id: int, **changes: str) -> int:
    async with provide_services(runtime, actor) as s:
        lot = await s.lots.get(actor, lot_id)
        submission = replace(
            revision(lot.lot_number, {**GOOD, **changes}), coa_document_id=lot.coa_document_id
        )
        revised = await s.lots.revise(actor, lot_id, submission, "typo in MFI", lot.version)
        return revised.version


async def _events(runtime: Runtime, action: str, record_id: int | None = None) -> int:
    async with runtime.sessions() as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        if record_id is not None:
            query = query.where(AuditEvent.record_id == record_id)
        return int(await session.scalar(query) or 0)


@pytest.mark.req("P11-06")
@pytest.mark.req("P11-05")
async def test_revision_keeps_earlier_versions_and_records_old_and_new(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    lot_id = await new_lot(runtime, anna, "T-REV-1", GOOD)
    async with provide_services(runtime, anna) as s:
        await s.lots.sign_submission(anna, lot_id, ANNA, 1)
    version = await _revise(runtime, anna, lot_id, MFI="11.9")
    assert version == 3
    async with provide_services(runtime, anna) as s:
        lot = await s.lots.get(anna, lot_id)
        # A person's correction of a submitted lot needs the supplier's signature again.
        assert lot.status == "draft"
        view = await s.records.record(anna, "supplier_lot", lot_id)
        assert view.revised
        first = view.version(1)
        assert next(r for r in first.content["results"] if r["code"] == "MFI")["value"] == "10.1"
        assert next(r for r in view.current.content["results"] if r["code"] == "MFI")["value"] == (
            "11.9"
        )
        changes = {c.field: (c.old, c.new) for c in view.changes(3)}
        assert changes["results[MFI].value"] == ("10.1", "11.9")
        assert changes["status"] == ("submitted", "draft")
        assert view.current.reason == "typo in MFI" and view.current.action == "revise"
        # the supplier's signature was on v1: valid, but for an earlier version
        (sig,) = view.signatures
        assert sig.valid and not sig.covers_current
        event = await s.session.scalar(
            select(AuditEvent).where(
                AuditEvent.record_id == lot_id,
                AuditEvent.record_type == "supplier_lot",
                AuditEvent.action == "revise",
            )
        )
        assert event is not None
        assert (event.actor_name, event.channel, event.version) == ("Anna Schmidt", "ui", 3)
        assert event.reason == "typo in MFI"
        assert event.old_values is not None and event.new_values is not None
        assert event.record_sha256 == view.current.content_sha256


@pytest.mark.req("A11-06")
@pytest.mark.req("P11-08")
async def test_bad_revisions_are_refused_and_change_nothing(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    qa = await user(runtime, "qa@traceport.example")
    sam = await user(runtime, "sam@steripro.example")
    lot_id = await new_lot(runtime, anna, "T-REV-2", GOOD)
    before = await _events(runtime, "revise")
    async with provide_services(runtime, anna) as s:
        lot = await s.lots.get(anna, lot_id)
        ok = replace(revision("T-REV-2", {**GOOD, "MFI": "9"}), coa_document_id=lot.coa_document_id)
        with pytest.raises(ValidationFailed) as no_reason:
            await s.lots.revise(anna, lot_id, ok, "  ", 1)
        assert "reason" in no_reason.value.errors
        with pytest.raises(ValidationFailed) as renamed:
            await s.lots.revise(anna, lot_id, replace(ok, lot_number="T-REV-X"), "why", 1)
        assert "cannot be revised" in renamed.value.errors["lot_number"]
        same = replace(revision("T-REV-2", GOOD), coa_document_id=lot.coa_document_id)
        with pytest.raises(ValidationFailed, match="Nothing was changed"):
            await s.lots.revise(anna, lot_id, same, "why", 1)
        bad = replace(ok, results=[ResultInput("MFI", "lots")])
        with pytest.raises(ValidationFailed):
            await s.lots.revise(anna, lot_id, bad, "why", 1)
        with pytest.raises(Conflict, match="changed while you were looking"):
            await s.lots.revise(anna, lot_id, ok, "why", 7)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(PermissionDenied):
            await s.lots.revise(qa, lot_id, ok, "why", 1)
    async with provide_services(runtime, sam) as s:
        with pytest.raises(NotFound):
            await s.lots.revise(sam, lot_id, ok, "why", 1)
    async with provide_services(runtime, anna) as s:
        lot = await s.lots.get(anna, lot_id)
        assert lot.version == 1 and lot.results[0].value_text == "10.1"
        assert len(await s.keeper.versions("supplier_lot", lot_id)) == 1
    assert await _events(runtime, "revise") == before


@pytest.mark.req("DI-04")
async def test_voided_lot_is_kept_and_retrievable(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    qa = await user(runtime, "qa@traceport.example")
    lot_id = await new_lot(runtime, anna, "T-VOID-1", GOOD)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(ValidationFailed, match="why the lot is voided"):
            await s.lots.void(anna, lot_id, "", 1)
        lot = await s.lots.void(anna, lot_id, "entered twice", 1)
        assert (lot.status, lot.version) == ("voided", 2)
    async with provide_services(runtime, qa) as s:
        assert lot_id not in [x.id for x in await s.lots.review_queue(qa)]
        view = await s.records.record(qa, "supplier_lot", lot_id)
        assert view.voided and view.current.reason == "entered twice"
        assert view.version(1).status == "draft"
        with pytest.raises(Conflict, match="voided cannot be approved"):
            await s.lots.decide(qa, lot_id, "approve", QA, "", 2)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(Conflict, match="cannot be voided"):
            await s.lots.void(anna, lot_id, "again", 2)


@pytest.mark.req("A11-06")
@pytest.mark.req("P11-09")
async def test_revised_lot_needs_a_signed_audit_trail_review_before_approval(
    runtime: Runtime,
) -> None:
    client_actor = await _client(runtime, "acme-edi")
    qa = await user(runtime, "qa@traceport.example")
    lot_id = await new_lot(runtime, client_actor, "T-AUD-1", GOOD)
    version = await _revise(runtime, client_actor, lot_id, MOIST="0.04")
    async with provide_services(runtime, qa) as s:
        lot = await s.lots.get(qa, lot_id)
        assert lot.status == "submitted"  # a machine's correction stays submitted
        with pytest.raises(Conflict, match="review its audit trail"):
            await s.lots.decide(qa, lot_id, "approve", QA, "", version)
    async with provide_services(runtime, qa) as s:
        await s.lots.sign_audit_review(qa, lot_id, QA, version, "history checked")
    async with provide_services(runtime, qa) as s:
        detail = await s.lots.detail(qa, lot_id)
        assert detail.audit_trail_reviewed and not detail.needs_audit_review
        # reviewing the audit trail is not taking part in the submission: QA may approve
        lot = await s.lots.decide(qa, lot_id, "approve", QA, "", version)
        assert lot.status == "approved"
        meanings = [x.meaning for x in (await s.lots.detail(qa, lot_id)).signatures]
        assert meanings == ["audit trail reviewed", "approved"]


async def _client(runtime: Runtime, client_id: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_client(await s.identity.client_by_id(client_id))


async def _web_actor(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system("ui")) as s:
        found, _token, web_session = await s.identity.login(email, DEMO_PASSWORD)
        return replace(actor_for_user(found, "ui"), session_id=web_session.id)


@pytest.mark.req("P11-20")
@pytest.mark.req("P11-21")
async def test_continuous_session_rule(runtime: Runtime) -> None:
    anna = await _web_actor(runtime, ANNA_EMAIL)
    first = await new_lot(runtime, anna, "T-CS-1", GOOD)
    second = await new_lot(runtime, anna, "T-CS-2", GOOD)
    third = await new_lot(runtime, anna, "T-CS-3", GOOD)
    password_only = SigningCredentials(DEMO_PASSWORD)
    async with provide_services(runtime, anna) as s:
        assert (await s.identity.signing_requirements(anna)).user_id
        with pytest.raises(ValidationFailed) as missing:
            await s.lots.sign_submission(anna, first, password_only, 1)
        assert "user ID" in missing.value.errors["user_id"]
    assert await _events(runtime, "signature_refused") >= 1
    async with provide_services(runtime, anna) as s:
        wrong_id = SigningCredentials(DEMO_PASSWORD, "sam@steripro.example")
        with pytest.raises(AuthenticationFailed, match="user ID is not correct"):
            await s.lots.sign_submission(anna, first, wrong_id, 1)
    async with provide_services(runtime, anna) as s:
        assert (await s.session.get(User, anna.id)).failed_attempts == 1  # type: ignore[union-attr]
        await s.lots.sign_submission(anna, first, ANNA, 1)
    async with provide_services(runtime, anna) as s:
        # within the series: the password alone signs
        assert not (await s.identity.signing_requirements(anna)).user_id
        await s.lots.sign_submission(anna, second, password_only, 1)
    async with provide_services(runtime, anna) as s:
        web_session = await s.session.get(WebSession, anna.session_id)
        assert web_session is not None and web_session.signatures == 2
        web_session.last_signature_at = web_session.last_signature_at - dt.timedelta(minutes=6)  # type: ignore[operator]
        await s.session.commit()
    async with provide_services(runtime, anna) as s:
        # after the signing idle limit every component is needed again
        with pytest.raises(ValidationFailed):
            await s.lots.sign_submission(anna, third, password_only, 1)
        await s.lots.sign_submission(anna, third, ANNA, 1)


@pytest.mark.req("P11-20")
@pytest.mark.req("P11-26")
async def test_totp_is_verified_at_enrolment_and_required_for_signing(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    secret = new_secret()
    async with provide_services(runtime, anna) as s:
        with pytest.raises(ValidationFailed, match="code does not match"):
            await s.identity.enroll_totp(anna, secret, "000000", DEMO_PASSWORD)
        with pytest.raises(AuthenticationFailed):
            await s.identity.enroll_totp(anna, secret, code_at(secret, time.time()), "wrong")
    async with provide_services(runtime, anna) as s:
        assert (await s.session.get(User, anna.id)).totp_secret is None  # type: ignore[union-attr]
        await s.identity.enroll_totp(anna, secret, code_at(secret, time.time() - 30), DEMO_PASSWORD)
    lot_id = await new_lot(runtime, anna, "T-TOTP-1", GOOD)
    async with provide_services(runtime, anna) as s:
        assert (await s.identity.signing_requirements(anna)).totp
        with pytest.raises(ValidationFailed) as missing:
            await s.lots.sign_submission(anna, lot_id, ANNA, 1)
        assert "authenticator" in missing.value.errors["totp"]
    async with provide_services(runtime, anna) as s:
        with pytest.raises(AuthenticationFailed, match="one-time code is not correct"):
            await s.lots.sign_submission(anna, lot_id, replace(ANNA, totp="123456"), 1)
    async with provide_services(runtime, anna) as s:
        code = code_at(secret, time.time())
        await s.lots.sign_submission(anna, lot_id, replace(ANNA, totp=code), 1)
    other = await new_lot(runtime, anna, "T-TOTP-2", GOOD)
    async with provide_services(runtime, anna) as s:
        # the same code twice is a replay
        with pytest.raises(AuthenticationFailed, match="one-time code"):
            await s.lots.sign_submission(anna, other, replace(ANNA, totp=code), 1)


@pytest.mark.req("DI-01")
async def test_machine_clients_cannot_sign_or_review(runtime: Runtime) -> None:
    client_actor = await _client(runtime, "acme-edi")
    lot_id = await new_lot(runtime, client_actor, "T-MC-1", GOOD)
    async with provide_services(runtime, client_actor) as s:
        with pytest.raises(PermissionDenied, match="machine clients cannot"):
            await s.lots.sign_submission(client_actor, lot_id, ANNA, 1)
        with pytest.raises(PermissionDenied):
            await s.audit_trail.sign_review(client_actor, parse_filter(), ANNA)


@pytest.mark.req("P11-17")
async def test_signature_on_tampered_version_reads_invalid(runtime: Runtime, backend: str) -> None:
    from sqlalchemy import text

    anna = await user(runtime, ANNA_EMAIL)
    lot_id = await new_lot(runtime, anna, "T-SIG-1", GOOD)
    async with provide_services(runtime, anna) as s:
        await s.lots.sign_submission(anna, lot_id, ANNA, 1)
    async with runtime.sessions() as session:
        if backend == "postgresql":
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await session.execute(text("DROP TRIGGER record_versions_no_update"))
        await session.execute(
            text(
                "UPDATE record_versions SET status = 'approved' "
                "WHERE record_type = 'supplier_lot' AND record_id = :i AND version = 1"
            ),
            {"i": lot_id},
        )
        services_actor = Actor.system()
        from trace_core.services import Services

        view = await Services(runtime, session, services_actor).records.record(
            services_actor, "supplier_lot", lot_id
        )
        assert [x.valid for x in view.signatures] == [False]
        await session.rollback()


@pytest.mark.req("P11-05")
@pytest.mark.req("A11-06")
async def test_audit_trail_filter_and_signed_review(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    qa = await user(runtime, "qa@traceport.example")
    lot_id = await new_lot(runtime, anna, "T-TRAIL-1", GOOD)
    async with provide_services(runtime, qa) as s:
        by_record = parse_filter("supplier_lot", str(lot_id))
        events = await s.audit_trail.events(qa, by_record)
        assert [e.action for e in events] == ["create"]
        assert await s.audit_trail.count(qa, parse_filter(actor="anna", action="create")) >= 1
        today = dt.datetime.now(dt.UTC).date().isoformat()
        assert await s.audit_trail.count(qa, parse_filter(since=today, until=today)) >= 1
        assert (
            await s.audit_trail.count(qa, parse_filter(since="2000-01-01", until="2000-01-02")) == 0
        )
        with pytest.raises(ValidationFailed) as bad:
            parse_filter(record_id="x", since="yesterday")
        assert set(bad.value.errors) == {"record_id", "since"}
        with pytest.raises(ValidationFailed, match="nothing to review"):
            await s.audit_trail.sign_review(qa, parse_filter(action="no-such-action"), QA)
    async with provide_services(runtime, qa) as s:
        review = await s.audit_trail.sign_review(qa, by_record, QA, "all fine")
        assert (review.event_count, review.first_seq) == (1, events[0].seq)
    async with provide_services(runtime, qa) as s:
        view = await s.records.record(qa, "audit_review", review.id)
        assert [(x.meaning, x.printed_name, x.valid) for x in view.signatures] == [
            ("audit trail reviewed", "Quinn Avery", True)
        ]
        assert view.current.content["events_sha256"] == review.events_sha256
    async with provide_services(runtime, anna) as s:
        with pytest.raises(PermissionDenied):
            await s.audit_trail.events(anna, by_record)
        with pytest.raises(NotFound):
            await s.records.record(anna, "audit_review", review.id)
        with pytest.raises(NotFound):
            await s.records.record(anna, "user", anna.id or 0)


@pytest.mark.req("P11-04")
async def test_record_views_are_scoped(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    sam = await user(runtime, "sam@steripro.example")
    lot_id = await new_lot(runtime, anna, "T-SCOPE-1", GOOD)
    async with provide_services(runtime, anna) as s:
        view = await s.records.record(anna, "supplier_lot", lot_id)
        assert view.documents and view.documents[0].id == view.current.content["coa_document"]["id"]
        with pytest.raises(NotFound, match="no version 9"):
            view.version(9)
    async with provide_services(runtime, sam) as s:
        for record_type, record_id in (
            ("supplier_lot", lot_id),
            ("document", view.documents[0].id),
            ("shipment", 1),
            ("nonsense", 1),
        ):
            with pytest.raises(NotFound):
                await s.records.record(sam, record_type, record_id)


@pytest.mark.req("P11-01")
async def test_key_rotation_keeps_old_signatures_verifiable(
    runtime: Runtime, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "server.pem"
    runtime.signing_key.write_pem(key_file)
    old_id, new_id = await rotate_signing_key(runtime, key_file, Actor.system())
    new_key = ServerSigningKey.load(key_file)
    assert new_key.key_id == new_id != old_id
    assert (tmp_path / "keys" / f"server.{old_id}.retired.pem").exists()
    rotated = replace(runtime, signing_key=new_key)
    anna = await user(rotated, ANNA_EMAIL)
    lot_id = await new_lot(rotated, anna, "T-ROT-1", GOOD)
    async with provide_services(rotated, anna) as s:
        await s.lots.sign_submission(anna, lot_id, ANNA, 1)
    async with runtime.sessions() as session:
        # trusting only the new key: the old one is trusted through the rotation event
        report = await verify_records(session, [new_key.public_pem])
        assert report.ok, report.summary_lines()
        assert set(report.trusted_keys) >= {old_id, new_id}
        rows = await session.scalars(select(RecordVersion.id))
        assert list(rows)


@pytest.mark.req("P11-15")
async def test_a_meaning_outside_the_controlled_list_is_refused(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    lot_id = await new_lot(runtime, anna, "T-MEAN-1", GOOD)
    async with provide_services(runtime, anna) as s:
        version = await s.keeper.latest_version("supplier_lot", lot_id)
        signer = await s.session.get(User, anna.id)
        assert version is not None and signer is not None
        with pytest.raises(ValidationFailed, match="is not a signature meaning"):
            await s.keeper.sign(version, signer, "looks fine to me")
        await s.keeper.rollback()
        assert await s.keeper.signatures("supplier_lot", lot_id) == []


@pytest.mark.req("P11-25")
@pytest.mark.req("P11-20")
async def test_failed_signing_attempts_lock_the_account(runtime: Runtime) -> None:
    anna = await user(runtime, ANNA_EMAIL)
    lot_id = await new_lot(runtime, anna, "T-LOCK-1", GOOD)
    for _ in range(5):
        async with provide_services(runtime, anna) as s:
            with pytest.raises(AuthenticationFailed):
                await s.lots.sign_submission(anna, lot_id, replace(ANNA, password="nope"), 1)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(AuthenticationFailed, match="disabled or locked"):
            await s.lots.sign_submission(anna, lot_id, ANNA, 1)
        locked = await s.session.get(User, anna.id)
        assert locked is not None and locked.locked_at is not None
    assert await _events(runtime, "account_locked", anna.id) == 1


@pytest.mark.req("P11-01")
async def test_versions_of_many_records_at_once_need_a_reason_and_chain_each_record(
    runtime: Runtime, signing_key: ServerSigningKey
) -> None:
    """``write_versions`` (a recall's thousands of lots): without a reason nothing is written;
    with one, each record gets the version after its own latest, chained to it, with its own
    audit event, and a record with no version yet starts at 1."""
    system = Actor.system()

    async def counts() -> tuple[int, int]:
        async with runtime.sessions() as session:
            versions = await session.scalar(select(func.count()).select_from(RecordVersion))
            events = await session.scalar(select(func.count()).select_from(AuditEvent))
        return versions or 0, events or 0

    before = await counts()
    async with provide_services(runtime, system) as s:
        with pytest.raises(ValidationFailed, match="Say why"):
            await s.keeper.write_versions(
                "internal_lot", [(1, "quarantine", {"a": 1})], action="status", reason="  "
            )
    assert await counts() == before
    async with provide_services(runtime, system) as s:
        latest = {
            record_id: await s.keeper.latest_version("internal_lot", record_id)
            for record_id in (1, 2, 987_654)
        }
        assert latest[1] is not None and latest[987_654] is None
        written = await s.keeper.write_versions(
            "internal_lot",
            [(record_id, "quarantine", {"n": record_id}) for record_id in latest],
            action="status",
            reason="batch test",
        )
        await s.keeper.commit()
    for row in written:
        previous = latest[row.record_id]
        assert row.version == (previous.version + 1 if previous else 1)
        assert row.prev_sha256 == (previous.content_sha256 if previous else None)
        assert row.reason == "batch test"
    assert await counts() == (before[0] + 3, before[1] + 3)
    async with runtime.sessions() as session:
        report = await verify_records(session, [signing_key.public_pem])
    assert report.ok, report.summary_lines()
