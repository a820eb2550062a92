"""User administration for our own admins (``users.manage``): organizations with their sites,
the people of each, invitations, roles with reasons, identity verification, disabling,
unlocking. Rules live in ``trace_core/identity/access.py`` and ``onboarding.py``."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, text
from portal.i18n import N_
from portal.people import (
    Paths,
    invitation_notice,
    invite,
    member_action,
    member_page,
    organization_page,
)
from trace_core.errors import PermissionDenied, ValidationFailed
from trace_core.identity.access import AccessService
from trace_core.identity.models import ORGANIZATION_KINDS
from trace_core.identity.onboarding import OnboardingService
from trace_core.identity.roles import KIND_LABELS
from trace_core.services import Services

ORGANIZATION = "internal/users/organization.html"
MEMBER = "internal/users/member.html"


PATHS = Paths(
    organization="/internal/organizations/{id}",
    member="/internal/users/",
    invitation="/internal/invitations/",
)


def _internal(services: Services) -> Services:
    """These pages are for our own admins; a supplier's admin has ``/supplier/team``."""
    if not services.actor.is_internal:
        raise PermissionDenied(N_("This page is for Traceport's own administrators."))
    return services


async def _organizations_page(
    services: Services, values: dict[str, str], errors: dict[str, str], status: int
) -> Template:
    return Template(
        "internal/users/organizations.html",
        status_code=status,
        context={
            "organizations": await AccessService(services).organizations(services.actor),
            "kinds": ORGANIZATION_KINDS,
            "kind_labels": KIND_LABELS,
            "values": values,
            "errors": errors,
        },
    )


@get("/internal/organizations", include_in_schema=False)
async def organizations(services: Services) -> Template:
    return await _organizations_page(_internal(services), {}, {}, 200)


@post("/internal/organizations", include_in_schema=False)
async def create_organization(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    _internal(services)
    fields = await form_fields(request)
    values = {k: text(fields, k) for k in ("name", "kind", "address")}
    try:
        organization = await AccessService(services).create_organization(
            services.actor, values["name"], values["kind"], values["address"]
        )
    except ValidationFailed as exc:
        return await _organizations_page(services, values, exc.errors, 422)
    return Redirect(f"/internal/organizations/{organization.id}", status_code=303)


@get("/internal/organizations/{organization_id:int}", include_in_schema=False)
async def organization(
    services: Services, organization_id: int, invited: str | None = None, mail: str | None = None
) -> Template:
    return await organization_page(
        _internal(services),
        ORGANIZATION,
        organization_id,
        PATHS,
        notice=invitation_notice(invited, mail),
    )


@post("/internal/organizations/{organization_id:int}/sites", include_in_schema=False)
async def add_site(
    request: Request[Any, Any, Any], services: Services, organization_id: int
) -> Template | Redirect:
    _internal(services)
    fields = await form_fields(request)
    values = {"site_name": text(fields, "name"), "site_address": text(fields, "address")}
    try:
        await AccessService(services).add_site(
            services.actor, organization_id, values["site_name"], values["site_address"]
        )
    except ValidationFailed as exc:
        errors = {f"site_{field}": message for field, message in exc.errors.items()}
        return await organization_page(
            services,
            ORGANIZATION,
            organization_id,
            PATHS,
            values=values,
            errors=errors,
            status=422,
        )
    return Redirect(f"/internal/organizations/{organization_id}", status_code=303)


@post("/internal/organizations/{organization_id:int}/invitations", include_in_schema=False)
async def invite_person(
    request: Request[Any, Any, Any], services: Services, organization_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await invite(_internal(services), ORGANIZATION, organization_id, PATHS, fields)


@post("/internal/invitations/{invitation_id:int}/revoke", include_in_schema=False)
async def revoke_invitation(services: Services, invitation_id: int) -> Redirect:
    invitation = await OnboardingService(_internal(services)).revoke_invitation(
        services.actor, invitation_id
    )
    return Redirect(f"/internal/organizations/{invitation.organization_id}", status_code=303)


@get("/internal/users/{user_id:int}", include_in_schema=False)
async def member(services: Services, user_id: int) -> Template:
    return await member_page(_internal(services), MEMBER, user_id, PATHS)


@post(
    "/internal/users/{user_id:int}/{action:str}",
    include_in_schema=False,
)
async def act_on_member(
    request: Request[Any, Any, Any], services: Services, user_id: int, action: str
) -> Template | Redirect:
    """``action``: grant, revoke, verify, disable, enable or unlock."""
    fields = await form_fields(request)
    return await member_action(_internal(services), MEMBER, user_id, PATHS, action, fields)


ROUTES = [
    organizations,
    create_organization,
    organization,
    add_site,
    invite_person,
    revoke_invitation,
    member,
    act_on_member,
]
