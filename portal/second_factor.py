"""The second factor in the portal (P11-26): the code step of a password login, and the
policy that holds people whose role requires an authenticator on the enrolment page.

Between the password and the code, nothing is stored on the server: the first step hands the
browser a ticket (user id, where to go afterwards, expiry) in a short-lived cookie, encrypted
and authenticated with AES-GCM under a key derived from the server secret, as the single
sign-on flow cookie is (``portal/oidc.py``). The person can neither read nor alter it, and
any instance can finish a login another one started. The ticket alone opens nothing: the
code step still needs a current code or an unused recovery code, and wrong codes count toward
the lockout like wrong passwords.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.auth import session_cookie
from portal.forms import form_fields, safe_next, text
from portal.web import send_redirect
from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.credentials import has_password
from trace_core.identity.models import User
from trace_core.identity.service import LOGIN_FAILED, WrongSecondFactor
from trace_core.identity.throttle import LoginThrottled
from trace_core.services import Runtime, Services

TICKET_COOKIE = "traceport_login_ticket"
CODE_PAGE = "/login/totp"
#: How long a person may take between the password and the code.
TICKET_SECONDS = 300
_AAD = b"traceport-login-ticket"
SECURITY_PAGE = "/account/security"
#: What a person who must still enrol may reach: the enrolment page, the password change page
#: (password aging holds them there first), signing out and static files.
_ALLOWED_BEFORE_ENROLMENT = re.compile(
    r"^/(account/security|account/totp|account/password|logout|static/.*|favicon\.ico)$"
)


@dataclass(frozen=True)
class LoginTicket:
    """A password login waiting for its second factor."""

    user_id: int
    next: str
    expires_at: int

    def seal(self, secret: bytes) -> str:
        payload = json.dumps([self.user_id, self.next, self.expires_at]).encode()
        iv = os.urandom(12)
        sealed = AESGCM(_ticket_key(secret)).encrypt(iv, payload, _AAD)
        return base64.urlsafe_b64encode(iv + sealed).decode().rstrip("=")

    @classmethod
    def unseal(cls, secret: bytes, value: str | None) -> LoginTicket | None:
        """The ticket, or None when the cookie is missing, altered or expired."""
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = AESGCM(_ticket_key(secret)).decrypt(raw[:12], raw[12:], _AAD)
            user_id, next_path, expires_at = json.loads(payload)
        except (InvalidTag, ValueError, TypeError):
            return None
        if not isinstance(user_id, int) or not isinstance(expires_at, int):
            return None
        if expires_at < time.time():
            return None
        return cls(user_id, safe_next(str(next_path)), expires_at)


def _ticket_key(secret: bytes) -> bytes:
    # A key of its own, so the ticket can never be confused with anything else the server
    # secret protects (access tokens, CSRF, the single sign-on flow cookie).
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"traceport totp login ticket"
    ).derive(secret)


def ticket_cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=TICKET_COOKIE,
        value=value,
        httponly=True,
        secure=request.app.state.settings.secure_cookies,
        samesite="lax",
        path=CODE_PAGE,
        max_age=max_age,
    )


def code_step(request: Request[Any, Any, Any], user_id: int, target: str) -> Redirect:
    """Where a right password of an enrolled person leads: the code form, with a ticket."""
    runtime: Runtime = request.app.state.runtime
    ticket = LoginTicket(user_id, target, int(time.time()) + TICKET_SECONDS)
    return Redirect(
        CODE_PAGE,
        status_code=303,
        cookies=[ticket_cookie(request, ticket.seal(runtime.token_key), TICKET_SECONDS)],
    )


def _ticket(request: Request[Any, Any, Any]) -> LoginTicket | None:
    runtime: Runtime = request.app.state.runtime
    return LoginTicket.unseal(runtime.token_key, request.cookies.get(TICKET_COOKIE))


def _start_again(request: Request[Any, Any, Any]) -> Template:
    """A missing, altered or expired ticket: the sign-in starts over, with the one generic
    message every failed sign-in gets."""
    return Template(
        "login.html",
        status_code=401,
        context={"next": "/", "error": LOGIN_FAILED, "email": ""},
        cookies=[ticket_cookie(request, "", 0)],
    )


def _code_form(error: str | None = None, status: int = 200, **kwargs: Any) -> Template:
    return Template(
        "login_totp.html",
        status_code=status,
        context={"error": error},
        **kwargs,
    )


@get(CODE_PAGE, include_in_schema=False)
async def code_form(request: Request[Any, Any, Any]) -> Template:
    if _ticket(request) is None:
        return _start_again(request)
    return _code_form()


@post(CODE_PAGE, include_in_schema=False)
async def submit_code(request: Request[Any, Any, Any]) -> Template | Redirect:
    ticket = _ticket(request)
    if ticket is None:
        return _start_again(request)
    fields = await form_fields(request)
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        services = Services(runtime, session, Actor.system("ui"))
        try:
            _, token, _ = await services.identity.login_second_factor(
                ticket.user_id,
                text(fields, "code"),
                user_agent=request.headers.get("user-agent"),
                client_ip=request.client.host if request.client else None,
            )
        except LoginThrottled as exc:
            return _code_form(exc.message, 429, headers={"Retry-After": str(exc.retry_after)})
        except WrongSecondFactor as exc:
            return _code_form(exc.message, 401)
        except AuthenticationFailed:
            return _start_again(request)
    secure = request.app.state.settings.secure_cookies
    return Redirect(
        ticket.next,
        status_code=303,
        cookies=[session_cookie(token, secure), ticket_cookie(request, "", 0)],
    )


async def second_factor_missing(runtime: Runtime, user_id: int) -> bool:
    """True when the person holds a role that requires an authenticator and has none (one
    primary-key read). Accounts that sign in only through single sign-on have no password to
    enrol with; their provider is responsible for their second factor."""
    required = runtime.limits.totp_required_roles
    if not required:
        return False
    async with runtime.sessions() as session:
        user = await session.get(User, user_id)
    if user is None or user.totp_secret or not has_password(user):
        return False
    return any(role in required for role in user.roles)


class SecondFactorPolicyMiddleware(ASGIMiddleware):
    """Holds a signed-in person whose role requires an authenticator (P11-26) on the
    enrolment page until they enrol one. Runs after ``ActorMiddleware``; costs one
    primary-key read per page, and nothing at all while the policy is off."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        actor = scope.get("state", {}).get("actor")
        runtime: Runtime = scope["litestar_app"].state.runtime
        if (
            actor is not None
            and actor.kind == "user"
            and actor.channel == "ui"
            and actor.id is not None
            and runtime.limits.totp_required_roles
            and not _ALLOWED_BEFORE_ENROLMENT.match(scope["path"])
            and await second_factor_missing(runtime, actor.id)
        ):
            await send_redirect(scope, receive, send, SECURITY_PAGE)
            return
        await next_app(scope, receive, send)


ROUTES = [code_form, submit_code]
