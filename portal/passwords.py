"""Password pages: forgot (public), reset by e-mailed link (public), change (signed in), and
the middleware that holds a person with an expired password on the change page (P11-23).

Every page here sets the password of the person who proves to be its owner, and only theirs
(P11-22): the change form asks for the current password, a reset link goes only to the
account's own address. There is no page that sets another person's password.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.forms import form_fields, text
from portal.i18n import N_
from portal.web import send_redirect
from trace_core.errors import AuthenticationFailed, ValidationFailed
from trace_core.identity.credentials import PasswordService, password_expired_for
from trace_core.identity.notices import deliver_later
from trace_core.identity.onboarding import LinkNotValid, anonymous
from trace_core.identity.password_policy import MIN_LENGTH
from trace_core.services import Runtime, Services

CHANGE_PAGE = "/account/password"
#: What a person whose password expired may still reach: the change page, signing out and
#: static files (public paths never reach this middleware with an actor).
_ALLOWED_WHEN_EXPIRED = re.compile(r"^/(account/password|logout|static/.*|favicon\.ico)$")


@asynccontextmanager
async def public_services(request: Request[Any, Any, Any]) -> AsyncIterator[Services]:
    """A unit of work for a public page: nobody is signed in."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        yield Services(runtime, session, anonymous())


def link_not_valid(message: str) -> Template:
    """One page, one status, for every link that cannot be used (no hint why)."""
    return Template(
        "onboarding/notice.html",
        status_code=410,
        context={"title": N_("This link cannot be used"), "message": message, "error": True},
    )


# -- forgot ------------------------------------------------------------------------------------
@get("/password/forgot", include_in_schema=False)
async def forgot_form() -> Template:
    return Template("passwords/forgot.html", context={"email": "", "errors": {}})


@post("/password/forgot", include_in_schema=False)
async def forgot(request: Request[Any, Any, Any]) -> Template:
    fields = await form_fields(request)
    email = text(fields, "email")
    if not email:
        return Template(
            "passwords/forgot.html",
            status_code=422,
            context={"email": "", "errors": {"email": N_("Enter your e-mail address.")}},
        )
    async with public_services(request) as services:
        message = await PasswordService(services).request_reset(
            email, request.client.host if request.client else None
        )
    # Sent after the response, so that known and unknown addresses answer alike, in time too.
    runtime: Runtime = request.app.state.runtime
    return Template(
        "onboarding/notice.html",
        context={
            "title": N_("Check your e-mail"),
            "message": N_(
                "If an active account uses this address, we have sent it a link to "
                "choose a new password. The link works once and for a limited time."
            ),
            "error": False,
        },
        background=BackgroundTask(deliver_later, runtime, message) if message else None,
    )


# -- reset -------------------------------------------------------------------------------------
@get("/password/reset/{token:str}", include_in_schema=False)
async def reset_form(request: Request[Any, Any, Any], token: str) -> Template:
    async with public_services(request) as services:
        try:
            user = await PasswordService(services).reset_target(token)
        except LinkNotValid as exc:
            return link_not_valid(exc.message)
    return _reset_page(token, user.email, {}, 200)


def _reset_page(token: str, email: str, errors: dict[str, str], status: int) -> Template:
    return Template(
        "passwords/reset.html",
        status_code=status,
        context={"token": token, "email": email, "errors": errors, "min_length": MIN_LENGTH},
    )


@post("/password/reset/{token:str}", include_in_schema=False)
async def reset(request: Request[Any, Any, Any], token: str) -> Template:
    fields = await form_fields(request)
    async with public_services(request) as services:
        passwords = PasswordService(services)
        try:
            await passwords.reset(token, text(fields, "password"), text(fields, "password_again"))
        except LinkNotValid as exc:
            return link_not_valid(exc.message)
        except ValidationFailed as exc:
            user = await passwords.reset_target(token)
            return _reset_page(token, user.email, exc.errors, 422)
    return Template(
        "onboarding/notice.html",
        context={
            "title": N_("Your password was changed"),
            "message": N_(
                "Sign in with your new password. Every other session of your account was ended."
            ),
            "error": False,
            "sign_in": True,
        },
    )


# -- change (signed in) ------------------------------------------------------------------------
async def _change_page(services: Services, errors: dict[str, str], status: int) -> Template:
    actor = services.actor
    expired = actor.kind == "user" and actor.id is not None
    expired = expired and await password_expired_for(services.runtime, actor.id or 0)
    return Template(
        "account/password.html",
        status_code=status,
        context={
            "errors": errors,
            "expired": expired,
            "max_age_days": services.limits.password_max_age_days,
            "min_length": MIN_LENGTH,
        },
    )


@get(CHANGE_PAGE, include_in_schema=False)
async def change_form(services: Services) -> Template:
    return await _change_page(services, {}, 200)


@post(CHANGE_PAGE, include_in_schema=False)
async def change(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    try:
        await PasswordService(services).change(
            services.actor,
            text(fields, "current_password"),
            text(fields, "password"),
            text(fields, "password_again"),
        )
    except AuthenticationFailed as exc:
        return await _change_page(services, {"current_password": exc.message}, 422)
    except ValidationFailed as exc:
        return await _change_page(services, exc.errors, 422)
    return Redirect("/", status_code=303)


class PasswordAgeMiddleware(ASGIMiddleware):
    """Holds a signed-in person whose password expired (P11-23) on the change page. Runs
    after ``ActorMiddleware``; costs one primary-key read per page, and nothing at all while
    aging is off."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        actor = scope.get("state", {}).get("actor")
        runtime: Runtime = scope["litestar_app"].state.runtime
        if (
            actor is not None
            and actor.kind == "user"
            and actor.channel == "ui"
            and actor.id is not None
            and runtime.limits.password_max_age_days > 0
            and not _ALLOWED_WHEN_EXPIRED.match(scope["path"])
            and await password_expired_for(runtime, actor.id)
        ):
            await send_redirect(scope, receive, send, CHANGE_PAGE)
            return
        await next_app(scope, receive, send)


ROUTES = [forgot_form, forgot, reset_form, reset, change_form, change]
