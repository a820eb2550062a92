"""Goods receipts and incoming inspection over real HTTP (QMS-06): the ERP's
``POST /api/v1/receipts`` and the receipt and inspection pages, each refusal naming its rule
and the blocking record (English and Simplified Chinese on pages, a JSON error naming the
field through the API) and writing nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Browser, api_token, bearer, row_counts
from trace_core.inventory.models import InternalLot
from trace_core.lots.models import SupplierLot
from trace_core.receipts.models import Receipt, ReceiptInspection
from trace_core.services import Runtime

pytestmark = pytest.mark.req("QMS-06")

OPS, QA = "ops@traceport.example", "qa@traceport.example"
ERP = ("traceport-erp", "traceport-erp-secret")
TABLES = (
    "receipts",
    "internal_lots",
    "trace_edges",
    "receipt_inspections",
    "inspection_results",
    "record_versions",
    "audit_events",
    "signatures",
)


async def lot_id(runtime: Runtime, lot_number: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(SupplierLot.id).where(SupplierLot.lot_number == lot_number)
        )
    assert found is not None
    return int(found)


async def demo_inspection(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(ReceiptInspection.id)
            .join(Receipt, Receipt.id == ReceiptInspection.receipt_id)
            .join(InternalLot, InternalLot.id == Receipt.internal_lot_id)
            .where(InternalLot.lot_number == "IL-RES2-0001")
        )
    assert found is not None
    return int(found)


def text_of(response: httpx.Response) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.text, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    body = body.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    return re.sub(r"\s+", " ", body)


# -- API -----------------------------------------------------------------------------------------


async def test_the_erp_posts_a_receipt_in_another_unit_and_reads_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = bearer(await api_token(client, *ERP))
    lot = await lot_id(runtime, "AP-24-0816")
    response = await client.post(
        "/api/v1/receipts",
        json={"supplier_lot_id": lot, "quantity": "5000", "unit": "g"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"].startswith("GR-")
    assert (body["quantity"], body["unit"]) == ("5", "kg")
    assert (body["quantity_received"], body["unit_received"]) == ("5000", "g")
    assert body["internal_lot_status"] == "quarantine"
    assert body["inspection"] is None
    again = await client.get(f"/api/v1/receipts/{body['id']}", headers=headers)
    assert again.status_code == 200
    assert again.json()["number"] == body["number"]
    # Unit optional: the lot's unit.
    plain = await client.post(
        "/api/v1/receipts", json={"supplier_lot_id": lot, "quantity": "20"}, headers=headers
    )
    assert plain.status_code == 201, plain.text
    assert plain.json()["unit_received"] == "kg"


async def test_an_over_receipt_is_a_409_naming_quantity_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The issue's reproduction 3: a lot declared as 20 kg received twice."""
    headers = bearer(await api_token(client, *ERP))
    lot = await lot_id(runtime, "AP-24-0901")
    before = await row_counts(runtime, TABLES)
    response = await client.post(
        "/api/v1/receipts", json={"supplier_lot_id": lot, "quantity": "20"}, headers=headers
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "ReceiptRefused"
    assert "AP-24-0901" in body["fields"]["quantity"]
    assert body["limit"] == {
        "declared": "20",
        "received_before": "10",
        "tolerance_pct": "2",
        "maximum": "20.4",
        "remaining": "10.4",
        "unit": "kg",
    }
    assert await row_counts(runtime, TABLES) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"quantity": "1", "unit": "l"}, 422, "unit"),
        ({"quantity": "1", "unit": "bucket"}, 422, "unit"),
        ({"quantity": "lots"}, 422, "quantity"),
        ({"quantity": "0"}, 422, "quantity"),
        ({"quantity": "1e400"}, 422, "quantity"),
        ({"quantity": "1", "supplier_lot_id": 999999}, 422, "supplier_lot_id"),
        ({"quantity": "1", "internal_lot_number": "IL-RES-0001"}, 409, "internal_lot_number"),
    ],
)
async def test_api_refusals_name_the_field_and_write_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    body: dict[str, object],
    status: int,
    field: str,
) -> None:
    headers = bearer(await api_token(client, *ERP))
    payload = {"supplier_lot_id": await lot_id(runtime, "AP-24-0816"), **body}
    before = await row_counts(runtime, TABLES)
    response = await client.post("/api/v1/receipts", json=payload, headers=headers)
    assert response.status_code == status, response.text
    assert field in response.json()["fields"], response.json()
    assert await row_counts(runtime, TABLES) == before


async def test_a_rejected_lot_is_a_409_naming_the_supplier_lot(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = bearer(await api_token(client, *ERP))
    response = await client.post(
        "/api/v1/receipts",
        json={"supplier_lot_id": await lot_id(runtime, "AP-24-0817"), "quantity": "1"},
        headers=headers,
    )
    assert response.status_code == 409
    assert "AP-24-0817" in response.json()["fields"]["supplier_lot_id"]


async def test_receipts_need_the_scope_and_a_token(client: httpx.AsyncClient) -> None:
    body = {"supplier_lot_id": 1, "quantity": "1"}
    assert (await client.post("/api/v1/receipts", json=body)).status_code == 401
    narrow = bearer(await api_token(client, *ERP, scope="lots:read"))
    assert (await client.post("/api/v1/receipts", json=body, headers=narrow)).status_code == 403
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    assert (await client.post("/api/v1/receipts", json=body, headers=acme)).status_code == 403


async def test_the_erp_enters_inspection_results(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = bearer(await api_token(client, *ERP))
    lot = await lot_id(runtime, "AP-24-0901")
    posted = await client.post(
        "/api/v1/receipts", json={"supplier_lot_id": lot, "quantity": "4"}, headers=headers
    )
    receipt = posted.json()
    assert receipt["internal_lot_status"] == "quarantine"
    assert receipt["inspection"]["status"] == "pending"
    url = f"/api/v1/receipts/{receipt['id']}/inspection-results"
    before = await row_counts(runtime, TABLES)
    short = await client.post(
        url,
        json={
            "results": [{"code": "APPEAR", "value": "pass", "sampled": 1}],
            "expected_version": 1,
        },
        headers=headers,
    )
    assert short.status_code == 422
    assert set(short.json()["fields"]) == {"sampled_APPEAR", "value_MOIST"}
    stale = await client.post(url, json={"results": [], "expected_version": 7}, headers=headers)
    assert stale.status_code == 409
    assert "expected_version" in stale.json()["fields"]
    assert await row_counts(runtime, TABLES) == before
    done = await client.post(
        url,
        json={
            "results": [
                {"code": "APPEAR", "value": "pass", "sampled": 5},
                {"code": "MOIST", "value": "0.02", "sampled": 3, "unit": "%"},
            ],
            "expected_version": 1,
        },
        headers=headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "passed"
    assert [r["verdict"] for r in done.json()["results"]] == ["pass", "pass"]


async def test_the_receipt_routes_document_every_error_status(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    post = schema["paths"]["/api/v1/receipts"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "422"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ReceiptIn"
    )
    results = schema["paths"]["/api/v1/receipts/{receipt_id}/inspection-results"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(results["responses"])


# -- pages ---------------------------------------------------------------------------------------


async def test_the_receipt_form_shows_what_may_still_be_received(browser: Browser) -> None:
    await browser.login(OPS)
    page = await browser.get("/internal/receipts")
    assert page.status_code == 200
    row = re.search(r'<tr data-lot="AP-24-0901">(.*?)</tr>', page.text, flags=re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[1:] == ["20 kg", "10 kg", "2 %", "10.4 kg", "required"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Over-receipt refused: supplier lot AP-24-0901 (part RES-200)"),
        ("zh_CN", "超收被拒绝：供应商批次 AP-24-0901（零件 RES-200）"),
    ],
)
async def test_an_over_receipt_on_the_page_names_the_rule_in_both_languages(
    browser: Browser, runtime: Runtime, language: str, expected: str
) -> None:
    await browser.login(OPS)
    browser.http.cookies.set("lang", language)
    before = await row_counts(runtime, TABLES)
    response = await browser.post(
        "/internal/receipts",
        {"supplier_lot_id": str(await lot_id(runtime, "AP-24-0901")), "quantity": "11"},
    )
    assert response.status_code == 409
    text = text_of(response)
    assert expected in text, text
    assert "10.4 kg" in text
    assert await row_counts(runtime, TABLES) == before


async def test_a_wrong_unit_on_the_page_is_shown_at_the_field(
    browser: Browser, runtime: Runtime
) -> None:
    await browser.login(OPS)
    browser.http.cookies.set("lang", "zh_CN")
    before = await row_counts(runtime, TABLES)
    response = await browser.post(
        "/internal/receipts",
        {
            "supplier_lot_id": str(await lot_id(runtime, "AP-24-0816")),
            "quantity": "1",
            "unit": "l",
        },
    )
    assert response.status_code == 422
    assert "该单位无法换算为供应商批次的单位。" in text_of(response)
    assert await row_counts(runtime, TABLES) == before


async def test_goods_in_enters_results_and_qa_releases_with_a_signature(
    browser: Browser, runtime: Runtime
) -> None:
    inspection = await demo_inspection(runtime)
    page = f"/internal/inspections/{inspection}"
    await browser.login(OPS)
    shown = await browser.get(page)
    assert shown.status_code == 200
    assert "IL-RES2-0001" in shown.text and "MOIST" in shown.text
    refused = await browser.post(
        f"{page}/results",
        {"version": "1", "value_APPEAR": "pass", "sampled_APPEAR": "2", "value_MOIST": "0.02"},
    )
    assert refused.status_code == 422
    assert "Inspect at least the plan&#39;s sample size." in refused.text
    done = await browser.post(
        f"{page}/results",
        {
            "version": "1",
            "value_APPEAR": "pass",
            "sampled_APPEAR": "5",
            "value_MOIST": "0.02",
            "sampled_MOIST": "3",
        },
    )
    assert done.status_code == 303, done.text
    await browser.logout()
    await browser.login(QA)
    shown = await browser.get(page)
    assert "Sign release" in shown.text
    released = await browser.sign(f"{page}/release", shown.text, QA, comment="Looks right")
    assert released.status_code == 303, released.text
    final = await browser.get(page)
    assert "Quinn Avery" in final.text
    async with runtime.sessions() as session:
        status = await session.scalar(
            select(InternalLot.status).where(InternalLot.lot_number == "IL-RES2-0001")
        )
    assert status == "released"


async def test_a_refused_release_is_shown_on_the_page_and_changes_nothing(
    browser: Browser, runtime: Runtime
) -> None:
    inspection = await demo_inspection(runtime)
    await browser.login(QA)
    before = await row_counts(runtime, TABLES)
    response = await browser.post(
        f"/internal/inspections/{inspection}/release",
        {"version": "1", "password": "x", "user_id": QA},
    )
    assert response.status_code == 409
    assert "A goods-in inspection that is pending cannot be released." in text_of(response)
    assert await row_counts(runtime, TABLES) == before
