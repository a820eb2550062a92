"""What EPCIS keeps: captures (one per accepted document), events (immutable, keyed by their
CBV 2.0 hash), an index of the identifiers each event names (for the standard queries), and the
objects known only from EPCIS (lots, items, logistic units, consignees), which the genealogy
refers to. All four tables are append-only (migration ``0005_epcis``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now


class EpcisCapture(Base):
    """One accepted capture request; the document's bytes are in the object store."""

    __tablename__ = "epcis_captures"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    document_sha256: Mapped[str] = mapped_column(String(64))
    document_bytes: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    #: Events stored by this capture (the others were already known: idempotent).
    stored_count: Mapped[int] = mapped_column(Integer)
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))
    #: The capturing actor's organization, which scopes the record for external readers.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class EpcisEvent(Base):
    """An EPCIS event, never updated. Internal postings (receipts, work orders, shipments) are
    exported into this table too (``source``), so that one query answers for both."""

    __tablename__ = "epcis_events"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        UniqueConstraint("source", "source_id"),
        Index("ix_epcis_events_time", "event_time", "id"),
        Index("ix_epcis_events_hash", "event_hash"),
        Index("ix_epcis_events_organization", "organization_id", "event_time"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: ``ni:///sha-256;<hex>?ver=CBV2.0``: the event's id (EPC-04).
    event_hash: Mapped[str] = mapped_column(String(100))
    #: The event hash, or for an error declaration the hash plus a digest of the declaration,
    #: so that a repeated capture stores nothing new and a declaration is its own row.
    dedup_key: Mapped[str] = mapped_column(String(200))
    #: The ``eventID`` the sender gave, if any.
    given_event_id: Mapped[str | None] = mapped_column(String(500))
    event_type: Mapped[str] = mapped_column(String(100))
    is_error_declaration: Mapped[bool] = mapped_column(Boolean, default=False)
    event_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    record_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    biz_step: Mapped[str | None] = mapped_column(String(500))
    action: Mapped[str | None] = mapped_column(String(10))
    #: The event as received (with the document's ``@context`` when it had none of its own).
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("epcis_captures.id"), index=True)
    #: ``capture``, or the posting it was exported from: ``receipt``, ``work_order``,
    #: ``shipment`` (with ``source_id``).
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The organization an external reader must belong to (the capturer, or the supplier of a
    #: received lot); events of our production and shipping have ours or none.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class EpcisEventIdentifier(Base):
    """One identifier an event names, in its canonical form, and where (``role``)."""

    __tablename__ = "epcis_event_identifiers"
    __table_args__ = (Index("ix_epcis_event_identifiers_uri", "uri", "role"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_row_id: Mapped[int] = mapped_column(ForeignKey("epcis_events.id"), index=True)
    #: ``epc``, ``parent``, ``child``, ``input``, ``output`` (objects) or ``class``,
    #: ``child_class``, ``input_class``, ``output_class`` (quantities).
    role: Mapped[str] = mapped_column(String(20))
    uri: Mapped[str] = mapped_column(String(500))


class EpcisObject(Base):
    """A lot, item, logistic unit or consignee that the genealogy knows only from EPCIS (an
    identifier matching one of our lots or serials joins that node instead)."""

    __tablename__ = "epcis_objects"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(500), unique=True)
    #: The trace node kind: ``epc_lot``, ``epc_item``, ``sscc`` or ``consignee``.
    kind: Mapped[str] = mapped_column(String(20))
    #: What people type: lot number, serial number, SSCC, else the URI.
    identifier: Mapped[str] = mapped_column(String(120))
    gtin: Mapped[str | None] = mapped_column(String(14))
    #: Who first named it: only that organization's clients may capture about it later.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
