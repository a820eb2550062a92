"""``POST /oauth/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4) issuing JWT
access tokens (RFC 9068). Errors use the RFC's codes and never say which part was wrong."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from litestar import Request, Response, post

from portal.api.schemas import TokenOut
from portal.forms import form_fields, text
from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.tokens import issue_access_token
from trace_core.services import Runtime, Services

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _oauth_error(code: str, description: str, status: int) -> Response[Any]:
    headers = dict(NO_STORE)
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="traceport"'
    return Response(
        {"error": code, "error_description": description}, status_code=status, headers=headers
    )


@post(
    "/oauth/token",
    tags=["oauth"],
    status_code=200,
    summary="Get an access token",
    description="Client credentials grant. Send `grant_type=client_credentials` form-encoded, "
    "with the client id and secret in HTTP Basic auth or as `client_id`/`client_secret` "
    "fields; optional `scope` narrows the client's scopes.",
)
async def token(request: Request[Any, Any, Any]) -> Response[Any]:
    fields = await form_fields(request)
    if text(fields, "grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "Only client_credentials is supported.", 400)
    client_id, secret = text(fields, "client_id"), text(fields, "client_secret")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            raw_id, _, raw_secret = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        client_id, secret = unquote(raw_id), unquote(raw_secret)
    if not client_id or not secret:
        return _oauth_error("invalid_client", "Client authentication failed.", 401)
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        services = Services(runtime, session, Actor.system("api"))
        try:
            client = await services.identity.authenticate_client(client_id, secret)
        except AuthenticationFailed:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        requested = text(fields, "scope").split() or None
        try:
            issued = issue_access_token(
                client, runtime.token_key, runtime.limits.token_lifetime_s, requested
            )
        except AuthenticationFailed:
            return _oauth_error(
                "invalid_scope", "A requested scope is not granted to this client.", 400
            )
        services.keeper.audit(
            "token_issued",
            "api_client",
            client.id,
            new={"scope": issued.scope},
            actor=Actor(
                "client",
                client.id,
                f"client:{client.client_id}",
                client.organization_id,
                client.organization.kind,
                "api",
            ),
        )
        await services.keeper.commit()
    return Response(
        TokenOut(issued.token, "Bearer", issued.expires_in, issued.scope), headers=NO_STORE
    )
