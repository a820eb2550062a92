"""The language a person reads the portal in: chosen for each request (the ``lang`` cookie,
else the browser's Accept-Language), and the switch in every page's header that sets the
cookie. The catalogues themselves are ``portal.i18n``'s."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request, get
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.forms import safe_next
from portal.i18n import LANGUAGES, N_, choose_language, current_language
from trace_core.errors import NotFound

LANGUAGE_COOKIE = "lang"
SWITCH_PATH = "/language"
#: A reader's choice is kept for a year; it is a preference, not a credential.
COOKIE_SECONDS = 365 * 24 * 3600


class LanguageMiddleware(ASGIMiddleware):
    """Sets ``current_language`` for the request, before anything else can answer it (the
    sign-in redirect, a guard's 403, a 404 all render in the reader's language).

    The variable is deliberately not reset when the request is done: Litestar's exception
    handlers, which render the error pages, run outside the middleware stack, after this
    has returned. Every request passes here first and sets it afresh, and an ASGI server
    runs each request in a context of its own."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        current_language.set(
            choose_language(
                connection.cookies.get(LANGUAGE_COOKIE),
                connection.headers.get("accept-language"),
            )
        )
        await next_app(scope, receive, send)


@get(SWITCH_PATH, include_in_schema=False)
async def switch_language(
    request: Request[Any, Any, Any], lang: str, next: str | None = None
) -> Redirect:
    """Remember the reader's language and go back to the page they were on: ``next`` when
    the link names it, else the page the link was clicked on (the Referer, this site's
    only), else the start page. A plain link (GET), so that it works without JavaScript and
    on pages without a form; setting a language preference needs no CSRF protection."""
    if lang not in LANGUAGES:
        raise NotFound(N_("No such language."))
    cookie = Cookie(
        key=LANGUAGE_COOKIE,
        value=lang,
        max_age=COOKIE_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )
    target = safe_next(next) if next else _same_site_referer(request)
    return Redirect(target, status_code=303, cookies=[cookie])


def _same_site_referer(request: Request[Any, Any, Any]) -> str:
    """The path and query of the page the request came from, if it is one of ours, else
    the start page. Our Referrer-Policy (same-origin) sends it for exactly those."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path:
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"


@pass_context
def switch_url(context: Context, language: str) -> str:
    """Template global: the link that switches the page to ``language``.

    The link names no page: the click's Referer is the page itself, and a page never
    repeats its own address (the invitation and password-reset pages answer every unusable
    link with the same bytes, and their address holds the token). Only a page that answered
    a form post names one, the page the form was on: its own address may take no GET."""
    link = f"{SWITCH_PATH}?lang={language}"
    request = context.get("request")
    if request is None or request.method in ("GET", "HEAD"):
        return link
    form_page = _same_site_referer(request)
    return link if form_page == "/" else f"{link}&next={quote(form_page, safe='')}"


ROUTES = [switch_language]
