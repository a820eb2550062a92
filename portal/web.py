"""What every handler shares: the request's ``Actor`` and ``Services`` as dependencies, the
mapping of domain errors to HTTP answers, and security headers."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from portal.i18n import N_, gettext_
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    TooLarge,
    ValidationFailed,
)
from trace_core.gates import MaterialRefused
from trace_core.identity.actor import Actor
from trace_core.services import Runtime, Services

STATUS_OF: dict[type[DomainError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    AuthenticationFailed: 401,
    TooLarge: 413,
}


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    actor = request.state.get("actor")
    if actor is None:  # only public routes lack an actor, and they don't ask for one
        raise HTTPException(status_code=401, detail=N_("Not signed in."))
    return actor  # type: ignore[no-any-return]


async def provide_services(request: Request[Any, Any, Any]) -> AsyncGenerator[Services, None]:
    runtime: Runtime = request.app.state.runtime
    actor = await provide_actor(request)
    async with runtime.sessions() as session:
        yield Services(runtime, session, actor)


def is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(("/api/", "/oauth/", "/epcis/"))


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
    if is_api(request):
        body: dict[str, Any] = {"error": type(exc).__name__, "message": exc.message}
        if isinstance(exc, (ValidationFailed, MaterialRefused)):
            body["fields"] = exc.errors
        if isinstance(exc, MaterialRefused):
            # The material gate's refusals: each names its field, rule and blocking record.
            body["refusals"] = [r.as_dict() for r in exc.refusals]
        return Response(body, status_code=status)
    message = exc.localized(gettext_) if isinstance(exc, MaterialRefused) else exc.message
    return Template(
        "error.html",
        context={"status": status, "message": message, "errors": getattr(exc, "errors", {})},
        status_code=status,
    )


def http_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = exc.detail
    if status == 413:
        limit = request.app.state.runtime.limits.max_upload_bytes // (1024 * 1024)
        message = f"The upload is larger than the limit of {limit} MiB."
        if not is_api(request):
            message = gettext_("The upload is larger than the limit of %(limit)s MiB.") % {
                "limit": limit
            }
    if is_api(request) or status >= HTTP_500_INTERNAL_SERVER_ERROR:
        body: dict[str, Any] = {"error": "http_error", "message": message}
        if getattr(exc, "extra", None):
            body["detail"] = exc.extra
        return Response(body, status_code=status, headers=exc.headers)
    return Template(
        "error.html",
        context={"status": status, "message": message, "errors": {}},
        status_code=status,
    )


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def internal_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every ``/internal`` page: our own staff only. People of a supplier or contract
    manufacturer get 403 before any handler runs (their data is scoped anyway; the pages are
    simply not theirs)."""
    if connection.scope.get("method") == "OPTIONS":
        return  # Litestar's automatic answer: the allowed methods, no data
    actor = connection.scope.get("state", {}).get("actor")
    if actor is None or not actor.is_internal:
        raise PermissionDenied(N_("This page is for our own staff."))


class SecurityHeadersMiddleware(ASGIMiddleware):
    """The outermost layer: every answer — pages, API, static files, and the redirects and 401s
    the authentication middleware sends itself — carries the security headers a handler did
    not set (the CoA document sets a looser frame policy so the review page can frame it).
    HSTS only behind TLS (``TRACEPORT_SECURE_COOKIES``)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, secure: bool) -> None:
        self.headers = dict(SECURITY_HEADERS)
        if secure:
            self.headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
        self.encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.encoded if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await next_app(scope, receive, send_with_headers)


async def send_redirect(scope: Scope, receive: Receive, send: Send, target: str) -> None:
    """Answer from a middleware with a 303 to ``target`` (an htmx request gets HX-Redirect, so
    the whole page moves, not a fragment)."""
    response = Redirect(target, status_code=303)
    headers = {k.decode("latin-1").lower() for k, _ in scope["headers"]}
    if "hx-request" in headers:
        response.headers["HX-Redirect"] = target
    asgi = response.to_asgi_response(scope["litestar_app"], None)  # type: ignore[arg-type]
    await asgi(scope, receive, send)
