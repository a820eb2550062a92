"""A person's own password: changing it, resetting it by e-mailed link, and aging.

No one sets another person's password (P11-22): there is no function here, no page and no API
that takes someone else's user id. A password is set by its owner only — when accepting the
invitation, by changing it (knowing the current one) or through a reset link that was sent to
the account's own e-mail address.

- **Reset** (``request_reset``) answers the same whether or not the address belongs to an
  account, and the handler sends the mail after the response, so neither the text nor the
  time of the answer tells (no user enumeration). Only an active account gets a link; a locked
  one gets a notice that a reset does not unlock it (an admin reviews the attempts and
  unlocks). At most ``RESETS_PER_HOUR`` requests per account and hour are answered with a
  mail (counted in the audit trail), against mail flooding.
  A link is single use, expires after ``reset_valid_minutes`` and is stored as SHA-256 only;
  using it ends every session of the account.
- **Aging** (P11-23): with ``password_max_age_days`` > 0 a password older than that must be
  changed before anything else (the portal restricts the session to the change page).
- A new password must follow the policy (``password_policy``) and differ from the current one.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import func, select, update

from trace_core.db import utc_now
from trace_core.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization, User, WebSession
from trace_core.identity.notices import locked_account_message, reset_message
from trace_core.identity.onboarding import LinkNotValid, anonymous
from trace_core.identity.onboarding_models import PasswordReset
from trace_core.identity.password_policy import new_password_problems
from trace_core.identity.passwords import hash_password, verify_password
from trace_core.identity.service import IdentityService, actor_for_user, token_sha256
from trace_core.mail import MailMessage
from trace_core.records.models import AuditEvent
from trace_core.services import Limits, Runtime, Services

RESETS_PER_HOUR = 3


def has_password(user: User) -> bool:
    """False for accounts that sign in only through single sign-on (their hash is a marker
    no password matches): they have no password to age or to reset."""
    return user.password_hash.startswith("scrypt$")


def password_expired(user: User, limits: Limits, now: dt.datetime | None = None) -> bool:
    """True when aging is on and the password is older than allowed."""
    if limits.password_max_age_days <= 0 or not has_password(user):
        return False
    age = (now or utc_now()) - user.password_changed_at
    return age > dt.timedelta(days=limits.password_max_age_days)


async def password_expired_for(runtime: Runtime, user_id: int) -> bool:
    """``password_expired`` for the person behind a session (one primary-key read)."""
    if runtime.limits.password_max_age_days <= 0:
        return False
    async with runtime.sessions() as session:
        user = await session.get(User, user_id)
        return user is not None and password_expired(user, runtime.limits)


class PasswordService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def request_reset(self, email: str, client_ip: str | None) -> MailMessage | None:
        """Prepare a reset link for ``email``; returns the message to send after the response
        (None when there is nothing to send). The caller answers the same in every case."""
        key = email.strip().lower()[:254]
        user = await self.session.scalar(select(User).where(User.email_key == key)) if key else None
        now = utc_now()
        outcome, message = "no active account", None
        if user is not None and user.active:
            recent = await self.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.record_type == "user",
                    AuditEvent.record_id == user.id,
                    AuditEvent.action == "password_reset_requested",
                    AuditEvent.occurred_at > now - dt.timedelta(hours=1),
                )
            )
            if (recent or 0) >= RESETS_PER_HOUR:
                outcome = "too many requests"
            elif not has_password(user):
                outcome = "single sign-on only"
            elif user.locked_at is not None:
                outcome, message = "account locked: notice sent", locked_account_message(user)
            else:
                token = secrets.token_urlsafe(32)
                reset = PasswordReset(
                    token_sha256=token_sha256(token),
                    user_id=user.id,
                    created_at=now,
                    expires_at=now + dt.timedelta(minutes=self.s.limits.reset_valid_minutes),
                    client_ip=(client_ip or "")[:64] or None,
                )
                self.session.add(reset)
                outcome, message = "link sent", reset_message(self.s, user, token, reset.expires_at)
        self.keeper.audit(
            "password_reset_requested",
            "user" if user is not None else None,
            user.id if user is not None else None,
            new={"email": email.strip()[:254], "outcome": outcome, "client_ip": client_ip},
            actor=anonymous(),
        )
        await self.keeper.commit()
        return message

    async def reset_target(self, token: str) -> User:
        """The account a usable reset link belongs to (to show the form), else
        ``LinkNotValid``."""
        found = await self._usable(token)
        if isinstance(found, str):
            raise LinkNotValid()
        return found[1]

    async def reset(self, token: str, password: str, again: str) -> User:
        found = await self._usable(token, for_update=True)
        if isinstance(found, str):
            self.keeper.audit(
                "password_reset_refused",
                new={"reason": found, "token_sha256": token_sha256(token)[:16]},
                actor=anonymous(),
            )
            await self.keeper.commit()
            raise LinkNotValid()
        reset, user = found
        organization = await self.session.get(Organization, user.organization_id)
        errors = new_password_problems(
            password, again, user.email, user.full_name, organization.name if organization else None
        )
        if not errors and verify_password(password, user.password_hash):
            errors = {"password": "Choose a password different from your current one."}
        if errors:
            self.keeper.audit(
                "password_reset_refused",
                "user",
                user.id,
                new={"reason": "invalid input", "problems": errors},
                actor=anonymous(),
            )
            await self.keeper.commit()
            raise ValidationFailed(errors)
        now = utc_now()
        # Every open link of the account dies with this one.
        await self.session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
            .values(used_at=now)
        )
        reset.used_at = now
        self._set_password(user, password, now)
        await self._end_sessions(user, keep=None, now=now)
        self.keeper.audit(
            "password_reset",
            "user",
            user.id,
            new={"sessions_ended": True},
            actor=actor_for_user(user, "ui"),
        )
        await self.keeper.commit()
        return user

    async def change(self, actor: Actor, current: str, password: str, again: str) -> None:
        """The signed-in person changes their own password (never anyone else's)."""
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a person has a password.")
        user = await self.session.get(User, actor.id)
        if user is None or not user.active or user.locked_at is not None:
            raise PermissionDenied("Your account is disabled or locked.")
        if not verify_password(current, user.password_hash):
            await IdentityService(self.s)._count_failure(
                user,
                "password_change_failed",
                self.s.limits.max_failed_logins,
                "wrong current password",
            )
            raise AuthenticationFailed("The current password is not correct; nothing was changed.")
        organization = await self.session.get(Organization, user.organization_id)
        errors = new_password_problems(
            password, again, user.email, user.full_name, organization.name if organization else None
        )
        if not errors and password == current:
            errors = {"password": "Choose a password different from your current one."}
        if errors:
            self.keeper.audit(
                "password_change_refused", "user", user.id, new={"problems": errors}, actor=actor
            )
            await self.keeper.commit()
            raise ValidationFailed(errors)
        now = utc_now()
        expired = password_expired(user, self.s.limits, now)
        self._set_password(user, password, now)
        user.failed_attempts = 0
        await self._end_sessions(user, keep=actor.session_id, now=now)
        self.keeper.audit(
            "password_changed", "user", user.id, new={"was_expired": expired}, actor=actor
        )
        await self.keeper.commit()

    def _set_password(self, user: User, password: str, now: dt.datetime) -> None:
        user.password_hash = hash_password(password, self.s.limits.password_hash_cost)
        user.password_changed_at = now

    async def _end_sessions(self, user: User, *, keep: int | None, now: dt.datetime) -> None:
        query = update(WebSession).where(
            WebSession.user_id == user.id, WebSession.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(WebSession.id != keep)
        await self.session.execute(query.values(revoked_at=now))

    async def _usable(
        self, token: str, *, for_update: bool = False
    ) -> tuple[PasswordReset, User] | str:
        query = select(PasswordReset).where(PasswordReset.token_sha256 == token_sha256(token))
        if for_update:
            query = query.with_for_update()
        reset = await self.session.scalar(query)
        if reset is None:
            return "unknown"
        if reset.used_at is not None:
            return "used"
        if reset.expires_at <= utc_now():
            return "expired"
        user = await self.session.get(User, reset.user_id)
        if user is None or not user.active:
            return "account disabled"
        if user.locked_at is not None:
            return "account locked"
        return reset, user
