"""The supplier's (or contract manufacturer's) own team, for its admins (``users.invite``):
who has an account, inviting colleagues, giving and taking roles, disabling someone who left.
Only their own organization, only non-admin roles; a signing role once Traceport has verified
the colleague's identity (``trace_core/identity/access.py``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields
from portal.i18n import N_
from portal.people import (
    Paths,
    invitation_notice,
    invite,
    member_action,
    member_page,
    organization_page,
)
from trace_core.errors import PermissionDenied
from trace_core.identity.onboarding import OnboardingService
from trace_core.services import Services

TEAM = "supplier/team/team.html"
MEMBER = "supplier/team/member.html"
PATHS = Paths(
    organization="/supplier/team",
    member="/supplier/team/",
    invitation="/supplier/team/invitations/",
)


def _own_organization(services: Services) -> int:
    actor = services.actor
    if actor.organization_id is None or not actor.can("users.invite"):
        raise PermissionDenied(N_("Only your organization's administrator manages its team."))
    return actor.organization_id


@get("/supplier/team", include_in_schema=False)
async def team(services: Services, invited: str | None = None, mail: str | None = None) -> Template:
    return await organization_page(
        services, TEAM, _own_organization(services), PATHS, notice=invitation_notice(invited, mail)
    )


@post("/supplier/team/invitations", include_in_schema=False)
async def invite_colleague(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    fields = await form_fields(request)
    return await invite(services, TEAM, _own_organization(services), PATHS, fields)


@post("/supplier/team/invitations/{invitation_id:int}/revoke", include_in_schema=False)
async def revoke_invitation(services: Services, invitation_id: int) -> Redirect:
    await OnboardingService(services).revoke_invitation(services.actor, invitation_id)
    return Redirect("/supplier/team", status_code=303)


@get("/supplier/team/{user_id:int}", include_in_schema=False)
async def colleague(services: Services, user_id: int) -> Template:
    _own_organization(services)
    return await member_page(services, MEMBER, user_id, PATHS)


@post("/supplier/team/{user_id:int}/{action:str}", include_in_schema=False)
async def act_on_colleague(
    request: Request[Any, Any, Any], services: Services, user_id: int, action: str
) -> Template | Redirect:
    """``action``: grant, revoke, disable or enable."""
    _own_organization(services)
    fields = await form_fields(request)
    return await member_action(services, MEMBER, user_id, PATHS, action, fields)


ROUTES = [team, invite_colleague, revoke_invitation, colleague, act_on_colleague]
