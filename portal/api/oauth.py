"""``POST /oauth/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4) issuing JWT
access tokens (RFC 9068), served by the authlib server in ``portal.api.oauth_server``.

The handler adapts Litestar to authlib: it reads the form, reads the presented client's
credentials from the database, runs authlib's (synchronous) server in a worker thread, and
audits the outcome (``token_issued`` or ``token_refused``) in its own transaction.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, post

from portal.api.oauth_server import TokenRequest, issue_token
from portal.api.schemas import TokenOut
from trace_core.identity.actor import Actor
from trace_core.identity.clients import ClientService
from trace_core.services import Runtime, Services


async def _form_lists(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields


@post(
    "/oauth/token",
    tags=["oauth"],
    status_code=200,
    summary="Get an access token",
    description="Client credentials grant. Send `grant_type=client_credentials` form-encoded, "
    "with the client id and secret in HTTP Basic auth or as `client_id`/`client_secret` "
    "fields (not both); optional `scope` narrows the client's scopes. Errors are RFC 6749 "
    "§5.2 JSON (`invalid_client` 401, `invalid_scope`, `unsupported_grant_type`, "
    "`invalid_request` 400).",
)
async def token(request: Request[Any, Any, Any]) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    # authlib refuses plain-HTTP URIs. TLS ends at the proxy in front of the app (README:
    # "behind TLS"; Secure cookies and HSTS with TRACEPORT_SECURE_COOKIES), and the app is
    # served without proxy headers, so the scheme it sees says nothing about the client's
    # transport. The check belongs to the deployment, not to this URI.
    uri = str(request.url.with_replacements(scheme="https"))
    oauth_request = TokenRequest(
        request.method, uri, dict(request.headers), await _form_lists(request)
    )
    async with runtime.sessions() as session:
        clients = ClientService(Services(runtime, session, Actor.system("api")))
        directory = {cid: await clients.credentials(cid) for cid in oauth_request.presented_ids()}
    # Read, then let go of the database before scrypt runs (SQLite holds its write lock for
    # the whole transaction).
    outcome = await asyncio.to_thread(
        issue_token,
        oauth_request,
        directory,
        runtime.token_key,
        runtime.limits.token_lifetime_s,
        runtime.limits.password_hash_cost,
    )
    if outcome.response.status == 200 or outcome.presented_id:
        async with runtime.sessions() as session:
            clients = ClientService(Services(runtime, session, Actor.system("api")))
            if outcome.response.status == 200 and outcome.client is not None:
                await clients.token_issued(
                    outcome.client, outcome.scope or "", outcome.jti, outcome.secret_id
                )
            else:
                await clients.token_refused(
                    outcome.presented_id,
                    outcome.client,
                    outcome.error or "invalid_request",
                    authenticated=outcome.authenticated,
                )
    headers = {k.lower(): v for k, v in outcome.response.headers if k.lower() != "content-type"}
    body = outcome.response.body
    if outcome.response.status == 200:
        issued = TokenOut(
            body["access_token"], body["token_type"], int(body["expires_in"]), body["scope"]
        )
        return Response(issued, headers=headers)
    return Response(body, status_code=outcome.response.status, headers=headers)
