"""``GET /epcis/events`` on SQLite and PostgreSQL: our receipts, work orders and shipments as
EPCIS events with hash ids, the standard query parameters, paging, and supplier scoping."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.epcis.conftest import (
    ACME,
    ERP,
    FG_GTIN,
    FG_LOT,
    STERI,
    bearer,
    capture,
    document,
    lgtin,
    object_event,
    sgtin,
)
from trace_core.epcis.document import check
from trace_core.epcis.event_hash import event_hash
from trace_core.epcis.schema import schema_fault

pytestmark = pytest.mark.req("EPC-05")


async def query(
    http: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    response = await http.get("/epcis/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    body = response.json()
    assert body["type"] == "EPCISQueryDocument"
    link = response.headers.get("link")
    token = None
    if link:
        url = re.match(r"^<([^>]+)>; rel=\"next\"$", link)
        assert url is not None
        token = parse_qs(urlsplit(url.group(1)).query)["nextPageToken"][0]
    return body["epcisBody"]["queryResults"]["resultsBody"]["eventList"], token


def steps(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("bizStep", "") for e in events]


@pytest.mark.req("EPC-01")
@pytest.mark.req("EPC-04")
async def test_our_postings_are_exported_as_valid_epcis_events(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, ERP)
    response = await client.get("/epcis/events", headers=headers)
    body = response.json()
    events = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    # The demo data: three receipts, one work order, SteriPro's sterilization run, two
    # shipments, and two packings (a case, then the case onto a pallet).
    assert sorted(steps(events)) == [
        "commissioning",
        "packing",
        "packing",
        "receiving",
        "receiving",
        "receiving",
        "shipping",
        "shipping",
        "urn:traceport:bizstep:sterilizing",
    ]
    assert schema_fault(body) is None
    for event in events:
        assert event["eventID"] == event_hash(event)
    pallet = next(e for e in events if e["type"] == "AggregationEvent" and "00/0" in str(e))
    assert pallet["action"] == "ADD" and pallet["parentID"].startswith("https://id.gs1.org/00/")
    by_pallet = next(
        e
        for e in events
        if e["bizStep"] == "shipping" and e["epcList"][0].startswith("https://id.gs1.org/00/")
    )
    assert sgtin("SN-DEMO-0009") in by_pallet["epcList"]
    exported = document(*[{k: v for k, v in e.items() if k != "recordTime"} for e in events])
    assert check(exported) is None  # schema, CBV vocabulary, identifiers: all valid
    order = next(e for e in events if e["bizStep"] == "commissioning")
    assert order["outputQuantityList"] == [{"epcClass": lgtin(FG_LOT), "quantity": 10}]
    assert sgtin("SN-DEMO-0001") in order["outputEPCList"]
    assert {"epcClass": "urn:traceport:lot:IL-RES-0001", "quantity": 2.5, "uom": "KGM"} in (
        order["inputQuantityList"]
    )
    # Exported once: asking again returns the same ids.
    again, _ = await query(client, headers)
    assert [e["eventID"] for e in again] == [e["eventID"] for e in events]


async def test_match_parameters_find_events_by_identifier(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, ERP)
    urn_serial = "urn:epc:id:sgtin:0614141.000001.SN-DEMO-0002"
    found, _ = await query(client, headers, MATCH_epc=urn_serial)  # URN finds the Digital Link
    assert steps(found) == ["shipping"]
    packed = "urn:epc:id:sgtin:0614141.000001.SN-DEMO-0009"  # in the demo case (childEPCs)
    assert steps((await query(client, headers, MATCH_epc=packed))[0]) == ["packing", "shipping"]
    found, _ = await query(client, headers, MATCH_anyEPCClass="urn:traceport:lot:IL-RES-0001")
    assert sorted(steps(found)) == ["commissioning", "receiving"]
    found, _ = await query(client, headers, MATCH_inputEPCClass="urn:traceport:lot:IL-RES-0001")
    assert steps(found) == ["commissioning"]
    # A GTIN-level pattern matches every serial and lot of the GTIN.
    pattern = "urn:epc:idpat:sgtin:0614141.000001.*"
    assert steps((await query(client, headers, MATCH_epc=pattern))[0]) == [
        "shipping",
        "packing",
        "shipping",
    ]
    # The finished lot: made by the work order, then sterilized at SteriPro as itself.
    assert steps((await query(client, headers, MATCH_anyEPCClass=pattern))[0]) == [
        "commissioning",
        "urn:traceport:bizstep:sterilizing",
    ]
    several = f"{urn_serial}|{sgtin('SN-NONE')}"
    assert steps((await query(client, headers, MATCH_epc=several))[0]) == ["shipping"]
    assert (await query(client, headers, MATCH_epc=sgtin("SN-NONE", FG_GTIN)))[0] == []


async def test_captured_events_are_queried_with_ours(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, ERP)
    body = document(
        object_event(
            ["urn:epc:id:sgtin:0614141.000001.QX-1"],
            eventTime="2026-03-01T10:00:00Z",
            eventTimeZoneOffset="+00:00",
            bizStep="https://ref.gs1.org/cbv/BizStep-receiving",
        ),
        object_event(
            [sgtin("QX-2")],
            eventTime="2026-03-02T10:00:00Z",
            eventTimeZoneOffset="+00:00",
            bizStep="inspecting",
            action="ADD",
        ),
        {
            "type": "TransactionEvent",
            "eventTime": "2026-03-03T10:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "action": "OBSERVE",
            "bizTransactionList": [{"type": "po", "bizTransaction": "urn:x:po:1"}],
            "epcList": [sgtin("QX-2")],
        },
    )
    assert (await capture(client, headers, body)).status_code == 201
    found, _ = await query(client, headers, MATCH_epc=sgtin("QX-1"))
    assert len(found) == 1 and found[0]["eventID"].startswith("ni:///sha-256;")
    assert "recordTime" in found[0]
    found, _ = await query(
        client, headers, EQ_bizStep="receiving", LT_eventTime="2026-03-02T00:00:00Z"
    )
    assert [e["epcList"] for e in found] == [["urn:epc:id:sgtin:0614141.000001.QX-1"]]
    found, _ = await query(
        client,
        headers,
        GE_eventTime="2026-03-02T00:00:00+00:00",
        LT_eventTime="2026-03-03T10:00:00Z",
    )
    assert steps(found) == ["inspecting"]
    found, _ = await query(client, headers, eventType="TransactionEvent", MATCH_epc=sgtin("QX-2"))
    assert [e["type"] for e in found] == ["TransactionEvent"]
    found, _ = await query(client, headers, EQ_action="ADD", MATCH_epc=sgtin("QX-2"))
    assert steps(found) == ["inspecting"]


async def test_paging_returns_every_event_once(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, ERP)
    events = [
        object_event(
            [sgtin(f"PG-{i}")],
            eventTime=f"2026-04-01T10:00:0{i % 3}Z",  # equal times: the row id breaks ties
            eventTimeZoneOffset="+00:00",
        )
        for i in range(7)
    ]
    assert (await capture(client, headers, document(*events))).status_code == 201
    everything, _ = await query(client, headers, perPage=1000)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"perPage": 3}
        if token:
            params["nextPageToken"] = token
        page, token = await query(client, headers, **params)
        assert len(page) <= 3
        seen += [e["eventID"] for e in page]
        pages += 1
        if token is None:
            break
    assert seen == [e["eventID"] for e in everything]
    assert len(seen) == len(set(seen)) == 16 and pages == 6
    times = [e["eventTime"] for e in everything]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"MATCH_parentEPC": "x"}, "MATCH_parentEPC"),
        ({"EQ_disposition": "in_transit"}, "EQ_disposition"),
        ({"eventType": "QuantityEvent"}, "eventType"),
        ({"GE_eventTime": "yesterday"}, "GE_eventTime"),
        ({"GE_eventTime": "2026-01-01T00:00:00"}, "GE_eventTime"),
        ({"perPage": "0"}, "perPage"),
        ({"perPage": "5000"}, "perPage"),
        ({"nextPageToken": "bm90LWEtdG9rZW4"}, "nextPageToken"),
        ({"EQ_action": "CREATE"}, "EQ_action"),
    ],
)
async def test_bad_query_parameters_are_refused_by_name(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    headers = await bearer(client, ERP)
    response = await client.get("/epcis/events", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert list(response.json()["fields"]) == [field]


async def test_a_page_token_of_another_query_is_refused(client: httpx.AsyncClient) -> None:
    headers = await bearer(client, ERP)
    _, token = await query(client, headers, perPage=1)
    assert token
    refused = await client.get(
        "/epcis/events",
        params={"perPage": 1, "eventType": "ObjectEvent", "nextPageToken": token},
        headers=headers,
    )
    assert refused.status_code == 422


async def test_suppliers_see_only_events_about_their_own_lots(client: httpx.AsyncClient) -> None:
    erp = await bearer(client, ERP)
    ours = document(object_event([sgtin("SN-DEMO-0003")], bizStep="inspecting"))
    assert (await capture(client, erp, ours)).status_code == 201
    acme, _ = await query(client, await bearer(client, ACME))
    # Our receipts of AP-24-0815 and (in part, awaiting inspection) of AP-24-0901.
    assert steps(acme) == ["receiving", "receiving"]
    assert acme[0]["inputQuantityList"][0]["epcClass"].endswith(":AP-24-0815")
    steri, _ = await query(client, await bearer(client, STERI))
    # Our receipt of SteriPro's lot, and our record of the run SteriPro signed.
    assert steps(steri) == ["receiving", "urn:traceport:bizstep:sterilizing"]
    assert steri[0]["inputQuantityList"][0]["epcClass"].endswith(":SP-24-0117")
    # Nothing of ours by id either.
    everything, _ = await query(client, erp)
    digest = next(e for e in everything if e["bizStep"] == "commissioning")["eventID"][14:78]
    own = await client.get(f"/epcis/events/{digest}", headers=erp)
    assert own.status_code == 200 and own.json()["source"] == "work_order"
    foreign = await client.get(f"/epcis/events/{digest}", headers=await bearer(client, ACME))
    assert foreign.status_code == 404
    assert (await client.get("/epcis/events/abc", headers=erp)).status_code == 404


async def test_querying_needs_a_bearer_token_and_trace_read(client: httpx.AsyncClient) -> None:
    assert (await client.get("/epcis/events")).status_code == 401
    narrowed = await bearer(client, ERP, "parts:read")
    assert (await client.get("/epcis/events", headers=narrowed)).status_code == 403


async def test_the_openapi_document_describes_the_epcis_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert {"/epcis/capture", "/epcis/events", "/epcis/events/{digest}"} <= set(schema["paths"])
    names = {p["name"] for p in schema["paths"]["/epcis/events"]["get"]["parameters"]}
    assert {"MATCH_epc", "MATCH_anyEPCClass", "MATCH_inputEPCClass", "EQ_bizStep"} <= names
    assert {"GE_eventTime", "LT_eventTime", "eventType", "perPage", "nextPageToken"} <= names
    assert schema["paths"]["/epcis/capture"]["post"]["security"] == [{"bearer": []}]
