"""Our own identities for material: internal lots (raw and finished) and serial numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.parts.models import Part

#: Lot statuses enforced by receipts, production and shipping (QMS-10).
INTERNAL_LOT_STATUSES = ("quarantine", "released", "rejected", "on_hold", "recalled")


class InternalLot(Base):
    __tablename__ = "internal_lots"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_number: Mapped[str] = mapped_column(String(80), unique=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    kind: Mapped[str] = mapped_column(String(20))  # "material" or "finished"
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    part: Mapped[Part] = relationship(lazy="joined")


class Serial(Base):
    __tablename__ = "serials"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(80), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("internal_lots.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="in_stock")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    lot: Mapped[InternalLot] = relationship(lazy="joined")
