"""Identity service: organizations, people, machine clients, password login, web sessions
and re-authentication for signatures. Every outcome — success or failure — is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update

from trace_core.db import utc_now
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import (
    EXTERNAL_ROLES,
    INTERNAL_ROLES,
    ROLE_PERMISSIONS,
    Actor,
    Channel,
    permissions_for_roles,
    permissions_for_scopes,
)
from trace_core.identity.models import (
    ORGANIZATION_KINDS,
    ApiClient,
    Organization,
    RecoveryCode,
    User,
    WebSession,
)
from trace_core.identity.notices import alert_admins_of_lockout
from trace_core.identity.passwords import hash_password, password_problem, verify_password
from trace_core.identity.recovery import code_sha256, looks_like_recovery_code, new_codes
from trace_core.identity.throttle import guard_login, note_failed_login
from trace_core.identity.totp import matching_step

if TYPE_CHECKING:
    from trace_core.services import Services

#: Deliberately the same for every failure, so the login form never tells whether an account
#: exists (no user enumeration).
LOGIN_FAILED = "The e-mail address or password is not correct, or the account is locked."
WRONG_CODE = "The code is not correct. Enter the current code from your app or a recovery code."


class WrongSecondFactor(AuthenticationFailed):
    """The code step of a login was refused, but the login may go on with another code."""


class SecondFactorRequired(Exception):
    """The password was right and the person has enrolled an authenticator: the session opens
    only after ``login_second_factor``. An exception rather than a return value so that a
    caller unaware of the second step fails closed instead of opening a session."""

    def __init__(self, user_id: int) -> None:
        super().__init__("second factor required")
        self.user_id = user_id


@dataclass(frozen=True)
class SigningCredentials:
    """What a person types into a signing form."""

    password: str
    #: The user ID (e-mail) typed again: required for the first signature of a series.
    user_id: str | None = None
    #: The authenticator code, required once the person has enrolled one.
    totp: str | None = None


@dataclass(frozen=True)
class SigningRequirements:
    """Which fields the next signing form shows."""

    user_id: bool
    totp: bool
    idle_minutes: int


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def actor_for_user(user: User, channel: Channel) -> Actor:
    return Actor(
        "user",
        user.id,
        user.full_name,
        user.organization_id,
        user.organization.kind,
        channel,
        permissions_for_roles(user.roles),
    )


def actor_for_client(client: ApiClient, channel: Channel = "api") -> Actor:
    return Actor(
        "client",
        client.id,
        f"client:{client.client_id}",
        client.organization_id,
        client.organization.kind,
        channel,
        permissions_for_scopes(client.scopes),
    )


class IdentityService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    # -- set-up (admin, CLI, demo) -------------------------------------------------------
    async def create_organization(
        self, name: str, kind: str, address: str | None = None
    ) -> Organization:
        if kind not in ORGANIZATION_KINDS:
            raise ValidationFailed({"kind": f"Use one of: {', '.join(ORGANIZATION_KINDS)}."})
        org = Organization(name=name, kind=kind, address=address)
        self.session.add(org)
        await self.session.flush()
        await self.keeper.write_version(
            "organization",
            org.id,
            status="active",
            action="create",
            data={"name": name, "kind": kind, "address": address},
        )
        return org

    async def create_user(
        self,
        organization: Organization,
        email: str,
        full_name: str,
        password: str,
        roles: list[str],
    ) -> User:
        email = email.strip()
        errors: dict[str, str] = {}
        if "@" not in email:
            errors["email"] = "Enter an e-mail address."
        problem = password_problem(password, email, (full_name,), organization.name)
        if problem:
            errors["password"] = problem
        allowed = INTERNAL_ROLES if organization.is_internal else EXTERNAL_ROLES
        unknown = [r for r in roles if r not in ROLE_PERMISSIONS or r not in allowed]
        if unknown:
            errors["roles"] = f"Not a role for this organization: {', '.join(unknown)}."
        if errors:
            raise ValidationFailed(errors)
        existing = await self.session.scalar(
            select(func.count()).select_from(User).where(User.email_key == email.lower())
        )
        if existing:
            # Usernames are never reused, even for disabled accounts (P11-18).
            raise Conflict("This e-mail address is or was already in use and cannot be reused.")
        user = User(
            organization_id=organization.id,
            email=email,
            email_key=email.lower(),
            full_name=full_name,
            password_hash=hash_password(password, self.s.limits.password_hash_cost),
            roles=list(roles),
            organization=organization,
        )
        self.session.add(user)
        await self.session.flush()
        await self.keeper.write_version(
            "user",
            user.id,
            status="active",
            action="create",
            data={
                "email": email,
                "full_name": full_name,
                "organization_id": organization.id,
                "roles": sorted(roles),
            },
        )
        return user

    async def create_client(
        self,
        organization: Organization,
        client_id: str,
        secret: str,
        scopes: list[str],
        name: str,
    ) -> ApiClient:
        """A machine client with the given secret (demo data); ``traceport clients create``
        generates the secret instead. Secrets and their rotation: ``identity/clients.py``."""
        from trace_core.identity.clients import ClientService

        client, _ = await ClientService(self.s).register(
            self.s.actor, organization, client_id, scopes, name, secret, commit=False
        )
        return client

    # -- people ---------------------------------------------------------------------------
    async def login(
        self,
        email: str,
        password: str,
        *,
        user_agent: str | None = None,
        client_ip: str | None = None,
    ) -> tuple[User, str, WebSession]:
        """Check the password and open a web session; returns (user, cookie token, session).
        Refused with ``LoginThrottled`` while the login rate limit holds (P11-25)."""
        await guard_login(self.s, email, client_ip)
        user = await self.session.scalar(
            select(User).where(User.email_key == email.strip().lower())
        )
        max_failures = self.s.limits.max_failed_logins
        if user is None or not user.active or user.locked_at is not None:
            note_failed_login(self.session, email, client_ip)
            self.keeper.audit(
                "login_failed",
                "user",
                user.id if user else None,
                new={"email": email.strip()[:254], "reason": "unknown, disabled or locked account"},
                actor=self._anonymous(),
            )
            await self.keeper.commit()
            raise AuthenticationFailed(LOGIN_FAILED)
        if not verify_password(password, user.password_hash):
            note_failed_login(self.session, email, client_ip)
            await self._count_failure(user, "login_failed", max_failures)
            raise AuthenticationFailed(LOGIN_FAILED)
        if user.totp_secret:
            # The failure count is reset only once the second factor is right too, so wrong
            # codes after a right password still lead to the lockout.
            raise SecondFactorRequired(user.id)
        user.failed_attempts = 0
        token, web_session = self.open_session(user, user_agent=user_agent, client_ip=client_ip)
        self.keeper.audit("login", "user", user.id, actor=actor_for_user(user, "ui"))
        await self.keeper.commit()
        return user, token, web_session

    async def login_second_factor(
        self,
        user_id: int,
        code: str,
        *,
        user_agent: str | None = None,
        client_ip: str | None = None,
    ) -> tuple[User, str, WebSession]:
        """The second step of a password login (P11-26): a current authenticator code or an
        unused recovery code opens the session, as ``login`` does without a second factor.
        ``user_id`` comes from the sealed ticket the first step issued. A wrong code is
        audited and counts toward lockout like a wrong password (P11-25)."""
        user = await self.session.get(User, user_id)
        if user is None or not user.active or user.locked_at is not None or not user.totp_secret:
            self.keeper.audit(
                "login_failed",
                "user",
                user_id,
                new={"reason": "second factor for a disabled, locked or unenrolled account"},
                actor=self._anonymous(),
            )
            await self.keeper.commit()
            raise AuthenticationFailed(LOGIN_FAILED)
        await guard_login(self.s, user.email, client_ip)
        kind = await self._spend_second_factor(user, code)
        if kind is None:
            note_failed_login(self.session, user.email, client_ip)
            await self._count_failure(
                user, "login_failed", self.s.limits.max_failed_logins, "wrong one-time code"
            )
            raise WrongSecondFactor(WRONG_CODE)
        user.failed_attempts = 0
        token, web_session = self.open_session(user, user_agent=user_agent, client_ip=client_ip)
        self.keeper.audit(
            "login",
            "user",
            user.id,
            new={"second_factor": kind},
            actor=actor_for_user(user, "ui"),
        )
        await self.keeper.commit()
        return user, token, web_session

    async def _spend_second_factor(self, user: User, code: str) -> str | None:
        """Accept a TOTP code (never the same time step twice) or an unused recovery code
        (marked used and audited); returns ``"totp"``, ``"recovery_code"`` or None. Nothing
        is committed: a caller that rolls back gives the code back."""
        assert user.totp_secret is not None
        step = matching_step(user.totp_secret, code)
        if step is not None:
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return None
            user.totp_last_step = step
            return "totp"
        if not looks_like_recovery_code(code):
            return None
        # A conditional UPDATE, so two requests racing with one code cannot both spend it.
        spent = await self.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_sha256 == code_sha256(code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        if getattr(spent, "rowcount", 0) != 1:
            return None
        left = await self.unused_recovery_codes(user.id)
        self.keeper.audit(
            "recovery_code_used",
            "user",
            user.id,
            new={"codes_left": left},
            actor=actor_for_user(user, self.s.actor.channel),
        )
        return "recovery_code"

    async def unused_recovery_codes(self, user_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
            or 0
        )

    async def _replace_recovery_codes(self, user: User) -> list[str]:
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = new_codes()
        self.session.add_all(
            RecoveryCode(user_id=user.id, code_sha256=code_sha256(code)) for code in codes
        )
        return codes

    def open_session(
        self, user: User, *, user_agent: str | None = None, client_ip: str | None = None
    ) -> tuple[str, WebSession]:
        """Add a new web session for a person who has just authenticated (password or single
        sign-on); the caller audits how and commits. Every sign-in gets a fresh random token,
        so a session identifier never survives a login. Returns (cookie token, session)."""
        token = secrets.token_urlsafe(32)
        web_session = WebSession(
            token_sha256=token_sha256(token),
            user_id=user.id,
            user_agent=(user_agent or "")[:300],
            client_ip=client_ip,
            csrf_token=secrets.token_urlsafe(32),
        )
        self.session.add(web_session)
        return token, web_session

    async def resolve_web_session(self, token: str) -> tuple[User, WebSession] | None:
        """The live session for a cookie token, or None when it is unknown, revoked or timed
        out. Touches ``last_seen_at`` (committed by the caller's request)."""
        web_session = await self.session.scalar(
            select(WebSession).where(WebSession.token_sha256 == token_sha256(token))
        )
        if web_session is None or web_session.revoked_at is not None:
            return None
        now = utc_now()
        idle = dt.timedelta(minutes=self.s.limits.session_idle_minutes)
        absolute = dt.timedelta(hours=self.s.limits.session_absolute_hours)
        if now - web_session.last_seen_at > idle or now - web_session.created_at > absolute:
            return None
        user = await self.session.get(User, web_session.user_id)
        if user is None or not user.active or user.locked_at is not None:
            return None
        web_session.last_seen_at = now
        await self.session.commit()
        return user, web_session

    async def logout(self, token: str) -> None:
        found = await self.resolve_web_session(token)
        if found is None:
            return
        user, web_session = found
        web_session.revoked_at = utc_now()
        self.keeper.audit("logout", "user", user.id, actor=actor_for_user(user, "ui"))
        await self.keeper.commit()

    def _signing_idle(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.s.limits.signing_idle_minutes)

    async def signing_requirements(self, actor: Actor) -> SigningRequirements:
        """Which components the actor's next signature needs (P11-20, P11-21)."""
        user = await self.session.get(User, actor.id) if actor.kind == "user" else None
        web_session = (
            await self.session.get(WebSession, actor.session_id) if actor.session_id else None
        )
        return SigningRequirements(
            user_id=self._first_in_series(web_session),
            totp=bool(user and user.totp_secret),
            idle_minutes=self.s.limits.signing_idle_minutes,
        )

    def _first_in_series(self, web_session: WebSession | None) -> bool:
        if web_session is None or web_session.last_signature_at is None:
            return True
        return utc_now() - web_session.last_signature_at > self._signing_idle()

    async def reauthenticate(
        self, actor: Actor, credentials: SigningCredentials, purpose: str
    ) -> User:
        """Re-authenticate a person within a signing action (P11-20).

        Every signature needs the password and, once enrolled, a one-time code. The first
        signature of a session, or one after the signing idle limit, also needs the user ID
        typed again (continuous-session rule, P11-21). A wrong component is audited and counted
        toward lockout in its own transaction; a missing one is audited and refused.
        """
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a named person can sign; machine clients cannot.")
        user = await self.session.get(User, actor.id)
        if user is None or not user.active or user.locked_at is not None:
            raise AuthenticationFailed("Your account is disabled or locked; you cannot sign.")
        web_session = (
            await self.session.get(WebSession, actor.session_id) if actor.session_id else None
        )
        missing: dict[str, str] = {}
        if self._first_in_series(web_session) and not (credentials.user_id or "").strip():
            missing["user_id"] = (
                "Your first signature in a session, or after "
                f"{self.s.limits.signing_idle_minutes} minutes without signing, needs your user "
                "ID (e-mail) as well as your password."
            )
        if not credentials.password:
            missing["password"] = "Enter your password to sign."  # noqa: S105
        if user.totp_secret and not (credentials.totp or "").strip():
            missing["totp"] = "Enter the code from your authenticator app to sign."
        if missing:
            await self.keeper.rollback()
            self.keeper.audit(
                "signature_refused",
                "user",
                actor.id,
                new={"missing": sorted(missing), "detail": purpose},
                actor=actor,
            )
            await self.keeper.commit()
            raise ValidationFailed(missing)
        wrong = []
        if credentials.user_id and credentials.user_id.strip().lower() != user.email_key:
            wrong.append("user ID")
        if not verify_password(credentials.password, user.password_hash):
            wrong.append("password")
        if (
            user.totp_secret
            and await self._spend_second_factor(user, credentials.totp or "") is None
        ):
            wrong.append("one-time code")
        if wrong:
            await self.keeper.rollback()
            user = await self.session.get(User, actor.id, populate_existing=True)
            assert user is not None
            await self._count_failure(
                user,
                "signature_failed",
                self.s.limits.max_failed_logins,
                detail=f"{purpose}: wrong {', '.join(wrong)}",
            )
            raise AuthenticationFailed(
                f"The {' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} not correct; "
                "nothing was signed."
            )
        user.failed_attempts = 0
        if web_session is not None:
            web_session.last_signature_at = utc_now()
            web_session.signatures += 1
        return user

    async def enroll_totp(self, actor: Actor, secret: str, code: str, password: str) -> list[str]:
        """Turn on the second factor: the password and a correct first code are required
        (P11-26). Returns the new recovery codes, to be shown once: only their hashes are
        kept."""
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a person enrols an authenticator.")
        user = await self.session.get(User, actor.id)
        assert user is not None
        if not verify_password(password, user.password_hash):
            await self._count_failure(
                user, "totp_enrolment_failed", self.s.limits.max_failed_logins, "wrong password"
            )
            raise AuthenticationFailed("The password is not correct; nothing was changed.")
        step = matching_step(secret, code)
        if step is None:
            self.keeper.audit(
                "totp_enrolment_failed", "user", user.id, new={"detail": "wrong code"}, actor=actor
            )
            await self.keeper.commit()
            raise ValidationFailed(
                {"code": "The code does not match; check the time on your phone and try again."}
            )
        user.totp_secret = secret
        user.totp_last_step = step
        codes = await self._replace_recovery_codes(user)
        self.keeper.audit(
            "totp_enrolled", "user", user.id, new={"recovery_codes": len(codes)}, actor=actor
        )
        await self.keeper.commit()
        return codes

    async def regenerate_recovery_codes(self, actor: Actor, password: str) -> list[str]:
        """A new set of recovery codes; every old one, used or not, stops working. Needs the
        password (a wrong one counts toward lockout)."""
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a person has recovery codes.")
        user = await self.session.get(User, actor.id)
        assert user is not None
        if not user.totp_secret:
            raise ValidationFailed({"password": "Enrol an authenticator app first."})
        if not verify_password(password, user.password_hash):
            await self._count_failure(
                user, "recovery_codes_refused", self.s.limits.max_failed_logins, "wrong password"
            )
            raise AuthenticationFailed("The password is not correct; nothing was changed.")
        codes = await self._replace_recovery_codes(user)
        self.keeper.audit(
            "recovery_codes_regenerated", "user", user.id, new={"count": len(codes)}, actor=actor
        )
        await self.keeper.commit()
        return codes

    async def _count_failure(
        self, user: User, action: str, max_failures: int, detail: str | None = None
    ) -> None:
        user.failed_attempts += 1
        actor = actor_for_user(user, self.s.actor.channel)
        self.keeper.audit(
            action,
            "user",
            user.id,
            new={"failed_attempts": user.failed_attempts, "detail": detail},
            actor=actor,
        )
        locked = user.failed_attempts >= max_failures
        if locked:
            user.locked_at = utc_now()
            self.keeper.audit(
                "account_locked",
                "user",
                user.id,
                new={"failed_attempts": user.failed_attempts},
                actor=actor,
            )
            # P11-25: a lockout is a security event, recorded and mailed to our admins.
            self.keeper.audit(
                "security_alert",
                "user",
                user.id,
                new={"kind": "account_locked", "email": user.email, "detail": detail or action},
                actor=Actor.system(self.s.actor.channel),
            )
        await self.keeper.commit()
        if locked:
            await alert_admins_of_lockout(self.s, user, detail or action)

    def _anonymous(self) -> Actor:
        return Actor("system", None, "anonymous", None, "external", self.s.actor.channel)

    # -- machines -------------------------------------------------------------------------
    async def client_by_id(self, client_id: str) -> ApiClient:
        client = await self.session.scalar(
            select(ApiClient).where(ApiClient.client_id == client_id)
        )
        if client is None:
            raise NotFound("Unknown client.")
        return client

    async def organization_by_name(self, name: str) -> Organization:
        org = await self.session.scalar(select(Organization).where(Organization.name == name))
        if org is None:
            raise NotFound(f"No organization named {name!r}.")
        return org

    async def user_by_email(self, email: str) -> User:
        user = await self.session.scalar(select(User).where(User.email_key == email.lower()))
        if user is None:
            raise NotFound(f"No user {email!r}.")
        return user
