"""A material hold: QA's (or a recall's) stop on a supplier lot, an internal lot or a range
of serials. The row says what is held and how the hold stands; its history (placed, released,
scrapped, returned) is the ``material_hold`` record's versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now


class MaterialHold(Base):
    __tablename__ = "material_holds"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: ``supplier_lot``, ``internal_lot`` or ``serial_range``.
    target_kind: Mapped[str] = mapped_column(String(20))
    supplier_lot_id: Mapped[int | None] = mapped_column(ForeignKey("supplier_lots.id"), index=True)
    internal_lot_id: Mapped[int | None] = mapped_column(ForeignKey("internal_lots.id"), index=True)
    serial_first: Mapped[str | None] = mapped_column(String(80))
    serial_last: Mapped[str | None] = mapped_column(String(80))
    #: The serials a range hold put on hold (those in stock when it was placed).
    serials: Mapped[list[str] | None] = mapped_column(JSON)
    #: ``hold`` (QA by hand) or ``recall`` (placed by opening ``recall_id``).
    hold_kind: Mapped[str] = mapped_column(String(20))
    recall_id: Mapped[int | None] = mapped_column(ForeignKey("recalls.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    #: What the supplier is shown on its lot (never our reason or our recall record).
    supplier_notice: Mapped[str | None] = mapped_column(Text)
    #: An internal lot's status before the hold: what a release gives back.
    previous_status: Mapped[str | None] = mapped_column(String(20))
    #: ``active``, ``released``, ``scrapped`` or ``returned`` (``HOLD_TRANSITIONS``).
    status: Mapped[str] = mapped_column(String(20), default="active")
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    placed_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(Text)

    def content(self, target: str) -> dict[str, Any]:
        """The record's content for a version (``target``: what it holds, for people)."""
        return {
            "number": self.number,
            "target_kind": self.target_kind,
            "target": target,
            "supplier_lot_id": self.supplier_lot_id,
            "internal_lot_id": self.internal_lot_id,
            "serial_first": self.serial_first,
            "serial_last": self.serial_last,
            "serials": self.serials,
            "hold_kind": self.hold_kind,
            "recall_id": self.recall_id,
            "reason": self.reason,
            "supplier_notice": self.supplier_notice,
            "previous_status": self.previous_status,
            "placed_by": self.placed_by,
            "ended_by": self.ended_by,
            "end_reason": self.end_reason,
        }
