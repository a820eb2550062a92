"""Shipments of serials to a consignee (name and address captured for recall, QMS-12)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now
from trace_core.inventory.models import Serial


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    consignee_name: Mapped[str] = mapped_column(String(200))
    consignee_address: Mapped[str] = mapped_column(Text)
    #: For implantables (QMS-12, 21 CFR 821.25(a)(2)): the named person at the consignee and
    #: a telephone number, so that a recall reaches someone who can locate each device.
    consignee_contact: Mapped[str | None] = mapped_column(String(200))
    consignee_phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="shipped")
    shipped_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    items: Mapped[list[ShipmentItem]] = relationship(lazy="selectin")


class ShipmentItem(Base):
    __tablename__ = "shipment_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    serial_id: Mapped[int] = mapped_column(ForeignKey("serials.id"), unique=True)

    serial: Mapped[Serial] = relationship(lazy="joined")
