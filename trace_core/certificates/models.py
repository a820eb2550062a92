"""Supplier certificates: what a certification body attests about a supplier's quality system
or process (ISO 13485, ISO 9001, sterilization validation under ISO 11135/11137, ...), for which
sites and which of the parts we buy, from when until when.

The scope has two halves. What the certificate says — ``sites`` and ``product_scope`` — is kept
as printed, for people. What we rely on is the mapping onto our parts that the supplier declares
and our QA accepts: explicit part numbers (``CertificatePart``) and/or whole part kinds
(``Part.kind``, e.g. every ``material`` we buy from them). Only that mapping is used to decide
whether a received lot was covered (``trace_core/certificates/coverage.py``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.attachments.models import Document
from trace_core.db import Base, BigIntPK, UTCDateTime, utc_now
from trace_core.identity.models import Organization
from trace_core.parts.models import Part

#: Standards offered on the forms; any other text is accepted as written.
STANDARDS = (
    "ISO 13485:2016",
    "ISO 9001:2015",
    "ISO 11135:2014",
    "ISO 11137-1:2006",
    "ISO 14001:2015",
)
CERTIFICATE_STATUSES = ("draft", "submitted", "accepted", "rejected", "suspended", "withdrawn")
#: What a receipt's check found (``Receipt.certificate_status``).
COVERAGE_STATUSES = ("covered", "lapsed", "not_covered", "none")


class SupplierCertificate(Base):
    """One certificate of one supplier. Valid ``valid_from`` … ``valid_until`` inclusive, as
    printed; a suspension or withdrawal ends it early from ``ended_on``."""

    __tablename__ = "supplier_certificates"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    #: The standard certified against, e.g. "ISO 13485:2016", as written.
    standard: Mapped[str] = mapped_column(String(80))
    certificate_number: Mapped[str] = mapped_column(String(80))
    #: The certification body (notified body, registrar) that issued it.
    issuer: Mapped[str] = mapped_column(String(200))
    #: The sites the certificate names, one per line (name and address as printed).
    sites: Mapped[str] = mapped_column(Text)
    #: The scope statement as printed ("design and manufacture of medical-grade polymers").
    product_scope: Mapped[str] = mapped_column(Text, default="")
    #: Part kinds it covers entirely (``Part.kind`` values), comma-separated; may be empty.
    part_kinds: Mapped[str] = mapped_column(String(200), default="")
    #: Supplier-declared dates, stored as declared (DESIGN invariant 6).
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    #: Suspended or withdrawn: the first day it no longer holds (it covers days before).
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_kind: Mapped[str] = mapped_column(String(10))
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: When our QA accepted it; a certificate never accepted is never relied on.
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(lazy="joined")
    document: Mapped[Document] = relationship(lazy="joined")
    parts: Mapped[list[CertificatePart]] = relationship(
        lazy="selectin", order_by="CertificatePart.position"
    )

    @property
    def kinds(self) -> list[str]:
        return [k for k in self.part_kinds.split(",") if k]

    @property
    def site_list(self) -> list[str]:
        return [s for s in self.sites.splitlines() if s.strip()]

    @property
    def part_numbers(self) -> list[str]:
        return [p.part.number for p in self.parts]


class CertificatePart(Base):
    """One of our parts the certificate covers, by the supplier's declaration."""

    __tablename__ = "supplier_certificate_parts"
    __table_args__ = (UniqueConstraint("certificate_id", "part_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("supplier_certificates.id"), index=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    part: Mapped[Part] = relationship(lazy="joined")
