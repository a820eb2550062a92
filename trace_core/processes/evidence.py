"""What the trace shows of process runs (QMS-08): for each internal lot, the posted runs it
went into or came out of, with their parameters, results and verified signatures.

Kept apart from ``trace/service.py`` so that the trace only needs a small hook: one call per
trace for all internal lots found, by plain columns (an array parameter on PostgreSQL, IN lists
of 10,000 on SQLite, as the trace itself reads evidence), then the few runs themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.db import among_ids
from trace_core.processes.models import ProcessRun, ProcessRunLot
from trace_core.records.service import verified_signatures


def _values(run: ProcessRun, kind: str) -> list[dict[str, Any]]:
    return [
        {
            "name": v.name,
            "value": v.value_text,
            "unit": v.unit,
            "lower_limit": v.lower_limit,
            "upper_limit": v.upper_limit,
            "verdict": v.verdict,
        }
        for v in run.values
        if v.kind == kind
    ]


async def process_evidence(
    session: AsyncSession, internal_lot_ids: Collection[int]
) -> dict[int, list[dict[str, Any]]]:
    """Internal lot id → the posted runs of that lot, oldest first. ``role`` says how the lot
    took part: ``input`` (sent out, came back under another number), ``output`` (a new lot
    the run made) or ``same_identity`` (sent out and returned as itself)."""
    if not internal_lot_ids:
        return {}
    roles: dict[int, dict[int, str]] = {}
    dialect = session.get_bind().dialect.name
    for condition in among_ids(dialect, ProcessRunLot.lot_id, internal_lot_ids):
        rows = await session.execute(
            select(
                ProcessRunLot.lot_id,
                ProcessRunLot.run_id,
                ProcessRunLot.role,
                ProcessRunLot.same_identity,
            )
            .join(ProcessRun, ProcessRun.id == ProcessRunLot.run_id)
            .where(condition, ProcessRun.posted_at.is_not(None))
        )
        for lot_id, run_id, role, same in rows:
            if lot_id is None:
                continue
            by_run = roles.setdefault(int(lot_id), {})
            if same or by_run.get(run_id) == "same_identity":
                by_run[run_id] = "same_identity"
            elif run_id not in by_run:
                by_run[run_id] = role
    if not roles:
        return {}
    run_ids = sorted({run_id for by_run in roles.values() for run_id in by_run})
    runs = {
        run.id: run
        for run in (
            await session.scalars(select(ProcessRun).where(ProcessRun.id.in_(run_ids)))
        ).unique()
    }
    signatures = await verified_signatures(session, "process_run", run_ids)
    described: dict[int, dict[str, Any]] = {}
    for run_id, run in runs.items():
        described[run_id] = {
            "id": run.id,
            "run_number": run.run_number,
            "process_kind": run.process_kind,
            "contractor": run.organization.name,
            "cycle_id": run.cycle_id,
            "started_on": run.started_on,
            "ended_on": run.ended_on,
            "status": run.status,
            "verdict": run.verdict,
            "agreement_reference": run.approval.agreement_reference,
            "parameters": _values(run, "parameter"),
            "results": _values(run, "result"),
            "certificate": (
                {
                    "document_id": run.certificate.id,
                    "sha256": run.certificate.sha256,
                    "filename": run.certificate.filename,
                }
                if run.certificate
                else None
            ),
            "inputs": [lot.lot_number for lot in run.inputs],
            "outputs": [lot.lot_number for lot in run.outputs],
            "signatures": [s.as_dict() for s in signatures.get(run_id, [])],
            "record": {"type": "process_run", "id": run.id, "version": run.version},
        }
    return {
        lot_id: [{**described[run_id], "role": role} for run_id, role in sorted(by_run.items())]
        for lot_id, by_run in roles.items()
    }
