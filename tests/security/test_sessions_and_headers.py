"""Sessions and security headers over real HTTP: the headers on every kind of answer, HSTS and
Secure cookies behind TLS, cookie flags, a fresh session token at every sign-in, the idle and
absolute timeouts, logout, and disabling a person ending their sessions at once (P11-24)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from portal.app import create_app
from portal.settings import Settings
from tests.conftest import Browser
from trace_core.identity.access import AccessService
from trace_core.identity.models import User, WebSession
from trace_core.identity.service import actor_for_user
from trace_core.services import Runtime, provide_services

ANNA = "anna@acme-polymers.example"


def check_page_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.req("P11-04")
async def test_security_headers_on_every_kind_of_answer(browser: Browser) -> None:
    anonymous = [
        await browser.get("/login"),
        await browser.get("/supplier", follow_redirects=False),
        await browser.get("/api/v1/parts"),
        await browser.get("/static/app.css"),
    ]
    for response in anonymous:
        check_page_headers(response)
        assert "strict-transport-security" not in response.headers  # no TLS in this app
    await browser.login(ANNA)
    page = await browser.get("/supplier")
    check_page_headers(page)
    missing = await browser.get("/supplier/lots/999999")
    assert missing.status_code == 404
    check_page_headers(missing)


async def _secure_client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.from_env(
        {"TRACEPORT_VAR_DIR": str(tmp_path), "TRACEPORT_SECURE_COOKIES": "true"}
    )
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


@pytest.mark.req("P11-24")
async def test_behind_tls_hsts_and_secure_cookies(runtime: Runtime, tmp_path: Path) -> None:
    async for http in _secure_client(runtime, tmp_path):
        page = await http.get("/login")
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        secure = Browser(http)
        response = await secure.login(ANNA)
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("traceport_session=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags


def _session_cookie(response: httpx.Response) -> tuple[str, set[str]]:
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("traceport_session=")
    )
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    return value, {part.strip().lower() for part in cookie.split(";")[1:]}


@pytest.mark.req("P11-24")
async def test_a_fresh_session_token_at_every_sign_in(client: httpx.AsyncClient) -> None:
    browser = Browser(client)
    client.cookies.set("traceport_session", "chosen-by-an-attacker")
    response = await browser.login(ANNA)
    assert response.status_code == 303
    first, flags = _session_cookie(response)
    assert first and first != "chosen-by-an-attacker"
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    client.cookies.clear()
    second, _ = _session_cookie(await browser.login(ANNA))
    assert second not in ("", first)
    # logging out ends the session for good: its token no longer opens a page
    await client.post("/logout", data={"_csrf_token": browser.csrf})
    client.cookies.clear()
    stale = await client.get(
        "/supplier", headers={"cookie": f"traceport_session={second}"}, follow_redirects=False
    )
    assert stale.status_code == 303


async def _age_session(runtime: Runtime, **delta: dt.timedelta) -> None:
    async with runtime.sessions() as session:
        user_id = await session.scalar(select(User.id).where(User.email_key == ANNA))
        now = dt.datetime.now(dt.UTC)
        values = {name: now - ago for name, ago in delta.items()}
        await session.execute(
            update(WebSession).where(WebSession.user_id == user_id).values(**values)
        )
        await session.commit()


@pytest.mark.req("P11-24")
@pytest.mark.parametrize(
    "aged",
    [
        {"last_seen_at": dt.timedelta(minutes=16)},
        {"created_at": dt.timedelta(hours=13)},
    ],
    ids=["idle-15-minutes", "absolute-12-hours"],
)
async def test_sessions_time_out(
    browser: Browser, runtime: Runtime, aged: dict[str, dt.timedelta]
) -> None:
    await browser.login(ANNA)
    assert (await browser.get("/supplier")).status_code == 200
    await _age_session(runtime, **aged)
    expired = await browser.get("/supplier", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")


@pytest.mark.req("P11-24")
async def test_disabling_a_person_ends_their_sessions_at_once(
    browser: Browser, runtime: Runtime
) -> None:
    await browser.login(ANNA)
    assert (await browser.get("/supplier")).status_code == 200
    async with provide_services(runtime, actor_for_user(await _admin(runtime), "ui")) as s:
        anna = await s.identity.user_by_email(ANNA)
        await AccessService(s).set_active(s.actor, anna.id, False, "left the company")
    response = await browser.get("/supplier", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def _admin(runtime: Runtime) -> User:
    async with runtime.sessions() as session:
        admin = await session.scalar(
            select(User).where(User.email_key == "admin@traceport.example")
        )
        assert admin is not None
        return admin
