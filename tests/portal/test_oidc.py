"""OpenID Connect single sign-on for internal staff, end to end against a real provider.

The provider (``tests/oidc_provider.py``, Authlib's server side) listens on a loopback port;
Traceport runs in-process (ASGI) and talks to it over real HTTP for discovery, keys and the
code exchange, while the test plays the browser: it follows the redirect to the provider with
a real HTTP client and brings the code back to Traceport's callback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select, update

from portal.app import create_app
from portal.settings import Settings
from tests.oidc_provider import Misbehaviour, OidcProvider, ProviderUser
from trace_core.db import utc_now
from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.models import User, WebSession
from trace_core.identity.service import token_sha256
from trace_core.identity.sso import ROLES_REASON, SSO_FAILED
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime

pytestmark = [
    # Authlib 1.9 warns when its httpx client integration runs on ``httpx`` rather than the
    # ``httpx2`` fork it now prefers; Traceport's dependency set has ``httpx`` (through
    # Litestar), so the warning is unavoidable until that choice is made for the project.
    pytest.mark.filterwarnings(
        "ignore:The httpx module is deprecated; please use httpx2 instead."
        ":authlib.deprecate.AuthlibDeprecationWarning"
    ),
]

CLIENT_ID = "traceport-test"
CLIENT_SECRET = "s3cret-for-the-loopback-provider"
CALLBACK = "http://testserver/login/sso/callback"
ROLE_MAP = "qa-approvers=qa_approver,auditors=auditor,ops=operations"
QA = "qa@traceport.example"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider(CLIENT_ID, CLIENT_SECRET, CALLBACK).running() as running:
        yield running


@pytest.fixture
def idp(provider: OidcProvider) -> Iterator[OidcProvider]:
    provider.reset()
    yield provider
    provider.reset()


def sso_settings(tmp_path: Path, issuer: str, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "TRACEPORT_VAR_DIR": str(tmp_path),
            "TRACEPORT_OIDC_ISSUER": issuer,
            "TRACEPORT_OIDC_CLIENT_ID": CLIENT_ID,
            "TRACEPORT_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "TRACEPORT_OIDC_ROLE_MAP": ROLE_MAP,
            "TRACEPORT_OIDC_EMAIL_DOMAINS": "traceport.example",
            **extra,
        }
    )


async def app_client(runtime: Runtime, settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def http(
    runtime: Runtime, tmp_path: Path, idp: OidcProvider
) -> AsyncIterator[httpx.AsyncClient]:
    async with await app_client(runtime, sso_settings(tmp_path, idp.issuer)) as client:
        yield client


async def to_provider_and_back(http: httpx.AsyncClient, next_path: str | None = None) -> str:
    """Start the login at Traceport, let the provider consent, return the callback URL."""
    start = await http.get("/login/sso", params={"next": next_path} if next_path else None)
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:  # real HTTP to the loopback provider
        consent = await browser.get(start.headers["location"])
    assert consent.status_code == 302, consent.text
    back = consent.headers["location"]
    assert back.startswith(CALLBACK + "?")
    return back


async def sign_in(http: httpx.AsyncClient, next_path: str | None = None) -> httpx.Response:
    return await http.get(await to_provider_and_back(http, next_path))


async def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        return list(rows)


async def last_failure(runtime: Runtime) -> dict[str, Any]:
    failures = await events(runtime, "sso_login_failed")
    assert failures, "the refusal was not audited"
    assert failures[-1].new_values is not None
    return failures[-1].new_values


async def user_named(runtime: Runtime, email: str) -> User:
    async with runtime.sessions() as session:
        user = await session.scalar(select(User).where(User.email_key == email))
        assert user is not None
        return user


async def user_versions(runtime: Runtime, user_id: int) -> list[RecordVersion]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(RecordVersion)
            .where(RecordVersion.record_type == "user", RecordVersion.record_id == user_id)
            .order_by(RecordVersion.version)
        )
        return list(rows)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert SSO_FAILED in response.text
    assert "traceport_session" not in response.cookies


@pytest.mark.req("P11-04")
@pytest.mark.req("P11-05")
async def test_sso_signs_in_with_pkce_state_and_nonce_and_opens_a_session(
    http: httpx.AsyncClient, idp: OidcProvider, runtime: Runtime
) -> None:
    start = await http.get("/login/sso")
    assert start.status_code == 302
    sent = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    assert sent["response_type"] == "code" and sent["client_id"] == CLIENT_ID
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["state"] and sent["nonce"] and sent["redirect_uri"] == CALLBACK
    assert set(sent["scope"].split()) == {"openid", "email", "profile"}
    # The flow cookie is sealed: neither the state nor the PKCE verifier can be read from it.
    flow = http.cookies.get("traceport_sso") or ""
    assert flow and sent["state"] not in flow

    done = await sign_in(http)
    assert done.status_code == 303 and done.headers["location"] == "/internal"
    token = done.cookies.get("traceport_session")
    assert token
    page = await http.get("/internal")
    assert page.status_code == 200 and "Quinn Avery" in page.text
    assert "traceport_sso" not in http.cookies  # single use: cleared at the callback

    qa = await user_named(runtime, QA)
    assert (qa.sso_issuer, qa.sso_subject) == (idp.issuer, "00u-quinn")
    [login] = await events(runtime, "sso_login")
    assert (login.actor_kind, login.actor_id, login.channel) == ("user", qa.id, "ui")
    assert login.new_values == {
        "issuer": idp.issuer,
        "subject": "00u-quinn",
        "groups": ["qa-approvers"],
        "roles": ["qa_approver"],
    }
    assert token not in str(login.new_values)
    async with runtime.sessions() as session:
        web_session = await session.scalar(
            select(WebSession).where(WebSession.token_sha256 == token_sha256(token))
        )
        assert web_session is not None and web_session.user_id == qa.id

    # Sessions rotate: signing in again gives a new token, never the old one.
    again = await sign_in(http, "/internal/trace")
    assert again.status_code == 303 and again.headers["location"] == "/internal/trace"
    assert again.cookies.get("traceport_session") not in (None, token)


@pytest.mark.req("A11-07")
@pytest.mark.req("A11-09")
@pytest.mark.req("P11-05")
async def test_roles_follow_the_providers_groups_as_audited_user_versions(
    http: httpx.AsyncClient, idp: OidcProvider, runtime: Runtime
) -> None:
    qa = await user_named(runtime, QA)
    before = len(await user_versions(runtime, qa.id))

    idp.user = ProviderUser(groups=["qa-approvers", "auditors", "coffee-club"])
    assert (await sign_in(http)).status_code == 303
    versions = await user_versions(runtime, qa.id)
    link, grant = versions[before:]
    assert link.action == "revise" and link.content["sso_subject"] == "00u-quinn"
    assert grant.action == "revise" and grant.reason == ROLES_REASON
    assert grant.content["roles"] == ["auditor", "qa_approver"]
    assert grant.author_kind == "system" and grant.channel == "ui"
    page = await http.get("/internal/audit")
    assert page.status_code == 200  # the auditor role took effect at once

    idp.user = ProviderUser(groups=["qa-approvers"])
    assert (await sign_in(http)).status_code == 303
    revoke = (await user_versions(runtime, qa.id))[-1]
    assert revoke.version == grant.version + 1 and revoke.reason == ROLES_REASON
    assert revoke.content["roles"] == ["qa_approver"]
    revisions = [e for e in await events(runtime, "revise") if e.record_id == qa.id]
    assert revisions[-1].old_values == {"roles": ["auditor", "qa_approver"]}
    assert revisions[-1].new_values == {"roles": ["qa_approver"]}
    assert revisions[-1].reason == ROLES_REASON
    assert revisions[-1].record_sha256 == revoke.content_sha256

    # Unchanged groups write no version.
    assert (await sign_in(http)).status_code == 303
    assert len(await user_versions(runtime, qa.id)) == revoke.version


async def test_login_page_offers_sso_only_when_it_is_configured(
    http: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    offered = await http.get("/login?next=/internal/trace")
    assert "Sign in with SSO" in offered.text and "/login/sso?next=/internal/trace" in offered.text
    # The password form still works beside it.
    await http.get("/login")
    password = await http.post(
        "/login",
        data={
            "email": "ops@traceport.example",
            "password": DEMO_PASSWORD,
            "next": "/",
            "_csrf_token": http.cookies.get("traceport_csrf") or "",
        },
    )
    assert password.status_code == 303 and password.cookies.get("traceport_session")
    plain = await client.get("/login")
    assert plain.status_code == 200 and "Sign in with SSO" not in plain.text
    assert (await client.get("/login/sso")).status_code == 404
    assert (await client.get("/login/sso/callback?code=x&state=y")).status_code == 404


@pytest.mark.req("P11-04")
@pytest.mark.req("P11-05")
async def test_a_callback_with_another_state_or_without_the_flow_cookie_is_refused(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    returned = urlsplit(await to_provider_and_back(http))
    query = parse_qs(returned.query)
    query["state"] = ["forged-state"]
    forged = urlunsplit(returned._replace(query=urlencode(query, doseq=True)))
    assert_refused(await http.get(forged))
    failure = await last_failure(runtime)
    assert failure["reason"] == "state_mismatch"
    assert query["code"][0] not in str(failure)

    # Another browser (no flow cookie) cannot finish someone else's login.
    back = await to_provider_and_back(http)
    http.cookies.delete("traceport_sso")
    assert_refused(await http.get(back))
    assert (await last_failure(runtime))["reason"] == "login_expired"
    assert await events(runtime, "sso_login") == []


@pytest.mark.req("P11-04")
async def test_a_replayed_code_is_refused_by_the_provider_and_audited(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    back = await to_provider_and_back(http)
    flow = http.cookies.get("traceport_sso")
    assert (await http.get(back)).status_code == 303
    http.cookies.set("traceport_sso", flow or "", domain="testserver.local", path="/login/sso")
    assert_refused(await http.get(back))
    failure = await last_failure(runtime)
    assert failure["reason"] == "code_exchange_failed"
    assert failure["detail"] == "invalid_grant"
    assert len(await events(runtime, "sso_login")) == 1


@pytest.mark.req("P11-04")
@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("wrong_nonce", "nonce"),
        ("wrong_audience", "aud"),
        ("wrong_issuer", "iss"),
        ("expired", "ExpiredTokenError"),
        ("bad_signature", "BadSignatureError"),
    ],
)
async def test_an_id_token_that_fails_validation_is_refused(
    http: httpx.AsyncClient,
    idp: OidcProvider,
    runtime: Runtime,
    mode: Misbehaviour,
    detail: str,
) -> None:
    idp.misbehave = mode
    assert_refused(await sign_in(http))
    failure = await last_failure(runtime)
    assert failure["reason"] == "id_token_invalid"
    assert detail in failure["detail"]
    assert await events(runtime, "sso_login") == []
    qa = await user_named(runtime, QA)
    assert qa.sso_subject is None


@pytest.mark.req("P11-04")
@pytest.mark.req("P11-05")
@pytest.mark.parametrize(
    ("person", "reason"),
    [
        (ProviderUser(groups=["marketing"]), "no_mapped_role"),
        (ProviderUser(groups=[]), "no_mapped_role"),
        (
            ProviderUser(sub="00u-anna", email="anna@acme-polymers.example", name="Anna"),
            "external_organization",
        ),
        (ProviderUser(email_verified=False), "email_not_verified"),
        (ProviderUser(sub="00u-x", email="nobody@traceport.example"), "unknown_user"),
        (ProviderUser(sub="00u-y", email="qa@elsewhere.example"), "email_domain_not_allowed"),
    ],
    ids=["unmapped-group", "no-groups", "external", "unverified", "unknown", "other-domain"],
)
async def test_people_the_rules_refuse_see_one_generic_message(
    http: httpx.AsyncClient,
    idp: OidcProvider,
    runtime: Runtime,
    person: ProviderUser,
    reason: str,
) -> None:
    idp.user = person
    response = await sign_in(http)
    assert_refused(response)
    assert "Single sign-on did not succeed; ask your administrator." in response.text
    failure = await last_failure(runtime)
    assert failure["reason"] == reason
    assert failure["subject"] == person.sub and failure["email"] == person.email
    assert await events(runtime, "sso_login") == []
    if person.groups == ["marketing"]:
        assert failure["detail"] == "groups: marketing"


@pytest.mark.req("P11-04")
@pytest.mark.parametrize("state", ["disabled", "locked"])
async def test_disabled_and_locked_accounts_are_refused(
    http: httpx.AsyncClient, idp: OidcProvider, runtime: Runtime, state: str
) -> None:
    async with runtime.sessions() as session:
        change = {"active": False} if state == "disabled" else {"locked_at": utc_now()}
        await session.execute(
            update(User).where(User.email_key == "ops@traceport.example").values(**change)
        )
        await session.commit()
    idp.user = ProviderUser(
        sub="00u-olivia", email="ops@traceport.example", name="Olivia Park", groups=["ops"]
    )
    assert_refused(await sign_in(http))
    failure = await last_failure(runtime)
    assert failure["reason"] == f"account_{state}"
    ops = await user_named(runtime, "ops@traceport.example")
    assert ops.sso_subject is None and ops.roles == ["operations"]


async def test_the_provider_being_unreachable_is_refused_and_audited(
    runtime: Runtime, tmp_path: Path
) -> None:
    settings = sso_settings(tmp_path, "http://127.0.0.1:9")  # discard port: nothing listens
    async with await app_client(runtime, settings) as http:
        assert_refused(await http.get("/login/sso"))
    failure = await last_failure(runtime)
    assert failure["reason"] == "provider_unreachable"
