"""Organizations, people, machine clients and their server-side web sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now

#: ``supplier_and_cm``: an external organization that is both a supplier and a contract
#: manufacturer (it may hold roles of either kind).
ORGANIZATION_KINDS = ("internal", "supplier", "contract_manufacturer", "supplier_and_cm")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    @property
    def is_internal(self) -> bool:
        return self.kind == "internal"


class User(Base):
    """A named person. Accounts are disabled, never deleted; ``email_key`` is the lower-cased
    e-mail and unique, so a username can never be reused (P11-18)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: Base32 TOTP secret once enrolment was confirmed with a correct code (P11-26).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: The OpenID Connect identity (issuer, subject) this person signs in with, once linked
    #: (``trace_core/identity/sso.py``); unique as a pair.
    sso_issuer: Mapped[str | None] = mapped_column(String(300))
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    organization: Mapped[Organization] = relationship(lazy="joined")

    __table_args__ = (Index("uq_users_sso_identity", "sso_issuer", "sso_subject", unique=True),)


class ApiClient(Base):
    """A machine client (OAuth2 client credentials) bound to exactly one organization."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    # Secrets live in ``client_secrets`` (several overlap during a rotation; migration 0004).
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Tokens issued before this moment are refused: revocation takes effect at once.
    tokens_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    organization: Mapped[Organization] = relationship(lazy="joined")


class ClientSecret(Base):
    """One secret of a machine client; only its scrypt hash is stored. After a rotation the
    old secret keeps working until ``expires_at`` (the overlap), so integrations can switch
    without downtime; ``revoked_at`` ends it at once."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def usable_at(self, moment: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)


class WebSession(Base):
    """A browser session. Only the SHA-256 of the cookie token is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    #: Counts signatures in this session.
    signatures: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When this session last signed: the continuous-session rule (P11-21) asks for every
    #: signature component again when it is unset or older than the signing idle limit.
    last_signature_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(Base):
    """One single-use recovery code of a person's second factor (P11-26), for when the phone
    is lost. Only the SHA-256 of the code is stored; ``used_at`` is set when it is spent, and
    a spent code never works again. Regenerating a person's codes deletes the old set."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
