"""Parts, our material specifications (with characteristics and limits) and the approved
supplier list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.identity.models import Organization

CHARACTERISTIC_KINDS = ("numeric", "text", "pass_fail")


class Part(Base):
    __tablename__ = "parts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="material")
    unit: Mapped[str] = mapped_column(String(20), default="kg")
    gtin: Mapped[str | None] = mapped_column(String(14))
    implantable: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How much more than a supplier lot's declared quantity may be received of this part, in
    #: percent (0: not a gram more); beyond it a receipt is refused (trace_core.receipts).
    over_receipt_tolerance_pct: Mapped[Decimal] = mapped_column(
        Quantity, default=Decimal(0), server_default="0"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class Specification(Base):
    """A revision of our specification for a part. Exactly one revision is effective."""

    __tablename__ = "specifications"
    __table_args__ = (UniqueConstraint("part_id", "revision"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    revision: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="effective")
    effective_from: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    part: Mapped[Part] = relationship(lazy="joined")
    characteristics: Mapped[list[Characteristic]] = relationship(
        lazy="selectin", order_by="Characteristic.position"
    )


class Characteristic(Base):
    """One tested property with our acceptance criterion."""

    __tablename__ = "characteristics"
    __table_args__ = (UniqueConstraint("specification_id", "code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    specification_id: Mapped[int] = mapped_column(ForeignKey("specifications.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(20))
    lower_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    upper_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    #: Physical bounds (a moisture content ≥ 0, a percentage ≤ 100), apart from our acceptance
    #: limits: a result outside them is refused as an input error, never judged.
    physical_min: Mapped[Decimal | None] = mapped_column(Quantity)
    physical_max: Mapped[Decimal | None] = mapped_column(Quantity)
    expected_text: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(100))
    required: Mapped[bool] = mapped_column(Boolean, default=True)

    def criterion(self) -> str:
        """Our acceptance criterion in words, as shown to suppliers and reviewers."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "numeric":
            if self.lower_limit is not None and self.upper_limit is not None:
                return f"{self.lower_limit} – {self.upper_limit}{unit}"
            if self.lower_limit is not None:
                return f"≥ {self.lower_limit}{unit}"
            if self.upper_limit is not None:
                return f"≤ {self.upper_limit}{unit}"
            return f"report value{unit}"
        if self.kind == "pass_fail":
            return "pass"
        return self.expected_text or "report"

    def physical_bounds(self) -> str | None:
        """The physical bounds in words (``0 – 100 %``, ``≥ 0 %``), or None when it has none."""
        unit = f" {self.unit}" if self.unit else ""
        low, high = self.physical_min, self.physical_max
        if low is not None and high is not None:
            return f"{low} – {high}{unit}"
        if low is not None:
            return f"≥ {low}{unit}"
        if high is not None:
            return f"≤ {high}{unit}"
        return None


class ApprovedSupplier(Base):
    """An entry of the approved supplier list: this organization may supply this part."""

    __tablename__ = "approved_suppliers"
    __table_args__ = (UniqueConstraint("part_id", "organization_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(20), default="approved")
    risk_class: Mapped[str] = mapped_column(String(10), default="B")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    part: Mapped[Part] = relationship(lazy="joined")
    organization: Mapped[Organization] = relationship(lazy="joined")


class PartRequiredProcess(Base):
    """An outsourced process every finished lot of this part must have gone through before it
    is released (e.g. ``FG-1000`` needs gamma sterilization), with **our** acceptance limits
    for the run's values (COA-05): ``limits`` is a list of ``{"name", "unit", "lower",
    "upper"}`` (decimal strings or null), matched by name against the contractor's parameters
    and results."""

    __tablename__ = "part_required_processes"
    __table_args__ = (UniqueConstraint("part_id", "process_kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    process_kind: Mapped[str] = mapped_column(String(30))
    #: What the process is called on the release page and in refusals ("gamma sterilization").
    label: Mapped[str] = mapped_column(String(120))
    limits: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    part: Mapped[Part] = relationship(lazy="joined")
