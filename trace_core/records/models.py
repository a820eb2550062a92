"""Tables of the record layer: immutable versions, the hash-chained audit trail, electronic
signatures and the server's public keys. Rows here are only ever inserted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now


class RecordVersion(Base):
    """One immutable version of a regulated record (DESIGN invariant 1)."""

    __tablename__ = "record_versions"
    __table_args__ = (
        UniqueConstraint("record_type", "record_id", "version"),
        Index("ix_record_versions_record", "record_type", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: SHA-256 of the canonical JSON of {record_type, record_id, version, status, data}.
    content_sha256: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the canonical JSON of the data alone: equal across status-only versions,
    #: which tells whether a signature on an earlier version still covers today's data.
    data_sha256: Mapped[str] = mapped_column(String(64))
    prev_sha256: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    author_kind: Mapped[str] = mapped_column(String(10))
    author_id: Mapped[int | None] = mapped_column(BigInteger)
    author_name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class AuditEvent(Base):
    """One link of the append-only, hash-chained audit trail (DESIGN invariant 2)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_record", "record_type", "record_id"),
        Index("ix_audit_events_actor", "actor_kind", "actor_id"),
        Index("ix_audit_events_occurred", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int | None] = mapped_column(Integer)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    #: The hash of what the event recorded: a version's content hash, or the hash of a
    #: signature's signed payload. Binds version and signature rows to the chain.
    record_sha256: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: The last event of every committed batch is sealed: the server's Ed25519 signature over
    #: its hash. Events after the last seal were not written by the application.
    seal_key_id: Mapped[str | None] = mapped_column(String(32))
    seal: Mapped[str | None] = mapped_column(String(200))


class Signature(Base):
    """An electronic signature bound to exactly one record version (DESIGN invariant 3)."""

    __tablename__ = "signatures"
    __table_args__ = (Index("ix_signatures_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    version_row_id: Mapped[int] = mapped_column(ForeignKey("record_versions.id"))
    content_sha256: Mapped[str] = mapped_column(String(64))
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    meaning: Mapped[str] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(ForeignKey("server_keys.key_id"))
    server_signature: Mapped[str] = mapped_column(String(200))


class ServerKey(Base):
    """A public key the server has signed with; kept forever so old signatures stay verifiable."""

    __tablename__ = "server_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class AuditCheckpoint(Base):
    """The chain head signed with the server key, at intervals, on demand and at key rotation.
    A checkpoint pins every event up to ``seq``: rewriting any of them breaks it."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: interval | on demand | key rotation
    trigger: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(ForeignKey("server_keys.key_id"))
    signature: Mapped[str] = mapped_column(String(200))


class AuditReview(Base):
    """A signed review of a slice of the audit trail ("audit trail reviewed"): which filter,
    which events (first..last seq, count) and a digest of their hashes, so the review names
    exactly what was looked at. Its content is versioned and signed like any record."""

    __tablename__ = "audit_reviews"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    reviewer_id: Mapped[int] = mapped_column(BigInteger)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(Integer)
    events_sha256: Mapped[str] = mapped_column(String(64))
