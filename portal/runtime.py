"""Builds the domain ``Runtime`` (engine, object store, keys, mailer) from ``Settings``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from documents import open_object_store
from portal.settings import Settings
from trace_core.db import create_engine, session_maker
from trace_core.mail import mailer_from_url
from trace_core.records.keys import ServerSigningKey
from trace_core.services import Runtime


def build_runtime(settings: Settings) -> tuple[Runtime, AsyncEngine]:
    if settings.database_url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    store = open_object_store(settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    runtime = Runtime(
        sessions=session_maker(engine),
        store=store,
        signing_key=ServerSigningKey.load_or_create(settings.resolved_signing_key_file()),
        token_key=settings.resolved_secret_key(),
        limits=settings.limits,
        mailer=mailer_from_url(
            settings.smtp_url,
            outbox=settings.var_dir / "outbox",
            sender=settings.mail_from,
            base_url=settings.base_url,
        ),
        sscc_range=settings.sscc_range,
    )
    return runtime, engine
