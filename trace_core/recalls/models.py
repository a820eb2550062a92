"""A recall: the suspect identifier, why, and the scope as it was when the recall was opened;
and a supplier's report of a suspect lot, which QA turns into a recall or closes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now


class Recall(Base):
    __tablename__ = "recalls"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    identifier: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    opened_by_id: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: The scope when the recall was opened (also the content of its first version).
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    suspect_report_id: Mapped[int | None] = mapped_column(ForeignKey("suspect_reports.id"))


class SuspectReport(Base):
    __tablename__ = "suspect_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    supplier_lot_id: Mapped[int] = mapped_column(ForeignKey("supplier_lots.id"))
    reported_by_kind: Mapped[str] = mapped_column(String(10))
    reported_by_id: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
