"""Single sign-on pages for internal staff: ``GET /login/sso`` sends the browser to the
company's OpenID Connect provider, ``GET /login/sso/callback`` receives it back and opens a
web session exactly as a password login does. Both answer 404 when single sign-on is not
configured. The protocol is in ``portal/oidc.py`` and the rules in ``trace_core/identity/sso.py``;
every refusal shows the person the same sentence and records the reason in the audit trail.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from portal.auth import session_cookie
from portal.forms import safe_next
from portal.oidc import FLOW_SECONDS, OidcFailure, PendingLogin, RelyingParty
from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.sso import SSO_FAILED, SsoConfig, refuse_sso_login, sign_in_with_claims
from trace_core.services import Runtime, Services

FLOW_COOKIE = "traceport_sso"
FLOW_COOKIE_PATH = "/login/sso"


def _config(request: Request[Any, Any, Any]) -> SsoConfig:
    config: SsoConfig | None = request.app.state.settings.oidc
    if config is None:
        raise NotFoundException()
    return config


def _relying_party(request: Request[Any, Any, Any], config: SsoConfig) -> RelyingParty:
    """One per application, so discovery and keys are cached across requests."""
    state = request.app.state
    party: RelyingParty | None = state.get("oidc_relying_party")
    if party is None or party.config is not config:
        party = RelyingParty(config)
        state["oidc_relying_party"] = party
    return party


def _redirect_uri(request: Request[Any, Any, Any], config: SsoConfig) -> str:
    return config.redirect_uri or str(request.url_for("sso_callback"))


def _flow_cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=FLOW_COOKIE,
        value=value,
        httponly=True,
        secure=request.app.state.settings.secure_cookies,
        # Lax, not Strict: the provider sends the browser back with a cross-site top-level
        # GET, which must carry this cookie.
        samesite="lax",
        path=FLOW_COOKIE_PATH,
        max_age=max_age,
    )


def _failed(request: Request[Any, Any, Any]) -> Template:
    return Template(
        "login.html",
        status_code=401,
        context={"next": "/", "error": SSO_FAILED, "email": ""},
        cookies=[_flow_cookie(request, "", 0)],
    )


@get("/login/sso", include_in_schema=False, name="sso_start")
async def sso_start(
    request: Request[Any, Any, Any], next: str | None = None
) -> Redirect | Template:
    config = _config(request)
    runtime: Runtime = request.app.state.runtime
    pending = PendingLogin.new(safe_next(next))
    try:
        url = await _relying_party(request, config).authorization_url(
            pending, _redirect_uri(request, config)
        )
    except OidcFailure as failure:
        await _audit_failure(runtime, config, failure)
        return _failed(request)
    return Redirect(
        url,
        status_code=302,
        cookies=[_flow_cookie(request, pending.seal(runtime.token_key), FLOW_SECONDS)],
    )


@get("/login/sso/callback", include_in_schema=False, name="sso_callback")
async def sso_callback(request: Request[Any, Any, Any]) -> Redirect | Template:
    config = _config(request)
    runtime: Runtime = request.app.state.runtime
    query = request.query_params
    # The flow cookie is single-use: it is cleared by every answer below.
    pending = PendingLogin.unseal(runtime.token_key, request.cookies.get(FLOW_COOKIE))
    try:
        if pending is None:
            raise OidcFailure("login_expired", "no valid login in progress for this browser")
        if query.get("error"):
            detail = f"{query.get('error')}: {query.get('error_description') or ''}"
            raise OidcFailure("provider_error", detail[:300])
        if not pending.state_matches(query.get("state")):
            raise OidcFailure("state_mismatch", "the state returned differs from the one sent")
        code = query.get("code")
        if not code:
            raise OidcFailure("code_missing", "the provider returned no code")
        claims = await _relying_party(request, config).claims_for_code(
            pending, code, _redirect_uri(request, config)
        )
    except OidcFailure as failure:
        await _audit_failure(runtime, config, failure)
        return _failed(request)
    async with runtime.sessions() as session:
        services = Services(runtime, session, Actor.system("ui"))
        try:
            _, token = await sign_in_with_claims(
                services,
                config,
                claims,
                user_agent=request.headers.get("user-agent"),
                client_ip=request.client.host if request.client else None,
            )
        except AuthenticationFailed:
            return _failed(request)
    secure = request.app.state.settings.secure_cookies
    # Single sign-on is for internal staff only, so "home" is the internal start page.
    target = pending.next if pending.next != "/" else "/internal"
    return Redirect(
        target,
        status_code=303,
        cookies=[session_cookie(token, secure), _flow_cookie(request, "", 0)],
    )


async def _audit_failure(runtime: Runtime, config: SsoConfig, failure: OidcFailure) -> None:
    async with runtime.sessions() as session:
        services = Services(runtime, session, Actor.system("ui"))
        # Audited; the caller shows the person the generic refusal.
        with suppress(AuthenticationFailed):
            await refuse_sso_login(
                services, failure.reason, issuer=config.issuer, detail=failure.detail
            )


ROUTES = [sso_start, sso_callback]
