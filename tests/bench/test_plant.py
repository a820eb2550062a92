"""The benchmark plant (``bench/plant.py``, ``bench/load.py``): the promised ratios, a widest
lot, edges exactly as the posting services write them, reuse, resume and refusal."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

import bench.load
from bench.load import MARKER_TABLE, PlantError, PlantInfo, ensure_plant
from bench.plant import (
    REFERENCE_COUNTS,
    MasterIds,
    PlantSize,
    design_plant,
    plant_rows,
)
from portal.runtime import build_runtime
from portal.settings import Settings
from trace_core.db import create_engine, utc_now
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.migrate import upgrade_async
from trace_core.services import Runtime, provide_services

SERIALS = 2000
SEED = 7

#: (edge kind, event type, source node kind, target node kind, has quantity, has unit): what
#: the receipt, production and shipment services write (checked against them below).
EDGE_SHAPES = {
    ("receipt", "receipt", "supplier_lot", "internal_lot", True, True),
    ("consumption", "work_order", "internal_lot", "internal_lot", True, True),
    ("production", "work_order", "internal_lot", "serial", True, True),
    ("shipment", "shipment", "serial", "shipment", False, False),
}
#: Packing (trace_core/packing) writes these too; the generated plant has no packing yet, so
#: the benchmark does not measure walks through cases and pallets.
PACKING_SHAPES = {
    ("packing", "packing", "serial", "shipping_unit", False, False),
    ("packing", "packing", "shipping_unit", "shipping_unit", False, False),
    ("shipment", "shipment", "shipping_unit", "shipment", False, False),
}
EDGE_SHAPES_SQL = """
SELECT DISTINCT e.kind, e.event_type, s.kind, t.kind,
       e.quantity IS NOT NULL, e.unit IS NOT NULL
FROM trace_edges e JOIN trace_nodes s ON s.id = e.source_id JOIN trace_nodes t ON t.id = e.target_id
"""


async def build(url: str, settings: Settings, **kwargs: Any) -> PlantInfo:
    settings = dataclasses.replace(settings, database_url=url)
    return await ensure_plant(url, lambda: build_runtime(settings), SERIALS, SEED, **kwargs)


def test_the_reference_size_is_the_issue_s_and_everything_scales_from_it() -> None:
    reference = PlantSize.for_serials(1_000_000)
    assert {k: getattr(reference, k) for k in REFERENCE_COUNTS} == REFERENCE_COUNTS
    assert reference.orders_per_level() == (12_000, 10_000, 8_000, 20_000)
    small = PlantSize.for_serials(SERIALS)
    assert small.supplier_lots == SERIALS // 5
    assert small.work_orders == SERIALS // 20
    assert small.finished_lots == SERIALS // 50
    assert small.shipments == SERIALS // 20
    assert small.consignees == SERIALS // 500
    assert sum(small.orders_per_level()) == small.work_orders
    with pytest.raises(ValueError, match="at least"):
        PlantSize.for_serials(999)


def _rows(seed: int) -> dict[str, list[tuple[Any, ...]]]:
    design = design_plant(PlantSize.for_serials(SERIALS), seed)
    ids = MasterIds(
        organizations=list(range(1, len(design.suppliers) + 1)),
        parts=list(range(1, len(design.parts) + 1)),
        specifications=[i + 1 if p.level == 0 else None for i, p in enumerate(design.parts)],
    )
    return {t.name: t.rows for t in plant_rows(design, ids).tables}


def test_the_rows_are_deterministic_by_seed() -> None:
    assert _rows(SEED) == _rows(SEED)
    assert _rows(SEED)["trace_edges"] != _rows(SEED + 1)["trace_edges"]


async def test_service_written_edges_have_the_shapes_the_generator_writes(
    runtime: Runtime,
) -> None:
    """The demo slice is posted through the receipt, production, packing and shipment
    services."""
    async with provide_services(runtime, Actor.system("cli")) as services:
        rows = (await services.session.execute(text(EDGE_SHAPES_SQL))).all()
    assert {tuple(row) for row in rows} == EDGE_SHAPES | PACKING_SHAPES


async def test_the_plant_has_the_promised_ratios_and_a_wide_lot(
    bench_url: str, bench_settings: Settings
) -> None:
    plant = await build(bench_url, bench_settings)
    size = PlantSize.for_serials(SERIALS)
    assert not plant.reused
    counts = plant.counts
    assert counts["serials"] == SERIALS
    assert counts["supplier_lots"] == counts["receipts"] == size.supplier_lots
    assert counts["work_orders"] == size.work_orders
    assert counts["internal_lots"] == size.supplier_lots + size.work_orders
    assert counts["shipments"] == size.shipments
    assert counts["organizations"] == size.suppliers + 1  # and our own
    assert counts["trace_nodes"] == (
        counts["supplier_lots"] + counts["internal_lots"] + SERIALS + counts["shipments"]
    )
    assert counts["trace_edges"] == (
        counts["receipts"] + counts["work_order_inputs"] + SERIALS + counts["shipment_items"]
    )
    engine = create_engine(bench_url)
    try:
        async with engine.connect() as conn:
            finished = await conn.scalar(text("SELECT count(DISTINCT lot_id) FROM serials"))
            consignees = await conn.scalar(
                text("SELECT count(DISTINCT consignee_name) FROM shipments")
            )
            levels = (
                await conn.execute(
                    text(
                        "SELECT p.kind, count(*) FROM work_orders w JOIN internal_lots l "
                        "ON l.id = w.output_lot_id JOIN parts p ON p.id = l.part_id GROUP BY p.kind"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert finished == size.finished_lots
    assert 0 < consignees <= size.consignees
    assert dict(levels) == dict(
        zip(
            ("component", "subassembly", "assembly", "finished"),
            size.orders_per_level(),
            strict=True,
        )
    )
    # The widest raw lot reaches at least a tenth of all serials, through the real service.
    runtime, engine = build_runtime(dataclasses.replace(bench_settings, database_url=bench_url))
    try:
        actor = Actor.system("cli")
        async with provide_services(runtime, actor) as services:
            wide = await services.trace.forward(actor, plant.widest_lot)
    finally:
        await engine.dispose()
    assert [wide.nodes[r].kind for r in wide.roots] == ["supplier_lot"]
    assert wide.counts()["serial"] == plant.widest_lot_serials >= SERIALS // 10
    assert wide.consignees()


async def test_edges_are_written_as_the_services_write_them(
    bench_url: str, bench_settings: Settings
) -> None:
    """Every edge has the shape the services give it and names the posting behind it."""
    await build(bench_url, bench_settings)
    checks = {
        "receipt": """
            SELECT count(*) FROM trace_edges e
            JOIN receipts r ON r.id = e.event_id
            JOIN trace_nodes s ON s.id = e.source_id AND s.kind = 'supplier_lot'
                 AND s.ref_id = r.supplier_lot_id
            JOIN trace_nodes t ON t.id = e.target_id AND t.kind = 'internal_lot'
                 AND t.ref_id = r.internal_lot_id
            WHERE e.kind = 'receipt' AND e.quantity = r.quantity AND e.unit = r.unit""",
        "consumption": """
            SELECT count(*) FROM trace_edges e
            JOIN work_orders w ON w.id = e.event_id
            JOIN trace_nodes s ON s.id = e.source_id AND s.kind = 'internal_lot'
            JOIN trace_nodes t ON t.id = e.target_id AND t.kind = 'internal_lot'
                 AND t.ref_id = w.output_lot_id
            JOIN work_order_inputs i ON i.work_order_id = w.id AND i.lot_id = s.ref_id
                 AND i.quantity = e.quantity AND i.unit = e.unit
            WHERE e.kind = 'consumption'""",
        "production": """
            SELECT count(*) FROM trace_edges e
            JOIN work_orders w ON w.id = e.event_id
            JOIN trace_nodes s ON s.id = e.source_id AND s.kind = 'internal_lot'
                 AND s.ref_id = w.output_lot_id
            JOIN trace_nodes t ON t.id = e.target_id AND t.kind = 'serial'
            JOIN serials x ON x.id = t.ref_id AND x.lot_id = w.output_lot_id
                 AND x.serial = t.identifier
            WHERE e.kind = 'production' AND e.quantity = 1 AND e.unit = 'pcs'""",
        "shipment": """
            SELECT count(*) FROM trace_edges e
            JOIN trace_nodes s ON s.id = e.source_id AND s.kind = 'serial'
            JOIN trace_nodes t ON t.id = e.target_id AND t.kind = 'shipment'
                 AND t.ref_id = e.event_id
            JOIN shipment_items i ON i.shipment_id = e.event_id AND i.serial_id = s.ref_id
            JOIN serials x ON x.id = i.serial_id AND x.status = 'shipped'
            WHERE e.kind = 'shipment' AND e.quantity IS NULL AND e.unit IS NULL""",
    }
    engine = create_engine(bench_url)
    try:
        async with engine.connect() as conn:
            shapes = {tuple(row) for row in (await conn.execute(text(EDGE_SHAPES_SQL))).all()}
            per_kind = {
                row[0]: row[1]
                for row in await conn.execute(
                    text("SELECT kind, count(*) FROM trace_edges GROUP BY kind")
                )
            }
            matched = {kind: await conn.scalar(text(sql)) for kind, sql in checks.items()}
            expected = {
                "receipt": await conn.scalar(text("SELECT count(*) FROM receipts")),
                "consumption": await conn.scalar(text("SELECT count(*) FROM work_order_inputs")),
                "production": await conn.scalar(text("SELECT count(*) FROM serials")),
                "shipment": await conn.scalar(text("SELECT count(*) FROM shipment_items")),
            }
            # As the services do: a node per posted thing, named by its identifier.
            unnamed = await conn.scalar(
                text(
                    "SELECT count(*) FROM trace_nodes n LEFT JOIN supplier_lots l "
                    "ON n.kind = 'supplier_lot' AND l.id = n.ref_id "
                    "AND l.lot_number = n.identifier AND l.organization_id = n.organization_id "
                    "AND l.part_id = n.part_id LEFT JOIN internal_lots i "
                    "ON n.kind = 'internal_lot' AND i.id = n.ref_id "
                    "AND i.lot_number = n.identifier AND i.part_id = n.part_id "
                    "LEFT JOIN shipments s ON n.kind = 'shipment' AND s.id = n.ref_id "
                    "AND s.number = n.identifier "
                    "WHERE n.kind <> 'serial' AND l.id IS NULL AND i.id IS NULL AND s.id IS NULL"
                )
            )
    finally:
        await engine.dispose()
    assert shapes == EDGE_SHAPES
    assert matched == expected == per_kind
    assert unnamed == 0


async def test_a_plant_is_reused_and_an_interrupted_build_resumed(
    bench_url: str, bench_settings: Settings
) -> None:
    first = await build(bench_url, bench_settings)
    again = await build(bench_url, bench_settings)
    assert again.reused
    assert (again.counts, again.widest_lot) == (first.counts, first.widest_lot)

    # As if the build had stopped before the trace tables were written.
    engine = create_engine(bench_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM trace_edges"))
            await conn.execute(text("DELETE FROM trace_nodes"))
            steps = await conn.scalar(select(MARKER_TABLE.c.steps))
            kept = [s for s in json.loads(str(steps)) if not s.startswith("trace_")]
            await conn.execute(
                update(MARKER_TABLE).values(status="building", steps=json.dumps(kept))
            )
    finally:
        await engine.dispose()
    messages: list[str] = []
    resumed = await build(bench_url, bench_settings, progress=messages.append)
    assert not resumed.reused
    assert resumed.counts == first.counts
    assert any(m.startswith("resuming") for m in messages)
    assert [m for m in messages if m.startswith("writing")] == [
        f"writing {first.counts['trace_nodes']:,} rows into trace_nodes",
        f"writing {first.counts['trace_edges']:,} rows into trace_edges",
    ]

    rebuilt = await build(bench_url, bench_settings, rebuild=True)
    assert not rebuilt.reused
    assert rebuilt.counts == first.counts


async def _certificate_facts(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                "certificates": await conn.scalar(
                    text("SELECT count(*) FROM supplier_certificates")
                ),
                "named_parts": await conn.scalar(
                    text("SELECT count(*) FROM supplier_certificate_parts")
                ),
                "versions": await conn.scalar(
                    text(
                        "SELECT count(*) FROM record_versions v JOIN supplier_certificates c "
                        "ON v.record_type = 'supplier_certificate' AND v.record_id = c.id "
                        "AND v.version = c.version"
                    )
                ),
                "checks": dict(
                    (
                        await conn.execute(
                            text(
                                "SELECT coalesce(certificate_status, 'unchecked'), count(*) "
                                "FROM receipts GROUP BY 1"
                            )
                        )
                    ).all()
                ),
            }
    finally:
        await engine.dispose()


async def test_suppliers_have_certificates_and_every_receipt_was_judged_against_them(
    bench_url: str, bench_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CERT-01 in the plant: every supplier holds an accepted ISO 13485 certificate (every
    tenth one's lapsed at mid-period and was renewed five weeks later), sterilizers an ISO
    11137 one naming their parts; every receipt records its check, and the backward trace
    shows it at each supplier lot. A plant built before certificates gets them when reused."""

    async def before_certificates(*_args: Any) -> None:
        """The generator of a plant built before it wrote certificates."""

    with monkeypatch.context() as patch:
        patch.setattr(bench.load, "_add_certificates", before_certificates)
        await build(bench_url, bench_settings)
    older = await _certificate_facts(bench_url)
    assert older["certificates"] == 0 and list(older["checks"]) == ["unchecked"]

    messages: list[str] = []
    plant = await build(bench_url, bench_settings, progress=messages.append)
    assert plant.reused
    size = PlantSize.for_serials(SERIALS)
    design = design_plant(size, SEED)
    sterilizers = {
        s for part in design.parts if part.role == "sterilization" for s in part.suppliers
    }
    renewed = sum(1 for i in range(size.suppliers) if i % 10 == 3)
    found = await _certificate_facts(bench_url)
    assert found["certificates"] == size.suppliers + renewed + len(sterilizers)
    assert f"writing {found['certificates']:,} rows into supplier_certificates" in messages
    assert found["versions"] == found["certificates"]
    assert found["named_parts"] >= len(sterilizers) > 0
    checks = found["checks"]
    assert "unchecked" not in checks and sum(checks.values()) == plant.counts["receipts"]
    assert checks["covered"] > 0
    assert (
        sum(n for status, n in checks.items() if status != "covered")
        == (plant.facts["receipts_flagged"])
    )
    # Reused again: nothing more is written.
    again = await build(bench_url, bench_settings, progress=messages.append)
    assert again.reused and (await _certificate_facts(bench_url)) == found
    runtime, engine = build_runtime(dataclasses.replace(bench_settings, database_url=bench_url))
    try:
        actor = Actor.system("cli")
        async with provide_services(runtime, actor) as services:
            trace = await services.trace.backward(actor, "SN-00000001")
    finally:
        await engine.dispose()
    lots = [n for n in trace.nodes.values() if n.kind == "supplier_lot"]
    assert lots
    for lot in lots:
        for check in lot.details["certificates"]:
            assert check["at_receipt"]["status"] == check["on_receipt_date"]["status"]
            assert check["at_receipt"]["certificate"]["standard"] in (
                "ISO 13485:2016",
                "ISO 11137-1:2006",
            )
            assert not check["changed_since_receipt"]


async def test_a_database_with_other_data_is_refused(
    bench_url: str, bench_settings: Settings
) -> None:
    await upgrade_async(bench_url)
    engine = create_engine(bench_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(Organization).values(
                    name="Someone Else", kind="internal", created_at=utc_now()
                )
            )
    finally:
        await engine.dispose()
    with pytest.raises(PlantError, match="did not make"):
        await build(bench_url, bench_settings)
    engine = create_engine(bench_url)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(Organization)) == 1
    finally:
        await engine.dispose()
