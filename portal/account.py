"""The person's own security settings: enrolling an authenticator (TOTP, RFC 6238).

Enrolment needs the password and a correct first code (P11-26); from then on every signature
asks for a code as well. Recovery codes, QR rendering and the policy that makes a second factor
mandatory for some roles belong to the identity work still to come.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, text
from trace_core.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from trace_core.identity.models import User
from trace_core.identity.totp import new_secret, provisioning_uri
from trace_core.services import Services


async def _user(services: Services) -> User:
    actor = services.actor
    user = await services.session.get(User, actor.id) if actor.kind == "user" else None
    if user is None:
        raise PermissionDenied("Only a person has security settings.")
    return user


async def _page(
    services: Services, secret: str | None, error: str | None, status: int, done: bool = False
) -> Template:
    user = await _user(services)
    secret = None if user.totp_secret else (secret or new_secret())
    return Template(
        "account/security.html",
        status_code=status,
        context={
            "enrolled": bool(user.totp_secret),
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            if secret
            else "",
            "uri": provisioning_uri(secret, user.email) if secret else None,
            "error": error,
            "done": done,
        },
    )


@get("/account/security", include_in_schema=False)
async def security_page(services: Services) -> Template:
    return await _page(services, None, None, 200)


@post("/account/totp", include_in_schema=False)
async def enroll_totp(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    secret = text(fields, "secret")
    try:
        await services.identity.enroll_totp(
            services.actor, secret, text(fields, "code"), text(fields, "password")
        )
    except (AuthenticationFailed, ValidationFailed) as exc:
        return await _page(services, secret, exc.message, 422)
    return Redirect("/account/security", status_code=303)


ROUTES = [security_page, enroll_totp]
