"""Login, logout and the landing redirect."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.auth import SESSION_COOKIE, session_cookie
from portal.forms import form_fields, safe_next, text
from portal.second_factor import code_step
from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import SecondFactorRequired
from trace_core.identity.throttle import LoginThrottled
from trace_core.services import Runtime, Services


@get("/login", include_in_schema=False)
async def login_form(next: str | None = None) -> Template:
    return Template("login.html", context={"next": safe_next(next), "error": None, "email": ""})


@post("/login", include_in_schema=False)
async def login(request: Request[Any, Any, Any]) -> Template | Redirect:
    fields = await form_fields(request)
    runtime: Runtime = request.app.state.runtime
    email, target = text(fields, "email"), safe_next(text(fields, "next"))
    async with runtime.sessions() as session:
        services = Services(runtime, session, Actor.system("ui"))
        try:
            _, token, _ = await services.identity.login(
                email,
                text(fields, "password"),
                user_agent=request.headers.get("user-agent"),
                client_ip=request.client.host if request.client else None,
            )
        except SecondFactorRequired as pending:
            # P11-26: no session yet; the code form finishes the login.
            return code_step(request, pending.user_id, target)
        except AuthenticationFailed as exc:
            # P11-25: a rate-limited sign-in answers 429 with Retry-After.
            retry = exc.retry_after if isinstance(exc, LoginThrottled) else None
            return Template(
                "login.html",
                status_code=401 if retry is None else 429,
                context={"next": target, "error": exc.message, "email": email},
                headers=None if retry is None else {"Retry-After": str(retry)},
            )
    secure = request.app.state.settings.secure_cookies
    return Redirect(target, status_code=303, cookies=[session_cookie(token, secure)])


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any], services: Services) -> Redirect:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await services.identity.logout(token)
    secure = request.app.state.settings.secure_cookies
    return Redirect("/login", status_code=303, cookies=[session_cookie("", secure, max_age=0)])


@get("/", include_in_schema=False)
async def home(actor: Actor) -> Redirect:
    return Redirect("/internal" if actor.is_internal else "/supplier", status_code=303)
