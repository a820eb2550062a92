"""``traceport clients create|rotate|revoke|list``: machine clients and their secrets; and
``traceport docs permissions``: the generated permission matrix.

Secrets are printed once, when they are made, and stored only as hashes. Every change writes
a new ``api_client`` record version with its reason and is audited, attributed to the
operating-system account that ran the command.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from portal.cli_records import settings_for

T = TypeVar("T")

_DATABASE_OPTION = click.option(
    "--database-url", default=None, help="Override TRACEPORT_DATABASE_URL."
)


def _operator() -> Any:
    from trace_core.identity.actor import Actor

    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        who = "unknown"
    return replace(Actor.system("cli"), name=f"cli:{who}")


def _run(database_url: str | None, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``work(services, actor)`` in one unit of work; a domain error ends the command
    with its message and exit status 2."""
    from portal.runtime import build_runtime
    from trace_core.errors import DomainError
    from trace_core.services import provide_services

    settings = settings_for(database_url)
    actor = _operator()

    async def run() -> T:
        runtime, engine = build_runtime(settings)
        try:
            async with provide_services(runtime, actor) as services:
                return await work(services, actor)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        errors = getattr(exc, "errors", None)
        for problem in errors.values() if errors else [exc.message]:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)


def _scopes(values: tuple[str, ...]) -> list[str]:
    return [s for value in values for s in re.split(r"[\s,]+", value) if s]


@click.group()
def clients() -> None:
    """Machine clients (OAuth2 client credentials) and their secrets."""


@clients.command("create")
@click.argument("organization")
@click.argument("client_id")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A scope to grant (repeat, or separate with spaces or commas), e.g. lots:write.",
)
@click.option("--name", default=None, help="What the client is (default: '<ORG> integration').")
@_DATABASE_OPTION
def clients_create(
    organization: str,
    client_id: str,
    scopes: tuple[str, ...],
    name: str | None,
    database_url: str | None,
) -> None:
    """Register CLIENT_ID for ORGANIZATION and print its secret (shown this once only)."""
    from trace_core.identity.clients import ClientService

    async def work(services: Any, actor: Any) -> tuple[Any, str]:
        org = await services.identity.organization_by_name(organization)
        client, secret = await ClientService(services).register(
            actor, org, client_id, _scopes(scopes), name
        )
        return client, secret

    client, secret = _run(database_url, work)
    click.echo(f"client {client.client_id} created for {organization}")
    click.echo(f"scopes: {' '.join(client.scopes)}")
    click.echo(f"secret: {secret}")
    click.echo("Store the secret now: it is shown only once and kept only as a hash.")


@clients.command("rotate")
@click.argument("client_id")
@click.option(
    "--overlap-hours",
    default=24.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How long the current secret keeps working beside the new one (0: not at all).",
)
@click.option("--reason", default="secret rotation", show_default=True, help="Why.")
@click.option(
    "--revoke-tokens",
    is_flag=True,
    help="Also refuse every access token issued so far (a leaked secret).",
)
@_DATABASE_OPTION
def clients_rotate(
    client_id: str,
    overlap_hours: float,
    reason: str,
    revoke_tokens: bool,
    database_url: str | None,
) -> None:
    """Give CLIENT_ID a new secret and print it; the old one works until the overlap ends."""
    from trace_core.identity.clients import ClientService

    overlap = dt.timedelta(hours=overlap_hours)

    async def work(services: Any, actor: Any) -> str:
        return await ClientService(services).rotate(
            actor, client_id, overlap=overlap, reason=reason, revoke_tokens=revoke_tokens
        )

    secret = _run(database_url, work)
    ends = dt.datetime.now(dt.UTC) + overlap
    click.echo(f"new secret for {client_id}: {secret}")
    click.echo("Store the secret now: it is shown only once and kept only as a hash.")
    if overlap:
        click.echo(f"the previous secret keeps working until {ends:%Y-%m-%d %H:%M} UTC")
    else:
        click.echo("the previous secret no longer works")
    if revoke_tokens:
        click.echo("access tokens issued before now are refused")


@clients.command("revoke")
@click.argument("client_id")
@click.option("--reason", required=True, help="Why the client is revoked (recorded).")
@_DATABASE_OPTION
def clients_revoke(client_id: str, reason: str, database_url: str | None) -> None:
    """Disable CLIENT_ID: no new tokens, and its issued tokens are refused at once."""
    from trace_core.identity.clients import ClientService

    async def work(services: Any, actor: Any) -> None:
        await ClientService(services).revoke(actor, client_id, reason)

    _run(database_url, work)
    click.echo(f"client {client_id} revoked; its secrets and access tokens no longer work")


@clients.command("list")
@_DATABASE_OPTION
def clients_list(database_url: str | None) -> None:
    """Every client with its organization, scopes and secrets (dates only)."""
    from trace_core.identity.clients import ClientService

    async def work(services: Any, actor: Any) -> list[Any]:
        return await ClientService(services).list(actor)

    for summary in _run(database_url, work):
        state = "active" if summary.active else "revoked"
        click.echo(f"{summary.client_id}  {state}  {summary.organization}  {summary.name}")
        click.echo(f"  scopes: {' '.join(summary.scopes)}")
        for secret in summary.secrets:
            until = (
                f"revoked {secret.revoked_at:%Y-%m-%d %H:%M} UTC"
                if secret.revoked_at
                else f"until {secret.expires_at:%Y-%m-%d %H:%M} UTC"
                if secret.expires_at
                else "no end"
            )
            mark = "usable" if secret.usable else "not usable"
            click.echo(
                f"  secret #{secret.id}: created {secret.created_at:%Y-%m-%d %H:%M} UTC, "
                f"{until}, {mark}"
            )


@click.group()
def docs() -> None:
    """Documents generated from the code."""


@docs.command("permissions")
@click.option(
    "--check", is_flag=True, help="Only check that the file is current; exit 1 when stale."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: docs/PERMISSIONS.md of the source tree).",
)
def docs_permissions(check: bool, out: Path | None) -> None:
    """Render the role, scope and route permission matrix to docs/PERMISSIONS.md."""
    from portal.permissions import DOC_PATH, render_markdown, write_markdown

    path = out or DOC_PATH
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != render_markdown():
            click.echo(f"{path} is stale: run `traceport docs permissions`", err=True)
            sys.exit(1)
        click.echo(f"{path} is current")
        return
    changed = write_markdown(path)
    click.echo(f"{path} {'written' if changed else 'already current'}")
