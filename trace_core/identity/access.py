"""Administering access: organizations and their sites, who belongs to them, which roles they
hold, whose identity is verified, and who is disabled.

- **Grants and revocations** (A11-09) write a new version of the ``user`` record (action
  ``revise``, with the reason) and a ``role_granted`` / ``role_revoked`` audit event naming the
  approver, who is the person acting. Nobody grants roles to themselves.
- **Identity verification** (P11-19): a signing role (``roles.SIGNING_ROLES``) is granted only
  when an ``identity_verification`` record exists for the person: who verified, how, when. Only
  an internal admin (``identity.verify``) records one, never for themselves: the maker, whose
  system the signatures live in, is the organization that sanctions them. External admins see
  whether a colleague is verified, and may then grant the signing role themselves.
- **Accounts are disabled, never deleted** (P11-18): disabling ends the person's sessions and
  open reset links at once; enabling needs a reason like disabling does. Unlocking after a
  lockout is an admin's decision, audited.
- **Scope**: an internal admin (``users.manage``) acts on any organization; an external admin
  (``users.invite``) only on non-admin colleagues in their own organization. A person outside
  one's scope is ``NotFound``, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from trace_core.db import utc_now
from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import ORGANIZATION_KINDS, Organization, User, WebSession
from trace_core.identity.onboarding import OnboardingService
from trace_core.identity.onboarding_models import (
    IdentityVerification,
    Invitation,
    PasswordReset,
    Site,
)
from trace_core.identity.roles import (
    ADMIN_ROLES,
    SIGNING_ROLES,
    assignable_roles,
    is_internal_admin,
)
from trace_core.identity.service import IdentityService
from trace_core.services import Services

#: How identities are usually verified; the form offers these and "other" (with a note).
VERIFICATION_METHODS = (
    "video call with government photo ID",
    "in person with government photo ID",
    "employer HR record with photo ID, confirmed by phone",
)


@dataclass(frozen=True)
class Member:
    user: User
    verification: IdentityVerification | None

    @property
    def locked(self) -> bool:
        return self.user.locked_at is not None

    @property
    def signing_roles(self) -> list[str]:
        return [role for role in self.user.roles if role in SIGNING_ROLES]


@dataclass(frozen=True)
class OrganizationView:
    organization: Organization
    sites: list[Site]
    members: list[Member]
    invitations: list[Invitation]
    #: Roles the viewer may invite with (no signing roles: those come after verification).
    invitable_roles: tuple[str, ...]


@dataclass(frozen=True)
class MemberView:
    member: Member
    organization: Organization
    verifications: list[IdentityVerification]
    #: Roles the viewer may grant to this person now.
    grantable: tuple[str, ...]
    #: Roles the viewer may revoke from this person.
    revocable: tuple[str, ...]
    can_verify: bool
    can_disable: bool


@dataclass(frozen=True)
class OrganizationSummary:
    organization: Organization
    sites: int
    people: int


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationFailed({"reason": "Say why (it goes into the audit trail)."})
    return reason[:500]


class AccessService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    # -- organizations and sites (internal admins) -------------------------------------------
    async def organizations(self, actor: Actor) -> list[OrganizationSummary]:
        self._require_internal_admin(actor)
        sites = dict(
            (
                await self.session.execute(
                    select(Site.organization_id, func.count()).group_by(Site.organization_id)
                )
            ).all()
        )
        people = dict(
            (
                await self.session.execute(
                    select(User.organization_id, func.count())
                    .where(User.active.is_(True))
                    .group_by(User.organization_id)
                )
            ).all()
        )
        rows = await self.session.scalars(select(Organization).order_by(Organization.name))
        return [
            OrganizationSummary(org, int(sites.get(org.id, 0)), int(people.get(org.id, 0)))
            for org in rows
        ]

    async def create_organization(
        self, actor: Actor, name: str, kind: str, address: str
    ) -> Organization:
        self._require_internal_admin(actor)
        name, address = " ".join(name.split()), address.strip()
        errors: dict[str, str] = {}
        if not name or len(name) > 200:
            errors["name"] = "Enter the organization's name (at most 200 characters)."
        elif await self.session.scalar(
            select(func.count())
            .select_from(Organization)
            .where(func.lower(Organization.name) == name.lower())
        ):
            errors["name"] = "An organization of this name exists already."
        if kind not in ORGANIZATION_KINDS:
            errors["kind"] = f"Use one of: {', '.join(ORGANIZATION_KINDS)}."
        if errors:
            raise ValidationFailed(errors)
        organization = await IdentityService(self.s).create_organization(
            name, kind, address or None
        )
        await self.keeper.commit()
        return organization

    async def add_site(self, actor: Actor, organization_id: int, name: str, address: str) -> Site:
        self._require_internal_admin(actor)
        organization = await self._organization(organization_id)
        name, address = " ".join(name.split()), address.strip()
        errors: dict[str, str] = {}
        if not name or len(name) > 200:
            errors["name"] = "Enter the site's name (at most 200 characters)."
        if not address:
            errors["address"] = "Enter the site's address."
        if errors:
            raise ValidationFailed(errors)
        site = Site(organization_id=organization.id, name=name, address=address)
        self.session.add(site)
        await self.session.flush()
        await self.keeper.write_version(
            "site",
            site.id,
            status="active",
            action="create",
            data={"organization_id": organization.id, "name": name, "address": address},
        )
        await self.keeper.commit()
        return site

    async def organization(self, actor: Actor, organization_id: int) -> OrganizationView:
        """An organization with its sites, people and open invitations. External admins see
        only their own."""
        if not (is_internal_admin(actor) or actor.can("users.invite")):
            raise PermissionDenied("You may not manage people.")
        if not is_internal_admin(actor) and actor.organization_id != organization_id:
            raise NotFound("No such organization.")
        organization = await self._organization(organization_id)
        sites = list(
            await self.session.scalars(
                select(Site).where(Site.organization_id == organization_id).order_by(Site.name)
            )
        )
        users = list(
            await self.session.scalars(
                select(User)
                .where(User.organization_id == organization_id)
                .order_by(User.active.desc(), User.full_name)
            )
        )
        verified = await self._latest_verifications([u.id for u in users])
        invitable = tuple(
            role
            for role in assignable_roles(actor, organization.kind, organization.id)
            if role not in SIGNING_ROLES
        )
        return OrganizationView(
            organization,
            sites,
            [Member(u, verified.get(u.id)) for u in users],
            await OnboardingService(self.s).pending(organization_id),
            invitable,
        )

    # -- one person ------------------------------------------------------------------------
    async def member(self, actor: Actor, user_id: int) -> MemberView:
        user = await self._reachable(actor, user_id)
        organization = await self._organization(user.organization_id)
        verifications = list(
            await self.session.scalars(
                select(IdentityVerification)
                .where(IdentityVerification.user_id == user.id)
                .order_by(IdentityVerification.verified_at.desc())
            )
        )
        allowed = assignable_roles(actor, organization.kind, organization.id)
        own = actor.kind == "user" and actor.id == user.id
        changeable = not own and (is_internal_admin(actor) or not set(user.roles) & ADMIN_ROLES)
        return MemberView(
            Member(user, verifications[0] if verifications else None),
            organization,
            verifications,
            tuple(r for r in allowed if r not in user.roles) if changeable and user.active else (),
            tuple(r for r in user.roles if r in allowed) if changeable else (),
            actor.can("identity.verify") and actor.is_internal and not own and user.active,
            changeable,
        )

    async def grant_role(self, actor: Actor, user_id: int, role: str, reason: str) -> User:
        """Give ``user`` the role (A11-09); a signing role needs a verified identity (P11-19)."""
        user = await self._reachable(actor, user_id)
        reason = _reason(reason)
        organization = await self._organization(user.organization_id)
        if actor.kind == "user" and actor.id == user.id:
            raise PermissionDenied("Someone else must grant you a role.")
        self._require_may_change(actor, user)
        if role not in assignable_roles(actor, organization.kind, organization.id):
            raise ValidationFailed({"role": f"You cannot give the role '{role}' here."})
        if role in user.roles:
            raise ValidationFailed({"role": f"{user.full_name} has this role already."})
        if not user.active:
            raise ValidationFailed({"role": "The account is disabled; enable it first."})
        if role in SIGNING_ROLES and not await self._latest_verifications([user.id]):
            self.keeper.audit(
                "role_grant_refused",
                "user",
                user.id,
                new={"role": role, "problem": "identity not verified"},
                reason=reason,
            )
            await self.keeper.commit()
            raise ValidationFailed(
                {
                    "role": f"'{role}' is a signing role: a Traceport administrator must first "
                    f"record how {user.full_name}'s identity was verified."
                }
            )
        user.roles = sorted({*user.roles, role})
        await self._write_user(user, actor, reason, "role_granted", role)
        return user

    async def revoke_role(self, actor: Actor, user_id: int, role: str, reason: str) -> User:
        user = await self._reachable(actor, user_id)
        reason = _reason(reason)
        organization = await self._organization(user.organization_id)
        if actor.kind == "user" and actor.id == user.id:
            raise PermissionDenied("Someone else must change your roles.")
        self._require_may_change(actor, user)
        if role not in user.roles:
            raise ValidationFailed({"role": f"{user.full_name} does not have this role."})
        if role not in assignable_roles(actor, organization.kind, organization.id):
            raise ValidationFailed({"role": f"You cannot take away the role '{role}'."})
        user.roles = sorted(set(user.roles) - {role})
        await self._write_user(user, actor, reason, "role_revoked", role)
        return user

    async def record_verification(
        self, actor: Actor, user_id: int, method: str, note: str
    ) -> IdentityVerification:
        """Record who verified ``user``'s identity, how and when (P11-19)."""
        if not (actor.is_internal and actor.can("identity.verify")):
            raise PermissionDenied("Only a Traceport administrator verifies identities.")
        user = await self._reachable(actor, user_id)
        if actor.kind == "user" and actor.id == user.id:
            raise PermissionDenied("Someone else must verify your identity.")
        method, note = " ".join(method.split()), note.strip()
        errors: dict[str, str] = {}
        if not method or len(method) > 300:
            errors["method"] = "Say how the identity was verified (at most 300 characters)."
        elif method not in VERIFICATION_METHODS and not note:
            errors["note"] = "Describe the verification in the note."
        if not user.active:
            errors["method"] = "The account is disabled."
        if errors:
            raise ValidationFailed(errors)
        verification = IdentityVerification(
            user_id=user.id,
            verified_by=actor.id if actor.kind == "user" else None,
            verified_by_name=actor.name,
            method=method,
            note=note or None,
            verified_at=utc_now(),
        )
        self.session.add(verification)
        await self.session.flush()
        await self.keeper.write_version(
            "identity_verification",
            verification.id,
            status="recorded",
            action="create",
            data={
                "user_id": user.id,
                "email": user.email,
                "full_name": user.full_name,
                "verified_by": verification.verified_by,
                "verified_by_name": actor.name,
                "method": method,
                "note": note or None,
                "verified_at": verification.verified_at,
            },
        )
        self.keeper.audit(
            "identity_verified",
            "user",
            user.id,
            new={"verification_id": verification.id, "method": method},
        )
        await self.keeper.commit()
        return verification

    async def set_active(self, actor: Actor, user_id: int, active: bool, reason: str) -> User:
        """Disable (or enable again) an account; it is never deleted (P11-18)."""
        user = await self._reachable(actor, user_id)
        reason = _reason(reason)
        if actor.kind == "user" and actor.id == user.id:
            raise PermissionDenied("Another administrator must do this.")
        self._require_may_change(actor, user)
        if user.active == active:
            raise ValidationFailed(
                {"reason": f"The account is {'active' if active else 'disabled'} already."}
            )
        user.active = active
        now = utc_now()
        if not active:
            await self.session.execute(
                update(WebSession)
                .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            await self.session.execute(
                update(PasswordReset)
                .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                .values(used_at=now)
            )
        await self.keeper.write_version(
            "user",
            user.id,
            status="active" if active else "disabled",
            action="status",
            data=await self._user_content(user),
            reason=reason,
        )
        self.keeper.audit(
            "account_enabled" if active else "account_disabled",
            "user",
            user.id,
            new={"approved_by": actor.name, "approver_id": actor.id},
            reason=reason,
        )
        await self.keeper.commit()
        return user

    async def unlock(self, actor: Actor, user_id: int, reason: str) -> User:
        """Lift a lockout (P11-25) after the attempts were looked into."""
        self._require_internal_admin(actor)
        user = await self._reachable(actor, user_id)
        reason = _reason(reason)
        if user.locked_at is None:
            raise ValidationFailed({"reason": "The account is not locked."})
        user.locked_at = None
        user.failed_attempts = 0
        self.keeper.audit(
            "account_unlocked",
            "user",
            user.id,
            new={"approved_by": actor.name, "approver_id": actor.id},
            reason=reason,
        )
        await self.keeper.commit()
        return user

    # -- helpers ---------------------------------------------------------------------------
    async def _write_user(
        self, user: User, actor: Actor, reason: str, action: str, role: str
    ) -> None:
        version = await self.keeper.write_version(
            "user",
            user.id,
            status="active" if user.active else "disabled",
            action="revise",
            data=await self._user_content(user),
            reason=reason,
        )
        self.keeper.audit(
            action,
            "user",
            user.id,
            version.version,
            new={
                "role": role,
                "roles": sorted(user.roles),
                "approved_by": actor.name,
                "approver_id": actor.id,
            },
            reason=reason,
        )
        await self.keeper.commit()

    async def _user_content(self, user: User) -> dict[str, Any]:
        """The ``user`` record's latest data with today's roles: whatever else the record
        holds (e.g. a linked single sign-on identity) is carried over unchanged."""
        latest = await self.keeper.latest_version("user", user.id)
        data: dict[str, Any] = (
            dict(latest.content)
            if latest is not None
            else {
                "email": user.email,
                "full_name": user.full_name,
                "organization_id": user.organization_id,
            }
        )
        data["roles"] = sorted(user.roles)
        return data

    def _require_may_change(self, actor: Actor, user: User) -> None:
        """External admins change only colleagues who are not admins themselves."""
        if not is_internal_admin(actor) and set(user.roles) & ADMIN_ROLES:
            raise PermissionDenied("Only a Traceport administrator can do this for an admin.")

    def _require_internal_admin(self, actor: Actor) -> None:
        if not is_internal_admin(actor):
            raise PermissionDenied("Only a Traceport administrator can do this.")

    async def _organization(self, organization_id: int) -> Organization:
        organization = await self.session.get(Organization, organization_id)
        if organization is None:
            raise NotFound("No such organization.")
        return organization

    async def _reachable(self, actor: Actor, user_id: int) -> User:
        """The person, if ``actor`` administers them; otherwise ``NotFound``."""
        if not (is_internal_admin(actor) or actor.can("users.invite")):
            raise PermissionDenied("You may not manage people.")
        user = await self.session.get(User, user_id)
        if user is None or not (
            is_internal_admin(actor) or user.organization_id == actor.organization_id
        ):
            raise NotFound("No such person.")
        return user

    async def _latest_verifications(self, user_ids: list[int]) -> dict[int, IdentityVerification]:
        if not user_ids:
            return {}
        rows = await self.session.scalars(
            select(IdentityVerification)
            .where(IdentityVerification.user_id.in_(user_ids))
            .order_by(IdentityVerification.verified_at, IdentityVerification.id)
        )
        return {row.user_id: row for row in rows}
