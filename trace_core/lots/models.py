"""Supplier lots with their Certificate of Analysis: the declared data, the structured
results and our verdict on each."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.attachments.models import Document
from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.identity.models import Organization
from trace_core.parts.models import Characteristic, Part, Specification

LOT_STATUSES = ("draft", "needs_verification", "submitted", "approved", "rejected", "voided")


class SupplierLot(Base):
    """A lot as the supplier identifies it. ``lot_number`` is kept verbatim: case and leading
    zeros are part of another company's identifier, not ours to normalise."""

    __tablename__ = "supplier_lots"
    __table_args__ = (UniqueConstraint("organization_id", "part_id", "lot_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    specification_id: Mapped[int] = mapped_column(ForeignKey("specifications.id"))
    lot_number: Mapped[str] = mapped_column(String(80), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(20))
    #: Supplier-declared dates, stored as declared (DESIGN invariant 6).
    manufactured_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    coa_document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    verdict: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_kind: Mapped[str] = mapped_column(String(10))
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Days between the CoA's manufacture/test date and the submission, when more than the
    #: late-entry setting (DI-02); None for a contemporaneous entry.
    late_entry_days: Mapped[int | None] = mapped_column(Integer)
    #: Our staff typed it from the supplier's paper CoA (A11-03): it counts only after a
    #: second person has verified the typed values against the PDF.
    entered_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The material-hold state, apart from the review status: ``None``, ``on_hold`` or
    #: ``recalled``; written only by ``trace_core/gates`` (``docs/GATES.md``).
    hold_status: Mapped[str | None] = mapped_column(String(20), default=None)

    organization: Mapped[Organization] = relationship(lazy="joined")
    part: Mapped[Part] = relationship(lazy="joined")
    specification: Mapped[Specification] = relationship(lazy="joined")
    coa_document: Mapped[Document] = relationship(lazy="joined")
    results: Mapped[list[LotResult]] = relationship(
        lazy="selectin", order_by="LotResult.position", back_populates="lot"
    )


class LotResult(Base):
    """One CoA result: the value as the supplier wrote it and our verdict against our spec."""

    __tablename__ = "lot_results"
    __table_args__ = (UniqueConstraint("lot_id", "characteristic_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("supplier_lots.id"), index=True)
    characteristic_id: Mapped[int] = mapped_column(ForeignKey("characteristics.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    value_text: Mapped[str] = mapped_column(String(200))
    value_numeric: Mapped[Decimal | None] = mapped_column(Quantity)
    unit: Mapped[str | None] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text)

    lot: Mapped[SupplierLot] = relationship(back_populates="results")
    characteristic: Mapped[Characteristic] = relationship(lazy="joined")
