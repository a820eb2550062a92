"""Finished-device release over real HTTP (issue 13): the work-order form and API put the lot in
quarantine; the release page shows the device history and names what blocks, in English and
Chinese; QA signs the release there; the API posts work orders and reads the review, refuses
machine clients a release, and refuses implant shipments without consignee contact — every
refusal writes nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Browser, api_token, bearer, row_counts
from tests.release_helpers import UDI_DATES, sterilize
from trace_core.inventory.models import InternalLot
from trace_core.services import Runtime

OPS, QA = "ops@traceport.example", "qa@traceport.example"
WATCHED = (
    "finished_lot_releases",
    "record_versions",
    "audit_events",
    "signatures",
    "internal_lots",
    "work_orders",
    "shipments",
)


def work_order_form(number: str, **changes: str) -> dict[str, str]:
    values = {
        "number": f"WO-{number}",
        "part_number": "FG-1000",
        "output_lot_number": number,
        "input_lot_0": "IL-RES-0001",
        "input_qty_0": "0.1",
        "serials": f"SN-{number}-1\nSN-{number}-2",
        "manufactured_on": UDI_DATES["manufactured_on"].isoformat(),
        "expires_on": UDI_DATES["expires_on"].isoformat(),
    }
    values.update(changes)
    return values


async def post_work_order(browser: Browser, number: str, **changes: str) -> int:
    await browser.login(OPS)
    response = await browser.post("/internal/work-orders", work_order_form(number, **changes))
    assert response.status_code == 303, response.text
    page = (await browser.get("/internal/work-orders")).text
    found = re.search(r'href="/internal/finished-lots/(\d+)">quarantine</a>', page)
    assert found, page
    await browser.logout()
    return int(found.group(1))


@pytest.mark.req("QMS-10")
@pytest.mark.req("COA-05")
async def test_page_refuses_release_naming_rule_and_lot_then_releases(
    browser: Browser, runtime: Runtime
) -> None:
    lot_id = await post_work_order(browser, "FG-LOT-0002")
    await browser.login(QA)
    page = await browser.get(f"/internal/finished-lots/{lot_id}")
    assert page.status_code == 200
    assert "FG-LOT-0002 needs gamma sterilization; no accepted run covers it." in page.text
    assert "IL-RES-0001" in page.text and "AP-24-0815" in page.text  # the upstream
    before = await row_counts(runtime, WATCHED)
    refused = await browser.sign(
        f"/internal/finished-lots/{lot_id}/decision",
        page.text,
        QA,
        decision="release",
        comment="",
    )
    assert refused.status_code == 422
    assert "no accepted run covers it" in refused.text
    assert await row_counts(runtime, WATCHED) == before
    # Chinese: the same refusal, translated, with the records' identifiers.
    browser.http.cookies.set("lang", "zh_CN")
    chinese = await browser.get(f"/internal/finished-lots/{lot_id}")
    assert "FG-LOT-0002" in chinese.text and "gamma sterilization" in chinese.text
    assert "no accepted run covers it" not in chinese.text
    browser.http.cookies.set("lang", "en")
    await sterilize(runtime, "FG-LOT-0002", "2")
    page = await browser.get(f"/internal/finished-lots/{lot_id}")
    assert "Nothing blocks the release of this lot." in page.text
    assert "(01)00614141000012" in page.text
    released = await browser.sign(
        f"/internal/finished-lots/{lot_id}/decision",
        page.text,
        QA,
        decision="release",
        comment="DHR reviewed.",
    )
    assert released.status_code == 303
    page = await browser.get(f"/internal/finished-lots/{lot_id}")
    assert "Quinn Avery" in page.text and "released" in page.text
    # The release is a record like any other: its page, versions and signature.
    found = re.search(r'href="(/records/finished_lot_release/\d+)\?version=2"', page.text)
    assert found, page.text
    record = await browser.get(found.group(1))
    assert record.status_code == 200
    assert "FG-LOT-0002" in record.text and "Quinn Avery" in record.text


async def test_work_order_form_refuses_bad_udi_dates(browser: Browser, runtime: Runtime) -> None:
    await browser.login(OPS)
    before = await row_counts(runtime, WATCHED)
    response = await browser.post(
        "/internal/work-orders",
        work_order_form("FG-BAD", expires_on="2020-01-01", manufactured_on="2021-01-01"),
    )
    assert response.status_code == 422
    assert "The expiry date must come after the date of manufacture." in response.text
    assert await row_counts(runtime, WATCHED) == before
    browser.http.cookies.set("lang", "zh_CN")
    response = await browser.post(
        "/internal/work-orders", work_order_form("FG-BAD", manufactured_on="not a date")
    )
    assert response.status_code == 422
    assert "not a date" in response.text
    assert await row_counts(runtime, WATCHED) == before


@pytest.mark.req("QMS-12")
async def test_implant_shipment_page_needs_contact_and_phone(
    browser: Browser, runtime: Runtime
) -> None:
    await browser.login(OPS)
    before = await row_counts(runtime, WATCHED)
    response = await browser.post(
        "/internal/shipments",
        {
            "number": "SH-P-1",
            "consignee_name": "Clinic",
            "consignee_address": "1 Road",
            "serial": "SN-DEMO-0006",
        },
    )
    assert response.status_code == 422
    assert "name the contact person at the consignee" in response.text
    assert await row_counts(runtime, WATCHED) == before


async def erp(client: httpx.AsyncClient, scope: str | None = None) -> dict[str, str]:
    return bearer(await api_token(client, "traceport-erp", "traceport-erp-secret", scope))


@pytest.mark.req("QMS-10")
async def test_api_work_order_starts_in_quarantine_and_review_names_blockers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await erp(client)
    body = {
        "number": "WO-API-1",
        "part_number": "FG-1000",
        "output_lot_number": "FG-API-1",
        "inputs": [{"lot_number": "IL-RES-0001", "quantity": "0.1"}],
        "serials": ["SN-API-1"],
    }
    made = await client.post("/api/v1/work-orders", json=body, headers=headers)
    assert made.status_code == 201, made.text
    order = made.json()
    assert (order["lot_status"], order["release_status"]) == ("quarantine", "quarantine")
    review = await client.get(f"/api/v1/finished-lots/{order['output_lot_id']}", headers=headers)
    assert review.status_code == 200
    data = review.json()
    assert data["releasable"] is False
    assert {(b["field"], b["requirement"]) for b in data["blockers"]} == {
        ("required_processes", "COA-05"),
        ("udi", "QMS-16"),
    }
    assert any(
        b["message"] == "FG-API-1 needs gamma sterilization; no accepted run covers it."
        for b in data["blockers"]
    )
    # Machine clients never release (DI-01): 403, nothing written.
    before = await row_counts(runtime, WATCHED)
    refused = await client.post(
        f"/api/v1/finished-lots/{order['output_lot_id']}/release",
        json={"decision": "release", "version": 1},
        headers=headers,
    )
    assert refused.status_code == 403
    assert "named person" in refused.json()["message"]
    # Shipping the quarantined lot is refused.
    ship = await client.post(
        "/api/v1/shipments",
        json={
            "number": "SH-API-Q",
            "consignee_name": "Clinic",
            "consignee_address": "1 Road, Town",
            "consignee_contact": "Dr. A",
            "consignee_phone": "+1 555 0100",
            "serials": ["SN-API-1"],
        },
        headers=headers,
    )
    assert ship.status_code == 422
    assert "FG-API-1, which is quarantine" in ship.json()["fields"]["serials"]
    assert await row_counts(runtime, WATCHED) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"part_number": "RES-100"}, "part_number"),
        ({"expires_on": "31.12.2030"}, "expires_on"),
        ({"serials": []}, "serials"),
        ({"inputs": [{"lot_number": "IL-NOPE", "quantity": "1"}]}, "inputs.0"),
    ],
)
async def test_api_work_order_refusals_name_the_field(
    client: httpx.AsyncClient, runtime: Runtime, change: dict[str, object], field: str
) -> None:
    headers = await erp(client)
    body = {
        "number": "WO-API-2",
        "part_number": "FG-1000",
        "output_lot_number": "FG-API-2",
        "inputs": [{"lot_number": "IL-RES-0001", "quantity": "0.1"}],
        "serials": ["SN-API-2"],
        **change,
    }
    before = await row_counts(runtime, WATCHED)
    response = await client.post("/api/v1/work-orders", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]
    assert await row_counts(runtime, WATCHED) == before


async def test_api_scopes_and_unknown_lot(client: httpx.AsyncClient) -> None:
    narrow = await erp(client, "trace:read lots:read")
    refused = await client.post(
        "/api/v1/work-orders",
        json={
            "number": "W",
            "part_number": "FG-1000",
            "output_lot_number": "F",
            "inputs": [],
            "serials": [],
        },
        headers=narrow,
    )
    assert refused.status_code == 403
    missing = await client.get("/api/v1/finished-lots/999999", headers=narrow)
    assert missing.status_code == 404
    steri = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    assert (await client.get("/api/v1/finished-lots/1", headers=steri)).status_code in (403, 404)


@pytest.mark.req("QMS-12")
async def test_api_implant_shipment_without_contact_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await erp(client)
    before = await row_counts(runtime, WATCHED)
    response = await client.post(
        "/api/v1/shipments",
        json={
            "number": "SH-API-I",
            "consignee_name": "Clinic",
            "consignee_address": "1 Road",
            "serials": ["SN-DEMO-0006"],
        },
        headers=headers,
    )
    assert response.status_code == 422
    assert set(response.json()["fields"]) >= {"consignee_contact", "consignee_phone"}
    assert await row_counts(runtime, WATCHED) == before


async def test_openapi_documents_the_error_statuses(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    post = schema["paths"]["/api/v1/work-orders"]["post"]
    assert {"201", "401", "403", "422"} <= set(post["responses"])
    release = schema["paths"]["/api/v1/finished-lots/{finished_lot_id}/release"]["post"]
    assert {"401", "403"} <= set(release["responses"])


async def test_a_released_lot_page_shows_no_release_blockers(
    browser: Browser, runtime: Runtime
) -> None:
    """Once released, the review page shows the decision (its signature), not the refusal of
    a second release ("FG-LOT-0001 is released; only a lot in quarantine can be released")."""
    await browser.login("qa@traceport.example")
    async with runtime.sessions() as session:
        lot_id = await session.scalar(
            select(InternalLot.id).where(InternalLot.lot_number == "FG-LOT-0001")
        )
    page = await browser.get(f"/internal/finished-lots/{lot_id}")
    assert page.status_code == 200
    assert "FG-LOT-0001" in page.text
    assert 'id="blockers"' not in page.text
    assert "only a lot in quarantine can be released" not in page.text
