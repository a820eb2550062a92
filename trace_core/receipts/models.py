"""Goods receipts: a supplier lot arriving and becoming one of our internal lots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.inventory.models import InternalLot
from trace_core.lots.models import SupplierLot


class Receipt(Base):
    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    supplier_lot_id: Mapped[int] = mapped_column(ForeignKey("supplier_lots.id"), index=True)
    internal_lot_id: Mapped[int] = mapped_column(ForeignKey("internal_lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="posted")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: The supplier's certificate coverage on the receipt date, judged when the receipt was
    #: posted (CERT-01): covered, lapsed, not_covered or none. Null for receipts posted before
    #: certificates were checked.
    certificate_status: Mapped[str | None] = mapped_column(String(20))
    #: The certificate that answer rests on, and the version of it that was judged.
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("supplier_certificates.id"))
    certificate_version: Mapped[int | None] = mapped_column(Integer)

    supplier_lot: Mapped[SupplierLot] = relationship(lazy="joined")
    internal_lot: Mapped[InternalLot] = relationship(lazy="joined")
