"""Database plumbing shared by every domain area: the declarative base, portable column
types, engine creation for SQLite (embedded) and PostgreSQL (production), and session makers.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal
from typing import Any

from asyncpg import exceptions as driver_errors
from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    Numeric,
    String,
    any_,
    event,
    literal,
    literal_column,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY, so wide keys
#: use BIGINT on PostgreSQL and INTEGER on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class json_array_agg(FunctionElement[str]):
    """The values of a group as the text of a JSON array, in no particular order (sort them
    in Python: the database's collation is not Python's order): ``json_agg`` on PostgreSQL,
    ``json_group_array`` on SQLite. A recall reads its serials grouped this way, a few
    thousand rows instead of a hundred thousand."""

    type = String()
    inherit_cache = True
    name = "json_array_agg"


@compiles(json_array_agg, "postgresql")
def _json_array_agg_postgresql(element: json_array_agg, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_agg({compiler.process(element.clauses, **kw)}) AS TEXT)"


@compiles(json_array_agg, "sqlite")
def _json_array_agg_sqlite(element: json_array_agg, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


def utc_now() -> dt.datetime:
    """The server's clock in UTC: the only source of system timestamps (DESIGN invariant 6)."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always stored and returned as timezone-aware UTC.

    SQLite has no timezone-aware type, so without this a value would come back naive and
    comparisons with ``utc_now()`` would fail or, worse, silently shift.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use utc_now()")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Quantity(TypeDecorator[Decimal]):
    """An exact decimal. PostgreSQL keeps NUMERIC; SQLite keeps the canonical text, because
    its NUMERIC affinity goes through binary floating point and would alter recorded values.
    """

    impl = Numeric(24, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 6))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("quantities must be Decimal")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return plain_decimal(Decimal(str(value)))


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (12.000000 → 12, not 1.2E+1),
    so both backends show the same text for the same number."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url`` with the settings each backend needs to be safe."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling starts transactions late and cannot do SAVEPOINT
    # correctly; SQLAlchemy's documented remedy is to switch it off and emit BEGIN ourselves.
    # BEGIN IMMEDIATE takes the write lock up front, so two requests never both read the audit
    # chain head and then race to extend it (SQLite has one writer anyway).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that never expire loaded objects on commit (handlers render after commit)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


#: SQLite refuses statements with more than 32,766 bound values: long id lists go in chunks.
SQLITE_CHUNK = 10_000


def constant(value: str) -> ColumnElement[str]:
    """A text constant of our own written into the SQL (quoted), not bound.

    A fixed list compared with ``IN`` is otherwise an *expanding* parameter: SQLAlchemy
    re-renders the statement's text on every execution (about 0.2 ms of a backward trace),
    and a prepared statement's generic plan cannot see the values. Never for user input."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


def constants(values: Collection[str]) -> list[ColumnElement[str]]:
    """``constant`` of each value, for ``column.in_(constants(...))``."""
    return [constant(v) for v in values]


async def fetch_rows(
    connection: AsyncConnection, statement: Any, parameters: dict[str, Any]
) -> Sequence[Sequence[Any]]:
    """All rows of a read-only ``statement`` built once at import (a trace statement), to be
    read by position.

    On PostgreSQL the statement goes to asyncpg directly, prepared once per connection
    (``_PREPARED``), and its records are the rows: SQLAlchemy's result
    machinery (a Python call per row, type processors per column, a greenlet hop) cost about
    a third of a backward trace's own time. It runs in the unit of work's transaction when
    one has begun; alone, one statement is its own consistent snapshot, and the BEGIN and
    ROLLBACK around it are not sent. Parameters must be plain values that need no binding
    work (text, ids). Elsewhere (SQLite) it is an ordinary execution."""
    if connection.dialect.name != "postgresql":
        return (await connection.execute(statement, parameters)).all()
    compiled, names, fixed = _for_asyncpg(statement, connection.dialect)
    if names is None:
        # An expanding parameter (``IN`` a list) is written out for the list given: a
        # statement text per list length, each prepared once.
        expanded = compiled.construct_expanded_state(parameters)
        sql, values = expanded.statement, expanded.positional_parameters
    else:
        sql = compiled.string
        values = [parameters[n] if n in parameters else fixed[n] for n in names]
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    prepared = _PREPARED.setdefault(driver, {})
    if (ready := prepared.get(sql)) is None:
        if len(prepared) >= _PREPARED_PER_CONNECTION:
            prepared.clear()
        ready = prepared[sql] = await driver.prepare(sql)
    try:
        records: Sequence[Sequence[Any]] = await ready.fetch(*values)
    except driver_errors.InvalidCachedStatementError:
        # The schema changed under the prepared statement (a migration while running):
        # this request fails as it would through SQLAlchemy; the next one prepares afresh.
        prepared.clear()
        raise
    return records


#: Prepared trace statements per asyncpg connection, by SQL text. asyncpg's own statement
#: cache skips statements over 15 KiB, and the backward evidence statement is 18 KiB: without
#: this, each trace would be parsed and planned again (about 3 ms).
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_PREPARED_PER_CONNECTION = 64


@functools.lru_cache(maxsize=32)
def _for_asyncpg(
    statement: Any, dialect: Dialect
) -> tuple[Any, tuple[str, ...] | None, dict[str, Any]]:
    """``statement`` compiled for asyncpg, once; without expanding parameters also its
    parameter names in ``$n`` order and the values of those fixed in the statement."""
    compiled: Any = statement.compile(dialect=dialect)
    if any(bind.type.bind_processor(dialect) for bind in compiled.binds.values()):
        raise ValueError("fetch_rows takes statements whose parameters need no conversion")
    if compiled.post_compile_params or compiled.literal_execute_params:
        return compiled, None, {}
    # A parameter the caller must give is absent here: leaving it out is a KeyError, not NULL.
    fixed = {
        name: bind.effective_value
        for bind, name in compiled.bind_names.items()
        if not bind.required
    }
    return compiled, tuple(compiled.positiontup or ()), fixed


def among_ids(
    dialect_name: str, column: Any, ids: Collection[Any], element: Any = BigInteger
) -> Iterator[Any]:
    """Conditions that together select the rows whose ``column`` is one of ``ids``: one array
    parameter on PostgreSQL (an IN list of 100,000 values would exceed asyncpg's 32,767
    parameters), IN lists of ``SQLITE_CHUNK`` values elsewhere. Run one query per condition.
    ``element`` is the array's element type (ids; ``String`` for numbers people type)."""
    if dialect_name == "postgresql":
        yield column == any_(literal(list(ids), ARRAY(element)))
        return
    values = list(ids)
    for start in range(0, len(values), SQLITE_CHUNK):
        yield column.in_(values[start : start + SQLITE_CHUNK])
