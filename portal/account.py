"""The person's own security settings: enrolling an authenticator (TOTP, RFC 6238) and its
recovery codes.

Enrolment needs the password and a correct first code (P11-26); from then on every sign-in and
every signature asks for a code as well. Enrolment returns ten recovery codes, shown once on
the page that answers it (never again: only their hashes are kept); regenerating them needs
the password and makes the old ones useless. People whose role requires an authenticator are
held on this page until they enrol (``portal/second_factor.py``). QR rendering is still to
come.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, text
from portal.i18n import N_
from portal.second_factor import second_factor_missing
from trace_core.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from trace_core.identity.models import User
from trace_core.identity.totp import new_secret, provisioning_uri
from trace_core.services import Services


async def _user(services: Services) -> User:
    actor = services.actor
    user = await services.session.get(User, actor.id) if actor.kind == "user" else None
    if user is None:
        raise PermissionDenied(N_("Only a person has security settings."))
    return user


async def _page(
    services: Services,
    secret: str | None,
    error: str | None,
    status: int,
    recovery_codes: list[str] | None = None,
) -> Template:
    user = await _user(services)
    secret = None if user.totp_secret else (secret or new_secret())
    required = [r for r in user.roles if r in services.limits.totp_required_roles]
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
            "recovery_codes": recovery_codes,
            "codes_left": await services.identity.unused_recovery_codes(user.id),
            "required_roles": required
            if await second_factor_missing(services.runtime, user.id)
            else [],
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
        codes = await services.identity.enroll_totp(
            services.actor, secret, text(fields, "code"), text(fields, "password")
        )
    except (AuthenticationFailed, ValidationFailed) as exc:
        return await _page(services, secret, exc.message, 422)
    # Not POST-redirect-GET: the recovery codes are shown once, on this answer only.
    return await _page(services, None, None, 200, recovery_codes=codes)


@post("/account/recovery-codes", include_in_schema=False)
async def regenerate_recovery_codes(
    request: Request[Any, Any, Any], services: Services
) -> Template:
    fields = await form_fields(request)
    try:
        codes = await services.identity.regenerate_recovery_codes(
            services.actor, text(fields, "password")
        )
    except (AuthenticationFailed, ValidationFailed) as exc:
        return await _page(services, None, exc.message, 422)
    return await _page(services, None, None, 200, recovery_codes=codes)


ROUTES = [security_page, enroll_totp, regenerate_recovery_codes]
