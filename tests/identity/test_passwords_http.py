"""A person's own password over HTTP: self-service reset by e-mailed single-use link (the
answer never tells whether an address has an account), aging that forces a change, and no way
at all to set somebody else's password."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from litestar import Litestar
from sqlalchemy import select, update

from portal.app import create_app
from portal.settings import Settings
from tests.conftest import Browser
from tests.identity.conftest import (
    ADMIN,
    STRONG,
    STRONGER,
    AppMaker,
    SmtpServer,
    new_client,
    signed_in,
)
from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.credentials import password_expired
from trace_core.identity.models import User
from trace_core.identity.onboarding import LINK_NOT_VALID
from trace_core.identity.onboarding_models import PasswordReset
from trace_core.mail import OutboxMailer, SmtpMailer
from trace_core.records.models import AuditEvent
from trace_core.services import Limits, Runtime

ANNA = "anna@acme-polymers.example"
SAM = "sam@steripro.example"


async def outcomes(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "password_reset_requested")
            .order_by(AuditEvent.seq)
        )
        return [str(e.new_values["outcome"]) for e in rows]


async def set_user(runtime: Runtime, email: str, **values: object) -> None:
    async with runtime.sessions() as session:
        await session.execute(update(User).where(User.email_key == email).values(**values))
        await session.commit()


@pytest.mark.req("P11-22")
async def test_reset_answers_alike_and_mails_only_the_accounts_own_address(
    make_client: AppMaker, smtp_mailer: SmtpMailer, smtp_server: SmtpServer, runtime: Runtime
) -> None:
    http = await make_client(smtp_mailer)
    browser = Browser(http)
    await set_user(runtime, SAM, active=False)
    form = await browser.get("/password/forgot")
    assert form.status_code == 200 and 'name="email"' in form.text
    answers = []
    for email in ("nobody@acme-polymers.example", SAM, ANNA.upper()):
        response = await browser.post("/password/forgot", {"email": email})
        answers.append((response.status_code, response.text))
    assert {status for status, _ in answers} == {200}
    assert len({text for _, text in answers}) == 1 and "Check your e-mail" in answers[0][1]
    # Only the active account got mail, at its own address; unknown and disabled got nothing.
    assert [m["To"] for m in smtp_server.mailbox.messages] == [ANNA]
    assert await outcomes(runtime) == ["no active account", "no active account", "link sent"]
    link = smtp_server.mailbox.link(ANNA, "/password/reset/")

    async with new_client(http) as anna_http:
        anna = await signed_in(anna_http, ANNA, DEMO_PASSWORD)
        page = await browser.get(link)
        assert page.status_code == 200 and ANNA in page.text
        weak = await browser.post(link, {"password": "anna-2024-xyz!", "password_again": "x"})
        assert weak.status_code == 422 and "must not contain your user name" in weak.text
        same = await browser.post(
            link, {"password": DEMO_PASSWORD, "password_again": DEMO_PASSWORD}
        )
        assert same.status_code == 422 and "different from your current one" in same.text
        done = await browser.post(link, {"password": STRONGER, "password_again": STRONGER})
        assert done.status_code == 200 and "Your password was changed" in done.text
        # Using the link ended her other sessions.
        assert (await anna.get("/supplier")).status_code == 303
    reused = await browser.post(link, {"password": STRONG, "password_again": STRONG})
    assert reused.status_code == 410 and LINK_NOT_VALID in reused.text
    assert (await browser.login(ANNA, DEMO_PASSWORD)).status_code == 401
    assert (await browser.login(ANNA, STRONGER)).status_code == 303


async def test_an_expired_reset_link_is_refused_and_a_locked_account_is_not_unlocked(
    make_client: AppMaker, outbox: OutboxMailer, runtime: Runtime
) -> None:
    http = await make_client(outbox)
    browser = Browser(http)
    assert (await browser.post("/password/forgot", {"email": ANNA})).status_code == 200
    token = next(outbox.folder.glob("*.eml")).read_text().split("/password/reset/")[1].split()[0]
    async with runtime.sessions() as session:
        await session.execute(
            update(PasswordReset).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        )
        await session.commit()
    expired = await browser.get(f"/password/reset/{token}")
    assert expired.status_code == 410 and LINK_NOT_VALID in expired.text
    await set_user(runtime, ANNA, locked_at=dt.datetime.now(dt.UTC))
    assert (await browser.post("/password/forgot", {"email": ANNA})).status_code == 200
    notices = [p.read_text() for p in sorted(outbox.folder.glob("*.eml"))]
    assert len(notices) == 2 and "A password reset does not" in notices[1]
    assert "/password/reset/" not in notices[1]
    # Mail flooding: at most three requests per account and hour get a mail; the rest get
    # the same answer and nothing is sent.
    for _ in range(3):
        assert (await browser.post("/password/forgot", {"email": ANNA})).status_code == 200
    assert len(list(outbox.folder.glob("*.eml"))) == 3
    assert (await outcomes(runtime))[-2:] == ["too many requests", "too many requests"]


@pytest.mark.req("P11-23")
async def test_an_expired_password_must_be_changed_before_anything_else(
    make_client: AppMaker, outbox: OutboxMailer, runtime: Runtime
) -> None:
    http = await make_client(outbox, password_max_age_days=90)
    await set_user(
        runtime, ANNA, password_changed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
    )
    anna = await signed_in(http, ANNA, DEMO_PASSWORD)
    for path in ("/supplier", "/supplier/lots/new", "/records/supplier_lot/1", "/"):
        held = await anna.get(path)
        assert held.status_code == 303 and held.headers["location"] == "/account/password", path
    htmx = await anna.get("/supplier", headers={"hx-request": "true"})
    assert htmx.headers.get("hx-redirect") == "/account/password"
    page = await anna.get("/account/password")
    assert page.status_code == 200 and "older than 90 days" in page.text
    wrong = await anna.post(
        "/account/password",
        {"current_password": "not-it", "password": STRONG, "password_again": STRONG},
    )
    assert wrong.status_code == 422 and "current password is not correct" in wrong.text
    weak = await anna.post(
        "/account/password",
        {"current_password": DEMO_PASSWORD, "password": "qwertyuiop12", "password_again": "x"},
    )
    assert weak.status_code == 422 and "keyboard" in weak.text
    changed = await anna.post(
        "/account/password",
        {"current_password": DEMO_PASSWORD, "password": STRONG, "password_again": STRONG},
    )
    assert changed.status_code == 303
    assert (await anna.get("/supplier")).status_code == 200
    async with runtime.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "password_changed")
        )
        failures = await session.scalar(select(User.failed_attempts).where(User.email_key == ANNA))
    assert event is not None and event.new_values == {"was_expired": True}
    assert failures == 0


@pytest.mark.req("P11-22")
async def test_no_route_sets_another_persons_password(
    make_client: AppMaker, outbox: OutboxMailer, admin: User, runtime: Runtime
) -> None:
    app = create_app(Settings.from_env({}), runtime=runtime)
    assert isinstance(app, Litestar)
    password_routes = sorted(
        route.path for route in app.routes if re.search(r"passw(or)?d", route.path)
    )
    # Only the owner's own change page and the e-mailed reset link set a password.
    assert password_routes == [
        "/account/password",
        "/password/forgot",
        "/password/reset/{token:str}",
    ]
    for route in app.routes:
        if route.path.startswith("/api/"):
            assert "user" not in route.path and "password" not in route.path, route.path
    http = await make_client(outbox)
    ada = await signed_in(http, ADMIN)
    async with runtime.sessions() as session:
        anna = await session.scalar(select(User).where(User.email_key == ANNA))
    assert anna is not None
    page = await ada.get(f"/internal/users/{anna.id}")
    assert page.status_code == 200 and 'type="password"' not in page.text
    # The change page only ever changes the signed-in person's own password.
    await ada.post(
        "/account/password",
        {
            "user_id": str(anna.id),
            "email": ANNA,
            "current_password": STRONG,
            "password": STRONGER,
            "password_again": STRONGER,
        },
    )
    assert (await Browser(http).login(ANNA, DEMO_PASSWORD)).status_code == 303
    async with new_client(http) as other:
        assert (await Browser(other).login(ADMIN, STRONGER)).status_code == 303


async def test_single_sign_on_accounts_have_no_password_to_reset_or_age(
    make_client: AppMaker, outbox: OutboxMailer, runtime: Runtime
) -> None:
    await set_user(runtime, ANNA, password_hash="!sso-only")
    http = await make_client(outbox)
    answer = await Browser(http).post("/password/forgot", {"email": ANNA})
    assert answer.status_code == 200 and "Check your e-mail" in answer.text
    assert not outbox.folder.exists() or not list(outbox.folder.glob("*.eml"))
    assert await outcomes(runtime) == ["single sign-on only"]
    async with runtime.sessions() as session:
        anna = await session.scalar(select(User).where(User.email_key == ANNA))
    assert anna is not None
    later = anna.password_changed_at + dt.timedelta(days=30)
    assert not password_expired(anna, Limits(password_max_age_days=1), now=later)
