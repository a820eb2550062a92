"""Tables of the onboarding work (migration ``0004_onboarding``): the sites of an
organization, invitations, identity-verification records, password-reset links and the
sign-in failures the login rate limit counts.

Links (invitations, password resets) are stored as the SHA-256 of their token only: a copy of
the database does not let anyone accept an invitation or reset a password.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now


class Site(Base):
    """A plant or office of an organization (a versioned record, type ``site``)."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class Invitation(Base):
    """An e-mailed, single-use, expiring invitation to create an account."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The person who invited; None when the system (command line) did.
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invited_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The account the invitation created.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdentityVerification(Base):
    """Who verified a person's identity, how and when (P11-19); a versioned record, type
    ``identity_verification``. A signing role is granted only after one exists."""

    __tablename__ = "identity_verifications"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_by_name: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class PasswordReset(Base):
    """A self-service password-reset link: single use, expiring, sent only to the account's
    own e-mail address (P11-22)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    client_ip: Mapped[str | None] = mapped_column(String(64))


class LoginAttempt(Base):
    """A refused sign-in, kept for the login rate limit's sliding window (P11-25). Not a
    regulated record (every failure is also an audit event); rows older than a day are
    deleted."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_ip", "client_ip", "attempted_at"),
        Index("ix_login_attempts_account", "email_key", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    client_ip: Mapped[str] = mapped_column(String(64))
    email_key: Mapped[str] = mapped_column(String(254))
    #: ``failed`` (counted) or ``throttled`` (refused by the limit itself; not counted).
    outcome: Mapped[str] = mapped_column(String(10))
