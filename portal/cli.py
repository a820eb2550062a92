"""The ``traceport`` command: serve, migrate, seed and run the demo, trace from the shell."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from portal.settings import Settings, normalise_database_url


def _settings(database_url: str | None = None) -> Settings:
    settings = Settings.from_env()
    if database_url:
        from dataclasses import replace

        settings = replace(settings, database_url=normalise_database_url(database_url))
    return settings


@click.group()
def main() -> None:
    """Traceport: supplier quality portal and trace core."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default TRACEPORT_HOST).")
@click.option("--port", default=None, type=int, help="Port (default TRACEPORT_PORT or 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the portal and the API (migrate the database first)."""
    import uvicorn

    from portal.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        proxy_headers=False,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to TRACEPORT_DATABASE_URL."""
    from trace_core.migrate import upgrade

    settings = _settings()
    if settings.database_url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    click.echo("database is at the latest schema")


@main.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--no-serve", is_flag=True, help="Migrate and seed only.")
def demo(host: str | None, port: int | None, no_serve: bool) -> None:
    """Create ./var, migrate, seed the demo data (once) and serve."""
    from portal.runtime import build_runtime
    from trace_core.demo import ACCOUNTS, CLIENTS, DEMO_PASSWORD, demo_present, seed_demo
    from trace_core.migrate import upgrade

    settings = _settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)

    async def seed() -> bool:
        runtime, engine = build_runtime(settings)
        try:
            if await demo_present(runtime):
                return False
            await seed_demo(runtime)
            return True
        finally:
            await engine.dispose()

    created = asyncio.run(seed())
    click.echo("demo data created" if created else "demo data already present")
    click.echo(f"\nDemo accounts (password for all: {DEMO_PASSWORD}):")
    for account in ACCOUNTS:
        click.echo(f"  {account.email:32} {account.purpose} ({account.organization})")
    click.echo("Demo API clients:")
    for client_id, secret, org, _ in CLIENTS:
        click.echo(f"  {client_id:16} secret {secret:24} ({org})")
    click.echo("Try: traceport trace backward SN-DEMO-0001 --json")
    if not no_serve:
        host, port = host or settings.host, port or settings.port
        click.echo(f"\nServing on http://{host}:{port}  (Ctrl+C stops)")
        import uvicorn

        from portal.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@main.group()
def trace() -> None:
    """Trace an identifier through the genealogy."""


def _run_trace(direction: str, identifier: str, as_json: bool, database_url: str | None) -> None:
    from portal.runtime import build_runtime
    from trace_core.errors import DomainError
    from trace_core.identity.actor import Actor
    from trace_core.services import provide_services

    settings = _settings(database_url)

    async def run() -> dict[str, Any]:
        runtime, engine = build_runtime(settings)
        try:
            actor = Actor.system("cli")
            async with provide_services(runtime, actor) as services:
                method = (
                    services.trace.backward if direction == "backward" else (services.trace.forward)
                )
                return (await method(actor, identifier)).as_dict()
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except DomainError as exc:
        if as_json:
            click.echo(json.dumps({"error": exc.message}))
        else:
            click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result, default=str, indent=2, ensure_ascii=False))
        return
    nodes = {n["id"]: n for n in result["nodes"]}

    def show(entry: dict[str, Any], depth: int) -> None:
        node = nodes[entry["node"]]
        extra = node.get("supplier") or node.get("consignee_name") or node.get("part_number", "")
        via = f"[{entry['via']}] " if "via" in entry else ""
        click.echo(f"{'  ' * depth}{via}{node['kind']} {node['identifier']}  {extra}")
        if node["kind"] == "supplier_lot":
            click.echo(f"{'  ' * depth}  CoA sha256 {node['coa']['sha256']}")
        for child in entry.get("children", []):
            show(child, depth + 1)

    for root in result["tree"]:
        show(root, 0)


@trace.command("backward")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--database-url", default=None, help="Override TRACEPORT_DATABASE_URL.")
def trace_backward(identifier: str, as_json: bool, database_url: str | None) -> None:
    """Where did IDENTIFIER come from (down to supplier lots and their CoAs)?"""
    _run_trace("backward", identifier, as_json, database_url)


@trace.command("forward")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--database-url", default=None, help="Override TRACEPORT_DATABASE_URL.")
def trace_forward(identifier: str, as_json: bool, database_url: str | None) -> None:
    """Where did IDENTIFIER go (finished lots, serials, shipments, consignees)?"""
    _run_trace("forward", identifier, as_json, database_url)


if __name__ == "__main__":
    main()
