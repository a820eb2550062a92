"""``traceport audit|keys|record``: verify the record layer, checkpoint it, rotate the server key,
export and re-verify accurate copies of records."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from portal.settings import Settings, normalise_database_url


def settings_for(database_url: str | None = None) -> Settings:
    settings = Settings.from_env()
    if database_url:
        settings = replace(settings, database_url=normalise_database_url(database_url))
    return settings


_DATABASE_OPTION = click.option(
    "--database-url", default=None, help="Override TRACEPORT_DATABASE_URL."
)


@click.group()
def audit() -> None:
    """The audit trail: verify it, sign its head."""


@audit.command("verify")
@_DATABASE_OPTION
@click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM public (or private) key to trust; default: the configured server key.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_verify(database_url: str | None, trusted_keys: tuple[Path, ...], as_json: bool) -> None:
    """Check the whole chain, every version, signature and checkpoint.

    Exits 1 and names the first broken item when anything was changed, deleted, inserted or
    reordered outside the application; 0 when everything verifies.
    """
    from trace_core.db import create_engine
    from trace_core.records.verify import verify_records

    settings = settings_for(database_url)
    anchors = [_public_pem(path) for path in trusted_keys]
    if not anchors and settings.resolved_signing_key_file().exists():
        anchors.append(_public_pem(settings.resolved_signing_key_file()))

    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                from sqlalchemy.ext.asyncio import AsyncSession

                async with AsyncSession(bind=connection) as session:
                    return await verify_records(session, anchors)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.summary_lines():
            click.echo(line)
    sys.exit(0 if report.ok else 1)


@audit.command("checkpoint")
@_DATABASE_OPTION
def audit_checkpoint(database_url: str | None) -> None:
    """Sign the audit chain head with the server key now."""
    from portal.runtime import build_runtime
    from trace_core.identity.actor import Actor
    from trace_core.records.admin import write_checkpoint

    settings = settings_for(database_url)

    async def run() -> Any:
        runtime, engine = build_runtime(settings)
        try:
            return await write_checkpoint(runtime, Actor.system("cli"))
        finally:
            await engine.dispose()

    info = asyncio.run(run())
    click.echo(f"checkpoint at seq {info.seq}, head {info.head_hash}, key {info.key_id}")


@click.group()
def keys() -> None:
    """The server's Ed25519 signing keys."""


@keys.command("list")
@_DATABASE_OPTION
@click.option("--pem", is_flag=True, help="Print the public keys in PEM, to publish them.")
def keys_list(database_url: str | None, pem: bool) -> None:
    """Every key the server has signed with (old ones stay for verification)."""
    from portal.runtime import build_runtime
    from trace_core.records.admin import list_keys

    settings = settings_for(database_url)

    async def run() -> Any:
        runtime, engine = build_runtime(settings)
        try:
            return runtime.signing_key.key_id, await list_keys(runtime)
        finally:
            await engine.dispose()

    current, stored = asyncio.run(run())
    for key in stored:
        mark = "current" if key.key_id == current else "retired"
        click.echo(f"{key.key_id}  {key.created_at.isoformat()}  {mark}")
        if pem:
            click.echo(key.public_key_pem)


@keys.command("rotate")
@_DATABASE_OPTION
def keys_rotate(database_url: str | None) -> None:
    """Make a new signing key; the old one endorses it and stays for verification.

    Restart the server afterwards: a running server signs with the key it started with.
    """
    from portal.runtime import build_runtime
    from trace_core.identity.actor import Actor
    from trace_core.records.admin import rotate_signing_key

    settings = settings_for(database_url)

    async def run() -> tuple[str, str]:
        runtime, engine = build_runtime(settings)
        try:
            return await rotate_signing_key(
                runtime, settings.resolved_signing_key_file(), Actor.system("cli")
            )
        finally:
            await engine.dispose()

    old, new = asyncio.run(run())
    click.echo(f"rotated: {old} -> {new}; restart the server to sign with the new key")


def _public_pem(path: Path) -> str:
    """The public PEM of a key file holding either half of an Ed25519 key pair."""
    from trace_core.records.keys import ServerSigningKey

    text = path.read_text(encoding="ascii")
    if "PRIVATE KEY" in text:
        return ServerSigningKey.load(path).public_pem
    return text


@click.group()
def record() -> None:
    """Accurate copies of a record: export them, verify them offline."""


@record.command("export")
@click.argument("identifier")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Folder for the bundle, the PDF and documents/ (default: the current folder).",
)
@_DATABASE_OPTION
def record_export(identifier: str, out_dir: Path, database_url: str | None) -> None:
    """Export the record IDENTIFIER as a signed JSON bundle, a readable PDF and its documents.

    IDENTIFIER is TYPE:ID (supplier_lot:3) or a supplier or internal lot number, shipment or
    work order number. When it names several records, they are listed and nothing is exported.
    """
    from portal.runtime import build_runtime
    from trace_core.errors import DomainError
    from trace_core.identity.actor import Actor
    from trace_core.records.export import (
        RecordRef,
        export_bundle,
        export_pdf,
        find_records,
        referenced_documents,
    )
    from trace_core.services import provide_services

    settings = settings_for(database_url)
    Copy = tuple[dict[str, Any], bytes, list[tuple[str, bytes]]]

    async def run() -> tuple[list[RecordRef], Copy | None]:
        runtime, engine = build_runtime(settings)
        try:
            actor = Actor.system("cli")
            async with provide_services(runtime, actor) as services:
                found = await find_records(services, actor, identifier)
                if len(found) != 1:
                    return found, None
                kind, number = found[0].record_type, found[0].record_id
                # The PDF first: the bundle then holds both export events.
                pdf = await export_pdf(services, actor, kind, number)
                bundle = await export_bundle(services, actor, kind, number)
                documents = await referenced_documents(services, actor, kind, number)
                return found, (bundle, pdf, [(d.sha256, data) for d, data in documents])
        finally:
            await engine.dispose()

    try:
        found, copy = asyncio.run(run())
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    if copy is None:
        click.echo(f"{identifier!r} names {len(found)} records; export one of them by TYPE:ID:")
        for ref in found:
            click.echo(f"  {ref}")
        sys.exit(2)
    bundle, pdf, documents = copy
    stem = f"{found[0].record_type}-{found[0].record_id}"
    (out_dir / "documents").mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{stem}.json", out_dir / f"{stem}.pdf"]
    written[0].write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", "utf-8")
    written[1].write_bytes(pdf)
    for sha256, data in documents:
        path = out_dir / "documents" / f"{sha256}.pdf"
        path.write_bytes(data)
        written.append(path)
    for path in written:
        click.echo(str(path))


@record.command("verify")
@click.argument("bundle_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--documents",
    "documents_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder with the documents as <sha256>.pdf; default: documents/ next to the bundle.",
)
@click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The published server public key (PEM) to trust; repeat for rotated keys.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def record_verify(
    bundle_file: Path, documents_dir: Path | None, trusted_keys: tuple[Path, ...], as_json: bool
) -> None:
    """Re-check an exported bundle offline: hashes, links, signatures, seals, documents.

    Exits 0 when everything verifies, 1 when something is broken (the first broken item is
    named), 2 when BUNDLE_FILE is not a readable Traceport record bundle.
    """
    from trace_core.records.export import BUNDLE_FORMAT, verify_bundle

    try:
        bundle = json.loads(bundle_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        click.echo(f"error: {bundle_file} is not a readable JSON file: {exc}", err=True)
        sys.exit(2)
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        click.echo(f"error: {bundle_file} is not a {BUNDLE_FORMAT} bundle", err=True)
        sys.exit(2)
    if documents_dir is None and (bundle_file.parent / "documents").is_dir():
        documents_dir = bundle_file.parent / "documents"
    anchors = [_public_pem(path) for path in trusted_keys] or None
    report = verify_bundle(bundle, anchors, documents_dir)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        for line in report.summary_lines():
            click.echo(line)
    sys.exit(0 if report.ok else 1)
