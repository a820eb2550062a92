"""What the internal user-administration pages (``internal/users.py``) and the supplier team
pages (``supplier/team.py``) share: rendering an organization's people and one person's
access, and running the actions both offer (invite, grant, revoke, disable, enable). The
services decide who may do what; these functions only parse, call and render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.response import Redirect, Template

from portal.forms import text
from portal.i18n import N_
from trace_core.errors import PermissionDenied, ValidationFailed
from trace_core.identity.access import VERIFICATION_METHODS, AccessService
from trace_core.identity.onboarding import OnboardingService
from trace_core.identity.roles import KIND_LABELS, ROLE_LABELS, SIGNING_ROLES
from trace_core.services import Services


@dataclass(frozen=True)
class Paths:
    """Where the pages of one audience live."""

    organization: str
    """The organization page (invite form, people, invitations); ``{id}`` is replaced."""
    member: str
    """Prefix of a person's page: ``member + str(user_id)``."""
    invitation: str
    """Prefix of an invitation's actions: ``invitation + str(id) + "/revoke"``."""


def many(fields: dict[str, Any], name: str) -> list[str]:
    value = fields.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _common(paths: Paths) -> dict[str, Any]:
    return {
        "paths": paths,
        "role_labels": ROLE_LABELS,
        "kind_labels": KIND_LABELS,
        "signing_roles": SIGNING_ROLES,
        "methods": VERIFICATION_METHODS,
    }


async def organization_page(
    services: Services,
    template: str,
    organization_id: int,
    paths: Paths,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Template:
    view = await AccessService(services).organization(services.actor, organization_id)
    return Template(
        template,
        status_code=status,
        context={
            **_common(paths),
            "view": view,
            "values": values or {},
            "errors": errors or {},
            "notice": notice,
        },
    )


async def member_page(
    services: Services,
    template: str,
    user_id: int,
    paths: Paths,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    view = await AccessService(services).member(services.actor, user_id)
    return Template(
        template,
        status_code=status,
        context={**_common(paths), "view": view, "errors": errors or {}},
    )


async def invite(
    services: Services, template: str, organization_id: int, paths: Paths, fields: dict[str, Any]
) -> Template | Redirect:
    email, roles = text(fields, "email"), many(fields, "roles")
    try:
        sent = await OnboardingService(services).invite(
            services.actor, organization_id, email, roles
        )
    except ValidationFailed as exc:
        return await organization_page(
            services,
            template,
            organization_id,
            paths,
            values={"email": email, "roles": roles},
            errors=exc.errors,
            status=422,
        )
    outcome = "sent" if sent.mailed else "mail_failed"
    page = paths.organization.format(id=organization_id)
    return Redirect(f"{page}?invited={sent.invitation.id}&mail={outcome}", status_code=303)


def invitation_notice(invited: str | None, mail: str | None) -> str | None:
    if not invited:
        return None
    if mail == "mail_failed":
        return N_(
            "The invitation was saved, but the e-mail could not be sent (it is kept in the "
            "outbox's undelivered folder and the failure is in the audit trail). Withdraw it "
            "and invite again once mail works."
        )
    return N_("The invitation was sent.")


async def member_action(
    services: Services,
    template: str,
    user_id: int,
    paths: Paths,
    action: str,
    fields: dict[str, Any],
) -> Template | Redirect:
    """Run one of grant, revoke, disable, enable, unlock, verify for the person."""
    access, actor = AccessService(services), services.actor
    reason = text(fields, "reason")
    try:
        if action == "grant":
            await access.grant_role(actor, user_id, text(fields, "role"), reason)
        elif action == "revoke":
            await access.revoke_role(actor, user_id, text(fields, "role"), reason)
        elif action in ("disable", "enable"):
            await access.set_active(actor, user_id, action == "enable", reason)
        elif action == "unlock":
            await access.unlock(actor, user_id, reason)
        elif action == "verify":
            method = text(fields, "method")
            if method == "other":
                method = text(fields, "other_method")
            await access.record_verification(actor, user_id, method, text(fields, "note"))
        else:
            raise PermissionDenied(N_("Unknown action."))
    except ValidationFailed as exc:
        errors = {f"{action}_{field}": message for field, message in exc.errors.items()}
        return await member_page(services, template, user_id, paths, errors=errors, status=422)
    except PermissionDenied as exc:
        errors = {"denied": exc.message}
        return await member_page(services, template, user_id, paths, errors=errors, status=403)
    return Redirect(f"{paths.member}{user_id}", status_code=303)
