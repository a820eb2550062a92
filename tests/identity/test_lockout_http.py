"""Lockout and login rate limits (P11-25): the fifth failure locks the account, records a
security alert and mails our administrators (a failing mail server changes nothing but an
audit row); too many failures from one address or for one user name answer 429 with
Retry-After, without telling whether the name exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import Browser
from tests.identity.conftest import (
    ADMIN,
    AppMaker,
    SmtpServer,
    free_port,
    new_client,
    signed_in,
)
from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.models import User
from trace_core.identity.service import LOGIN_FAILED
from trace_core.mail import OutboxMailer, SmtpMailer, mailer_from_url
from trace_core.records.models import AuditEvent
from trace_core.services import Runtime

QA = "qa@traceport.example"
ANNA = "anna@acme-polymers.example"


async def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        return list(rows)


@pytest.mark.req("P11-25")
async def test_lockout_records_a_security_alert_and_mails_the_admins(
    make_client: AppMaker,
    smtp_mailer: SmtpMailer,
    smtp_server: SmtpServer,
    admin: User,
    runtime: Runtime,
) -> None:
    http = await make_client(smtp_mailer)
    browser = Browser(http)
    for attempt in range(5):
        failed = await browser.login(QA, f"wrong-{attempt}")
        assert failed.status_code == 401 and LOGIN_FAILED in failed.text
    locked = await browser.login(QA, DEMO_PASSWORD)
    assert locked.status_code == 401 and LOGIN_FAILED in locked.text
    alerts = await events(runtime, "security_alert")
    assert [(a.record_type, a.new_values["kind"]) for a in alerts] == [("user", "account_locked")]
    assert len(await events(runtime, "account_locked")) == 1
    mails = smtp_server.mailbox.to(ADMIN)
    assert len(mails) == 1 and f"{QA} locked" in str(mails[0]["Subject"])
    body = mails[0].get_body(("plain",))
    assert body is not None and "after 5 failed attempts" in body.get_content()
    # every admin of our company: the demo's and this test's
    assert smtp_server.mailbox.envelopes[0][1] == ["admin@traceport.example", ADMIN]

    async with new_client(http) as admin_http:
        ada = await signed_in(admin_http, ADMIN)
        async with runtime.sessions() as session:
            qa_id = await session.scalar(select(User.id).where(User.email_key == QA))
        page = await ada.get(f"/internal/users/{qa_id}")
        assert "locked after failed attempts" in page.text
        unlocked = await ada.post(
            f"/internal/users/{qa_id}/unlock", {"reason": "Quinn mistyped; confirmed by phone"}
        )
        assert unlocked.status_code == 303
    assert (await browser.login(QA, DEMO_PASSWORD)).status_code == 303
    assert [e.reason for e in await events(runtime, "account_unlocked")] == [
        "Quinn mistyped; confirmed by phone"
    ]


@pytest.mark.req("P11-25")
async def test_a_failing_mail_server_does_not_fail_the_lockout(
    make_client: AppMaker, admin: User, runtime: Runtime, tmp_path: Path
) -> None:
    dead = mailer_from_url(f"smtp://127.0.0.1:{free_port()}?timeout=2", outbox=tmp_path / "outbox")
    http = await make_client(dead)
    browser = Browser(http)
    for attempt in range(5):
        assert (await browser.login(ANNA, f"wrong-{attempt}")).status_code == 401
    assert len(await events(runtime, "security_alert")) == 1
    failed = await events(runtime, "mail_failed")
    assert len(failed) == 1
    assert failed[0].new_values["to"] == ["admin@traceport.example", ADMIN]
    kept = Path(failed[0].new_values["kept_in"])
    assert kept.parent == tmp_path / "outbox" / "undelivered"
    assert kept.name in {p.name for p in kept.parent.iterdir()}


@pytest.mark.req("P11-25")
async def test_too_many_failures_from_one_address_answer_429_with_retry_after(
    make_client: AppMaker, outbox: OutboxMailer, runtime: Runtime
) -> None:
    http = await make_client(outbox, login_max_per_ip=3, login_window_seconds=120)
    browser = Browser(http)
    for n in range(3):
        response = await browser.login(f"guess{n}@acme-polymers.example", "Password1234")
        assert response.status_code == 401
    for _ in range(3):
        # Refused before the password is looked at: even the right one.
        throttled = await browser.login(ANNA, DEMO_PASSWORD)
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 120
        assert "Too many failed sign-in attempts" in throttled.text
    assert len(await events(runtime, "login_throttled")) == 1
    alerts = await events(runtime, "security_alert")
    assert [a.new_values["kind"] for a in alerts] == ["login_rate_limited"]
    assert len(await events(runtime, "login")) == 0


@pytest.mark.req("P11-25")
async def test_the_per_account_limit_answers_alike_for_real_and_unknown_names(
    make_client: AppMaker, outbox: OutboxMailer, runtime: Runtime
) -> None:
    http = await make_client(outbox, login_max_per_account=2, max_failed_logins=10)
    browser = Browser(http)
    answers = {}
    for email in (ANNA, "no.such.person@acme-polymers.example"):
        for _ in range(2):
            assert (await browser.login(email, "Wrong-password-1")).status_code == 401
        throttled = await browser.login(email, "Wrong-password-1")
        answers[email] = (throttled.status_code, throttled.text.replace(email, "EMAIL"))
    assert answers[ANNA] == answers["no.such.person@acme-polymers.example"]
    assert answers[ANNA][0] == 429
    async with runtime.sessions() as session:
        anna = await session.scalar(select(User).where(User.email_key == ANNA))
    assert anna is not None and anna.locked_at is None and anna.failed_attempts == 2
