"""Single sign-on for our own staff: from verified OpenID Connect claims to an internal user.

This module owns the rules, not the protocol. The web layer (``portal/oidc.py``) runs the
authorization code flow and validates the ID token (signature, issuer, audience, lifetime,
nonce); what arrives here are claims it already trusts. The rules:

- A person is found by the provider identity linked to the account, the pair (issuer,
  subject). The first time, an **internal**, active account with the same e-mail address is
  linked, but only when the provider says the address is verified; an account already linked
  to another subject is never re-linked.
- Optionally (``auto_provision``) a person the provider knows but we do not gets a new internal
  account, which can never sign in with a password (``SSO_ONLY_PASSWORD_HASH``).
- Roles come from the provider's groups through the configured mapping, at every sign-in.
  Roles are regulated configuration (A11-07, A11-09): a change is a new ``user`` version with a
  reason and its audit event, like any other revision. Nobody without a mapped role gets in.
- People of supplier and contract-manufacturer organizations never sign in this way; disabled
  and locked accounts are refused.
- Every outcome is audited: ``sso_login``, or ``sso_login_failed`` with a reason code and
  details for the administrator. Tokens are never written anywhere.

The person only ever sees ``SSO_FAILED``, whatever the reason: the page must not tell whether
an account exists (no user enumeration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import select

from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import INTERNAL_ROLES, Actor
from trace_core.identity.models import Organization, User
from trace_core.identity.onboarding_models import IdentityVerification
from trace_core.identity.roles import SIGNING_ROLES
from trace_core.identity.service import actor_for_user

if TYPE_CHECKING:
    from trace_core.services import Services

#: What the person sees for every refusal; the reason is in the audit trail only.
SSO_FAILED = "Single sign-on did not succeed; ask your administrator."

#: Stored as the password hash of accounts created by single sign-on. It is not a scrypt hash,
#: so ``verify_password`` can never match it: such a person signs in through the identity
#: provider only, which stays the one place their access is granted and withdrawn.
SSO_ONLY_PASSWORD_HASH = "!sso-only"  # noqa: S105 - a marker, not a secret

ROLES_REASON = "roles from SSO claims"
LINK_REASON = "single sign-on identity linked"


@dataclass(frozen=True)
class SsoConfig:
    """How Traceport trusts one OpenID Connect provider (from ``TRACEPORT_OIDC_*``)."""

    issuer: str
    """The provider's issuer URL exactly as in its ID tokens (``iss``)."""
    client_id: str
    """Our client id at the provider; ID tokens must name it in ``aud``."""
    client_secret: str
    """Our client secret (``client_secret_basic`` at the token endpoint)."""
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    """Scopes requested; ``openid`` is always included."""
    role_claim: str = "groups"
    """The claim holding the person's groups or roles at the provider."""
    role_map: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Provider group → our internal role names."""
    email_domains: tuple[str, ...] = ()
    """When set, only e-mail addresses in these domains sign in (lower case)."""
    email_verified_claim: str = "email_verified"
    """The boolean claim saying the provider verified the address (Entra ID: ``xms_edov``)."""
    auto_provision: bool = False
    """Create an internal account for a person with a mapped role whom we do not know yet."""
    organization: str | None = None
    """The internal organization new accounts join; by default the only internal one."""
    redirect_uri: str | None = None
    """Our callback URL as registered at the provider; by default derived from the request."""

    def __post_init__(self) -> None:
        problems = []
        if not self.issuer:
            problems.append("the issuer is empty")
        if not self.client_id or not self.client_secret:
            problems.append("the client id and secret are required")
        if "openid" not in self.scopes:
            problems.append("the scopes must include 'openid'")
        unknown = sorted({r for roles in self.role_map.values() for r in roles} - INTERNAL_ROLES)
        if unknown:
            problems.append(
                f"not internal roles: {', '.join(unknown)} "
                f"(use {', '.join(sorted(INTERNAL_ROLES))})"
            )
        if not self.role_map:
            problems.append("the role map is empty, so nobody could sign in")
        # Provisioning trusts the provider to say who belongs to the company; without a domain
        # list, a guest account of another tenant at the same provider would be enough.
        if self.auto_provision and not self.email_domains:
            problems.append("automatic provisioning needs the allowed e-mail domains")
        if problems:
            raise ValueError("Single sign-on is misconfigured: " + "; ".join(problems) + ".")

    def groups_in(self, claims: Mapping[str, Any]) -> list[str]:
        """The person's groups: a list claim, or one string of space- or comma-separated
        names (some providers send that)."""
        value = claims.get(self.role_claim)
        if isinstance(value, str):
            return [g for g in value.replace(",", " ").split() if g]
        if isinstance(value, list | tuple):
            return [str(g) for g in value]
        return []

    def roles_for(self, groups: list[str]) -> frozenset[str]:
        roles: set[str] = set()
        for group in groups:
            roles |= self.role_map.get(group, frozenset())
        return frozenset(roles)

    def email_allowed(self, email: str | None) -> bool:
        if not self.email_domains:
            return True
        if not email or "@" not in email:
            return False
        return email.rsplit("@", 1)[1].lower() in self.email_domains


def parse_role_map(text: str) -> dict[str, frozenset[str]]:
    """``qa-approvers=qa_approver,ops=operations`` → mapping. A group may appear more than
    once to grant several roles. Roles never contain ``=``, so the last one splits."""
    mapping: dict[str, set[str]] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        group, sep, role = entry.rpartition("=")
        if not sep or not group.strip() or not role.strip():
            raise ValueError(f"Role map entry {entry!r} is not 'group=role'.")
        mapping.setdefault(group.strip(), set()).add(role.strip())
    return {group: frozenset(roles) for group, roles in mapping.items()}


def _email_verified(claims: Mapping[str, Any], claim: str) -> bool:
    value = claims.get(claim)
    # Some providers send the boolean as a string.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _anonymous(services: Services) -> Actor:
    return Actor("system", None, "anonymous", None, "external", services.actor.channel)


async def refuse_sso_login(
    services: Services,
    reason: str,
    *,
    issuer: str | None = None,
    subject: str | None = None,
    email: str | None = None,
    user_id: int | None = None,
    detail: str | None = None,
) -> NoReturn:
    """Audit a refused single sign-on (its own transaction) and raise the generic refusal.

    The web layer calls this too, for failures before any claim is trusted (state, code
    exchange, ID token). ``detail`` is for the administrator; it must never hold a token.
    """
    await services.keeper.rollback()
    services.keeper.audit(
        "sso_login_failed",
        "user",
        user_id,
        new={
            "reason": reason,
            "issuer": issuer,
            "subject": (subject or "")[:255] or None,
            "email": (email or "")[:254] or None,
            "detail": (detail or "")[:500] or None,
        },
        actor=_anonymous(services),
    )
    await services.keeper.commit()
    raise AuthenticationFailed(SSO_FAILED)


async def login_with_claims(
    services: Services, config: SsoConfig, claims: Mapping[str, Any]
) -> User:
    """The internal user these verified claims sign in, with roles applied from the claims.

    Refusals are audited and committed, then raised as ``AuthenticationFailed(SSO_FAILED)``.
    On success the link, any role change (new ``user`` versions) and the ``sso_login`` event
    are staged but **not committed**: the caller opens the web session in the same unit of
    work and commits, so the audit trail never shows a sign-in without its session or the
    reverse (``sign_in_with_claims`` does both).
    """
    session = services.session
    subject = claims.get("sub")
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    if not isinstance(subject, str) or not subject or claims.get("iss") != config.issuer:
        await refuse_sso_login(
            services,
            "invalid_claims",
            issuer=config.issuer,
            subject=subject if isinstance(subject, str) else None,
            email=email,
            detail=f"iss {str(claims.get('iss'))[:200]!r}",
        )
    assert isinstance(subject, str)
    seen: dict[str, Any] = {"issuer": config.issuer, "subject": subject, "email": email}

    user = await session.scalar(
        select(User).where(User.sso_issuer == config.issuer, User.sso_subject == subject)
    )
    link = False
    if user is None:
        # First sign-in: only an address the provider has verified may claim an account, or
        # anyone able to set an e-mail address at the provider could take over that account.
        if not email or not _email_verified(claims, config.email_verified_claim):
            await refuse_sso_login(services, "email_not_verified", **seen)
        assert email is not None
        user = await session.scalar(select(User).where(User.email_key == email.strip().lower()))
        if user is not None:
            if user.sso_subject is not None:
                await refuse_sso_login(
                    services, "linked_to_another_identity", user_id=user.id, **seen
                )
            link = True
    if user is not None:
        if not user.organization.is_internal:
            await refuse_sso_login(services, "external_organization", user_id=user.id, **seen)
        if not user.active:
            await refuse_sso_login(services, "account_disabled", user_id=user.id, **seen)
        if user.locked_at is not None:
            await refuse_sso_login(services, "account_locked", user_id=user.id, **seen)
    user_id = user.id if user is not None else None
    if not config.email_allowed(email):
        await refuse_sso_login(services, "email_domain_not_allowed", user_id=user_id, **seen)
    groups = config.groups_in(claims)
    roles = config.roles_for(groups)
    if not roles:
        await refuse_sso_login(
            services,
            "no_mapped_role",
            user_id=user_id,
            detail=f"groups: {', '.join(groups)[:400]}" if groups else "no groups in the claims",
            **seen,
        )

    if user is None and not config.auto_provision:
        await refuse_sso_login(services, "unknown_user", **seen)
    # Signing roles rest on a recorded identity check (P11-19), whatever the provider says.
    verified = user is not None and (
        await services.session.scalar(
            select(IdentityVerification.id).where(IdentityVerification.user_id == user.id).limit(1)
        )
        is not None
    )
    withheld = sorted(roles & SIGNING_ROLES) if not verified else []
    if withheld:
        roles = roles - SIGNING_ROLES
        if not roles:
            await refuse_sso_login(
                services,
                "signing_role_without_identity_check",
                user_id=user_id,
                detail=f"roles withheld: {', '.join(withheld)}",
                **seen,
            )
    if user is None:
        assert email is not None
        user = await _provision(services, config, subject, email, claims, roles, seen)
    else:
        if link:
            await _revise_user(
                services,
                user,
                {"sso_issuer": config.issuer, "sso_subject": subject},
                LINK_REASON,
            )
            user.sso_issuer, user.sso_subject = config.issuer, subject
        if set(user.roles) != roles:
            await _revise_user(services, user, {"roles": sorted(roles)}, ROLES_REASON)
            user.roles = sorted(roles)
    services.keeper.audit(
        "sso_login",
        "user",
        user.id,
        new={
            "issuer": config.issuer,
            "subject": subject,
            "groups": sorted(g for g in groups if g in config.role_map),
            "roles": sorted(roles),
            **({"roles_withheld_until_identity_check": withheld} if withheld else {}),
        },
        actor=actor_for_user(user, services.actor.channel),
    )
    return user


async def sign_in_with_claims(
    services: Services,
    config: SsoConfig,
    claims: Mapping[str, Any],
    *,
    user_agent: str | None = None,
    client_ip: str | None = None,
) -> tuple[User, str]:
    """Sign a person in by single sign-on: ``login_with_claims``, then a new web session
    (a fresh token: sessions rotate at every sign-in), in one unit of work. Returns the user
    and the session cookie token."""
    user = await login_with_claims(services, config, claims)
    token, _ = services.identity.open_session(user, user_agent=user_agent, client_ip=client_ip)
    await services.keeper.commit()
    return user, token


async def _provision(
    services: Services,
    config: SsoConfig,
    subject: str,
    email: str,
    claims: Mapping[str, Any],
    roles: frozenset[str],
    seen: dict[str, Any],
) -> User:
    query = select(Organization).where(Organization.kind == "internal")
    if config.organization:
        query = query.where(Organization.name == config.organization)
    organizations = list((await services.session.scalars(query)).all())
    if len(organizations) != 1:
        await refuse_sso_login(
            services,
            "no_internal_organization",
            detail=f"{len(organizations)} internal organizations match "
            f"{config.organization or 'any name'}",
            **seen,
        )
    organization = organizations[0]
    name = claims.get("name")
    full_name = name.strip()[:200] if isinstance(name, str) and name.strip() else email
    user = User(
        organization_id=organization.id,
        email=email.strip(),
        email_key=email.strip().lower(),
        full_name=full_name,
        password_hash=SSO_ONLY_PASSWORD_HASH,
        roles=sorted(roles),
        sso_issuer=config.issuer,
        sso_subject=subject,
        organization=organization,
    )
    services.session.add(user)
    await services.session.flush()
    await services.keeper.write_version(
        "user",
        user.id,
        status="active",
        action="create",
        data={
            "email": user.email,
            "full_name": full_name,
            "organization_id": organization.id,
            "roles": sorted(roles),
            "sso_issuer": config.issuer,
            "sso_subject": subject,
        },
    )
    return user


async def _revise_user(
    services: Services, user: User, changes: dict[str, Any], reason: str
) -> None:
    """A new version of the user record with ``changes`` applied to its latest content, so
    whatever else the record holds is carried over unchanged."""
    latest = await services.keeper.latest_version("user", user.id)
    if latest is not None:
        data, status = dict(latest.content), latest.status
    else:
        data = {
            "email": user.email,
            "full_name": user.full_name,
            "organization_id": user.organization_id,
            "roles": sorted(user.roles),
        }
        status = "active" if user.active else "disabled"
    data.update(changes)
    await services.keeper.write_version(
        "user", user.id, status=status, data=data, action="revise", reason=reason
    )
