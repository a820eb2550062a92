"""Writes a benchmark plant into a database, or finds the one already there.

The master data (organizations, parts, specifications, approved suppliers) goes through the
services, so it has its record versions and audit events like any other. Everything posted
afterwards (CoA document rows, supplier lots, receipts, internal lots, work orders and their
inputs, serials, shipments and their items, trace nodes and edges) is written table by table:
on PostgreSQL with ``COPY`` (asyncpg ``copy_records_to_table``), on SQLite with batched
inserts. Those rows have **no record versions, audit events, signatures, CoA results or stored
CoA files**: the trace queries do not depend on them, and writing millions of hash-chained
versions would measure the audit layer, not the trace.

The marker table ``bench_plant`` holds the plant's parameters (serials, seed, generator
version), the steps done and the facts found. A complete plant with the same parameters is
reused; an interrupted one is resumed (the rows are regenerated from the seed and only the
missing tables are written; each table and its step are committed together); any other plant
is dropped and rebuilt. A database that holds data the benchmark did not make is refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.plant import (
    CERTIFICATES,
    GENERATOR_VERSION,
    CertificateIds,
    MasterIds,
    PlantDesign,
    PlantSize,
    certificate_rows,
    design_plant,
    plant_rows,
)
from trace_core.certificates.coverage import FACT_COLUMNS, certificate_facts, judge
from trace_core.db import create_engine
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.lots.models import SupplierLot
from trace_core.migrate import upgrade_async
from trace_core.models import Base
from trace_core.parts.models import Part, Specification
from trace_core.parts.service import CharacteristicInput
from trace_core.receipts.models import Receipt
from trace_core.services import Runtime, provide_services

MARKER = "bench_plant"
START_OF_SPECIFICATIONS = dt.date(2023, 12, 1)
#: Our own organization in the plant (internal; the benchmark's API client belongs to it).
PLANT_OWNER = "Bench Plant Medical"
TABLE_STEPS = (
    "documents",
    "supplier_lots",
    "internal_lots",
    "receipts",
    "work_orders",
    "work_order_inputs",
    "serials",
    "shipments",
    "shipment_items",
    "trace_nodes",
    "trace_edges",
)
#: The tables of the suppliers' certificates, written after the posted rows (a plant built
#: before them gets them added when reused).
CERTIFICATES_STEP = "certificates"
CERTIFICATE_TABLES = (
    "documents",
    "supplier_certificates",
    "supplier_certificate_parts",
    "record_versions",
)
Progress = Callable[[str], None]

# The marker is the benchmark's own table, outside the application's metadata and migrations.
_MARKER_METADATA = MetaData()
MARKER_TABLE = Table(
    MARKER,
    _MARKER_METADATA,
    Column("id", Integer, primary_key=True),
    Column("parameters", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("steps", Text, nullable=False),
    Column("facts", Text, nullable=False),
)


class PlantError(Exception):
    """The plant cannot be built here (a database with other data, bad parameters)."""


@dataclass(frozen=True)
class PlantParameters:
    serials: int
    seed: int
    generator: int = GENERATOR_VERSION

    def as_dict(self) -> dict[str, int]:
        return {"serials": self.serials, "seed": self.seed, "generator": self.generator}


@dataclass
class PlantInfo:
    parameters: PlantParameters
    reused: bool
    counts: dict[str, int]
    widest_lot: str
    widest_lot_serials: int
    #: Seconds per build step (from when the plant was built, also when reused).
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Marker:
    parameters: dict[str, Any]
    status: str
    steps: list[str]
    facts: dict[str, Any]


async def ensure_plant(
    database_url: str,
    runtime_for: Callable[[], tuple[Runtime, AsyncEngine]],
    serials: int,
    seed: int,
    *,
    rebuild: bool = False,
    progress: Progress = lambda _message: None,
) -> PlantInfo:
    """The plant of ``serials`` and ``seed`` in the database: reused, resumed or built.

    ``runtime_for`` makes the runtime the master data is created with; it is called only
    after the schema is in place (a rebuild drops and re-creates it).
    """
    parameters = PlantParameters(serials, seed)
    size = PlantSize.for_serials(serials)
    engine = create_engine(database_url)
    try:
        marker = await _read_marker(engine)
        if marker is not None and marker.parameters == parameters.as_dict() and not rebuild:
            if marker.status == "complete":
                await upgrade_async(database_url)
                if CERTIFICATES_STEP not in marker.steps:
                    # A plant built before the generator wrote certificates: add them (the
                    # step commits with its marker).
                    design = design_plant(size, seed)
                    await _add_certificates(engine, design, marker, progress)
                    await _finish(engine, [*CERTIFICATE_TABLES, "receipts"])
                return _info(parameters, marker, reused=True)
            progress(f"resuming the plant after: {', '.join(marker.steps) or 'nothing'}")
        elif marker is not None:
            progress("dropping the previous benchmark plant")
            await engine.dispose()
            await reset_database(database_url)
            marker = None
        else:
            await _refuse_foreign_data(engine)
        await upgrade_async(database_url)
        async with engine.begin() as conn:
            await conn.run_sync(_MARKER_METADATA.create_all)
            if marker is None:
                marker = _Marker(parameters.as_dict(), "building", [], {"timings": {}})
                await conn.execute(
                    insert(MARKER_TABLE).values(
                        id=1,
                        parameters=json.dumps(marker.parameters),
                        status=marker.status,
                        steps="[]",
                        facts=json.dumps(marker.facts),
                    )
                )
    finally:
        await engine.dispose()

    design = design_plant(size, seed)
    runtime, engine = runtime_for()
    try:
        timings: dict[str, float] = marker.facts.setdefault("timings", {})
        if "master" not in marker.steps:
            progress("creating suppliers, parts and specifications through the services")
            started = time.perf_counter()
            await _create_master_data(runtime, design, marker, started)
        started = time.perf_counter()
        ids = await _master_ids(engine, design)
        progress(f"generating the plant for {serials:,} serials (seed {seed})")
        rows = plant_rows(design, ids)
        timings["generate"] = round(time.perf_counter() - started, 2)
        for table in rows.tables:
            if table.name in marker.steps:
                continue
            progress(f"writing {len(table.rows):,} rows into {table.name}")
            started = time.perf_counter()
            async with engine.begin() as conn:
                await _write(conn, table.name, table.columns, table.rows)
                timings[table.name] = round(time.perf_counter() - started, 2)
                marker.steps.append(table.name)
                await _save_marker(conn, marker)
        if CERTIFICATES_STEP not in marker.steps:
            started = time.perf_counter()
            await _add_certificates(engine, design, marker, progress)
            timings[CERTIFICATES_STEP] = round(time.perf_counter() - started, 2)
        progress("setting sequences and analysing the tables")
        started = time.perf_counter()
        written = [t.name for t in rows.tables]
        await _finish(engine, [*written, *(t for t in CERTIFICATE_TABLES if t not in written)])
        timings["analyse"] = round(time.perf_counter() - started, 2)
        marker.status = "complete"
        marker.facts.update(
            {
                "counts": await _counts(engine),
                "widest_lot": rows.widest_lot,
                "widest_lot_serials": rows.widest_lot_serials,
                "size": size.as_dict(),
                **rows.facts,
            }
        )
        async with engine.begin() as conn:
            await _save_marker(conn, marker)
        return _info(parameters, marker, reused=False)
    finally:
        await engine.dispose()


def _info(parameters: PlantParameters, marker: _Marker, *, reused: bool) -> PlantInfo:
    facts = dict(marker.facts)
    return PlantInfo(
        parameters=parameters,
        reused=reused,
        counts=facts.pop("counts"),
        widest_lot=facts.pop("widest_lot"),
        widest_lot_serials=facts.pop("widest_lot_serials"),
        timings=facts.pop("timings"),
        facts=facts,
    )


async def _read_marker(engine: AsyncEngine) -> _Marker | None:
    async with engine.connect() as conn:
        exists = await conn.run_sync(lambda sync: sync.dialect.has_table(sync, MARKER))
        if not exists:
            return None
        row = (
            await conn.execute(
                select(
                    MARKER_TABLE.c.parameters,
                    MARKER_TABLE.c.status,
                    MARKER_TABLE.c.steps,
                    MARKER_TABLE.c.facts,
                )
            )
        ).first()
    if row is None:
        return None
    return _Marker(json.loads(row[0]), row[1], json.loads(row[2]), json.loads(row[3]))


async def _save_marker(conn: AsyncConnection, marker: _Marker) -> None:
    await conn.execute(
        update(MARKER_TABLE)
        .where(MARKER_TABLE.c.id == 1)
        .values(
            status=marker.status, steps=json.dumps(marker.steps), facts=json.dumps(marker.facts)
        )
    )


async def _refuse_foreign_data(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        migrated = await conn.run_sync(lambda sync: sync.dialect.has_table(sync, "organizations"))
        if migrated and await conn.scalar(select(func.count()).select_from(Organization)):
            raise PlantError(
                "this database holds data the benchmark did not make; give it an empty "
                "database of its own (the plant is written into the real tables)"
            )


async def reset_database(database_url: str) -> None:
    """Drop a previous benchmark plant: the whole schema (PostgreSQL) or file (SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            await asyncio.to_thread(_remove_sqlite_files, Path(url.database))
        return
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("DROP FUNCTION IF EXISTS traceport_refuse_change() CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


async def _create_master_data(
    runtime: Runtime, design: PlantDesign, marker: _Marker, started: float
) -> None:
    """Organizations, parts, specifications and the approved supplier list, through the
    services in one unit of work; the marker's step commits with it."""
    system = Actor.system("cli")
    async with provide_services(runtime, system) as s:
        await s.identity.create_organization(PLANT_OWNER, "internal", "1 Device Way, Bench City")
        orgs = [
            await s.identity.create_organization(sup.name, sup.kind, sup.address)
            for sup in design.suppliers
        ]
        for part_design in design.parts:
            part = await s.parts.create_part(
                part_design.number,
                part_design.name,
                kind=part_design.kind,
                unit=part_design.unit,
                gtin=part_design.gtin,
                implantable=part_design.level == 4,
            )
            if part_design.level != 0:
                continue
            await s.parts.create_specification(
                part,
                "A",
                f"{part_design.name}: incoming specification",
                START_OF_SPECIFICATIONS,
                [CharacteristicInput("APPEAR", "Appearance", "text", expected_text="Conforms")],
            )
            for supplier in part_design.suppliers:
                await s.parts.approve_supplier(part, orgs[supplier])
        marker.steps.append("master")
        marker.facts["timings"]["master"] = round(time.perf_counter() - started, 2)
        await _save_marker(await s.session.connection(), marker)
        await s.keeper.commit()


async def _master_ids(engine: AsyncEngine, design: PlantDesign) -> MasterIds:
    async with engine.connect() as conn:
        orgs = dict((await conn.execute(select(Organization.name, Organization.id))).all())
        parts = dict((await conn.execute(select(Part.number, Part.id))).all())
        specs = dict(
            (
                await conn.execute(
                    select(Specification.part_id, Specification.id).where(
                        Specification.revision == "A"
                    )
                )
            ).all()
        )
    part_ids = [int(parts[p.number]) for p in design.parts]
    return MasterIds(
        organizations=[int(orgs[s.name]) for s in design.suppliers],
        parts=part_ids,
        specifications=[
            int(specs[pid]) if p.level == 0 else None
            for p, pid in zip(design.parts, part_ids, strict=True)
        ],
    )


async def _write(
    conn: AsyncConnection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table(table, records=rows, columns=list(columns))
        return
    model = Base.metadata.tables[table]
    for start in range(0, len(rows), 5000):
        batch = rows[start : start + 5000]
        await conn.execute(insert(model), [dict(zip(columns, row, strict=True)) for row in batch])


async def _add_certificates(
    engine: AsyncEngine, design: PlantDesign, marker: _Marker, progress: Progress
) -> None:
    """The suppliers' accepted certificates (``bench.plant.certificate_rows``), and every
    receipt's certificate check judged against them for its receipt date, as posting it
    would have recorded (CERT-01); committed with the marker's step."""
    ids = await _master_ids(engine, design)
    async with engine.begin() as conn:
        starts = []
        for name in CERTIFICATE_TABLES:
            column = Base.metadata.tables[name].c.id
            starts.append(
                int(await conn.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1
            )
        tables = certificate_rows(design, ids, CertificateIds(*starts))
        for written in tables:
            progress(f"writing {len(written.rows):,} rows into {written.name}")
            model = Base.metadata.tables[written.name]
            rows = [dict(zip(written.columns, row, strict=True)) for row in written.rows]
            await conn.execute(insert(model), rows)
        certificates = next(t for t in tables if t.name == "supplier_certificates")
        named = [dict(zip(CERTIFICATES, row, strict=True)) for row in certificates.rows]
        facts = certificate_facts(
            [tuple(c.get(name) for name in FACT_COLUMNS) for c in named],
            [
                (row[1], row[2])
                for row in next(t for t in tables if t.name == "supplier_certificate_parts").rows
            ],
        )
        progress("judging every receipt against the certificates")
        receipts = await conn.execute(
            select(Receipt.id, Receipt.received_at, SupplierLot.organization_id, Part.id, Part.kind)
            .join(SupplierLot, SupplierLot.id == Receipt.supplier_lot_id)
            .join(Part, Part.id == SupplierLot.part_id)
        )
        checks = []
        for receipt_id, received_at, organization_id, part_id, kind in receipts:
            found = judge(facts.get(organization_id, []), part_id, kind, received_at.date())
            checks.append(
                {
                    "receipt": receipt_id,
                    "check": found.status,
                    "relied": found.certificate.id if found.certificate else None,
                    "relied_version": found.certificate.version if found.certificate else None,
                }
            )
        receipts_table = Base.metadata.tables["receipts"]
        for start in range(0, len(checks), 20_000):
            await conn.execute(
                update(receipts_table)
                .where(receipts_table.c.id == bindparam("receipt"))
                .values(
                    certificate_status=bindparam("check"),
                    certificate_id=bindparam("relied"),
                    certificate_version=bindparam("relied_version"),
                ),
                checks[start : start + 20_000],
            )
        marker.steps.append(CERTIFICATES_STEP)
        marker.facts["certificates"] = len(certificates.rows)
        marker.facts["receipts_flagged"] = sum(c["check"] != "covered" for c in checks)
        await _save_marker(conn, marker)


async def _finish(engine: AsyncEngine, tables: list[str]) -> None:
    """Move the id sequences past the written ids and give the planner fresh statistics
    (PostgreSQL: VACUUM ANALYZE, as autovacuum would soon after such a load)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            for table in tables:
                ids = Base.metadata.tables[table].c.id
                following = select(func.coalesce(func.max(ids), 0) + 1).scalar_subquery()
                sequence = func.pg_get_serial_sequence(table, "id")
                await conn.execute(select(func.setval(sequence, following, False)))
            await conn.commit()
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables:
                await auto.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
        else:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table: int(
                await conn.scalar(select(func.count()).select_from(Base.metadata.tables[table]))
                or 0
            )
            for table in ("organizations", "parts", *TABLE_STEPS)
        }
