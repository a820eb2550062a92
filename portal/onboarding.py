"""The public invitation page: an invited person opens the e-mailed link, types their name and
chooses their own password, and the account exists. The link works once and until it
expires; any link that cannot be used gets the same page (``passwords.link_not_valid``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Template

from portal.forms import form_fields, text
from portal.i18n import N_, gettext_
from portal.passwords import link_not_valid, public_services
from trace_core.errors import ValidationFailed
from trace_core.identity.models import Organization
from trace_core.identity.onboarding import LinkNotValid, OnboardingService
from trace_core.identity.onboarding_models import Invitation
from trace_core.identity.password_policy import MIN_LENGTH
from trace_core.identity.roles import ROLE_LABELS


def _form(
    token: str,
    invitation: Invitation,
    organization: Organization,
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
) -> Template:
    return Template(
        "onboarding/accept.html",
        status_code=status,
        context={
            "token": token,
            "email": invitation.email,
            "organization": organization.name,
            "roles": [ROLE_LABELS.get(role, role) for role in invitation.roles],
            "inviter": invitation.invited_by_name,
            "expires_at": invitation.expires_at,
            "values": values,
            "errors": errors,
            "min_length": MIN_LENGTH,
        },
    )


@get("/invite/{token:str}", include_in_schema=False)
async def invitation_form(request: Request[Any, Any, Any], token: str) -> Template:
    async with public_services(request) as services:
        try:
            invitation, organization = await OnboardingService(services).open_invitation(token)
        except LinkNotValid as exc:
            return link_not_valid(exc.message)
    return _form(token, invitation, organization, {"full_name": ""}, {}, 200)


@post("/invite/{token:str}", include_in_schema=False)
async def accept_invitation(request: Request[Any, Any, Any], token: str) -> Template:
    fields = await form_fields(request)
    full_name = text(fields, "full_name")
    async with public_services(request) as services:
        onboarding = OnboardingService(services)
        try:
            user = await onboarding.accept(
                token, full_name, text(fields, "password"), text(fields, "password_again")
            )
        except LinkNotValid as exc:
            return link_not_valid(exc.message)
        except ValidationFailed as exc:
            invitation, organization = await onboarding.open_invitation(token)
            return _form(token, invitation, organization, {"full_name": full_name}, exc.errors, 422)
    return Template(
        "onboarding/notice.html",
        context={
            "title": N_("Your account is ready"),
            "message": gettext_(
                "Welcome, %(name)s. Sign in with %(email)s and the password you chose."
            )
            % {"name": user.full_name, "email": user.email},
            "error": False,
            "sign_in": True,
        },
    )


ROUTES = [invitation_form, accept_invitation]
