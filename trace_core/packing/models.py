"""Shipping units (a case or a pallet named by its SSCC), what is in them now, and every packing
and unpacking posting (append-only: the history the EPCIS AggregationEvents are made from)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now

UNIT_LEVELS = ("case", "pallet")
UNIT_STATUSES = ("open", "closed", "shipped")


class ShippingUnit(Base):
    __tablename__ = "shipping_units"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: The 18-digit SSCC, check digit included.
    sscc: Mapped[str] = mapped_column(String(18), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="open")
    #: The pallet this unit is on now, if any.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("shipping_units.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), index=True)
    #: Whether the SSCC was allocated by Traceport or typed/scanned from an existing label.
    allocated: Mapped[bool] = mapped_column(default=False)
    packed_by: Mapped[str] = mapped_column(String(200))
    packed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PackingEvent(Base):
    """One packing (``ADD``) or unpacking (``DELETE``) posting; never updated."""

    __tablename__ = "packing_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("shipping_units.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    #: Serial numbers and child SSCCs added or removed, as posted.
    serials: Mapped[list[Any]] = mapped_column(JSON)
    units: Mapped[list[Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    actor_name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))
    posted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class ShippingUnitItem(Base):
    """A serial or a case in a unit, from the packing that put it there until the unpacking
    that took it out. A partial unique index (migration 0010) keeps a serial or a case in at
    most one unit at a time, also against two concurrent packings."""

    __tablename__ = "shipping_unit_items"
    __table_args__ = (
        Index(
            "uq_shipping_unit_items_serial_current",
            "serial_id",
            unique=True,
            sqlite_where="unpacked_by_id IS NULL AND serial_id IS NOT NULL",
            postgresql_where="unpacked_by_id IS NULL AND serial_id IS NOT NULL",
        ),
        Index(
            "uq_shipping_unit_items_child_current",
            "child_unit_id",
            unique=True,
            sqlite_where="unpacked_by_id IS NULL AND child_unit_id IS NOT NULL",
            postgresql_where="unpacked_by_id IS NULL AND child_unit_id IS NOT NULL",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("shipping_units.id"), index=True)
    serial_id: Mapped[int | None] = mapped_column(ForeignKey("serials.id"))
    child_unit_id: Mapped[int | None] = mapped_column(ForeignKey("shipping_units.id"))
    packed_by_id: Mapped[int] = mapped_column(ForeignKey("packing_events.id"))
    unpacked_by_id: Mapped[int | None] = mapped_column(ForeignKey("packing_events.id"))
    #: The trace edge the packing wrote (removed again by an unpacking).
    edge_id: Mapped[int | None] = mapped_column(BigInteger)
