"""What the trace shows of supplier certificates (CERT-01): for each supplier lot, each receipt
of it with the supplier's certificate status on the receipt date — as judged when the receipt
was posted (and the certificate version that judgement rests on), and as judged now for that
same day, which differs when a certificate was accepted, suspended or withdrawn afterwards.

``receipts_evidence`` judges receipt rows against the suppliers' certificates, wherever the
rows come from: our staff's backward traces carry them as branches of their one evidence
statement (``trace/statements.py``); ``certificate_evidence`` reads them by three queries for
any number of lots (the receipts with their recorded check, the suppliers' accepted
certificates, and those certificates' parts; plain columns, an array parameter on PostgreSQL,
IN lists on SQLite) for forward traces, the scope, suppliers' traces and the lot pages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.certificates.coverage import (
    RECORD,
    CertificateFacts,
    judge,
    relied_certificates,
    version_join,
)
from trace_core.db import among_ids
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part
from trace_core.receipts.models import Receipt
from trace_core.records.models import RecordVersion


def _receipts_statement() -> Any:
    return (
        select(
            Receipt.supplier_lot_id,
            Receipt.id,
            Receipt.number,
            Receipt.received_at,
            Receipt.certificate_status,
            Receipt.certificate_id,
            Receipt.certificate_version,
            RecordVersion.content_sha256,
            SupplierLot.organization_id,
            SupplierLot.part_id,
            Part.kind,
        )
        .join(SupplierLot, SupplierLot.id == Receipt.supplier_lot_id)
        .join(Part, Part.id == SupplierLot.part_id)
        .outerjoin(
            RecordVersion,
            version_join(RecordVersion, Receipt.certificate_id, Receipt.certificate_version),
        )
        .order_by(Receipt.received_at, Receipt.id)
    )


_RECEIPTS = _receipts_statement()


async def certificate_evidence(
    session: AsyncSession, supplier_lot_ids: Collection[int]
) -> dict[int, list[dict[str, Any]]]:
    """Supplier lot id → its receipts, oldest first, each with ``at_receipt`` (what was judged
    when it was posted: status, the certificate and the exact version relied on; None for a
    receipt posted before certificates were checked) and ``on_receipt_date`` (the same day
    judged with what we know now). Lots never received are absent."""
    if not supplier_lot_ids:
        return {}
    dialect = session.get_bind().dialect.name
    # Plain Core on the unit of work's connection, as the trace's own statements run: every
    # backward trace asks this, and the ORM's per-statement work costs more than the query.
    connection = await session.connection()
    rows: list[Any] = []
    for condition in among_ids(dialect, Receipt.supplier_lot_id, supplier_lot_ids):
        rows += (await connection.execute(_RECEIPTS.where(condition))).all()
    if not rows:
        return {}
    certificates = await relied_certificates(session, {row.organization_id for row in rows})
    return receipts_evidence(rows, certificates)


def receipts_evidence(
    rows: Iterable[Sequence[Any]], certificates: dict[int, list[CertificateFacts]]
) -> dict[int, list[dict[str, Any]]]:
    """Key → the receipts of that supplier lot, oldest first, judged against the suppliers'
    ``certificates``. Each row: the key (the supplier lot id, or the trace node id), then the
    receipt's id, number, received_at, recorded certificate status, certificate id and version,
    that version's content hash, the lot's organization, part and part kind."""
    by_id = {c.id: c for found in certificates.values() for c in found}
    # A trace judges tens of receipts against a handful of certificates: each certificate is
    # shown once (the same dict wherever it answers; nobody changes evidence), and the same
    # supplier, part and day is judged once.
    shown: dict[int, dict[str, Any]] = {}
    judged: dict[tuple[Any, ...], dict[str, Any]] = {}

    def show(certificate: CertificateFacts | None) -> dict[str, Any] | None:
        if certificate is None:
            return None
        if (view := shown.get(certificate.id)) is None:
            view = shown[certificate.id] = certificate.as_dict()
        return view

    evidence: dict[int, list[dict[str, Any]]] = {}
    ordered = sorted(rows, key=lambda row: (row[0], row[3], row[1]))
    for (
        key,
        receipt_id,
        number,
        received_at,
        status,
        certificate_id,
        certificate_version,
        content_sha256,
        organization_id,
        part_id,
        kind,
    ) in ordered:
        day = received_at.date()
        if (now := judged.get(question := (organization_id, part_id, kind, day))) is None:
            coverage = judge(certificates.get(organization_id, ()), part_id, kind, day)
            now = judged[question] = coverage.as_dict(show(coverage.certificate))
        at_receipt: dict[str, Any] | None = None
        if status is not None:
            relied = by_id.get(certificate_id) if certificate_id else None
            at_receipt = {
                "status": status,
                "certificate": (
                    {
                        **(show(relied) or {}),
                        # The version judged at receipt, not today's.
                        "record": {
                            "type": RECORD,
                            "id": relied.id,
                            "version": certificate_version,
                            "content_sha256": content_sha256,
                        },
                    }
                    if relied
                    else None
                ),
            }
        evidence.setdefault(key, []).append(
            {
                "receipt": {"id": receipt_id, "number": number, "received_on": day},
                "at_receipt": at_receipt,
                "on_receipt_date": now,
                "changed_since_receipt": at_receipt is not None
                and at_receipt["status"] != now["status"],
            }
        )
    return evidence
