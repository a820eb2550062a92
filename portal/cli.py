"""The ``traceport`` command: serve, migrate, seed and run the demo, trace from the shell."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from typing import Any

import click

from portal.cli_bench import bench
from portal.cli_clients import clients, docs
from portal.cli_records import audit, keys, record, settings_for
from portal.cli_users import users

_settings = settings_for


@click.group()
def main() -> None:
    """Traceport: supplier quality portal and trace core."""


main.add_command(audit)
main.add_command(bench)
main.add_command(keys)
main.add_command(record)
main.add_command(clients)
main.add_command(docs)
main.add_command(users)


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
    from trace_core.demo import (
        ACCOUNTS,
        CLIENTS,
        DEMO_PASSWORD,
        DEMO_SSCC_RANGE,
        demo_present,
        seed_demo,
    )
    from trace_core.migrate import upgrade

    settings = _settings()
    if "TRACEPORT_TOTP_REQUIRED_ROLES" not in os.environ:
        # The demo accounts sign without an authenticator; the policy would hold them all on
        # the enrolment page.
        settings = replace(settings, limits=replace(settings.limits, totp_required_roles=()))
        click.echo(
            "second factor not required for any role (demo default; "
            "set TRACEPORT_TOTP_REQUIRED_ROLES to require it)"
        )
    if settings.sscc_range is None:
        # The demo plant's GTIN 00614141000012 belongs to company prefix 0614141; packing in
        # the demo allocates SSCCs from it.
        settings = replace(settings, sscc_range=DEMO_SSCC_RANGE)
        click.echo(
            f"SSCCs allocated from GS1 company prefix {DEMO_SSCC_RANGE.company_prefix} "
            "(demo default; set TRACEPORT_GS1_COMPANY_PREFIX for yours)"
        )
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


def _run_trace(
    direction: str, identifier: str, as_json: bool, database_url: str | None, scope: bool = False
) -> None:
    from portal.runtime import build_runtime
    from trace_core.errors import DomainError
    from trace_core.identity.actor import Actor
    from trace_core.services import provide_services
    from trace_core.trace.statements import Direction

    settings = _settings(database_url)

    async def run() -> dict[str, Any]:
        runtime, engine = build_runtime(settings)
        try:
            actor = Actor.system("cli")
            async with provide_services(runtime, actor) as services:
                if scope:
                    way: Direction = "backward" if direction == "backward" else "forward"
                    return (await services.trace.scope(actor, identifier, way)).as_dict()
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
        for bundle in entry.get("serials", []):
            click.echo(f"{'  ' * depth}  [{bundle['via']}] {bundle['serials']} serials")
        for child in entry.get("children", []):
            show(child, depth + 1)

    if scope:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(result["counts"].items()))
        click.echo(f"reached: {counts}")
    through = False
    for root in result["tree"]:
        if root.get("through_serials") and not through:
            through = True
            click.echo("reached through the serials:")
        if "node" in root:
            show(root, 0)
        else:
            click.echo("  … (cut; the lists are complete)")
    if scope and result["consignees"]:
        click.echo(f"consignees (shipments: {len(result['consignees'])}):")
        for c in result["consignees"]:
            click.echo(f"  {c['shipment']}  {c['name']}, {c['address']}")


@trace.command("backward")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--database-url", default=None, help="Override TRACEPORT_DATABASE_URL.")
@click.option(
    "--scope",
    is_flag=True,
    help="Bundle the serials: every lot and shipment reached, serials counted per lot.",
)
def trace_backward(identifier: str, as_json: bool, database_url: str | None, scope: bool) -> None:
    """Where did IDENTIFIER come from (down to supplier lots and their CoAs)?"""
    _run_trace("backward", identifier, as_json, database_url, scope)


@trace.command("forward")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--database-url", default=None, help="Override TRACEPORT_DATABASE_URL.")
@click.option(
    "--scope",
    is_flag=True,
    help="Bundle the serials: every lot and shipment reached, serials counted per lot.",
)
def trace_forward(identifier: str, as_json: bool, database_url: str | None, scope: bool) -> None:
    """Where did IDENTIFIER go (finished lots, serials, shipments, consignees)? With --scope
    the answer stays small however wide the lot (the serials are counted per lot)."""
    _run_trace("forward", identifier, as_json, database_url, scope)


# PostgreSQL privileges (P11-05) ---------------------------------------------------------------

_GRANTS_MARKER = "-- ---8<---"


@db.command("grants")
@click.option(
    "--app-role", default="traceport_app", show_default=True, help="The role the app runs as."
)
@click.option(
    "--database-url", default=None, help="The owner's URL (default TRACEPORT_DATABASE_URL)."
)
@click.option(
    "--sql-file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Default: infra/postgres/grants.sql of this source tree.",
)
def db_grants(app_role: str, database_url: str | None, sql_file: str | None) -> None:
    """Re-apply the app role's table privileges (infra/postgres/grants.sql).

    Run it as the owner role after every `traceport db upgrade`: tables a migration creates get
    UPDATE and DELETE from the owner's default privileges until this takes them back from the
    append-only ones.
    """
    from pathlib import Path

    import asyncpg
    from sqlalchemy.engine import make_url

    from portal.settings import Settings, normalise_database_url

    url = normalise_database_url(database_url or Settings.from_env().database_url)
    if not url.startswith("postgresql"):
        raise click.UsageError("db grants needs a PostgreSQL database URL (the owner's)")
    script = (
        Path(sql_file)
        if sql_file
        else Path(__file__).resolve().parents[1] / "infra" / "postgres" / "grants.sql"
    )
    if not script.is_file():
        raise click.UsageError(f"{script} not found; pass --sql-file")
    # The file starts with psql commands that set traceport.app_role from a psql variable;
    # what follows the marker line is plain SQL, run here after setting it ourselves.
    _, marker, rest = script.read_text(encoding="utf-8").partition(_GRANTS_MARKER)
    if not marker:
        raise click.ClickException(f"{script}: no line starting with {_GRANTS_MARKER!r}")
    body = rest.partition("\n")[2]
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def apply() -> None:
        connection = await asyncpg.connect(dsn)
        connection.add_log_listener(
            lambda _conn, message: click.echo(f"{message.severity}: {message.message}", err=True)
        )
        try:
            async with connection.transaction():
                await connection.execute(
                    "SELECT set_config('traceport.app_role', $1, true)", app_role
                )
                await connection.execute(body)
        finally:
            await connection.close()

    try:
        asyncio.run(apply())
    except asyncpg.PostgresError as exc:
        raise click.ClickException(f"grants not applied: {exc}") from exc
    click.echo(f"privileges of {app_role} re-applied")


@main.group()
def validation() -> None:
    """Computer-system validation evidence."""


@validation.command("report")
@click.option("--junit", "junit_file", required=True, help="pytest's JUnit XML (--junitxml).")
@click.option(
    "--requirements",
    "catalogue_file",
    default=None,
    help="Requirement catalogue in markdown (default docs/REQUIREMENTS.md).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for report.html, report.pdf and report.json (created if missing).",
)
@click.option("--strict", is_flag=True, help="Exit 1 when any requirement has status fail.")
def validation_report(
    junit_file: str, catalogue_file: str | None, out_dir: str, strict: bool
) -> None:
    """Map requirement ids to tests and their results, as HTML, PDF and JSON.

    Exits 0 once the report is written, even when tests failed (the report says so); 1 with
    --strict when a requirement has status fail; 2 when an input is missing or unusable.
    """
    from pathlib import Path
    from typing import NoReturn

    from portal import validation as evidence

    def fail(message: str) -> NoReturn:
        click.echo(f"error: {message}", err=True)
        sys.exit(2)

    def read(label: str, path: Path, hint: str = "") -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            fail(f"{label} not found: {path}{hint}")
        except OSError as exc:
            fail(f"cannot read the {label} {path}: {exc.strerror or exc}")

    junit_path = Path(junit_file)
    catalogue_path = Path(catalogue_file) if catalogue_file else evidence.DEFAULT_CATALOGUE
    junit_data = read("JUnit file", junit_path)
    catalogue_data = read(
        "requirement catalogue",
        catalogue_path,
        "" if catalogue_file else " (outside a source checkout, pass --requirements)",
    )
    try:
        requirements = evidence.parse_requirements(catalogue_data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        fail(f"{catalogue_path}: the requirement catalogue is not UTF-8 text")
    except evidence.ReportInputError as exc:
        fail(f"{catalogue_path}: {exc}")
    try:
        cases = evidence.parse_junit(junit_data)
    except evidence.ReportInputError as exc:
        fail(f"{junit_path}: {exc}")

    context = evidence.describe_inputs(
        junit_path.name, junit_data, catalogue_path.name, catalogue_data
    )
    report = evidence.build_report(requirements, cases, context)
    try:
        files = evidence.write_report(report, Path(out_dir))
    except OSError as exc:
        fail(f"cannot write the report into {out_dir}: {exc.strerror or exc}")
    click.echo(report.summary(files))
    if report.unknown_ids:
        click.echo(
            "warning: tests carry requirement ids the catalogue does not list: "
            + ", ".join(report.unknown_ids),
            err=True,
        )
    if strict and report.status_counts["fail"]:
        sys.exit(1)


# GS1 / UDI scanning (UDI-01..07) ---------------------------------------------------------------


@main.group()
def gs1() -> None:
    """Read GS1 element strings and Digital Link URIs; recognise HIBCC and ICCBBA codes."""


@gs1.command("parse")
@click.argument("text", metavar="STRING")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--separator",
    "separators",
    multiple=True,
    help="Another character the scanner sends for FNC1 (GS, 0x1D, always is). Repeatable.",
)
def gs1_parse(text: str, as_json: bool, separators: tuple[str, ...]) -> None:
    """Parse and validate STRING; exit 2 if it is not a valid code.

    HIBCC and ICCBBA codes are not errors: they are reported with their issuing agency.
    """
    from trace_core.gs1 import Gs1Result, ScanError, ai_definition, read_barcode

    try:
        result = read_barcode(text, separators=("\x1d", *separators))
    except ScanError as exc:
        if as_json:
            click.echo(json.dumps({"error": exc.message}, ensure_ascii=False))
        else:
            click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    data = result.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if isinstance(result, Gs1Result):
        carrier = f", {result.symbology} {result.symbology_identifier}" if result.symbology else ""
        click.echo(f"GS1 {result.source}{carrier}")
        for element in result.elements:
            definition = ai_definition(element.ai)
            title = definition.title if definition else ""
            click.echo(f"  {'(' + element.ai + ')':7} {title:26} {element.value}")
        hidden = {"issuing_agency", "source", "symbology", "symbology_identifier", "elements"}
    else:
        click.echo(f"{result.issuing_agency} code, not GS1: {result.structure}")
        hidden = {"issuing_agency", "structure", "text", "notes"}
    for name, value in data.items():
        if name not in hidden and value not in (None, []):
            click.echo(f"  {name:16} {value}")
    for note in data.get("notes", []):
        click.echo(f"  note: {note}")


if __name__ == "__main__":
    main()
