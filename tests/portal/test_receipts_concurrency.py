"""Receipts posted at the same moment on PostgreSQL (QMS-06; the issue's reproduction 6):
every one gets its own number, and together they never take more of a supplier lot than was
declared.

Why a database of its own: the ``runtime`` fixture runs a test inside one outer transaction
on one connection, so its "concurrent" requests would queue on that connection and never
race. Real concurrency needs several connections and committed data, and committed receipts
cannot be cleaned up afterwards (versions and audit events are append-only by design). So
this module creates a scratch database next to the test database
(``<test database>_receipts_concurrency``), migrates and seeds it, drives the real app with
an engine whose pool gives each request its own connection, and drops the database at the
end. The requests are real HTTP requests through the ASGI app, gathered with asyncio: each
handler waits on its own connection, so their transactions interleave in the server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from documents import LocalObjectStore
from documents.pdf import make_pdf
from portal.app import create_app
from portal.settings import Settings, normalise_database_url
from tests.conftest import TEST_LIMITS, TOKEN_KEY, api_token, bearer
from trace_core.db import create_engine, session_maker
from trace_core.demo import DEMO_PASSWORD, DEMO_SSCC_RANGE, seed_demo
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.lots.models import SupplierLot
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.migrate import upgrade_async
from trace_core.receipts.models import Receipt
from trace_core.records.keys import ServerSigningKey
from trace_core.services import Runtime, provide_services

PG_URL = os.environ.get("TRACEPORT_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.req("QMS-06"),
    pytest.mark.skipif(not PG_URL, reason="TRACEPORT_TEST_DATABASE_URL is not set"),
]
ERP = ("traceport-erp", "traceport-erp-secret")
ANNA = "anna@acme-polymers.example"
GOOD = {"MFI": "10.1", "MOIST": "0.03", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def scratch(signing_key: ServerSigningKey, object_root: Path) -> AsyncIterator[Runtime]:
    base = make_url(normalise_database_url(PG_URL))
    name = f"{base.database}_receipts_concurrency"
    admin = await asyncpg.connect(_libpq(base))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = base.set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    await upgrade_async(rendered)
    engine = create_engine(rendered)
    runtime = Runtime(
        sessions=session_maker(engine),
        store=LocalObjectStore(object_root),
        signing_key=signing_key,
        token_key=TOKEN_KEY,
        limits=TEST_LIMITS,
        sscc_range=DEMO_SSCC_RANGE,
    )
    try:
        await seed_demo(runtime)
        yield runtime
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(_libpq(base))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def submitted_lots(runtime: Runtime, count: int) -> list[int]:
    """``count`` new RES-100 lots of Acme's, 5 kg each, signed (submitted): receivable."""
    anna = await person(runtime, ANNA)
    ids = []
    for index in range(count):
        number = f"AP-CONC-{index}"
        async with provide_services(runtime, anna) as s:
            pdf = make_pdf("CoA", [number])
            doc = await s.attachments.upload_pdf(anna, f"{number}.pdf", pdf)
            lot = await s.lots.submit(
                anna,
                LotSubmission(
                    "RES-100",
                    number,
                    "5",
                    "kg",
                    dt.date(2026, 10, 1),
                    dt.date(2028, 10, 1),
                    doc.id,
                    [ResultInput(k, v) for k, v in GOOD.items()],
                ),
            )
            await s.lots.sign_submission(
                anna, lot.id, SigningCredentials(DEMO_PASSWORD, ANNA), lot.version
            )
            ids.append(lot.id)
    return ids


async def person(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


async def test_concurrent_receipts_get_distinct_numbers_and_respect_the_declared_quantity(
    scratch: Runtime, tmp_path: Path
) -> None:
    app = create_app(Settings.from_env({"TRACEPORT_VAR_DIR": str(tmp_path)}), runtime=scratch)
    async with scratch.sessions() as session:
        lot = await session.scalar(
            select(SupplierLot.id).where(SupplierLot.lot_number == "AP-24-0816")
        )
        existing = set(await session.scalars(select(Receipt.number)))
    assert lot is not None
    others = await submitted_lots(scratch, 8)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = bearer(await api_token(http, *ERP))

        async def post(quantity: str, lot_id: int | None = lot) -> httpx.Response:
            return await http.post(
                "/api/v1/receipts",
                json={"supplier_lot_id": lot_id, "quantity": quantity},
                headers=headers,
            )

        # Eight receipts of eight lots at once: nothing serialises them but the numbering
        # (counting rows gave two of them the same number, and the second failed).
        spread = await asyncio.gather(*(post("5", other) for other in others))
        assert [r.status_code for r in spread] == [201] * 8, [r.text for r in spread]
        assert len({r.json()["number"] for r in spread}) == 8
        # Eight receipts of 2 kg of one lot at once: all fit in the 25 kg declared.
        first = await asyncio.gather(*(post("2") for _ in range(8)))
        assert [r.status_code for r in first] == [201] * 8, [r.text for r in first]
        numbers = [r.json()["number"] for r in first]
        assert len(set(numbers)) == 8
        assert not set(numbers) & existing
        internal = [r.json()["internal_lot_number"] for r in first]
        assert len(set(internal)) == 8
        # 16 kg received, 9 kg left: of six more receipts of 2 kg at once, four fit.
        second = await asyncio.gather(*(post("2") for _ in range(6)))
        statuses = sorted(r.status_code for r in second)
        assert statuses == [201, 201, 201, 201, 409, 409], [r.text for r in second]
        refused = [r.json() for r in second if r.status_code == 409]
        assert all("quantity" in body["fields"] for body in refused)
    async with scratch.sessions() as session:
        received = list(
            await session.scalars(select(Receipt.quantity).where(Receipt.supplier_lot_id == lot))
        )
    assert sum(received) == 24
