"""The benchmark tests run the ``bench`` package of this checkout (it is not installed with
the app) on small plants: SQLite files, and a PostgreSQL database of their own next to
``TRACEPORT_TEST_DATABASE_URL`` (its name with ``_bench`` appended), never that one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from portal.cli_bench import import_bench
from portal.settings import Settings, normalise_database_url

import_bench()

PG_URL = os.environ.get("TRACEPORT_TEST_DATABASE_URL", "")


async def _private_pg_database() -> str:
    url = make_url(normalise_database_url(PG_URL))
    name = f"{url.database}_bench"
    server = url.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
async def bench_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL of the benchmark's own."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'plant.db'}"
    if not PG_URL:
        pytest.skip("TRACEPORT_TEST_DATABASE_URL is not set")
    url = await _private_pg_database()
    from bench.load import reset_database

    await reset_database(url)
    return url


@pytest.fixture
def bench_settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings.from_env({"TRACEPORT_VAR_DIR": str(tmp_path / "var")})
