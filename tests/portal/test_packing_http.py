"""Packing over HTTP: ops scan serials into a case one at a time (htmx), close it, put it on a
pallet and ship the pallet from the shipments page; the API does the same for our ERP; an
invalid or unknown SSCC answers a precise 422 / 404; suppliers reach none of it. Recall field
actions and the signed closing in the browser and through the API."""

from __future__ import annotations

import datetime as dt
import io
import re

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import Browser, api_token, bearer, edges_with_wrong_end_kinds
from tests.epcis.conftest import capture, document
from trace_core.demo import DEMO_CASE_SSCC, DEMO_PALLET_SSCC, DEMO_PASSWORD, DEMO_SSCC_RANGE
from trace_core.records.models import AuditEvent
from trace_core.services import Runtime

OPS = "ops@traceport.example"
QA = "qa@traceport.example"
ST_MARYS = "St. Mary's Hospital, Central Sterile Supply"


@pytest.mark.req("QMS-11")
@pytest.mark.req("UDI-01")
async def test_packing_journey_in_the_browser(client: httpx.AsyncClient) -> None:
    ops = Browser(client)
    await ops.login(OPS)
    page = await ops.get("/internal/shipping-units")
    assert page.status_code == 200 and DEMO_PALLET_SSCC in page.text
    # One scan at a time (htmx): the first allocates the SSCC, the panel comes back with it.
    hx = {"hx-request": "true"}
    first = await ops.post(
        "/internal/shipping-units",
        {"sscc": "", "level": "case", "scan": "SN-DEMO-0006"},
        headers=hx,
    )
    assert first.status_code == 200, first.text
    case = DEMO_SSCC_RANGE.make(3)
    assert f'value="{case}"' in first.text and "SN-DEMO-0006" in first.text
    assert "<html" not in first.text  # the fragment, not the page
    twice = await ops.post(
        "/internal/shipping-units",
        {"sscc": case, "level": "case", "scan": "SN-DEMO-0006"},
        headers=hx,
    )
    assert twice.status_code == 422
    assert f"SN-DEMO-0006 is already packed in {case}." in twice.text
    second = await ops.post(
        "/internal/shipping-units",
        {"sscc": f"(00){case}", "level": "case", "scan": "SN-DEMO-0007"},
        headers=hx,
    )
    assert second.status_code == 200 and "SN-DEMO-0007" in second.text
    bad = await ops.post(
        "/internal/shipping-units",
        {"sscc": "(00)106141411234567890", "level": "case", "serials": "SN-DEMO-0001"},
    )
    assert bad.status_code == 422 and "check digit is 0, expected 7" in bad.text
    # Find by scanning: a Digital Link opens the unit's page.
    found = await ops.get(f"/internal/shipping-units?sscc=https://id.gs1.org/00/{case}")
    assert found.status_code == 303
    unit_url = found.headers["location"]
    missing = await ops.get(f"/internal/shipping-units?sscc={DEMO_SSCC_RANGE.make(900)}")
    assert missing.status_code == 404 and "No shipping unit has SSCC" in missing.text
    closed = await ops.post(f"{unit_url}/close")
    assert closed.status_code == 303
    detail = await ops.get(unit_url)
    assert "closed" in detail.text and "SN-DEMO-0007" in detail.text
    no_reason = await ops.post(f"{unit_url}/unpack", {"serial": "SN-DEMO-0007", "reason": ""})
    assert no_reason.status_code == 422 and "Say why the unit is unpacked." in no_reason.text
    pallet = await ops.post(
        "/internal/shipping-units", {"sscc": "", "level": "pallet", "units": f"(00){case}"}
    )
    assert pallet.status_code == 303
    pallet_url = pallet.headers["location"]
    assert (await ops.post(f"{pallet_url}/close")).status_code == 303
    pallet_sscc = DEMO_SSCC_RANGE.make(4)
    shipments = await ops.get("/internal/shipments")
    assert pallet_sscc in shipments.text and case not in shipments.text  # only top units
    shipped = await ops.post(
        "/internal/shipments",
        {
            "number": "SH-WEB-1",
            "consignee_name": "Northside Clinic",
            "consignee_address": "4 Quay St, Galway",
            "consignee_contact": "Niamh Walsh",
            "consignee_phone": "+353 91 555 0101",
            "unit": pallet_sscc,
        },
    )
    assert shipped.status_code == 303, shipped.text
    trace = await ops.get(f"/internal/trace?q=(00){case}&direction=forward")
    assert "SH-WEB-1" in trace.text and "Northside Clinic" in trace.text
    back = await ops.get(f"/internal/trace?q={pallet_sscc}&direction=backward")
    assert "SN-DEMO-0006" in back.text and "AP-24-0815" in back.text
    record = await ops.get(f"/records/shipping_unit/{pallet_url.rsplit('/', 1)[1]}")
    assert record.status_code == 200 and pallet_sscc in record.text


async def test_packing_pages_refuse_suppliers_and_people_without_the_permission(
    client: httpx.AsyncClient,
) -> None:
    anna = Browser(client)
    await anna.login("anna@acme-polymers.example")
    assert (await anna.get("/internal/shipping-units")).status_code in (403, 404)
    await client.post("/logout", data={"_csrf_token": anna.csrf})
    client.cookies.clear()
    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get("/internal/shipping-units")
    assert page.status_code == 200 and 'name="scan"' not in page.text  # may look, not pack
    refused = await qa.post(
        "/internal/shipping-units", {"sscc": "", "level": "case", "serials": "SN-DEMO-0006"}
    )
    assert refused.status_code == 403


@pytest.mark.req("QMS-11")
@pytest.mark.req("EPC-04")
async def test_packing_api_for_our_systems(client: httpx.AsyncClient) -> None:
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    made = await client.post(
        "/api/v1/shipping-units", headers=erp, json={"level": "case", "serials": ["SN-DEMO-0006"]}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    case = body["sscc"]
    assert case == DEMO_SSCC_RANGE.make(3) and body["allocated"] and body["status"] == "open"
    assert body["serials"] == ["SN-DEMO-0006"]
    assert body["history"][0]["biz_step"] == "packing"
    assert body["history"][0]["epcis_event_id"].startswith("ni:///sha-256;")
    invalid = await client.post(
        "/api/v1/shipping-units",
        headers=erp,
        json={"sscc": "106141411234567890", "level": "case", "serials": ["SN-DEMO-0007"]},
    )
    assert invalid.status_code == 422
    assert invalid.json()["fields"]["sscc"].endswith("check digit is 0, expected 7.")
    unknown = await client.get(f"/api/v1/shipping-units/{DEMO_SSCC_RANGE.make(77)}", headers=erp)
    assert unknown.status_code == 404
    malformed = await client.get("/api/v1/shipping-units/12345", headers=erp)
    assert malformed.status_code == 422
    assert malformed.json()["fields"]["sscc"] == "An SSCC has 18 digits; '12345' has 5."
    open_unit = await client.post(
        "/api/v1/shipments",
        headers=erp,
        json={
            "number": "SH-API-1",
            "consignee_name": ST_MARYS,
            "consignee_address": "12 Harbour Road, Cork",
            "units": [case],
        },
    )
    assert open_unit.status_code == 422
    assert "still open; close it before shipping" in open_unit.json()["fields"]["units"]
    closed = await client.post(f"/api/v1/shipping-units/{case}/close", headers=erp)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    unpacked = await client.post(
        f"/api/v1/shipping-units/{case}/unpack",
        headers=erp,
        json={"everything": True, "reason": "label damaged"},
    )
    assert unpacked.status_code == 200, unpacked.text
    assert unpacked.json()["serials"] == [] and unpacked.json()["status"] == "open"
    assert [h["action"] for h in unpacked.json()["history"]] == ["ADD", "DELETE"]
    repacked = await client.post(
        "/api/v1/shipping-units",
        headers=erp,
        json={"sscc": case, "serials": ["SN-DEMO-0006", "SN-DEMO-0007"]},
    )
    assert repacked.status_code == 201
    await client.post(f"/api/v1/shipping-units/{case}/close", headers=erp)
    shipped = await client.post(
        "/api/v1/shipments",
        headers=erp,
        json={
            "number": "SH-API-1",
            "consignee_name": ST_MARYS,
            "consignee_address": "12 Harbour Road, Cork",
            "consignee_contact": "Aoife Byrne",
            "consignee_phone": "+353 21 555 0199",
            "units": [f"(00){case}"],
        },
    )
    assert shipped.status_code == 201, shipped.text
    unit = (await client.get(f"/api/v1/shipping-units/(00){case}", headers=erp)).json()
    assert unit["status"] == "shipped" and unit["shipment"] == "SH-API-1"
    forward = await client.get("/api/v1/trace/forward", params={"id": case}, headers=erp)
    assert [c["shipment"] for c in forward.json()["consignees"]] == ["SH-API-1"]
    # The EPCIS query answers the packings as AggregationEvents with hash ids.
    events = await client.get(
        "/epcis/events", params={"eventType": "AggregationEvent", "perPage": 100}, headers=erp
    )
    found = events.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    mine = [e for e in found if e["parentID"].endswith(case)]
    assert [(e["action"], e["bizStep"]) for e in mine] == [
        ("ADD", "packing"),
        ("DELETE", "unpacking"),
        ("ADD", "packing"),
    ]
    assert [e["eventID"] for e in mine] == [h["epcis_event_id"] for h in unit["history"]]
    listed = await client.get("/api/v1/shipping-units", params={"status": "shipped"}, headers=erp)
    assert {u["sscc"] for u in listed.json()} >= {case, DEMO_PALLET_SSCC, DEMO_CASE_SSCC}


@pytest.mark.req("P11-04")
async def test_packing_api_refuses_suppliers_and_scopes(client: httpx.AsyncClient) -> None:
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    for method, url in (
        ("GET", "/api/v1/shipping-units"),
        ("GET", f"/api/v1/shipping-units/{DEMO_CASE_SSCC}"),
        ("POST", f"/api/v1/shipping-units/{DEMO_CASE_SSCC}/close"),
    ):
        response = await client.request(method, url, headers=acme)
        assert response.status_code in (403, 404), (url, response.text)
    refused = await client.post(
        "/api/v1/shipping-units", headers=acme, json={"level": "case", "serials": ["SN-DEMO-0006"]}
    )
    assert refused.status_code == 403
    reader = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret", "trace:read"))
    assert (await client.get("/api/v1/shipping-units", headers=reader)).status_code == 200
    no_scope = await client.post(
        "/api/v1/shipping-units",
        headers=reader,
        json={"level": "case", "serials": ["SN-DEMO-0006"]},
    )
    assert no_scope.status_code == 403


@pytest.mark.req("EPC-02")
async def test_a_captured_aggregation_naming_our_sscc_joins_our_unit(
    client: httpx.AsyncClient,
) -> None:
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-24T09:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sscc:0614141.0000000002"],
        "action": "OBSERVE",
        "bizStep": "receiving",
    }
    stored = await capture(client, erp, document(event))
    assert stored.status_code == 201, stored.text
    backward = await client.get(
        "/api/v1/trace/backward", params={"id": DEMO_PALLET_SSCC}, headers=erp
    )
    kinds = {n["kind"] for n in backward.json()["nodes"] if n["identifier"] == DEMO_PALLET_SSCC}
    assert kinds == {"shipping_unit"}  # no second, EPCIS-only node for our own SSCC


@pytest.mark.req("QMS-11")
@pytest.mark.req("QMS-14")
async def test_an_sscc_captured_before_we_pack_it_becomes_our_units_node(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A forwarder's EPCIS event ships SSCC X onward before our ERP packs X: the packing takes
    over the capture's node, so the serial packed in X reaches the forwarder's consignee and
    a trace of X has one root; the takeover is in the audit trail."""
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    case = DEMO_SSCC_RANGE.make(77)
    onward = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-24T12:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"https://id.gs1.org/00/{case}"],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "destinationList": [
            {"type": "owning_party", "destination": "urn:epc:id:pgln:4012345.00001"}
        ],
    }
    stored = await capture(client, erp, document(onward))
    assert stored.status_code == 201, stored.text
    before = await client.get("/api/v1/trace/forward", params={"id": case}, headers=erp)
    assert {n["kind"] for n in before.json()["nodes"] if n["identifier"] == case} == {"sscc"}

    packed = await client.post(
        "/api/v1/shipping-units",
        headers=erp,
        json={"sscc": case, "level": "case", "serials": ["SN-DEMO-0006"]},
    )
    assert packed.status_code == 201, packed.text

    forward = await client.get("/api/v1/trace/forward", params={"id": "SN-DEMO-0006"}, headers=erp)
    reached = {(n["kind"], n["identifier"]) for n in forward.json()["nodes"]}
    assert ("shipping_unit", case) in reached
    assert ("consignee", "https://id.gs1.org/417/4012345000016") in reached
    assert not any(kind == "sscc" for kind, _ in reached)
    roots = await client.get("/api/v1/trace/backward", params={"id": case}, headers=erp)
    assert [n["kind"] for n in roots.json()["nodes"] if n["identifier"] == case] == [
        "shipping_unit"
    ]
    assert await edges_with_wrong_end_kinds(runtime) == []
    async with runtime.sessions() as session:
        adopted = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "genealogy_adopted")
            )
        ).all()
    assert len(adopted) == 1
    assert adopted[0].record_type == "shipping_unit"
    assert adopted[0].old_values["kind"] == "sscc" and adopted[0].old_values["epcis_object"]


@pytest.mark.req("QMS-14")
async def test_recall_field_actions_and_closing_in_the_browser_and_api(
    client: httpx.AsyncClient,
) -> None:
    qa = Browser(client)
    await qa.login(QA)
    opened = await qa.post(
        "/internal/recalls",
        {
            "identifier": "AP-24-0815",
            "reason": "particles",
            "password": DEMO_PASSWORD,
            "user_id": QA,
        },
    )
    assert opened.status_code == 303, opened.text
    url = opened.headers["location"]
    page = await qa.get(url)
    assert "Field actions per consignee" in page.text and "not notified" in page.text
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    wrong = await qa.post(f"{url}/field-actions/0", {"acknowledged_at": now})
    assert wrong.status_code == 422 and "before the acknowledgement" in wrong.text
    refused = await qa.post(
        f"{url}/close", {"reason": "done", "password": DEMO_PASSWORD, "justification": ""}
    )
    assert refused.status_code == 409 and "have not acknowledged" in refused.text
    recorded = await qa.post(
        f"{url}/field-actions/0",
        {"notified_at": now, "acknowledged_at": now, "quantity_returned": "8", "note": "all back"},
    )
    assert recorded.status_code == 303, recorded.text
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    recall_id = url.rsplit("/", 1)[1]
    api = await client.get(f"/api/v1/recalls/{recall_id}", headers=erp)
    assert api.json()["field_actions"][0]["status"] == "acknowledged"
    assert api.json()["field_actions"][0]["quantity_returned"] == 8
    assert api.json()["epcis"]["epcisBody"]["eventList"][0]["eventID"].startswith("ni:///")
    undecided = await qa.post(
        f"{url}/close", {"reason": "all units returned", "password": DEMO_PASSWORD}
    )
    # Closing says what becomes of each lot the recall holds (docs/GATES.md).
    assert undecided.status_code == 422
    assert "Say what becomes of AP-24-0815" in undecided.text
    assert 'name="disposition.IL-RES-0001"' in undecided.text
    closed = await qa.post(
        f"{url}/close",
        {
            "reason": "all units returned",
            "password": DEMO_PASSWORD,
            "disposition.AP-24-0815": "return",
            "disposition.IL-RES-0001": "scrap",
            "disposition.FG-LOT-0001": "scrap",
        },
    )
    assert closed.status_code == 303, closed.text
    page = await qa.get(url)
    assert "all units returned" in page.text and "read-only" in page.text
    # The printout tells the whole story: field actions, the closing, the revised record.
    printed = await qa.get(f"{url}/recall.pdf")
    assert printed.status_code == 200, printed.text
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(printed.content)).pages)
    assert "REVISED: this record has 2 versions" in text
    assert "acknowledged" in text and "all back" in text and "8 / 8 / 0" in text
    assert "by Quinn Avery: all units returned" in text
    assert "v1 open - Quinn Avery" in text and "v2 closed - Quinn Avery" in text
    assert 'action="' + url + '/close"' not in page.text
    late = await qa.post(f"{url}/field-actions/0", {"notified_at": now, "note": "late"})
    assert late.status_code == 409 and "read-only" in late.text
    api = (await client.get(f"/api/v1/recalls/{recall_id}", headers=erp)).json()
    assert api["status"] == "closed" and api["closing_reason"] == "all units returned"
    assert [s["meaning"] for s in api["signatures"]] == ["approved", "approved"]
    ops = Browser(client)
    client.cookies.clear()
    await ops.login(OPS)
    assert (
        await ops.post(f"{url}/close", {"reason": "x", "password": DEMO_PASSWORD})
    ).status_code == 403
    assert re.search("RC-000001", (await ops.get(url)).text)
