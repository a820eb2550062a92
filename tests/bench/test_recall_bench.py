"""The recall benchmark (``bench/recall.py``): it opens a real recall of the widest raw lot
through the services — signed, lots set to recalled, stock on hold — and leaves the plant as
it found it. Nothing here is timed."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from bench.recall import APPROVER, run_recall_benchmark
from portal.runtime import build_runtime
from portal.settings import Settings
from trace_core.identity.models import User
from trace_core.inventory.models import InternalLot
from trace_core.recalls.models import Recall
from trace_core.records.models import AuditEvent

SERIALS = 2000
SEED = 5


async def _state(settings: Settings) -> tuple[int, int, int, int]:
    runtime, engine = build_runtime(settings)
    try:
        async with runtime.sessions() as session:
            return (
                await session.scalar(select(func.count()).select_from(Recall)) or 0,
                await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
                await session.scalar(select(func.count()).where(InternalLot.status == "recalled"))
                or 0,
                await session.scalar(select(func.count()).where(User.email == APPROVER[0])) or 0,
            )
    finally:
        await engine.dispose()


@pytest.mark.req("QMS-14")
async def test_the_recall_benchmark_opens_a_recall_and_rolls_it_back(
    bench_url: str, bench_settings: Settings
) -> None:
    settings = dataclasses.replace(bench_settings, database_url=bench_url)
    report = await run_recall_benchmark(settings, SERIALS, SEED)
    assert report["recall"] == "RC-000001"
    assert report["rolled_back"] is True
    assert report["scope"]["internal_lots"] > 1 and report["scope"]["serials"] > 0
    assert report["preview_ms"] > 0 and report["open_ms"] > 0
    # Nothing of it stayed: no recall, no approver, no recalled lot, no audit event.
    before = await _state(settings)
    assert before[0] == 0 and before[2] == 0 and before[3] == 0
    again = await run_recall_benchmark(settings, SERIALS, SEED)
    assert again["recall"] == "RC-000001"
    assert await _state(settings) == before
