"""``traceport clients create|rotate|revoke|list`` on a real embedded database, the secrets
they print tried against the token endpoint; and migration 0004, which moves the existing
secret hashes into ``client_secrets``.

Both run on SQLite only: the CLI and Alembic open their own engines, which the rolled-back
per-test transactions of the shared PostgreSQL fixture cannot host. The services behind the
CLI are tested on both backends in ``test_clients.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from portal.app import create_app
from portal.cli import main
from portal.runtime import build_runtime
from portal.settings import Settings
from trace_core.db import create_engine, session_maker
from trace_core.identity.actor import Actor
from trace_core.identity.clients import ClientCredentials
from trace_core.migrate import alembic_config
from trace_core.services import provide_services


def run(var: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"TRACEPORT_VAR_DIR": str(var)})
    return result.exit_code, result.output


def printed_secret(output: str) -> str:
    line = next(line for line in output.splitlines() if "secret" in line and ": " in line)
    return line.rsplit(": ", 1)[1].strip()


def token_status(var: Path, client_id: str, secret: str) -> int:
    """POST /oauth/token against the embedded database of ``var``."""

    async def go() -> int:
        settings = Settings.from_env({"TRACEPORT_VAR_DIR": str(var)})
        runtime, engine = build_runtime(settings)
        try:
            app = create_app(settings, runtime=runtime)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, secret),
                )
                return response.status_code
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded database with the schema and one supplier (no demo data: faster)."""
    var = tmp_path_factory.mktemp("clients-cli") / "var"
    code, output = run(var, "db", "upgrade")
    assert code == 0, output

    async def seed() -> None:
        runtime, engine = build_runtime(Settings.from_env({"TRACEPORT_VAR_DIR": str(var)}))
        try:
            async with provide_services(runtime, Actor.system("cli")) as services:
                await services.identity.create_organization("Acme Polymers", "supplier")
                await services.keeper.commit()
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return var


def test_create_rotate_revoke_list(var: Path) -> None:
    code, output = run(
        var,
        "clients",
        "create",
        "Acme Polymers",
        "acme-cli",
        "--scope",
        "lots:read lots:write",
        "--scope",
        "documents:write",
        "--name",
        "Acme MES",
    )
    assert code == 0, output
    assert "scopes: lots:read lots:write documents:write" in output
    first = printed_secret(output)
    assert token_status(var, "acme-cli", first) == 200

    code, output = run(var, "clients", "rotate", "acme-cli", "--overlap-hours", "2")
    assert code == 0, output
    second = printed_secret(output)
    assert second != first and "keeps working until" in output
    assert token_status(var, "acme-cli", first) == 200
    assert token_status(var, "acme-cli", second) == 200

    code, output = run(
        var, "clients", "rotate", "acme-cli", "--overlap-hours", "0", "--reason", "secret leaked"
    )
    assert code == 0, output
    third = printed_secret(output)
    assert "no longer works" in output
    assert [token_status(var, "acme-cli", s) for s in (first, second, third)] == [401, 401, 200]

    code, output = run(var, "clients", "list")
    assert code == 0, output
    assert "acme-cli  active  Acme Polymers  Acme MES" in output
    assert output.count("secret #") == 3 and output.count(", usable") == 1
    assert first not in output and third not in output  # secrets are never listed

    code, output = run(var, "clients", "revoke", "acme-cli")
    assert code != 0 and "--reason" in output
    code, output = run(var, "clients", "revoke", "acme-cli", "--reason", "contract ended")
    assert code == 0, output
    assert token_status(var, "acme-cli", third) == 401

    with sqlite3.connect(var / "traceport.db") as db:
        rows = db.execute(
            "SELECT v.version, v.action, v.status, v.reason, e.actor_name FROM record_versions v "
            "JOIN audit_events e ON e.record_type = v.record_type "
            "AND e.record_id = v.record_id AND e.version = v.version "
            "WHERE v.record_type = 'api_client' AND v.record_id = "
            "(SELECT id FROM api_clients WHERE client_id = 'acme-cli') ORDER BY v.version"
        ).fetchall()
    assert [row[:4] for row in rows] == [
        (1, "create", "active", None),
        (2, "rotate_secret", "active", "secret rotation"),
        (3, "rotate_secret", "active", "secret leaked"),
        (4, "revoke", "revoked", "contract ended"),
    ]
    assert all(row[4].startswith("cli:") for row in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "Nobody Inc", "x-cli", "--scope", "lots:read"), "No organization"),
        (("create", "Acme Polymers", "x-cli", "--scope", "audit:read"), "Only our own systems"),
        (("create", "Acme Polymers", "x-cli", "--scope", "lots:fly"), "Unknown scope"),
        (("rotate", "no-such-client"), "No client"),
        (("rotate", "x-cli", "--overlap-hours", "-1"), "-1"),
    ],
)
def test_refusals_exit_non_zero_and_say_why(var: Path, args: tuple[str, ...], message: str) -> None:
    code, output = run(var, "clients", *args)
    assert code != 0
    assert message in output


# -- migration 0004 ----------------------------------------------------------------------------


def test_migration_moves_secret_hashes_and_back(tmp_path: Path) -> None:
    from alembic import command

    from trace_core.identity.passwords import hash_password, verify_password

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0003")
    hashed = hash_password("old-secret-123")
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute(
            "INSERT INTO organizations (id, name, kind, created_at) "
            "VALUES (1, 'Acme', 'supplier', '2026-01-01 00:00:00+00:00')"
        )
        db.executemany(
            "INSERT INTO api_clients (id, client_id, organization_id, name, secret_hash, scopes,"
            " active, tokens_valid_after, created_at) VALUES (?, ?, 1, 'x', ?, '[]', ?, ?, "
            "'2026-01-01 00:00:00+00:00')",
            [(1, "live", hashed, 1, None), (2, "gone", hashed, 0, "2026-02-01 00:00:00+00:00")],
        )
    command.upgrade(config, "0004_client_secrets")
    with sqlite3.connect(tmp_path / "m.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(api_clients)")]
        moved = db.execute(
            "SELECT api_client_id, secret_hash, created_at, expires_at, revoked_at "
            "FROM client_secrets ORDER BY api_client_id"
        ).fetchall()
    assert "secret_hash" not in columns
    assert [(m[0], m[1], m[3]) for m in moved] == [(1, hashed, None), (2, hashed, None)]
    assert moved[0][4] is None and moved[1][4] is not None  # a revoked client's secret is too
    assert verify_password("old-secret-123", moved[0][1])

    async def credentials() -> tuple[ClientCredentials | None, ClientCredentials | None]:
        engine = create_engine(url)
        try:
            from documents import LocalObjectStore
            from trace_core.identity.clients import ClientService
            from trace_core.records.keys import ServerSigningKey
            from trace_core.services import Runtime, Services

            runtime = Runtime(
                session_maker(engine),
                LocalObjectStore(tmp_path / "o"),
                ServerSigningKey.generate(),
                b"k" * 32,
            )
            async with runtime.sessions() as session:
                clients = ClientService(Services(runtime, session, Actor.system("cli")))
                return await clients.credentials("live"), await clients.credentials("gone")
        finally:
            await engine.dispose()

    live, gone = asyncio.run(credentials())
    assert live is not None and gone is not None
    assert live.matching_secret("old-secret-123") is not None
    assert gone.matching_secret("old-secret-123") is None

    command.downgrade(config, "0004_client_secrets-1")
    with sqlite3.connect(tmp_path / "m.db") as db:
        back = db.execute("SELECT client_id, secret_hash FROM api_clients ORDER BY id").fetchall()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert back == [("live", hashed), ("gone", "")]
    assert "client_secrets" not in tables
