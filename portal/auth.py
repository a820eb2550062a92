"""Who is calling: every request outside the short public list must carry either a web
session cookie (people, pages) or a bearer access token (machines, ``/api``, ``/epcis``). The
resolved ``Actor`` is put on the request state; handlers never look at cookies or tokens
themselves.

Deny by default: a new route is protected unless it is added to ``PUBLIC_PATHS``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from sqlalchemy import select

from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import ApiClient
from trace_core.identity.service import IdentityService, actor_for_client, actor_for_user
from trace_core.identity.tokens import decode_access_token, issued_at
from trace_core.services import Runtime, Services

SESSION_COOKIE = "traceport_session"
#: Routes anyone may reach. Everything else requires a person or a machine.
PUBLIC_PATHS = re.compile(
    r"^/(static/.*|healthz|login(/sso(/callback)?|/totp)?|oauth/token|schema(/.*)?|favicon\.ico"
    # The language switch: the sign-in page has it too.
    r"|language"
    # Onboarding (docs/IDENTITY.md): the e-mailed invitation and password-reset links.
    r"|invite/[A-Za-z0-9_-]{1,100}|password/forgot|password/reset/[A-Za-z0-9_-]{1,100})$"
)


def _json_401(message: str) -> bytes:
    return ('{"error": "unauthorized", "message": "' + message.replace('"', "'") + '"}').encode()


class ActorMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        state = scope.setdefault("state", {})
        runtime: Runtime = scope["litestar_app"].state.runtime
        if PUBLIC_PATHS.match(path):
            await next_app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if path.startswith(("/api/", "/epcis/")):
            actor = await _actor_from_bearer(runtime, headers.get("authorization", ""))
            if isinstance(actor, str):
                await _send_401(send, actor)
                return
        else:
            found = await _actor_from_cookie(runtime, headers.get("cookie", ""))
            if found is None:
                target = path + (
                    "?" + scope["query_string"].decode() if scope["query_string"] else ""
                )
                response = Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
                if headers.get("hx-request"):
                    response.headers["HX-Redirect"] = "/login"
                await response.to_asgi_response(scope["litestar_app"], None)(  # type: ignore[arg-type]
                    scope, receive, send
                )
                return
            actor, csrf = found
            state["csrf_session"] = csrf
        state["actor"] = actor
        await next_app(scope, receive, send)


async def _actor_from_cookie(runtime: Runtime, cookie_header: str) -> tuple[Actor, str] | None:
    token = None
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            token = value
    if not token:
        return None
    async with runtime.sessions() as session:
        services = Services(runtime, session, Actor.system("ui"))
        found = await IdentityService(services).resolve_web_session(token)
    if found is None:
        return None
    user, web_session = found
    return replace(actor_for_user(user, "ui"), session_id=web_session.id), web_session.csrf_token


async def _actor_from_bearer(runtime: Runtime, authorization: str) -> Actor | str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "Send an OAuth2 bearer token (POST /oauth/token with client credentials)."
    try:
        claims = decode_access_token(token.strip(), runtime.token_key)
    except AuthenticationFailed as exc:
        return exc.message
    async with runtime.sessions() as session:
        client = await session.scalar(
            select(ApiClient).where(ApiClient.client_id == claims["client_id"])
        )
        if client is None or not client.active:
            return "The client is not active."
        if client.tokens_valid_after and issued_at(claims) < client.tokens_valid_after:
            return "The access token was revoked."
        granted = set(str(claims.get("scope", "")).split())
        client.scopes = [s for s in client.scopes if s in granted]
        return actor_for_client(client, "api")


async def _send_401(send: Send, message: str) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 401,
        "headers": [
            (b"content-type", b"application/json"),
            (b"www-authenticate", b'Bearer realm="traceport"'),
            (b"cache-control", b"no-store"),
        ],
    }
    body: HTTPResponseBodyEvent = {
        "type": "http.response.body",
        "body": _json_401(message),
        "more_body": False,
    }
    await send(start)
    await send(body)


def session_cookie(token: str, secure: bool, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
        max_age=max_age,
    )
