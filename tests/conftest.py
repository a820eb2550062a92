"""Shared fixtures. Integration tests run on both backends: SQLite (embedded default) and
PostgreSQL (``TRACEPORT_TEST_DATABASE_URL``; its public schema is reset at start).

Each backend is migrated with Alembic and seeded with the demo data once per session; every
test then runs inside a transaction that is rolled back (SAVEPOINT mode), so tests see the
demo data and never each other's changes.

Under pytest-xdist (``-n auto``) every worker is a session of its own, as in warehouse's
suite: its own SQLite file and object folder (its own ``tmp_path_factory``), and its own
PostgreSQL database, named after ``TRACEPORT_TEST_DATABASE_URL``'s with the worker id appended
(``traceport_test_gw0``), created through the server's ``postgres`` database when missing and
dropped when the worker ends. The base database itself is only used by runs without xdist.

Password hashing is a cost the tests lower (``TEST_HASH_COST``; production keeps scrypt's
N = 2^15): every sign-in and token request of the suite checks a hash.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from documents import LocalObjectStore
from portal.app import create_app
from portal.settings import Settings
from trace_core.db import create_engine, session_maker
from trace_core.demo import DEMO_PASSWORD, DEMO_SSCC_RANGE, seed_demo
from trace_core.identity.actor import Actor
from trace_core.identity.service import actor_for_user
from trace_core.migrate import upgrade_async
from trace_core.records.keys import ServerSigningKey
from trace_core.services import Limits, Runtime, provide_services

#: This xdist worker's id (``gw0``, ``gw1``, ...); empty when the tests run in one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_database_url(url: str, worker: str) -> str:
    """``url`` with the worker id appended to its database name (unchanged without xdist)."""
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


#: The PostgreSQL database of this process. Written back to the environment (before any other
#: test module reads it) so that the tests deriving databases of their own from it
#: (tests/bench, tests/infra) and the subprocesses they start stay within this worker's.
PG_URL = _worker_database_url(os.environ.get("TRACEPORT_TEST_DATABASE_URL", ""), WORKER)
if PG_URL:
    os.environ["TRACEPORT_TEST_DATABASE_URL"] = PG_URL
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOKEN_KEY = b"test-token-key-0123456789abcdef0123456789"
#: scrypt's N for the hashes the tests make (production: 2^15, ~50 ms and 32 MiB each). Hashes
#: carry their parameters, so the demo accounts seeded at this cost sign in as usual.
TEST_HASH_COST = 2**4
#: The second-factor policy is off: the demo accounts sign without an authenticator. Tests of
#: the policy turn it on (tests/portal/test_totp_login.py).
TEST_LIMITS = Limits(
    max_upload_bytes=2 * 1024 * 1024, totp_required_roles=(), password_hash_cost=TEST_HASH_COST
)


#: Folders whose tests run on one xdist worker, one after the other in file order: a browser
#: module's tests continue one journey in one Chromium, on one server (tests/browser).
RUN_TOGETHER = ("tests/browser/",)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n`` without ``--dist`` (``load``): every test goes to whichever worker is free, one at
    a time, except that each folder of ``RUN_TOGETHER`` is one unit of work. Spreading single
    tests, not modules, matters here: one module (tests/security/test_route_isolation.py)
    holds nearly half of the suite's time. (xdist's ``--dist loadgroup`` would do the grouping
    by renaming the test ids, ``test_x@group``, but pytest 9.2 ignores the new name, so the
    group has no effect.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneTestOrOneFolder(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((f for f in RUN_TOGETHER if nodeid.startswith(f)), nodeid)

    return OneTestOrOneFolder(config, log)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TRACEPORT_SECURE_COOKIES", "false")
    # For the command line and the servers the tests start (``traceport demo``, ``serve``):
    # they read their settings from the environment.
    os.environ.setdefault("TRACEPORT_PASSWORD_HASH_COST", str(TEST_HASH_COST))


@pytest.fixture(scope="session")
def signing_key() -> ServerSigningKey:
    return ServerSigningKey.generate()


@pytest.fixture(scope="session")
def object_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("objects")


def _pg_async_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+asyncpg://", url)


def _maintenance_url(url: str) -> str:
    """The server's ``postgres`` database, from which a worker's database is made."""
    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


async def _create_worker_database(url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(_maintenance_url(url))
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_worker_database(url: str) -> None:
    connection = await asyncpg.connect(_maintenance_url(url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await connection.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    """A worker's database exists before any test: some connect to it directly."""
    if PG_URL and WORKER:
        asyncio.run(_create_worker_database(PG_URL))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if PG_URL and WORKER:
        asyncio.run(_drop_worker_database(PG_URL))


async def _prepare(url: str, runtime_args: dict[str, Any]) -> AsyncEngine:
    engine = create_engine(url)
    if url.startswith("postgresql"):
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("DROP FUNCTION IF EXISTS traceport_refuse_change() CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade_async(url)
    await seed_demo(Runtime(sessions=session_maker(engine), **runtime_args))
    return engine


@pytest.fixture(scope="session")
async def engines(
    tmp_path_factory: pytest.TempPathFactory, signing_key: ServerSigningKey, object_root: Path
) -> AsyncIterator[dict[str, AsyncEngine]]:
    made: dict[str, AsyncEngine] = {}
    yield made
    for engine in made.values():
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(
    request: pytest.FixtureRequest,
    engines: dict[str, AsyncEngine],
    tmp_path_factory: pytest.TempPathFactory,
    signing_key: ServerSigningKey,
    object_root: Path,
) -> AsyncEngine:
    backend = request.param
    if backend == "postgresql" and not PG_URL:
        pytest.skip("TRACEPORT_TEST_DATABASE_URL is not set")
    if backend not in engines:
        url = (
            _pg_async_url(PG_URL)
            if backend == "postgresql"
            else f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        )
        engines[backend] = await _prepare(
            url,
            {
                "store": LocalObjectStore(object_root),
                "signing_key": signing_key,
                "token_key": TOKEN_KEY,
                "limits": TEST_LIMITS,
            },
        )
    return engines[backend]


@pytest.fixture
async def runtime(
    engine: AsyncEngine, signing_key: ServerSigningKey, object_root: Path
) -> AsyncIterator[Runtime]:
    """A runtime whose every session joins one outer transaction, rolled back after the test."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        sessions = async_sessionmaker(
            bind=connection,
            class_=AsyncSession,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )
        yield Runtime(
            sessions=sessions,
            store=LocalObjectStore(object_root),
            signing_key=signing_key,
            token_key=TOKEN_KEY,
            limits=TEST_LIMITS,
            sscc_range=DEMO_SSCC_RANGE,
        )
        await outer.rollback()


@pytest.fixture
def backend(engine: AsyncEngine) -> str:
    return engine.dialect.name


@pytest.fixture(scope="session")
def apps() -> dict[str, Litestar]:
    """The application the ``client`` fixture serves, built once per worker."""
    return {}


@pytest.fixture
async def client(
    runtime: Runtime, apps: dict[str, Litestar], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app serving this test's ``runtime``.

    Building the app (routes, OpenAPI, templates) costs about half a second, so it is built
    once and only its runtime, which the handlers and middleware read from ``app.state`` on
    every request, is this test's. Tests that need other settings build their own app."""
    app = apps.get("app")
    if app is None:
        settings = Settings.from_env({"TRACEPORT_VAR_DIR": str(tmp_path_factory.mktemp("app"))})
        app = apps["app"] = create_app(settings, runtime=runtime)
    app.state.runtime = runtime
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class Browser:
    """Drives the HTML pages like a person: keeps cookies and sends the CSRF token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @property
    def csrf(self) -> str:
        return self.http.cookies.get("traceport_csrf") or ""

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(url, **kwargs)

    async def post(
        self,
        url: str,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if not self.csrf:
            await self.http.get("/login")
        return await self.http.post(
            url, data={**(data or {}), "_csrf_token": self.csrf}, files=files, **kwargs
        )

    async def login(self, email: str, password: str = DEMO_PASSWORD) -> httpx.Response:
        await self.http.get("/login")
        return await self.post("/login", {"email": email, "password": password, "next": "/"})

    async def logout(self) -> None:
        """Sign out and forget the cookies, so that the next person signs in afresh."""
        await self.http.post("/logout", data={"_csrf_token": self.csrf})
        self.http.cookies.clear()

    async def sign(
        self, action: str, page: str, email: str, password: str = DEMO_PASSWORD, **fields: str
    ) -> httpx.Response:
        """Send a signing form of a record's ``page`` (sign and submit, QA's decision): the
        version the page shows (unless ``fields`` names another), the signature components and
        the form's own ``fields``."""
        data = {"version": version_of(page), **fields, "password": password, "user_id": email}
        return await self.post(action, data)


def version_of(page: str) -> str:
    """The record version a page's form posts (the first ``version`` field)."""
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, page
    return found.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def person(runtime: Runtime, email: str) -> Actor:
    """The demo person with this e-mail, acting through the web pages."""
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


async def row_counts(runtime: Runtime, tables: tuple[str, ...]) -> dict[str, int]:
    """How many rows each table holds: a refused request must leave them as they were."""
    async with runtime.sessions() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(table(name))) or 0)
            for name in tables
        }


@pytest.fixture
def browser(client: httpx.AsyncClient) -> Browser:
    return Browser(client)


async def api_token(
    http: httpx.AsyncClient, client_id: str, secret: str, scope: str | None = None
) -> str:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope:
        data["scope"] = scope
    response = await http.post("/oauth/token", data=data)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def pytest_itemcollected(item: pytest.Item) -> None:
    """Write each test's requirement ids into its JUnit XML record as ``requirement`` properties.

    The validation report (``traceport validation report``) maps catalogue ids to tests and
    their results from ``--junitxml`` output alone, so every ``@pytest.mark.req`` id, whether on
    the function, its class or its module, must be in that file: one property per id, on every
    parametrised variant.
    """
    ids = dict.fromkeys(str(arg) for mark in item.iter_markers("req") for arg in mark.args)
    item.user_properties.extend(("requirement", req_id) for req_id in ids)


async def edges_with_wrong_end_kinds(runtime: Runtime) -> list[Any]:
    """The trace edges whose ``source_kind``/``target_kind`` (copied by every posting from
    the nodes, migration 0011) differ from their nodes' kinds: none, or walks misread them."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT e.id, e.kind, e.source_kind, s.kind, e.target_kind, t.kind "
                "FROM trace_edges e JOIN trace_nodes s ON s.id = e.source_id "
                "JOIN trace_nodes t ON t.id = e.target_id "
                "WHERE e.source_kind <> s.kind OR e.target_kind <> t.kind"
            )
        )
        return list(rows.all())
