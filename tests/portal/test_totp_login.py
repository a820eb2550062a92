"""The second factor over real HTTP (P11-26): password then code at sign-in, wrong and
replayed codes, recovery codes (once each, for signing too, regenerated), the sealed ticket
between the two steps, and the policy that holds signers on the enrolment page."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from portal.app import create_app
from portal.second_factor import TICKET_COOKIE, LoginTicket
from portal.settings import Settings
from tests.conftest import TOKEN_KEY, Browser
from tests.portal.test_records_http import ANNA, QA, audit_count, submit_draft
from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.models import User
from trace_core.identity.service import LOGIN_FAILED
from trace_core.identity.totp import code_at
from trace_core.records.models import AuditEvent
from trace_core.services import Runtime

OPS = "ops@traceport.example"
CODE = re.compile(r"<code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code>")


@pytest.fixture
async def policy_client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An app with the second-factor policy on, for its default roles."""
    roles = Settings.from_env({}).limits.totp_required_roles
    tuned = replace(runtime, limits=replace(runtime.limits, totp_required_roles=roles))
    app = create_app(Settings.from_env({"TRACEPORT_VAR_DIR": str(tmp_path)}), runtime=tuned)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def enrol(browser: Browser, email: str = ANNA) -> tuple[str, list[str]]:
    """Sign in, enrol an authenticator and sign out; returns the secret and recovery codes."""
    assert (await browser.login(email)).status_code == 303
    page = await browser.get("/account/security")
    found = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text)
    assert found, page.text
    secret = found.group(1)
    enrolled = await browser.post(
        "/account/totp",
        {"secret": secret, "code": code_at(secret, time.time()), "password": DEMO_PASSWORD},
    )
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.headers["cache-control"] == "no-store"
    codes = CODE.findall(enrolled.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    # Shown once: the page never shows them again.
    assert not CODE.findall((await browser.get("/account/security")).text)
    await browser.post("/logout")
    return secret, codes


async def user_row(runtime: Runtime, email: str) -> User:
    async with runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.email_key == email))
        assert user is not None
        return user


async def last_event(runtime: Runtime, action: str) -> AuditEvent:
    async with runtime.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
        )
        assert event is not None
        return event


@pytest.mark.req("P11-26")
@pytest.mark.req("P11-25")
async def test_password_then_code_wrong_right_and_replayed(
    browser: Browser, runtime: Runtime
) -> None:
    secret, _ = await enrol(browser)
    # A wrong password answers exactly as for anyone else (no hint of the second factor).
    wrong_password = await browser.login(ANNA, "not-the-password")
    assert wrong_password.status_code == 401 and LOGIN_FAILED in wrong_password.text
    assert "/login/totp" not in wrong_password.text

    step = await browser.login(ANNA)
    assert step.status_code == 303 and step.headers["location"] == "/login/totp"
    set_cookie = step.headers["set-cookie"]
    assert set_cookie.startswith(f"{TICKET_COOKIE}=") and "traceport_session" not in set_cookie
    assert "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower()
    assert "Path=/login/totp" in set_cookie and "Max-Age=300" in set_cookie
    # No session yet: a page still asks to sign in.
    assert (await browser.get("/supplier")).headers["location"].startswith("/login?next=")
    form = await browser.get("/login/totp")
    assert form.status_code == 200 and 'name="code"' in form.text

    failed_before = await audit_count(runtime, "login_failed")
    wrong = await browser.post("/login/totp", {"code": "000000"})
    assert wrong.status_code == 401 and "code is not correct" in wrong.text
    assert await audit_count(runtime, "login_failed") == failed_before + 1
    # The wrong password above counts too: only a complete sign-in resets the count.
    assert (await last_event(runtime, "login_failed")).new_values == {
        "failed_attempts": 2,
        "detail": "wrong one-time code",
    }
    assert (await user_row(runtime, ANNA)).failed_attempts == 2

    # Enrolment spent the current step; the next one is within the accepted drift.
    code = code_at(secret, time.time() + 30)
    right = await browser.post("/login/totp", {"code": code})
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert (await browser.get("/supplier")).status_code == 200
    assert (await last_event(runtime, "login")).new_values == {"second_factor": "totp"}
    assert (await user_row(runtime, ANNA)).failed_attempts == 0

    await browser.post("/logout")
    assert (await browser.login(ANNA)).status_code == 303
    replayed = await browser.post("/login/totp", {"code": code})
    assert replayed.status_code == 401 and "code is not correct" in replayed.text


@pytest.mark.req("P11-26")
@pytest.mark.req("P11-25")
async def test_wrong_codes_lock_the_account(browser: Browser, runtime: Runtime) -> None:
    secret, _ = await enrol(browser)
    assert (await browser.login(ANNA)).status_code == 303
    for _ in range(runtime.limits.max_failed_logins):
        assert (await browser.post("/login/totp", {"code": "123456"})).status_code == 401
    assert (await user_row(runtime, ANNA)).locked_at is not None
    locked = await browser.post("/login/totp", {"code": code_at(secret, time.time() + 30)})
    assert locked.status_code == 401 and LOGIN_FAILED in locked.text


@pytest.mark.req("P11-26")
async def test_recovery_code_works_once_at_login_and_for_signing(
    browser: Browser, runtime: Runtime
) -> None:
    _, codes = await enrol(browser)
    assert (await browser.login(ANNA)).status_code == 303
    used = await browser.post("/login/totp", {"code": codes[0].upper()})
    assert used.status_code == 303
    assert (await last_event(runtime, "login")).new_values == {"second_factor": "recovery_code"}
    assert (await last_event(runtime, "recovery_code_used")).new_values == {"codes_left": 9}
    assert "Unused recovery codes: 9." in (await browser.get("/account/security")).text

    await browser.post("/logout")
    assert (await browser.login(ANNA)).status_code == 303
    again = await browser.post("/login/totp", {"code": codes[0]})
    assert again.status_code == 401
    assert (await browser.post("/login/totp", {"code": codes[1]})).status_code == 303

    lot_id = await submit_draft(browser, "H-RECOVERY-1")
    signed = await browser.post(
        f"/supplier/lots/{lot_id}/sign",
        {"version": "1", "password": DEMO_PASSWORD, "user_id": ANNA, "totp": codes[2]},
    )
    assert signed.status_code == 303, signed.text
    lot_2 = await submit_draft(browser, "H-RECOVERY-2")
    reused = await browser.post(
        f"/supplier/lots/{lot_2}/sign",
        {"version": "1", "password": DEMO_PASSWORD, "totp": codes[2]},
    )
    assert reused.status_code in (401, 422) and "one-time code" in reused.text


@pytest.mark.req("P11-26")
async def test_regenerating_recovery_codes_invalidates_the_old_ones(
    browser: Browser, runtime: Runtime
) -> None:
    secret, old = await enrol(browser)
    assert (await browser.login(ANNA)).status_code == 303
    assert (
        await browser.post("/login/totp", {"code": code_at(secret, time.time() + 30)})
    ).status_code == 303
    refused = await browser.post("/account/recovery-codes", {"password": "wrong-password"})
    assert refused.status_code == 422 and not CODE.findall(refused.text)
    fresh_page = await browser.post("/account/recovery-codes", {"password": DEMO_PASSWORD})
    fresh = CODE.findall(fresh_page.text)
    assert fresh_page.status_code == 200 and len(fresh) == 10 and not set(fresh) & set(old)
    assert await audit_count(runtime, "recovery_codes_regenerated") >= 1

    await browser.post("/logout")
    assert (await browser.login(ANNA)).status_code == 303
    assert (await browser.post("/login/totp", {"code": old[0]})).status_code == 401
    assert (await browser.post("/login/totp", {"code": fresh[0]})).status_code == 303


@pytest.mark.req("P11-26")
async def test_forged_expired_or_missing_ticket_starts_over(
    browser: Browser, runtime: Runtime
) -> None:
    secret, _ = await enrol(browser)
    anna = await user_row(runtime, ANNA)
    assert (await browser.get("/login/totp")).status_code == 401
    assert (await browser.login(ANNA)).status_code == 303
    sealed = browser.http.cookies.get(TICKET_COOKIE)
    assert sealed
    code = code_at(secret, time.time() + 30)

    def use_ticket(value: str) -> None:
        browser.http.cookies.delete(TICKET_COOKIE)
        browser.http.cookies.set(TICKET_COOKIE, value)

    use_ticket(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"))
    forged = await browser.post("/login/totp", {"code": code})
    assert forged.status_code == 401 and LOGIN_FAILED in forged.text
    expired = LoginTicket(anna.id, "/", int(time.time()) - 1).seal(TOKEN_KEY)
    use_ticket(expired)
    assert (await browser.post("/login/totp", {"code": code})).status_code == 401
    other_key = LoginTicket(anna.id, "/", int(time.time()) + 60).seal(b"another-secret-key")
    use_ticket(other_key)
    assert (await browser.post("/login/totp", {"code": code})).status_code == 401
    # Nothing of that opened a session, and the code is still unspent.
    assert (await browser.get("/supplier")).status_code == 303
    use_ticket(LoginTicket(anna.id, "/supplier", int(time.time()) + 60).seal(TOKEN_KEY))
    done = await browser.post("/login/totp", {"code": code})
    assert done.status_code == 303 and done.headers["location"] == "/supplier"


@pytest.mark.req("P11-26")
async def test_policy_holds_a_signer_on_the_security_page_until_enrolled(
    policy_client: httpx.AsyncClient,
) -> None:
    anna = Browser(policy_client)
    assert (await anna.login(ANNA)).status_code == 303
    for path in ("/", "/supplier", "/account/password?x=1"):
        response = await anna.get(path)
        if path.startswith("/account/password"):
            assert response.status_code == 200
            continue
        assert response.status_code == 303, path
        assert response.headers["location"] == "/account/security", path
    htmx = await anna.get("/supplier", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/account/security"
    page = await anna.get("/account/security")
    assert page.status_code == 200 and "requires an authenticator app" in page.text
    assert "supplier_signer" in page.text

    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text)
    assert secret
    enrolled = await anna.post(
        "/account/totp",
        {
            "secret": secret.group(1),
            "code": code_at(secret.group(1), time.time()),
            "password": DEMO_PASSWORD,
        },
    )
    assert enrolled.status_code == 200 and "requires an authenticator" not in enrolled.text
    assert (await anna.get("/supplier")).status_code == 200

    qa = Browser(
        httpx.AsyncClient(transport=policy_client._transport, base_url="http://testserver")
    )
    async with qa.http:
        await qa.login(QA)
        assert (await qa.get("/internal")).headers["location"] == "/account/security"

    ops = Browser(
        httpx.AsyncClient(transport=policy_client._transport, base_url="http://testserver")
    )
    async with ops.http:
        await ops.login(OPS)
        assert (await ops.get("/internal")).status_code == 200
        assert "requires an authenticator" not in (await ops.get("/account/security")).text


def test_policy_setting() -> None:
    assert Settings.from_env({}).limits.totp_required_roles == (
        "qa_approver",
        "supplier_signer",
        "cm_signer",
    )
    assert Settings.from_env({"TRACEPORT_TOTP_REQUIRED_ROLES": ""}).limits.totp_required_roles == ()
    one = Settings.from_env({"TRACEPORT_TOTP_REQUIRED_ROLES": " qa_approver ,"})
    assert one.limits.totp_required_roles == ("qa_approver",)
    with pytest.raises(ValueError, match="qa_aprover"):
        Settings.from_env({"TRACEPORT_TOTP_REQUIRED_ROLES": "qa_aprover"})
