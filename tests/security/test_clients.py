"""Machine clients: the authlib-based token endpoint (RFC 6749 client credentials, RFC 9068
JWTs), secrets stored hashed and rotated with an overlap, revocation that stops issued tokens
at once, and the rule that a machine never signs (DI-01).

Runs on SQLite and PostgreSQL (the ``client`` fixture is parametrized). The endpoint's
long-standing contract (error bodies, no-store headers, scope narrowing) is in
``tests/portal/test_api.py``; this file covers what the rebuild and rotation added.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select

from tests.conftest import TOKEN_KEY
from trace_core.errors import Conflict, PermissionDenied, ValidationFailed
from trace_core.identity import actor as actor_module
from trace_core.identity.actor import SCOPE_PERMISSIONS, Actor
from trace_core.identity.clients import (
    INTERNAL_ONLY_SCOPES,
    PERSONAL_PERMISSIONS,
    ClientService,
)
from trace_core.identity.models import ApiClient, ClientSecret
from trace_core.identity.service import SigningCredentials
from trace_core.identity.tokens import decode_access_token
from trace_core.lots.models import SupplierLot
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime, provide_services

ACME = ("acme-edi", "acme-edi-secret")
STERI = ("steripro-edi", "steripro-edi-secret")
ADMIN = Actor.system("cli")


async def token_response(
    http: httpx.AsyncClient, client_id: str, secret: str, **fields: str
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return await http.post("/oauth/token", data={**data, **fields})


async def bearer(http: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    response = await token_response(http, client_id, secret)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


async def register(
    runtime: Runtime, org: str, client_id: str, scopes: list[str]
) -> tuple[ApiClient, str]:
    async with provide_services(runtime, ADMIN) as services:
        organization = await services.identity.organization_by_name(org)
        return await ClientService(services).register(ADMIN, organization, client_id, scopes)


async def rotate(runtime: Runtime, client_id: str, **options: Any) -> str:
    async with provide_services(runtime, ADMIN) as services:
        return await ClientService(services).rotate(ADMIN, client_id, **options)


async def versions(runtime: Runtime, client: ApiClient) -> list[RecordVersion]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(RecordVersion)
                .where(RecordVersion.record_type == "api_client")
                .where(RecordVersion.record_id == client.id)
                .order_by(RecordVersion.version)
            )
        )


# -- the token endpoint on authlib ---------------------------------------------------------


async def test_token_is_an_rfc9068_jwt(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await token_response(client, *ACME)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", runtime.limits.token_lifetime_s)
    token = jwt.decode(body["access_token"], OctKey.import_key(TOKEN_KEY), algorithms=["HS256"])
    assert token.header == {"alg": "HS256", "typ": "at+jwt"}
    claims = token.claims
    assert (claims["iss"], claims["aud"], claims["sub"], claims["client_id"]) == (
        "traceport",
        "traceport-api",
        "acme-edi",
        "acme-edi",
    )
    assert claims["exp"] - claims["iat"] == runtime.limits.token_lifetime_s
    assert claims["scope"] == body["scope"]
    assert len(claims["jti"]) == 32
    async with runtime.sessions() as session:
        acme = await session.scalar(select(ApiClient).where(ApiClient.client_id == ACME[0]))
        assert acme is not None
    assert claims["org"] == acme.organization_id
    assert decode_access_token(body["access_token"], TOKEN_KEY)["jti"] == claims["jti"]


async def test_issued_token_is_audited_with_its_jti_and_secret(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = len(await events(runtime, "token_issued"))
    response = await token_response(client, *ACME, scope="parts:read")
    assert response.status_code == 200
    jti = jwt.decode(response.json()["access_token"], OctKey.import_key(TOKEN_KEY)).claims["jti"]
    issued = await events(runtime, "token_issued")
    assert len(issued) == before + 1
    event = issued[-1]
    assert (event.actor_kind, event.actor_name, event.channel) == (
        "client",
        "client:acme-edi",
        "api",
    )
    assert event.record_type == "api_client"
    assert event.new_values is not None
    assert event.new_values["scope"] == "parts:read"
    assert event.new_values["jti"] == jti
    assert isinstance(event.new_values["secret_id"], int)


@pytest.mark.req("P11-04")
@pytest.mark.parametrize(
    ("client_id", "secret", "actor"),
    [("acme-edi", "wrong", "anonymous"), ("nobody", "x", "anonymous")],
)
async def test_refused_token_is_audited_as_anonymous(
    client: httpx.AsyncClient, runtime: Runtime, client_id: str, secret: str, actor: str
) -> None:
    before = len(await events(runtime, "token_refused"))
    response = await token_response(client, client_id, secret)
    assert response.status_code == 401
    refused = await events(runtime, "token_refused")
    assert len(refused) == before + 1
    assert refused[-1].actor_name == actor
    assert refused[-1].new_values == {"client_id": client_id, "error": "invalid_client"}
    assert "access_token" not in response.text


async def test_scope_refusal_is_the_clients_own(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await token_response(client, *ACME, scope="audit:read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    event = (await events(runtime, "token_refused"))[-1]
    assert (event.actor_name, event.new_values) == (
        "client:acme-edi",
        {"client_id": "acme-edi", "error": "invalid_scope"},
    )


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        # RFC 6749 §2.3: one client authentication method per request.
        (
            {"client_id": "acme-edi", "client_secret": "acme-edi-secret"},
            {"Authorization": "Basic " + base64.b64encode(b"acme-edi:acme-edi-secret").decode()},
            400,
            "invalid_request",
        ),
        # RFC 6749 §3.2: parameters are sent once.
        (
            {
                "client_id": "acme-edi",
                "client_secret": "acme-edi-secret",
                "scope": ["parts:read", "lots:read"],
            },
            {},
            400,
            "invalid_request",
        ),
        # Basic credentials that are not UTF-8 are refused, not a 500.
        (
            {},
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
            401,
            "invalid_client",
        ),
        ({}, {"Authorization": "Basic %%%"}, 401, "invalid_client"),
        # A scope nobody knows.
        (
            {"client_id": "acme-edi", "client_secret": "acme-edi-secret", "scope": "root"},
            {},
            400,
            "invalid_scope",
        ),
        # No grant type at all.
        (
            {"client_id": "acme-edi", "client_secret": "acme-edi-secret", "grant_type": ""},
            {},
            400,
            "unsupported_grant_type",
        ),
    ],
    ids=[
        "basic-and-form",
        "repeated-scope",
        "basic-not-utf8",
        "basic-not-base64",
        "unknown-scope",
        "no-grant-type",
    ],
)
async def test_malformed_token_requests_get_rfc_errors(
    client: httpx.AsyncClient,
    data: dict[str, Any],
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", **data}, headers=headers
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert "access_token" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_token_endpoint_is_post_only(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/oauth/token",
        params={"grant_type": "client_credentials", "client_id": ACME[0], "client_secret": ACME[1]},
    )
    assert response.status_code == 405
    assert "access_token" not in response.text


# -- secrets: hashed, rotated with an overlap ----------------------------------------------


async def test_new_client_gets_a_generated_secret_stored_only_as_hash(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    made, secret = await register(runtime, "Acme Polymers", "acme-mes", ["lots:read"])
    assert len(secret) >= 40
    async with runtime.sessions() as session:
        hashes = list(
            await session.scalars(
                select(ClientSecret.secret_hash).where(ClientSecret.api_client_id == made.id)
            )
        )
    assert len(hashes) == 1 and hashes[0].startswith("scrypt$") and secret not in hashes[0]
    (version,) = await versions(runtime, made)
    assert version.action == "create"
    assert version.content["scopes"] == ["lots:read"]
    assert "secret_hash" not in str(version.content) and "scrypt" not in str(version.content)
    assert (await token_response(client, "acme-mes", secret)).status_code == 200


async def test_rotation_keeps_the_old_secret_until_the_overlap_ends(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    made, first = await register(runtime, "Acme Polymers", "acme-mes", ["lots:read"])
    old_token = await bearer(client, "acme-mes", first)
    second = await rotate(runtime, "acme-mes", overlap=dt.timedelta(hours=24), reason="yearly")
    assert second != first
    # both secrets work during the overlap, and tokens already issued keep working
    assert (await token_response(client, "acme-mes", first)).status_code == 200
    assert (await token_response(client, "acme-mes", second)).status_code == 200
    assert (await client.get("/api/v1/lots", headers=old_token)).status_code == 200
    # the overlap ends: only the new secret works
    async with runtime.sessions() as session:
        rows = list(
            await session.scalars(
                select(ClientSecret)
                .where(ClientSecret.api_client_id == made.id)
                .order_by(ClientSecret.id)
            )
        )
        assert rows[0].expires_at is not None and rows[1].expires_at is None
        hours = (rows[0].expires_at - rows[1].created_at).total_seconds() / 3600
        assert 23.99 < hours <= 24.01
        rows[0].expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await session.commit()
    refused = await token_response(client, "acme-mes", first)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert (await token_response(client, "acme-mes", second)).status_code == 200
    rotation = (await versions(runtime, made))[-1]
    assert (rotation.version, rotation.action, rotation.reason) == (2, "rotate_secret", "yearly")
    assert [bool(s["expires_at"]) for s in rotation.content["secrets"]] == [True, False]


async def test_rotation_without_overlap_stops_the_old_secret_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    second = await rotate(runtime, ACME[0], overlap=dt.timedelta(0), reason="leaked")
    assert (await token_response(client, *ACME)).status_code == 401
    assert (await token_response(client, ACME[0], second)).status_code == 200


@pytest.mark.req("P11-24")
async def test_rotation_can_revoke_issued_tokens(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    old = await bearer(client, *ACME)
    await rotate(runtime, ACME[0], overlap=dt.timedelta(0), reason="leaked", revoke_tokens=True)
    response = await client.get("/api/v1/lots", headers=old)
    assert response.status_code == 401
    assert response.json()["message"] == "The access token was revoked."


async def test_a_second_rotation_shortens_the_first_overlap(runtime: Runtime) -> None:
    await rotate(runtime, ACME[0], overlap=dt.timedelta(hours=24))
    await rotate(runtime, ACME[0], overlap=dt.timedelta(hours=1))
    async with provide_services(runtime, ADMIN) as services:
        credentials = await ClientService(services).credentials(ACME[0])
        (summary,) = [
            s for s in await ClientService(services).list(ADMIN) if s.client_id == ACME[0]
        ]
    assert credentials is not None and len(credentials.secrets) == 3
    ends = [s.expires_at for s in summary.secrets]
    assert ends[2] is None
    assert ends[0] == ends[1]  # the oldest secret no longer outlives the second overlap


@pytest.mark.parametrize("hours", [-1, 24 * 31])
async def test_overlap_out_of_range_is_refused(runtime: Runtime, hours: int) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await rotate(runtime, ACME[0], overlap=dt.timedelta(hours=hours))
    assert "overlap" in refused.value.errors


# -- revocation ------------------------------------------------------------------------------


@pytest.mark.req("P11-24")
async def test_revoking_a_client_stops_its_tokens_on_the_next_call(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    acme, steri = await bearer(client, *ACME), await bearer(client, *STERI)
    assert (await client.get("/api/v1/lots", headers=acme)).status_code == 200
    async with provide_services(runtime, ADMIN) as services:
        await ClientService(services).revoke(ADMIN, ACME[0], "contract ended")
    response = await client.get("/api/v1/lots", headers=acme)
    assert response.status_code == 401
    assert response.json()["message"] == "The client is not active."
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await token_response(client, *ACME)).status_code == 401
    assert (await client.get("/api/v1/lots", headers=steri)).status_code == 200
    async with runtime.sessions() as session:
        row = await session.scalar(select(ApiClient).where(ApiClient.client_id == ACME[0]))
        assert row is not None and not row.active and row.tokens_valid_after is not None
        open_secrets = await session.scalar(
            select(func.count())
            .select_from(ClientSecret)
            .where(ClientSecret.api_client_id == row.id, ClientSecret.revoked_at.is_(None))
        )
    assert open_secrets == 0
    revoked = (await versions(runtime, row))[-1]
    assert (revoked.status, revoked.action, revoked.reason) == (
        "revoked",
        "revoke",
        "contract ended",
    )


async def test_revocation_needs_a_reason_and_is_final(runtime: Runtime) -> None:
    async with provide_services(runtime, ADMIN) as services:
        with pytest.raises(ValidationFailed):
            await ClientService(services).revoke(ADMIN, ACME[0], "  ")
        await ClientService(services).revoke(ADMIN, ACME[0], "contract ended")
        with pytest.raises(Conflict):
            await ClientService(services).revoke(ADMIN, ACME[0], "again")
        with pytest.raises(Conflict):
            await ClientService(services).rotate(ADMIN, ACME[0])


# -- registration rules, DI-01 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("org", "client_id", "scopes", "field"),
    [
        ("Acme Polymers", "Acme EDI!", ["lots:read"], "client_id"),
        ("Acme Polymers", "acme-x", [], "scopes"),
        ("Acme Polymers", "acme-x", ["lots:delete"], "scopes"),
        *(("Acme Polymers", "acme-x", [s], "scopes") for s in sorted(INTERNAL_ONLY_SCOPES)),
    ],
)
async def test_registration_is_validated(
    runtime: Runtime, org: str, client_id: str, scopes: list[str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await register(runtime, org, client_id, scopes)
    assert field in refused.value.errors


async def test_client_ids_are_never_reused(runtime: Runtime) -> None:
    with pytest.raises(Conflict):
        await register(runtime, "SteriPro", ACME[0], ["lots:read"])


async def test_only_an_identity_administrator_manages_clients(runtime: Runtime) -> None:
    qa = Actor(
        "user", 1, "QA", None, "internal", "ui", actor_module.ROLE_PERMISSIONS["qa_approver"]
    )
    async with provide_services(runtime, qa) as services:
        with pytest.raises(PermissionDenied):
            await ClientService(services).rotate(qa, ACME[0])


def test_events_write_scope_captures_events() -> None:
    assert SCOPE_PERMISSIONS["events:write"] == frozenset({"events.capture"})


@pytest.mark.req("DI-01")
def test_no_scope_grants_a_signing_permission() -> None:
    for scope, permissions in SCOPE_PERMISSIONS.items():
        assert not permissions & PERSONAL_PERMISSIONS, scope
        assert not any(p.endswith((".sign", ".approve")) for p in permissions), scope


@pytest.mark.req("DI-01")
async def test_a_scope_that_would_let_a_machine_sign_is_refused(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCOPE_PERMISSIONS, "lots:sign", frozenset({"lots.sign"}))
    with pytest.raises(ValidationFailed) as refused:
        await register(runtime, "Acme Polymers", "acme-signer", ["lots:sign"])
    assert "DI-01" in refused.value.errors["scopes"]


@pytest.mark.req("DI-01")
async def test_a_machine_client_cannot_sign_even_holding_the_permission(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Were a scope ever to grant ``lots.sign``, the signing service still refuses a client:
    403, nothing signed."""
    async with runtime.sessions() as session:
        acme = await session.scalar(select(ApiClient).where(ApiClient.client_id == ACME[0]))
        draft = await session.scalar(
            select(SupplierLot).where(SupplierLot.lot_number == "AP-24-0817")
        )
        assert acme is not None and draft is not None
    machine = Actor(
        "client",
        acme.id,
        "client:acme-edi",
        acme.organization_id,
        "supplier",
        "api",
        frozenset({"lots.read", "lots.submit", "lots.sign"}),
    )
    async with provide_services(runtime, machine) as services:
        with pytest.raises(PermissionDenied) as refused:
            await services.lots.sign_submission(
                machine, draft.id, SigningCredentials("acme-edi-secret"), draft.version
            )
    assert "machine" in refused.value.message
    # over HTTP, a bearer token does not even reach the signing page (it takes a session)
    token = await bearer(client, *ACME)
    response = await client.post(f"/supplier/lots/{draft.id}/sign", headers=token)
    assert response.status_code in (303, 403)
    async with runtime.sessions() as session:
        after = await session.get(SupplierLot, draft.id)
        assert after is not None and (after.status, after.version) == ("draft", draft.version)
