"""The recall benchmark (``traceport bench recall``): opening a recall of the plant's widest
raw lot, the way a QA approver does it, timed — and then undone.

On the plant of ``bench.load`` it times, for the widest raw lot:

- the **preview** (``RecallService.preview``: the forward trace and its recall scope — every
  lot, serial, shipment and consignee — without writing anything);
- **opening** the recall (``RecallService.open``: the same, the signed recall record with the
  whole scope in its version, every lot in scope set to recalled with its own version and
  audit event, the stock in scope put on hold).

Everything runs inside one outer transaction that is rolled back at the end (the services'
own commits become savepoints), so the plant is unchanged: the QA approver the benchmark signs
as, the recall, the lot versions and the audit events disappear with it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.load import ensure_plant
from portal.runtime import build_runtime
from portal.settings import Settings
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.services import Services

Progress = Callable[[str], None]
#: The approver the benchmark signs as (created and rolled back in the run).
APPROVER = ("bench-recall@traceport.example", "Quentin Recall", "Tulip-harbor-Quartz-9174")


async def run_recall_benchmark(
    settings: Settings, serials: int, seed: int, progress: Progress = lambda _m: None
) -> dict[str, Any]:
    plant = await ensure_plant(
        settings.database_url, lambda: build_runtime(settings), serials, seed, progress=progress
    )
    runtime, engine = build_runtime(settings)
    email, name, password = APPROVER
    try:
        async with engine.connect() as connection:
            outer = await connection.begin()
            try:
                session = AsyncSession(
                    bind=connection,
                    join_transaction_mode="create_savepoint",
                    expire_on_commit=False,
                )
                system = Services(runtime, session, Actor.system("cli"))
                ours = await session.scalar(
                    select(Organization).where(Organization.kind == "internal")
                )
                if ours is None:
                    raise RuntimeError("the plant has no internal organization")
                user = await system.identity.create_user(
                    ours, email, name, password, ["qa_approver"]
                )
                await system.keeper.commit()
                qa = actor_for_user(user, "ui")
                services = Services(runtime, session, qa)
                # The recall service's module is imported on first use; with the EPCIS
                # vocabulary it brings (jsonschema), that took 2.5-2.7 s, which runs before
                # 2026-11-25's recall work counted in the preview. A server imports it when it
                # starts (portal/internal/recalls.py), so it is done here, untimed.
                import_s = time.perf_counter()
                recalls = services.recalls
                import_ms = (time.perf_counter() - import_s) * 1000
                progress(f"recall preview of the widest raw lot {plant.widest_lot}")
                gc.collect()
                t0 = time.perf_counter()
                preview = await recalls.preview(qa, plant.widest_lot)
                preview_ms = (time.perf_counter() - t0) * 1000
                progress("opening the recall (rolled back afterwards)")
                del preview["serial_groups"]
                gc.collect()
                t0 = time.perf_counter()
                recall = await recalls.open(
                    qa,
                    plant.widest_lot,
                    "benchmark: the widest raw lot",
                    SigningCredentials(password, email),
                )
                open_ms = (time.perf_counter() - t0) * 1000
                opened = recall.number
            finally:
                await outer.rollback()
    finally:
        await engine.dispose()
    return {
        "serials": plant.counts["serials"],
        "widest_lot": plant.widest_lot,
        "recall": opened,
        "scope": preview["counts"],
        "preview_ms": round(preview_ms, 2),
        "open_ms": round(open_ms, 2),
        "import_ms": round(import_ms, 2),
        "rolled_back": True,
    }
