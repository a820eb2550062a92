"""The login rate limit (P11-25): a sliding window over refused sign-ins, kept in the database
(``login_attempts``) so that every app instance behind a load balancer sees the same counts.

Two limits, each over the last ``login_window_seconds``:

- per client address: ``login_max_per_ip`` failed sign-ins, whatever the user names (password
  spraying, credential stuffing);
- per user name: ``login_max_per_account`` failed sign-ins, whether or not the account exists,
  so the answer never tells which names are real (guessing one account; the account also locks
  after ``max_failed_logins`` failures, but a locked or unknown name is throttled here).

Only failures count: a busy office behind one address signs in as often as it likes. While a
limit holds, sign-in is refused before the password is checked (429 with Retry-After), so the
limit cannot be used to test passwords. The first refusal in a window is audited
(``login_throttled`` and a ``security_alert``); later ones only add a ``throttled`` row, which
keeps a flood from writing the hash-chained audit trail at the attacker's pace.

The client address is what the web server reports; behind a reverse proxy, run uvicorn with
``--proxy-headers --forwarded-allow-ips=<proxy>`` so it is the real client's.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from trace_core.db import utc_now
from trace_core.errors import AuthenticationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.onboarding_models import LoginAttempt

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from trace_core.services import Services

#: Refused sign-ins are kept this long, then deleted (the audit trail keeps every failure).
RETENTION = dt.timedelta(days=1)
UNKNOWN_ADDRESS = "unknown"


class LoginThrottled(AuthenticationFailed):
    """Too many failed sign-ins from this address or for this user name. A subclass of
    ``AuthenticationFailed`` so that a sign-in path that does not know it still refuses."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"Too many failed sign-in attempts. Wait {minutes} "
            f"minute{'s' if minutes != 1 else ''} and try again."
        )
        self.retry_after = retry_after


def _email_key(email: str) -> str:
    return email.strip().lower()[:254]


def _address(client_ip: str | None) -> str:
    return (client_ip or UNKNOWN_ADDRESS)[:64]


def note_failed_login(session: AsyncSession, email: str, client_ip: str | None) -> None:
    """Count a failed sign-in (committed with the caller's unit of work)."""
    session.add(
        LoginAttempt(
            attempted_at=utc_now(),
            client_ip=_address(client_ip),
            email_key=_email_key(email),
            outcome="failed",
        )
    )


async def guard_login(services: Services, email: str, client_ip: str | None) -> None:
    """Raise ``LoginThrottled`` when a limit holds; otherwise do nothing."""
    limits = services.limits
    now = utc_now()
    window = dt.timedelta(seconds=limits.login_window_seconds)
    since = now - window
    session = services.session
    address, key = _address(client_ip), _email_key(email)
    retry_after = 0
    for column, value, limit in (
        (LoginAttempt.client_ip, address, limits.login_max_per_ip),
        (LoginAttempt.email_key, key, limits.login_max_per_account),
    ):
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginAttempt.attempted_at)).where(
                    column == value,
                    LoginAttempt.outcome == "failed",
                    LoginAttempt.attempted_at > since,
                )
            )
        ).one()
        if limit > 0 and count >= limit and oldest is not None:
            retry_after = max(retry_after, math.ceil((oldest + window - now).total_seconds()))
    # Refused sign-ins older than a day are of no use to the window; the audit trail keeps them.
    await session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - RETENTION))
    if not retry_after:
        return
    already = await session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.outcome == "throttled",
            LoginAttempt.attempted_at > since,
            (LoginAttempt.client_ip == address) | (LoginAttempt.email_key == key),
        )
    )
    session.add(
        LoginAttempt(attempted_at=now, client_ip=address, email_key=key, outcome="throttled")
    )
    if not already:
        anonymous = Actor("system", None, "anonymous", None, "external", services.actor.channel)
        details = {"email": email.strip()[:254], "client_ip": address, "retry_after": retry_after}
        services.keeper.audit("login_throttled", new=details, actor=anonymous)
        services.keeper.audit(
            "security_alert",
            new={"kind": "login_rate_limited", **details},
            actor=Actor.system(services.actor.channel),
        )
    await services.keeper.commit()
    raise LoginThrottled(max(1, retry_after))
