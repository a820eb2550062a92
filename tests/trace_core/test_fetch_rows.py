"""``trace_core.db.fetch_rows``: the trace statements' rows straight from the driver on
PostgreSQL (a prepared statement per connection), an ordinary execution on SQLite. The rows
must be the ones SQLAlchemy gives, inside the unit of work's transaction, and a statement
whose parameters need conversion is refused rather than sent unconverted."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import bindparam, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from trace_core.db import UTCDateTime, fetch_rows
from trace_core.trace.models import TraceNode
from trace_core.trace.statements import evidence_statement

_BY_IDENTIFIER = select(TraceNode.id, TraceNode.kind, TraceNode.identifier).where(
    TraceNode.identifier == bindparam("identifier")
)
_BY_IDS = select(TraceNode.id, TraceNode.identifier).where(
    TraceNode.id.in_(bindparam("roots", expanding=True))
)


async def test_rows_are_the_ones_sqlalchemy_gives(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        identifier = (await connection.execute(select(TraceNode.identifier).limit(1))).scalar()
        assert identifier is not None
        ids = list((await connection.execute(select(TraceNode.id).limit(5))).scalars())
        for statement, parameters in (
            (_BY_IDENTIFIER, {"identifier": identifier}),
            (_BY_IDS, {"roots": ids}),
            (_BY_IDS, {"roots": ids[:2]}),  # another list length: another statement text
            (evidence_statement("backward", by_identifier=True), {"identifier": identifier}),
        ):
            expected = [tuple(r) for r in (await connection.execute(statement, parameters))]
            got = [tuple(r) for r in await fetch_rows(connection, statement, parameters)]
            assert got == expected
            assert got, "the demo has trace nodes"


async def test_rows_come_from_the_unit_of_works_transaction(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        outer = await connection.begin()
        try:
            name = f"UNCOMMITTED-{uuid.uuid4().hex[:8]}"
            await connection.execute(
                TraceNode.__table__.insert().values(
                    kind="supplier_lot", ref_id=10**12 + uuid.uuid4().int % 10**9, identifier=name
                )
            )
            rows = await fetch_rows(connection, _BY_IDENTIFIER, {"identifier": name})
            assert [r[2] for r in rows] == [name]
        finally:
            await outer.rollback()
        assert list(await fetch_rows(connection, _BY_IDENTIFIER, {"identifier": name})) == []


#: Statements are prepared by hand only on PostgreSQL (SQLite executes through SQLAlchemy).
postgresql_only = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


@postgresql_only
async def test_a_parameter_left_out_is_an_error_not_null(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(KeyError, match="identifier"):
            await fetch_rows(connection, _BY_IDENTIFIER, {})


@postgresql_only
async def test_a_parameter_that_needs_converting_is_refused(engine: AsyncEngine) -> None:
    stamped = (
        select(column("x"))
        .select_from(table("trace_nodes"))
        .where(bindparam("since", type_=UTCDateTime()) < text("now()"))
    )
    async with engine.connect() as connection:
        with pytest.raises(ValueError, match="need no conversion"):
            await fetch_rows(connection, stamped, {"since": dt.datetime.now(dt.UTC)})


@postgresql_only
async def test_a_statement_the_schema_changed_under_is_prepared_again(
    engine: AsyncEngine,
) -> None:
    """A migration while the server runs: the request that meets the stale prepared statement
    fails as it would through SQLAlchemy; the next one prepares afresh."""
    name = f"fetch_rows_{uuid.uuid4().hex[:8]}"
    probe = select(column("value")).select_from(table(name))
    async with engine.connect() as connection:
        await connection.execute(text(f"CREATE TABLE {name} (value integer)"))
        await connection.execute(table(name, column("value")).insert().values(value=7))
        await connection.commit()
        try:
            assert [tuple(r) for r in await fetch_rows(connection, probe, {})] == [(7,)]
            await connection.execute(text(f"ALTER TABLE {name} ALTER COLUMN value TYPE text"))
            await connection.commit()
            with pytest.raises(Exception, match="cached"):
                await fetch_rows(connection, probe, {})
            await connection.rollback()
            assert [tuple(r) for r in await fetch_rows(connection, probe, {})] == [("7",)]
        finally:
            await connection.rollback()
            await connection.execute(text(f"DROP TABLE {name}"))
            await connection.commit()
