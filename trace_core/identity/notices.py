"""The e-mails the identity area sends (invitations, password resets, security alerts) and
how a delivery that fails is handled: it never fails the action that caused it, it is audited
(``mail_failed``, naming where the undelivered message was kept) and committed on its own.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select

from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization, User
from trace_core.mail import MailMessage, MailNotSent

if TYPE_CHECKING:
    from trace_core.services import Runtime, Services


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def deliver(
    services: Services, message: MailMessage, record: tuple[str, int] | None = None
) -> bool:
    """Send ``message``; on failure audit it and commit. True when the transport took it."""
    try:
        await services.runtime.mailer.send(message)
    except MailNotSent as exc:
        services.keeper.audit(
            "mail_failed",
            record[0] if record else None,
            record[1] if record else None,
            new={
                "to": list(message.to),
                "subject": message.subject,
                "error": exc.reason,
                "kept_in": str(exc.saved_to) if exc.saved_to else None,
            },
            actor=Actor.system(services.actor.channel),
        )
        await services.keeper.commit()
        return False
    return True


async def deliver_later(runtime: Runtime, message: MailMessage) -> None:
    """``deliver`` in a unit of work of its own, for sending after the response (so that the
    time an answer takes does not tell whether an account exists)."""
    from trace_core.services import provide_services

    async with provide_services(runtime, Actor.system("ui")) as services:
        await deliver(services, message)


def invitation_message(
    services: Services,
    email: str,
    organization: Organization,
    inviter: str,
    token: str,
    expires_at: dt.datetime,
) -> MailMessage:
    link = services.runtime.mailer.link(f"/invite/{token}")
    return MailMessage(
        (email,),
        f"Invitation to Traceport for {organization.name}",
        f"{inviter} invited you to Traceport, the supplier quality portal, as a member of "
        f"{organization.name}.\n\n"
        f"Open this link to choose your password and activate your account:\n\n  {link}\n\n"
        f"The link works once and until {_utc(expires_at)}. If you did not expect this "
        "invitation, ignore this message; nothing happens without the link.\n",
    )


def reset_message(
    services: Services, user: User, token: str, expires_at: dt.datetime
) -> MailMessage:
    link = services.runtime.mailer.link(f"/password/reset/{token}")
    return MailMessage(
        (user.email,),
        "Reset your Traceport password",
        f"Someone (we hope you) asked to reset the password of the Traceport account "
        f"{user.email}.\n\nOpen this link to choose a new password:\n\n  {link}\n\n"
        f"The link works once and until {_utc(expires_at)}. If you did not ask for this, "
        "ignore this message: your password stays as it is.\n",
    )


def locked_account_message(user: User) -> MailMessage:
    return MailMessage(
        (user.email,),
        "Your Traceport account is locked",
        f"Someone asked to reset the password of the Traceport account {user.email}, but the "
        "account is locked after too many failed sign-in attempts. A password reset does not "
        "unlock it: ask your administrator, who will check the attempts and unlock it.\n",
    )


async def internal_admins(services: Services) -> list[User]:
    """Active administrators of our own company: they receive security alerts."""
    rows = await services.session.scalars(
        select(User)
        .join(Organization, Organization.id == User.organization_id)
        .where(Organization.kind == "internal", User.active.is_(True))
        .order_by(User.id)
    )
    return [user for user in rows if "admin" in user.roles and user.locked_at is None]


async def alert_admins_of_lockout(services: Services, user: User, detail: str | None) -> None:
    """E-mail every internal administrator that ``user``'s account locked (P11-25). A mail
    that fails is audited; the request that locked the account is not affected."""
    admins = await internal_admins(services)
    if not admins:
        return
    organization = await services.session.get(Organization, user.organization_id)
    message = MailMessage(
        tuple(admin.email for admin in admins),
        f"Security alert: Traceport account {user.email} locked",
        f"The account {user.email} ({user.full_name}, "
        f"{organization.name if organization else 'unknown organization'}) was locked at "
        f"{_utc(user.locked_at or dt.datetime.now(dt.UTC))} after {user.failed_attempts} "
        f"failed attempts ({detail or 'sign-in'}).\n\n"
        "Check the audit trail (action login_failed, signature_failed), talk to the person, "
        "and unlock the account on its page under Organizations if the attempts were "
        f"theirs:\n\n  {services.runtime.mailer.link(f'/internal/users/{user.id}')}\n",
    )
    await deliver(services, message, ("user", user.id))
