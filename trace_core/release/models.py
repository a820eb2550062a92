"""The release of a finished lot: QA's signed decision, after the device history record
review, that a lot made by a work order may be used and shipped (QMS-10)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now
from trace_core.inventory.models import InternalLot

#: quarantine (posted by the work order) → released | rejected, each by a QA e-signature.
RELEASE_STATUSES = ("quarantine", "released", "rejected")


class FinishedLotRelease(Base):
    """One per finished lot, created with the lot at posting in ``quarantine``."""

    __tablename__ = "finished_lot_releases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("internal_lots.id"), unique=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="quarantine")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lot: Mapped[InternalLot] = relationship(lazy="joined")
