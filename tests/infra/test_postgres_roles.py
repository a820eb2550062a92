"""P11-05: the application's PostgreSQL role cannot change or remove the regulated history.

Builds a production-shaped database the way the operator does (``infra/postgres/README.md``):
``roles.sql`` as a superuser, the migrations as the owner role, ``grants.sql`` as the owner,
then lets the app role seed the demo and checks what that role may and may not do. Everything
lives in a fresh database and fresh roles with a random suffix (roles are cluster-wide), dropped
at the end; the database of ``TRACEPORT_TEST_DATABASE_URL`` is only used to create them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import URL, make_url

from documents import LocalObjectStore
from portal.cli import main as traceport
from portal.settings import normalise_database_url
from tests.conftest import TEST_HASH_COST
from trace_core.db import create_engine, session_maker
from trace_core.demo import seed_demo
from trace_core.migrate import upgrade_async
from trace_core.records.keys import ServerSigningKey
from trace_core.services import Limits, Runtime

PG_URL = os.environ.get("TRACEPORT_TEST_DATABASE_URL", "")
SCRIPTS = Path(__file__).resolve().parents[2] / "infra" / "postgres"
# Append-only since migration 0002. A table a later migration guards with the same trigger
# (audit_checkpoints, ...) is found in the database and held to the same rule.
GUARDED_SINCE_0002 = frozenset({"audit_events", "record_versions", "signatures", "server_keys"})
READ_ONLY = frozenset({"alembic_version"})
HISTORY = frozenset({"SELECT", "INSERT"})
WORKING = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

pytestmark = pytest.mark.req("P11-05")


@dataclass(frozen=True)
class Deployment:
    """A fresh database with its owner and app roles, migrated and granted."""

    admin: URL
    database: str
    owner: str
    app: str
    owner_url: URL
    app_url: URL


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _asyncpg(url: URL) -> str:
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _psql(url: URL, script: Path, **variables: str) -> str:
    """Run ``script`` like the operator does; return what psql wrote to stderr."""
    args = ["psql", _libpq(url), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)]
    for name, value in variables.items():
        args += ["-v", f"{name}={value}"]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, f"{script.name} failed:\n{err.decode()}"
    return err.decode()


@asynccontextmanager
async def _connect(url: URL) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(_libpq(url))
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="module", params=["postgresql"])
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    if not PG_URL:
        pytest.skip("TRACEPORT_TEST_DATABASE_URL is not set")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed (the role scripts are psql scripts)")
    admin = make_url(normalise_database_url(PG_URL))
    suffix = secrets.token_hex(4)
    database, owner, app = f"tp_roles_{suffix}", f"tp_owner_{suffix}", f"tp_app_{suffix}"
    owner_password, app_password = secrets.token_hex(16), secrets.token_hex(16)
    made = Deployment(
        admin=admin,
        database=database,
        owner=owner,
        app=app,
        owner_url=admin.set(username=owner, password=owner_password, database=database),
        app_url=admin.set(username=app, password=app_password, database=database),
    )
    try:
        await _psql(
            admin,
            SCRIPTS / "roles.sql",
            dbname=database,
            owner_role=owner,
            app_role=app,
            owner_password=owner_password,
            app_password=app_password,
        )
        await upgrade_async(_asyncpg(made.owner_url))
        await _psql(made.owner_url, SCRIPTS / "grants.sql", app_role=app)
        # The app's real work, as the app role: the whole demo (lots, CoAs, signatures,
        # approvals, receipts, work orders, shipments and their audit trail).
        engine = create_engine(_asyncpg(made.app_url))
        try:
            await seed_demo(
                Runtime(
                    sessions=session_maker(engine),
                    store=LocalObjectStore(tmp_path_factory.mktemp("objects")),
                    signing_key=ServerSigningKey.generate(),
                    token_key=b"test-token-key-0123456789abcdef0123456789",
                    limits=Limits(password_hash_cost=TEST_HASH_COST),
                )
            )
        finally:
            await engine.dispose()
        yield made
    finally:
        async with _connect(admin) as connection:
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await connection.execute(f'DROP ROLE IF EXISTS "{app}"')
            await connection.execute(f'DROP ROLE IF EXISTS "{owner}"')


async def _append_only(connection: asyncpg.Connection) -> set[str]:
    """The tables the migrations made append-only: those carrying the refusing trigger."""
    rows = await connection.fetch(
        """
        SELECT DISTINCT c.relname
          FROM pg_trigger AS t
          JOIN pg_proc AS p ON p.oid = t.tgfoid
          JOIN pg_class AS c ON c.oid = t.tgrelid
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND p.proname = 'traceport_refuse_change'
        """
    )
    return {row["relname"] for row in rows}


async def _tables(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def _statement(connection: asyncpg.Connection, template: str, table: str) -> str:
    """``template`` (a ``format()`` string) with the table, then its first column, quoted by
    the server as identifiers."""
    return str(
        await connection.fetchval(
            """
            SELECT format($1, c.relname, a.attname, a.attname)
              FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = 1
             WHERE c.oid = to_regclass(format('public.%I', $2::text))
            """,
            template,
            table,
        )
    )


def _expected(table: str, append_only: set[str]) -> frozenset[str]:
    if table in append_only:
        return HISTORY
    return frozenset({"SELECT"}) if table in READ_ONLY else WORKING


async def _granted(connection: asyncpg.Connection, role: str) -> dict[str, set[str]]:
    rows = await connection.fetch(
        """
        SELECT table_name, privilege_type
          FROM information_schema.role_table_grants
         WHERE grantee = $1 AND table_schema = 'public'
        """,
        role,
    )
    granted: dict[str, set[str]] = {}
    for row in rows:
        granted.setdefault(row["table_name"], set()).add(row["privilege_type"])
    return granted


async def _assert_role_model(deployment: Deployment) -> None:
    """Exactly SELECT, INSERT on history; SELECT, INSERT, UPDATE, DELETE elsewhere (SELECT only
    on the schema version); no TRUNCATE, REFERENCES or TRIGGER anywhere: as granted, and as in
    effect (through PUBLIC or any membership too)."""
    async with _connect(deployment.app_url) as app:
        append_only = await _append_only(app)
        tables = await _tables(app)
        assert append_only >= GUARDED_SINCE_0002
        assert {"supplier_lots", "web_sessions", "alembic_version"} <= tables
        expected = {table: set(_expected(table, append_only)) for table in tables}
        assert await _granted(app, deployment.app) == expected
        effective = await app.fetch(
            """
            SELECT t.tablename, p.privilege,
                   has_table_privilege(current_user, format('public.%I', t.tablename),
                                       p.privilege) AS held
              FROM pg_tables AS t, unnest($1::text[]) AS p(privilege)
             WHERE t.schemaname = 'public'
            """,
            list(TABLE_PRIVILEGES),
        )
        wrong = [
            (row["tablename"], row["privilege"], row["held"])
            for row in effective
            if row["held"] != (row["privilege"] in expected[row["tablename"]])
        ]
        assert wrong == []
        sequences = await app.fetch(
            """
            SELECT c.relname,
                   has_sequence_privilege(current_user, c.oid, 'USAGE') AS usage,
                   has_sequence_privilege(current_user, c.oid, 'UPDATE') AS setval
              FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'S'
            """
        )
        assert [row["relname"] for row in sequences if not row["usage"] or row["setval"]] == []


async def test_app_role_has_no_attributes_or_memberships(deployment: Deployment) -> None:
    async with _connect(deployment.app_url) as app:
        role = await app.fetchrow(
            """
            SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,
                   rolbypassrls,
                   (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) AS memberships
              FROM pg_roles AS r WHERE rolname = current_user
            """
        )
        assert dict(role) == {
            "rolcanlogin": True,
            "rolsuper": False,
            "rolcreatedb": False,
            "rolcreaterole": False,
            "rolreplication": False,
            "rolbypassrls": False,
            "memberships": 0,
        }
        assert not await app.fetchval(
            "SELECT has_schema_privilege(current_user, 'public', 'CREATE')"
        )
        assert not await app.fetchval(
            "SELECT has_database_privilege(current_user, current_database(), 'TEMPORARY')"
        )


async def test_privileges_follow_the_role_model(deployment: Deployment) -> None:
    await _assert_role_model(deployment)


@pytest.mark.parametrize("verb", ["UPDATE", "DELETE", "TRUNCATE"])
async def test_app_role_may_not_change_history(deployment: Deployment, verb: str) -> None:
    """Refused by privilege (permission denied), not only by the trigger: the trigger raises
    the same SQLSTATE 42501, so the message tells the two apart."""
    async with _connect(deployment.app_url) as app:
        append_only = await _append_only(app)
        outcomes: dict[str, str] = {}
        for table in sorted(append_only):
            template = {
                "UPDATE": "UPDATE public.%I SET %I = %I",
                "DELETE": "DELETE FROM public.%I",
                "TRUNCATE": "TRUNCATE public.%I",
            }[verb]
            statement = await _statement(app, template, table)
            transaction = app.transaction()
            await transaction.start()
            try:
                await app.execute(statement)
                outcomes[table] = "allowed"
            except asyncpg.PostgresError as exc:
                outcomes[table] = f"{exc.sqlstate} {exc}"
            finally:
                await transaction.rollback()
        assert outcomes == {
            table: f"42501 permission denied for table {table}" for table in append_only
        }
        assert set(outcomes) >= GUARDED_SINCE_0002


async def test_app_role_may_not_alter_drop_or_add_schema(deployment: Deployment) -> None:
    statements = {
        "ALTER TABLE audit_events DISABLE TRIGGER USER": "must be owner of table audit_events",
        "DROP TABLE signatures": "must be owner of table signatures",
        "CREATE TABLE public.shadow_history (id int)": "permission denied for schema public",
        "CREATE TEMPORARY TABLE scratch (id int)": "permission denied to create temporary",
        "UPDATE alembic_version SET version_num = version_num": "permission denied for table",
        "SELECT setval('supplier_lots_id_seq', 1)": "permission denied for sequence",
    }
    async with _connect(deployment.app_url) as app:
        for statement, message in statements.items():
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match=message):
                await app.execute(statement)


async def test_app_role_writes_history_and_working_tables(deployment: Deployment) -> None:
    async with _connect(deployment.app_url) as app:
        # The demo was seeded by this role: it inserted history and can read it back.
        for table in sorted(GUARDED_SINCE_0002):
            count = await _statement(app, "SELECT count(*) FROM public.%I", table)
            assert await app.fetchval(count) > 0, table
        working = await _tables(app) - await _append_only(app) - READ_ONLY
        # Changes to the working tables, rolled back so that the other tests see the demo.
        transaction = app.transaction()
        await transaction.start()
        try:
            updated = await app.execute("UPDATE supplier_lots SET status = status")
            assert updated.startswith("UPDATE ") and updated != "UPDATE 0"
            await app.execute("DELETE FROM web_sessions")
            for table in sorted(working):
                for template in (
                    "UPDATE public.%I SET %I = %I WHERE false",
                    "DELETE FROM public.%I WHERE false",
                ):
                    await app.execute(await _statement(app, template, table))
        finally:
            await transaction.rollback()


async def test_grants_cover_tables_of_later_migrations(deployment: Deployment) -> None:
    """The order the README prescribes: a migration (as the owner) adds tables; the owner's
    default privileges give the app the mutable grants at once, an append-only one included;
    `traceport db grants` (grants.sql) then takes UPDATE and DELETE back."""
    later = ("later_history", "later_working")
    async with _connect(deployment.owner_url) as owner:
        await owner.execute(
            """
            CREATE TABLE later_history (id bigserial PRIMARY KEY, note text NOT NULL);
            CREATE TRIGGER later_history_append_only BEFORE UPDATE OR DELETE ON later_history
                FOR EACH ROW EXECUTE FUNCTION traceport_refuse_change();
            CREATE TABLE later_working (id bigserial PRIMARY KEY, note text NOT NULL);
            """
        )
        try:
            async with _connect(deployment.app_url) as app:
                before = await _granted(app, deployment.app)
            assert {table: before[table] for table in later} == {
                "later_history": set(WORKING),
                "later_working": set(WORKING),
            }

            result = await asyncio.to_thread(
                CliRunner().invoke,
                traceport,
                [
                    "db",
                    "grants",
                    "--app-role",
                    deployment.app,
                    "--database-url",
                    _libpq(deployment.owner_url),
                ],
            )
            assert result.exit_code == 0, result.output
            assert "later_history has the append-only trigger but is not in" in result.output

            async with _connect(deployment.app_url) as app:
                after = await _granted(app, deployment.app)
                await app.execute("INSERT INTO later_history (note) VALUES ('kept')")
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await app.execute("DELETE FROM later_history")
            assert {table: after[table] for table in later} == {
                "later_history": set(HISTORY),
                "later_working": set(WORKING),
            }
            await _assert_role_model(deployment)
        finally:
            await owner.execute("DROP TABLE IF EXISTS later_history, later_working")


async def test_roles_sql_is_idempotent_on_a_migrated_database(deployment: Deployment) -> None:
    stderr = await _psql(
        deployment.admin,
        SCRIPTS / "roles.sql",
        dbname=deployment.database,
        owner_role=deployment.owner,
        app_role=deployment.app,
    )
    assert stderr == ""
    await _assert_role_model(deployment)
    # The passwords were left as they were (no *_password variable this time).
    async with _connect(deployment.app_url) as app:
        assert await app.fetchval("SELECT current_user") == deployment.app
