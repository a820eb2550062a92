"""Invitations: how a person gets an account.

Nobody creates an account with a password for someone else (P11-22). An administrator invites
an e-mail address into an organization with roles; the invitee receives a link (single use,
expiring, stored as SHA-256 only), chooses their own name and password, and the account is
created through ``IdentityService.create_user`` as a versioned, audited record.

- An internal admin (``users.manage``) invites into any organization, with any role of its
  kind. An external admin (``users.invite``: ``supplier_admin``, ``cm_admin``) invites only into
  their own organization and only non-admin roles.
- Signing roles are never part of an invitation: they are granted afterwards, once an identity
  verification is on record (``access.py``, P11-19).
- E-mail addresses are user names: unique without regard to case and never reused, also after
  an account is disabled (P11-18). An address in use is refused at invitation and again at
  acceptance.
- A link that is unknown, expired, used or withdrawn — or whose inviter has lost the right to
  invite — is refused with one and the same message, and the refusal is audited with the
  actual reason.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from trace_core.db import utc_now
from trace_core.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import Actor, permissions_for_roles
from trace_core.identity.models import Organization, User
from trace_core.identity.notices import deliver, invitation_message
from trace_core.identity.onboarding_models import Invitation
from trace_core.identity.password_policy import new_password_problems
from trace_core.identity.roles import (
    ROLE_LABELS,
    ROLES_BY_KIND,
    SIGNING_ROLES,
    assignable_roles,
    is_internal_admin,
)
from trace_core.identity.service import IdentityService, actor_for_user, token_sha256
from trace_core.services import Services

#: The one answer for every link that cannot be used, whatever the reason (the audit trail
#: records the reason).
LINK_NOT_VALID = (
    "This link cannot be used: it is unknown, was used already, has expired or was withdrawn. "
    "Ask for a new one."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class LinkNotValid(NotFound):
    """An invitation or password-reset link that cannot be used (always ``LINK_NOT_VALID``).
    The pages answer it with 410; anywhere else it is a plain 404."""

    def __init__(self) -> None:
        super().__init__(LINK_NOT_VALID)


@dataclass(frozen=True)
class InvitationSent:
    invitation: Invitation
    #: False when the mail transport refused the message (it is kept in the outbox's
    #: ``undelivered`` folder and audited as ``mail_failed``).
    mailed: bool


def normalise_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed({"email": "Enter one e-mail address, such as name@example.com."})
    return email


def check_full_name(full_name: str) -> str:
    full_name = " ".join(full_name.split())
    if not full_name:
        raise ValidationFailed(
            {"full_name": "Enter your full name as it should appear on signatures."}
        )
    if len(full_name) > 200:
        raise ValidationFailed({"full_name": "Use at most 200 characters."})
    return full_name


def anonymous() -> Actor:
    """Who acts on a public page before anyone signed in."""
    return Actor("system", None, "anonymous", None, "external", "ui")


async def email_in_use(services: Services, email_key: str) -> bool:
    count = await services.session.scalar(
        select(func.count()).select_from(User).where(User.email_key == email_key)
    )
    return bool(count)


class OnboardingService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    # -- inviting --------------------------------------------------------------------------
    async def invite(
        self, actor: Actor, organization_id: int, email: str, roles: list[str]
    ) -> InvitationSent:
        """Invite ``email`` into the organization with ``roles`` and e-mail the link."""
        if not (is_internal_admin(actor) or actor.can("users.invite")):
            raise PermissionDenied("You may not invite people.")
        organization = await self.session.get(Organization, organization_id)
        if organization is None or not (
            is_internal_admin(actor) or actor.organization_id == organization_id
        ):
            raise NotFound("No such organization.")
        errors: dict[str, str] = {}
        try:
            email = normalise_email(email)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        allowed = assignable_roles(actor, organization.kind, organization.id)
        roles = sorted(set(roles))
        if not roles:
            errors["roles"] = "Choose at least one role."
        elif any(role in SIGNING_ROLES for role in roles):
            errors["roles"] = (
                "Signing roles are not given by invitation: grant them once the person's "
                "identity has been verified."
            )
        elif any(role not in allowed for role in roles):
            errors["roles"] = (
                f"You may give these roles in {organization.name}: "
                + (", ".join(ROLE_LABELS[r] for r in allowed if r not in SIGNING_ROLES) or "none")
                + "."
            )
        if not errors and await email_in_use(self.s, email.lower()):
            # P11-18: a user name is never reused, also not after the account was disabled.
            errors["email"] = "This e-mail address is or was already in use and cannot be reused."
        if errors:
            self.keeper.audit(
                "invitation_refused",
                "organization",
                organization.id,
                new={"email": email[:254], "roles": roles, "problems": sorted(errors)},
            )
            await self.keeper.commit()
            raise ValidationFailed(errors)
        now = utc_now()
        for earlier in await self.session.scalars(
            select(Invitation).where(
                Invitation.email_key == email.lower(),
                Invitation.used_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
        ):
            earlier.revoked_at = now
            self.keeper.audit(
                "invitation_revoked",
                "organization",
                earlier.organization_id,
                new={"invitation_id": earlier.id, "email": earlier.email},
                reason="replaced by a new invitation",
            )
        token = secrets.token_urlsafe(32)
        invitation = Invitation(
            token_sha256=token_sha256(token),
            organization_id=organization.id,
            email=email,
            email_key=email.lower(),
            roles=roles,
            invited_by=actor.id if actor.kind == "user" else None,
            invited_by_name=actor.name,
            created_at=now,
            expires_at=now + dt.timedelta(hours=self.s.limits.invitation_valid_hours),
        )
        self.session.add(invitation)
        await self.session.flush()
        self.keeper.audit(
            "invitation_sent",
            "organization",
            organization.id,
            new={
                "invitation_id": invitation.id,
                "email": email,
                "roles": roles,
                "expires_at": invitation.expires_at,
            },
        )
        await self.keeper.commit()
        message = invitation_message(
            self.s, email, organization, actor.name, token, invitation.expires_at
        )
        mailed = await deliver(self.s, message, ("organization", organization.id))
        return InvitationSent(invitation, mailed)

    async def revoke_invitation(self, actor: Actor, invitation_id: int) -> Invitation:
        invitation = await self.session.get(Invitation, invitation_id)
        if invitation is None or not (
            is_internal_admin(actor)
            or (actor.can("users.invite") and actor.organization_id == invitation.organization_id)
        ):
            raise NotFound("No such invitation.")
        if invitation.used_at is None and invitation.revoked_at is None:
            invitation.revoked_at = utc_now()
            self.keeper.audit(
                "invitation_revoked",
                "organization",
                invitation.organization_id,
                new={"invitation_id": invitation.id, "email": invitation.email},
            )
            await self.keeper.commit()
        return invitation

    async def pending(self, organization_id: int) -> list[Invitation]:
        """Open invitations of an organization (callers check access to it)."""
        rows = await self.session.scalars(
            select(Invitation)
            .where(
                Invitation.organization_id == organization_id,
                Invitation.used_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .order_by(Invitation.created_at.desc())
        )
        return list(rows)

    # -- accepting -------------------------------------------------------------------------
    async def open_invitation(self, token: str) -> tuple[Invitation, Organization]:
        """The usable invitation for ``token`` (to show the form), else ``LinkNotValid``."""
        found = await self._usable(token)
        if isinstance(found, str):
            raise LinkNotValid()
        return found

    async def accept(self, token: str, full_name: str, password: str, password_again: str) -> User:
        """Create the account the invitation describes, with the invitee's own password."""
        found = await self._usable(token, for_update=True)
        if isinstance(found, str):
            self.keeper.audit(
                "invitation_refused",
                new={"reason": found, "token_sha256": token_sha256(token)[:16]},
                actor=anonymous(),
            )
            await self.keeper.commit()
            raise LinkNotValid()
        invitation, organization = found
        errors: dict[str, str] = {}
        try:
            full_name = check_full_name(full_name)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        errors.update(
            new_password_problems(
                password, password_again, invitation.email, full_name, organization.name
            )
        )
        if errors:
            self.keeper.audit(
                "invitation_refused",
                "organization",
                organization.id,
                new={
                    "invitation_id": invitation.id,
                    "reason": "invalid input",
                    "problems": errors,
                },
                actor=anonymous(),
            )
            await self.keeper.commit()
            raise ValidationFailed(errors)
        # The account is written by the invitation, on the inviter's authority; the invitee
        # acts (and is audited) from the moment the account exists.
        on_behalf = Actor(
            "system",
            None,
            f"invitation {invitation.id} from {invitation.invited_by_name}"[:200],
            organization.id,
            organization.kind,
            "ui",
        )
        writer = Services(self.s.runtime, self.session, on_behalf)
        user = await IdentityService(writer).create_user(
            organization, invitation.email, full_name, password, list(invitation.roles)
        )
        invitation.used_at = utc_now()
        invitation.user_id = user.id
        writer.keeper.audit(
            "invitation_accepted",
            "user",
            user.id,
            new={"invitation_id": invitation.id, "roles": sorted(invitation.roles)},
            actor=actor_for_user(user, "ui"),
        )
        await writer.keeper.commit()
        return user

    async def _usable(
        self, token: str, *, for_update: bool = False
    ) -> tuple[Invitation, Organization] | str:
        """The invitation and its organization, or why it cannot be used."""
        query = select(Invitation).where(Invitation.token_sha256 == token_sha256(token))
        if for_update:
            query = query.with_for_update()
        invitation = await self.session.scalar(query)
        if invitation is None:
            return "unknown"
        if invitation.used_at is not None:
            return "used"
        if invitation.revoked_at is not None:
            return "revoked"
        if invitation.expires_at <= utc_now():
            return "expired"
        organization = await self.session.get(Organization, invitation.organization_id)
        if organization is None or any(
            role not in ROLES_BY_KIND.get(organization.kind, ()) for role in invitation.roles
        ):
            return "organization changed"
        if invitation.invited_by is not None:
            inviter = await self.session.get(User, invitation.invited_by)
            may_invite = inviter is not None and permissions_for_roles(inviter.roles) & {
                "users.manage",
                "users.invite",
            }
            if inviter is None or not inviter.active or not may_invite:
                return "inviter no longer may invite"
        return invitation, organization
