"""Material gates and holds through real HTTP (QMS-10, P11-08, QMS-14): the JSON API both ways
(holds and releases by internal clients, refusals as 409/422 naming the field and the
blocking record), the signed hold and release pages, the supplier's view of its held lot,
and the gate's refusal on a page in English and Simplified Chinese."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from portal.vocabulary import GATE_REFUSALS, MOVEMENT_VERBS
from tests.conftest import Browser, api_token, bearer, row_counts
from trace_core.demo import DEMO_PASSWORD
from trace_core.gates.models import MaterialHold
from trace_core.gates.rules import TEMPLATES, VERB
from trace_core.lots.models import SupplierLot
from trace_core.services import Runtime

pytestmark = pytest.mark.req("QMS-10")

QA = "qa@traceport.example"
OPS = "ops@traceport.example"
ANNA = "anna@acme-polymers.example"
TABLES = (
    "material_holds",
    "receipts",
    "internal_lots",
    "shipments",
    "record_versions",
    "signatures",
)
ST_MARYS = {
    "consignee_name": "St. Mary's Hospital, Central Sterile Supply",
    "consignee_address": "12 Harbour Road, Cork",
}


async def lot_id(runtime: Runtime, number: str) -> int:
    async with runtime.sessions() as session:
        return int(
            await session.scalar(select(SupplierLot.id).where(SupplierLot.lot_number == number))
            or 0
        )


async def latest_hold_number(runtime: Runtime) -> str:
    """The number of the hold placed last (numbers come from a sequence on PostgreSQL)."""
    async with runtime.sessions() as session:
        return str(
            await session.scalar(
                select(MaterialHold.number).order_by(MaterialHold.id.desc()).limit(1)
            )
        )


async def erp(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))


@pytest.mark.req("P11-08")
async def test_holds_and_releases_through_the_api(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await erp(client)
    resin = await lot_id(runtime, "AP-24-0815")
    held = await client.post(
        f"/api/v1/lots/{resin}/hold",
        headers=headers,
        json={"reason": "MFI drift", "supplier_notice": "Hold further shipments."},
    )
    assert held.status_code == 201, held.text
    body = held.json()
    # Hold numbers come from a sequence on PostgreSQL: read, not assumed.
    mh = body["number"]
    assert re.fullmatch(r"MH-\d{6}", mh)
    assert (body["target_kind"], body["target"], body["status"]) == (
        "supplier_lot",
        "AP-24-0815",
        "active",
    )
    assert body["placed_by"] == "client:traceport-erp"
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    theirs = await client.get(f"/api/v1/lots/{resin}", headers=acme)
    assert theirs.json()["hold_status"] == "on_hold" and theirs.json()["status"] == "approved"
    before = await row_counts(runtime, TABLES)
    # Held: a second hold is an illegal step; shipping what was made from it is refused.
    again = await client.post(f"/api/v1/lots/{resin}/hold", headers=headers, json={"reason": "x"})
    assert again.status_code == 409 and "already on hold" in again.json()["message"]
    shipped = await client.post(
        "/api/v1/shipments",
        headers=headers,
        json={"number": "SH-API-G", **ST_MARYS, "serials": ["SN-DEMO-0006"]},
    )
    assert shipped.status_code == 422, shipped.text
    assert shipped.json()["fields"]["serials"] == (
        f"SN-DEMO-0006 comes from AP-24-0815, which is on hold ({mh}); it cannot be shipped."
    )
    no_reason = await client.post(
        f"/api/v1/lots/{resin}/release", headers=headers, json={"reason": " "}
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["fields"]
    unknown = await client.post("/api/v1/lots/999999/hold", headers=headers, json={"reason": "x"})
    assert unknown.status_code == 404
    wrong_field = await client.post(
        f"/api/v1/lots/{resin}/hold", headers=headers, json={"why": "x"}
    )
    assert wrong_field.status_code == 400
    assert await row_counts(runtime, TABLES) == before
    released = await client.post(
        f"/api/v1/lots/{resin}/release", headers=headers, json={"reason": "retested"}
    )
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert released.json()["end_reason"] == "retested"
    fetched = await client.get(f"/api/v1/holds/{body['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json()["status"] == "released"
    # Internal lots by their lot number; serial ranges; any hold by its id.
    lot = await client.post(
        "/api/v1/internal-lots/IL-STE-0001/hold", headers=headers, json={"reason": "labels"}
    )
    assert lot.status_code == 201 and lot.json()["target"] == "IL-STE-0001"
    missing = await client.post(
        "/api/v1/internal-lots/IL-NOPE/hold", headers=headers, json={"reason": "x"}
    )
    assert missing.status_code == 404
    back = await client.post(
        "/api/v1/internal-lots/IL-STE-0001/release", headers=headers, json={"reason": "ok"}
    )
    assert back.status_code == 200
    serials = await client.post(
        "/api/v1/serial-holds",
        headers=headers,
        json={"serial_first": "SN-DEMO-0006", "serial_last": "SN-DEMO-0007", "reason": "dent"},
    )
    assert serials.status_code == 201 and serials.json()["serials"] == [
        "SN-DEMO-0006",
        "SN-DEMO-0007",
    ]
    held_ship = await client.post(
        "/api/v1/shipments",
        headers=headers,
        json={"number": "SH-API-S", **ST_MARYS, "serials": ["SN-DEMO-0007"]},
    )
    assert held_ship.status_code == 422
    assert held_ship.json()["fields"]["serials"] == "SN-DEMO-0007 is on hold; it cannot be shipped."
    freed = await client.post(
        f"/api/v1/holds/{serials.json()['id']}/release", headers=headers, json={"reason": "ok"}
    )
    assert freed.status_code == 200
    twice = await client.post(
        f"/api/v1/holds/{serials.json()['id']}/release", headers=headers, json={"reason": "ok"}
    )
    assert twice.status_code == 409 and "is released" in twice.json()["message"]


async def test_only_our_systems_with_the_scope_hold_material(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    resin = await lot_id(runtime, "AP-24-0815")
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    refused = await client.post(f"/api/v1/lots/{resin}/hold", headers=acme, json={"reason": "x"})
    assert refused.status_code == 404
    reader = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret", "lots:read"))
    denied = await client.post(f"/api/v1/lots/{resin}/hold", headers=reader, json={"reason": "x"})
    assert denied.status_code == 403 and "material.hold" in denied.json()["message"]


async def test_the_hold_routes_are_documented_with_their_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for path in (
        "/api/v1/lots/{lot_id}/hold",
        "/api/v1/lots/{lot_id}/release",
        "/api/v1/internal-lots/{lot_number}/hold",
        "/api/v1/internal-lots/{lot_number}/release",
        "/api/v1/serial-holds",
        "/api/v1/holds/{hold_id}/release",
    ):
        responses = schema["paths"][path]["post"]["responses"]
        assert {"403", "404", "409", "422"} <= set(responses), (path, responses)
    assert "ErrorOut" in str(schema["components"]["schemas"])


@pytest.mark.req("QMS-14")
@pytest.mark.req("P11-05")
async def test_qa_holds_a_supplier_lot_on_its_page_and_the_supplier_sees_the_notice(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    resin = await lot_id(runtime, "AP-24-0815")
    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get(f"/internal/lots/{resin}")
    assert f'action="/internal/lots/{resin}/hold"' in page.text
    before = await row_counts(runtime, TABLES)
    unsigned = await qa.post(
        f"/internal/lots/{resin}/hold", {"reason": "MFI drift", "password": "wrong"}
    )
    assert unsigned.status_code == 422
    assert await row_counts(runtime, TABLES) == before
    held = await qa.post(
        f"/internal/lots/{resin}/hold",
        {
            "reason": "MFI drift seen at incoming",
            "supplier_notice": "Please hold further shipments of this lot.",
            "password": DEMO_PASSWORD,
            "user_id": QA,
        },
    )
    assert held.status_code == 303, held.text
    page = await qa.get(f"/internal/lots/{resin}")
    assert "On hold: this lot cannot be received or used." in page.text
    mh = await latest_hold_number(runtime)
    assert mh in page.text and "MFI drift seen at incoming" in page.text
    # The receipt page refuses the held lot, naming the rule and the hold.
    await qa.logout()
    ops = qa
    await ops.login(OPS)
    # The work-order form no longer offers the lot received from the held supplier lot.
    orders = await ops.get("/internal/work-orders")
    assert 'value="IL-STE-0001"' in orders.text and 'value="IL-RES-0001"' not in orders.text
    before = await row_counts(runtime, TABLES)
    refused = await ops.post("/internal/receipts", {"supplier_lot_id": str(resin), "quantity": "2"})
    assert refused.status_code == 409
    assert f"Supplier lot AP-24-0815 is on hold ({mh}); it cannot be received." in refused.text
    ops.http.cookies.set("lang", "zh_CN")
    chinese = await ops.post("/internal/receipts", {"supplier_lot_id": str(resin), "quantity": "2"})
    assert chinese.status_code == 409
    assert f"供应商批次 AP-24-0815 处于冻结（{mh}），不能收货。" in chinese.text
    assert await row_counts(runtime, TABLES) == before
    # The supplier sees its lot on hold with QA's notice, never our reason or hold record.
    await ops.logout()
    anna = ops
    await anna.login(ANNA)
    theirs = await anna.get(f"/supplier/lots/{resin}")
    assert "On hold: this lot cannot be received or used." in theirs.text
    assert "Please hold further shipments of this lot." in theirs.text
    assert "MFI drift seen at incoming" not in theirs.text and mh not in theirs.text
    assert (await anna.get("/internal/holds")).status_code in (403, 404)
    await anna.logout()
    await qa.login(QA)
    released = await qa.post(
        f"/internal/lots/{resin}/release",
        {"reason": "retested in spec", "password": DEMO_PASSWORD, "user_id": QA},
    )
    assert released.status_code == 303, released.text
    assert "On hold" not in (await qa.get(f"/internal/lots/{resin}")).text


@pytest.mark.req("P11-08")
async def test_the_holds_page_holds_lots_and_serial_ranges(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get("/internal/holds")
    assert page.status_code == 200 and "No material holds." in page.text
    unknown = await qa.post(
        "/internal/holds",
        {
            "target_kind": "internal_lot",
            "lot_number": "IL-NOPE",
            "reason": "x",
            "password": DEMO_PASSWORD,
            "user_id": QA,
        },
    )
    assert unknown.status_code == 422 and "No internal lot IL-NOPE." in unknown.text
    held = await qa.post(
        "/internal/holds",
        {
            "target_kind": "internal_lot",
            "lot_number": "IL-STE-0001",
            "reason": "labels",
            "password": DEMO_PASSWORD,
            "user_id": QA,
        },
    )
    assert held.status_code == 303, held.text
    ranged = await qa.post(
        "/internal/holds",
        {
            "target_kind": "serial_range",
            "serial_first": "SN-DEMO-0007",
            "serial_last": "SN-DEMO-0006",
            "reason": "dent",
            "password": DEMO_PASSWORD,
        },
    )
    assert ranged.status_code == 422 and "comes before" in ranged.text
    page = await qa.get("/internal/holds")
    assert "IL-STE-0001" in page.text and await latest_hold_number(runtime) in page.text
    hold_id = re.search(r'action="/internal/holds/(\d+)/release"', page.text)
    assert hold_id
    released = await qa.post(
        f"/internal/holds/{hold_id.group(1)}/release",
        {"reason": "labels fine", "password": DEMO_PASSWORD},
    )
    assert released.status_code == 303, released.text
    record = await qa.get(f"/records/material_hold/{hold_id.group(1)}")
    assert record.status_code == 200
    assert "placed on hold" in record.text and "released from hold" in record.text
    await qa.logout()
    ops = qa
    await ops.login(OPS)
    forbidden = await ops.post(
        "/internal/holds",
        {
            "target_kind": "internal_lot",
            "lot_number": "IL-STE-0001",
            "reason": "x",
            "password": DEMO_PASSWORD,
        },
    )
    assert forbidden.status_code == 403


def test_every_refusal_pattern_and_movement_is_in_the_catalogue() -> None:
    """The gate's refusals reach pages as patterns (``Phrase``): each must be marked for the
    catalogue in ``portal/vocabulary.py``, as must every movement's verb."""
    assert set(GATE_REFUSALS) == set(TEMPLATES)
    assert set(VERB.values()) <= set(MOVEMENT_VERBS)
