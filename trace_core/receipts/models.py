"""Goods receipts: a supplier lot arriving and becoming one of our internal lots; the incoming
inspection plan of a part and the inspection of each receipt of it (QMS-06)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.inventory.models import InternalLot
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Characteristic, Part

#: Where an incoming inspection stands (QMS-06).
INSPECTION_STATUSES = ("pending", "passed", "failed", "released")


class Receipt(Base):
    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    supplier_lot_id: Mapped[int] = mapped_column(ForeignKey("supplier_lots.id"), index=True)
    internal_lot_id: Mapped[int] = mapped_column(ForeignKey("internal_lots.id"))
    #: The quantity in the supplier lot's unit: what the internal lot, the genealogy edge and
    #: the over-receipt cap count.
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(20))
    #: The quantity and unit as they were received (typed or sent), before conversion.
    quantity_received: Mapped[Decimal | None] = mapped_column(Quantity)
    unit_received: Mapped[str | None] = mapped_column(String(20))
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


class NumberCounter(Base):
    """The last number given out of a series, on SQLite (which has no sequences): incremented
    in the transaction that uses it, and SQLite's single writer makes that collision-free.
    PostgreSQL uses real sequences instead (``receipt_number_seq``)."""

    __tablename__ = "number_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class InspectionPlanItem(Base):
    """One characteristic our goods-in checks on every receipt of a part, with its criterion
    and how many units of the delivery are inspected. A revised plan retires the old items
    (``retired_at``) instead of deleting them: past results name what they were judged by."""

    __tablename__ = "inspection_plan_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(20))
    lower_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    upper_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    expected_text: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(100))
    sample_size: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def as_characteristic(self) -> Characteristic:
        """The item as a (transient, never stored) characteristic, so that goods-in results are
        judged by the same rule as a supplier's (``trace_core.parts.evaluation``)."""
        return Characteristic(
            code=self.code,
            name=self.name,
            kind=self.kind,
            unit=self.unit,
            lower_limit=self.lower_limit,
            upper_limit=self.upper_limit,
            expected_text=self.expected_text,
            method=self.method,
            required=True,
        )


class ReceiptInspection(Base):
    """The incoming inspection of one receipt of a part with a plan: a regulated record
    (``receipt_inspection``) moving pending → passed/failed → released."""

    __tablename__ = "receipt_inspections"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), unique=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: Who entered the results (the QA person who releases must be someone else).
    results_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    results_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    receipt: Mapped[Receipt] = relationship(lazy="joined")
    part: Mapped[Part] = relationship(lazy="joined")
    results: Mapped[list[InspectionResult]] = relationship(
        lazy="selectin", order_by="InspectionResult.position"
    )


class InspectionResult(Base):
    """One characteristic as goods-in found it, judged against the plan item (whose criterion
    is copied, so the result reads the same after the plan is revised). Append-only."""

    __tablename__ = "inspection_results"
    __table_args__ = (UniqueConstraint("inspection_id", "code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("receipt_inspections.id"), index=True)
    plan_item_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan_items.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    criterion: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(20))
    value_numeric: Mapped[Decimal | None] = mapped_column(Quantity)
    sample_size: Mapped[int] = mapped_column(Integer)
    sampled: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
