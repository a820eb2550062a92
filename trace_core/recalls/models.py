"""A recall: the suspect identifier, why, and the scope as it was when the recall was opened;
and a supplier's report of a suspect lot, which QA turns into a recall or closes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
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
    #: Closing (a QA approver's signed decision): when, by whom, why, and the justification
    #: given for closing while consignees had not acknowledged the field action.
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(BigInteger)
    closing_reason: Mapped[str | None] = mapped_column(Text)
    closing_justification: Mapped[str | None] = mapped_column(Text)


class FieldAction(Base):
    """What happened at one consignee of a recall: when they were notified, when they
    acknowledged, how many units came back or were destroyed. One per consignee of the scope
    (by its position in ``Recall.scope["consignees"]``), made at its first update; every update
    is a new version of the ``recall_field_action`` record."""

    __tablename__ = "recall_field_actions"
    __table_args__ = (UniqueConstraint("recall_id", "consignee_index"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recalls.id"), index=True)
    consignee_index: Mapped[int] = mapped_column(Integer)
    consignee_name: Mapped[str] = mapped_column(String(200))
    consignee_address: Mapped[str] = mapped_column(Text)
    #: Dates and times as the coordinator declares them (UTC), separate from system times.
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    quantity_returned: Mapped[int] = mapped_column(Integer, default=0)
    quantity_destroyed: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


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
