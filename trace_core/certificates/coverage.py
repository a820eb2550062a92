"""Was a part from this supplier covered by an accepted certificate on a given day? (CERT-01)

The answer is judged for a *day* — a lot's receipt date — never only for today: a certificate
that lapsed last month did not cover a lot received last week, and one uploaded late still
answers for the day a lot arrived. Four answers:

``covered``      an accepted certificate whose scope names the part (or its kind) held that day;
``lapsed``       certificates covering the part exist, but none held that day (expired, not yet
                 valid, or suspended/withdrawn before it);
``not_covered``  a certificate held that day, but its scope names neither the part nor its kind;
``none``         the supplier had no accepted certificate at all that day, or ever.

Only certificates our QA accepted count. A suspension or withdrawal ends a certificate from its
``ended_on`` date onward; days before stay covered, because the certificate did hold then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.certificates.models import CertificatePart, SupplierCertificate
from trace_core.db import among_ids, constants
from trace_core.records.models import RecordVersion

RECORD = "supplier_certificate"
#: The statuses of a certificate QA accepted at some time (it may have ended since).
RELIED_STATUSES = ("accepted", "suspended", "withdrawn")


@dataclass(frozen=True)
class CertificateFacts:
    """What coverage needs of one accepted certificate, and what evidence shows of it."""

    id: int
    organization_id: int
    standard: str
    certificate_number: str
    issuer: str
    valid_from: dt.date
    valid_until: dt.date
    status: str
    ended_on: dt.date | None
    version: int
    content_sha256: str | None
    part_ids: frozenset[int]
    kinds: frozenset[str]

    def covers_part(self, part_id: int, kind: str) -> bool:
        return part_id in self.part_ids or kind in self.kinds

    def holds_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_until and (
            self.ended_on is None or day < self.ended_on
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "standard": self.standard,
            "certificate_number": self.certificate_number,
            "issuer": self.issuer,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "status": self.status,
            "ended_on": self.ended_on,
            "record": {
                "type": RECORD,
                "id": self.id,
                "version": self.version,
                "content_sha256": self.content_sha256,
            },
        }


@dataclass(frozen=True)
class Coverage:
    status: str
    day: dt.date
    certificate: CertificateFacts | None

    @property
    def flagged(self) -> bool:
        return self.status != "covered"

    def explanation(self) -> str:
        """The answer in words, for QA and for the audit trail."""
        c, day = self.certificate, self.day.isoformat()
        if c is None:
            return f"No accepted certificate of the supplier held on {day}."
        named = f"{c.standard} certificate {c.certificate_number} ({c.issuer})"
        if self.status == "covered":
            return f"Covered on {day} by {named}, valid {c.valid_from} to {c.valid_until}."
        if self.status == "not_covered":
            return f"{named} held on {day}, but its scope does not cover this part."
        if c.ended_on is not None and c.ended_on <= self.day:
            return f"{named} was {c.status} from {c.ended_on}; it did not hold on {day}."
        if self.day < c.valid_from:
            return f"{named} became valid only on {c.valid_from}, after {day}."
        return f"{named} lapsed on {c.valid_until}, before {day}."

    def as_dict(self, certificate: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer as evidence; ``certificate`` is the certificate's ``as_dict`` when the
        caller has it already."""
        if certificate is None and self.certificate is not None:
            certificate = self.certificate.as_dict()
        return {
            "status": self.status,
            "day": self.day,
            "explanation": self.explanation(),
            "certificate": certificate,
        }


def _latest(certificates: Iterable[CertificateFacts]) -> CertificateFacts | None:
    return max(certificates, key=lambda c: (c.valid_until, c.id), default=None)


def judge(
    certificates: Iterable[CertificateFacts], part_id: int, part_kind: str, day: dt.date
) -> Coverage:
    """The supplier's coverage of one part on one day, from its accepted certificates."""
    relied = certificates if isinstance(certificates, (list, tuple)) else list(certificates)
    scoped = [c for c in relied if c.covers_part(part_id, part_kind)]
    if found := _latest(c for c in scoped if c.holds_on(day)):
        return Coverage("covered", day, found)
    if scoped:
        return Coverage("lapsed", day, _latest(scoped))
    if found := _latest(c for c in relied if c.holds_on(day)):
        return Coverage("not_covered", day, found)
    return Coverage("none", day, None)


def version_join(version: Any, certificate_id: Any, number: Any) -> Any:
    """The join condition of ``version`` (an alias of ``RecordVersion``) onto version
    ``number`` of certificate ``certificate_id``."""
    return and_(
        version.record_type == RECORD,
        version.record_id == certificate_id,
        version.version == number,
    )


def relied_on() -> tuple[Any, ...]:
    """The conditions of a certificate our QA relied on: accepted once (also those ended
    since)."""
    return (
        SupplierCertificate.accepted_at.is_not(None),
        SupplierCertificate.status.in_(constants(RELIED_STATUSES)),
    )


def fact_columns(version: Any) -> dict[str, Any]:
    """The columns ``certificate_facts`` reads, by ``FACT_COLUMNS`` name, the content hash from
    ``version`` joined by ``version_join`` onto the certificate's current version."""
    columns = {
        "id": SupplierCertificate.id,
        "organization_id": SupplierCertificate.organization_id,
        "standard": SupplierCertificate.standard,
        "certificate_number": SupplierCertificate.certificate_number,
        "issuer": SupplierCertificate.issuer,
        "valid_from": SupplierCertificate.valid_from,
        "valid_until": SupplierCertificate.valid_until,
        "status": SupplierCertificate.status,
        "ended_on": SupplierCertificate.ended_on,
        "version": SupplierCertificate.version,
        "content_sha256": version.content_sha256,
        "part_kinds": SupplierCertificate.part_kinds,
    }
    assert tuple(columns) == FACT_COLUMNS
    return columns


async def relied_certificates(
    session: AsyncSession, organization_ids: Collection[int]
) -> dict[int, list[CertificateFacts]]:
    """Organization id → its certificates our QA accepted (also those ended since), with the
    content hash of each one's current version. Two queries for any number of suppliers."""
    if not organization_ids:
        return {}
    dialect = session.get_bind().dialect.name
    connection = await session.connection()  # plain Core: asked by every backward trace
    rows: list[Any] = []
    for condition in among_ids(dialect, SupplierCertificate.organization_id, organization_ids):
        rows += (
            await connection.execute(
                select(*fact_columns(RecordVersion).values())
                .outerjoin(
                    RecordVersion,
                    version_join(
                        RecordVersion, SupplierCertificate.id, SupplierCertificate.version
                    ),
                )
                .where(condition, *relied_on())
            )
        ).all()
    if not rows:
        return {}
    parts: list[tuple[int, int]] = list(
        await connection.execute(
            select(CertificatePart.certificate_id, CertificatePart.part_id).where(
                CertificatePart.certificate_id.in_([row.id for row in rows])
            )
        )
    )
    return certificate_facts(rows, parts)


#: The columns ``certificate_facts`` reads from each certificate row, in this order.
FACT_COLUMNS = (
    "id",
    "organization_id",
    "standard",
    "certificate_number",
    "issuer",
    "valid_from",
    "valid_until",
    "status",
    "ended_on",
    "version",
    "content_sha256",
    "part_kinds",
)


def certificate_facts(
    rows: Iterable[Sequence[Any]], parts: Iterable[tuple[int, int]]
) -> dict[int, list[CertificateFacts]]:
    """Organization id → its certificates, from certificate rows (``FACT_COLUMNS`` in order)
    and (certificate id, part id) pairs: as ``relied_certificates`` reads them, or as the
    trace's evidence statement carries them."""
    part_ids: dict[int, set[int]] = {}
    for certificate_id, part_id in parts:
        part_ids.setdefault(certificate_id, set()).add(part_id)
    found: dict[int, list[CertificateFacts]] = {}
    for row in rows:
        (
            id_,
            organization_id,
            standard,
            number,
            issuer,
            valid_from,
            valid_until,
            status,
            ended_on,
            version,
            content_sha256,
            part_kinds,
        ) = row[: len(FACT_COLUMNS)]
        facts = CertificateFacts(
            id=id_,
            organization_id=organization_id,
            standard=standard,
            certificate_number=number,
            issuer=issuer,
            valid_from=valid_from,
            valid_until=valid_until,
            status=status,
            ended_on=ended_on,
            version=version,
            content_sha256=content_sha256,
            part_ids=frozenset(part_ids.get(id_, ())),
            kinds=frozenset(k for k in (part_kinds or "").split(",") if k),
        )
        found.setdefault(organization_id, []).append(facts)
    return found


async def coverage_on(
    session: AsyncSession, organization_id: int, part_id: int, part_kind: str, day: dt.date
) -> Coverage:
    """``judge`` for one supplier, part and day, with what we know now — for a date in the
    past too, so that a certificate uploaded late still answers for a lot received earlier."""
    certificates = (await relied_certificates(session, [organization_id])).get(organization_id, [])
    return judge(certificates, part_id, part_kind, day)
