"""Work orders: internal lots consumed, one finished lot (with serials) produced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.inventory.models import InternalLot


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    output_lot_id: Mapped[int] = mapped_column(ForeignKey("internal_lots.id"))
    status: Mapped[str] = mapped_column(String(20), default="posted")
    posted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: UDI production identifiers of the finished lot (QMS-16): date of manufacture (AI 11)
    #: and expiry (AI 17), as production states them.
    manufactured_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)

    output_lot: Mapped[InternalLot] = relationship(lazy="joined")
    inputs: Mapped[list[WorkOrderInput]] = relationship(lazy="selectin")


class WorkOrderInput(Base):
    __tablename__ = "work_order_inputs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("internal_lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(20))

    lot: Mapped[InternalLot] = relationship(lazy="joined")
