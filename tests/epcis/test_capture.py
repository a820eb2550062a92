"""``POST /epcis/capture`` on SQLite and PostgreSQL: every valid shared document stored, every
invalid one refused whole with nothing written, idempotent repeats, error declarations, size
limits, who may capture, genealogy from captured events and the cycle check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from portal.app import create_app
from portal.settings import Settings
from tests.conftest import edges_with_wrong_end_kinds
from tests.epcis.conftest import (
    ACME,
    CONTEXT,
    ERP,
    FG_LOT,
    OPENEPCIS,
    bearer,
    capture,
    document,
    lgtin,
    object_event,
    sgtin,
    snapshot,
)
from tests.epcis.test_documents import FAULTY_VALID, INVALID, VALID
from trace_core.epcis.models import EpcisCapture, EpcisEvent
from trace_core.errors import PermissionDenied
from trace_core.identity.actor import Actor, permissions_for_scopes
from trace_core.identity.models import Organization
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime, provide_services

NEW_GTIN = "00614141000029"  # another GTIN of our company prefix (check digit 9)


def _file(name: str) -> Path:
    for folder in ("Documents", "Events", "Invalid"):
        if (OPENEPCIS / folder / name).exists():
            return OPENEPCIS / folder / name
    raise AssertionError(name)


@pytest.mark.req("EPC-02")
async def test_every_valid_shared_document_is_captured(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    stored = 0
    for name in VALID:
        response = await capture(client, headers, _file(name).read_bytes())
        assert response.status_code == 201, (name, response.text)
        body = response.json()
        assert len(body["eventIds"]) == body["stored"] + body["duplicates"]
        assert all(i.startswith("ni:///sha-256;") for i in body["eventIds"])
        stored += body["stored"]
    async with runtime.sessions() as session:
        rows = list(await session.scalars(select(EpcisEvent).where(EpcisEvent.source == "capture")))
        captures = list(await session.scalars(select(EpcisCapture)))
        versions = list(
            await session.scalars(
                select(RecordVersion).where(RecordVersion.record_type == "epcis_capture")
            )
        )
    assert len(rows) == stored > 40
    assert len(captures) == len(versions) == len(VALID)
    assert {v.content["document_sha256"] for v in versions} == {c.document_sha256 for c in captures}


@pytest.mark.req("EPC-02")
@pytest.mark.req("A11-02")
async def test_every_invalid_shared_document_is_refused_and_nothing_written(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    before = await snapshot(runtime)
    for name, (pointer, words) in {**INVALID, **FAULTY_VALID}.items():
        response = await capture(client, headers, _file(name).read_bytes())
        assert response.status_code == 422, (name, response.text)
        body = response.json()
        assert body["error"] == "EpcisRejected"
        assert body["fields"] == {pointer or "/": body["fields"][pointer or "/"]}
        assert words in body["fields"][pointer or "/"]
        assert "nothing was stored" in body["message"]
    assert await snapshot(runtime) == before


@pytest.mark.req("EPC-04")
async def test_a_repeated_capture_stores_nothing_twice(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    raw = _file("ObjectEvent.json").read_bytes()
    first = (await capture(client, headers, raw)).json()
    events_after_first = (await snapshot(runtime))["epcis_events"]
    second = await capture(client, headers, raw)
    assert second.status_code == 201
    assert second.json()["eventIds"] == first["eventIds"]
    assert second.json()["stored"] == 0
    assert second.json()["duplicates"] == len(first["eventIds"])
    assert (await snapshot(runtime))["epcis_events"] == events_after_first
    # The same events spelled differently (URN vs Digital Link, other key order) are the same.
    respelled = json.loads(raw)
    for event in respelled["epcisBody"]["eventList"]:
        event.update(dict(reversed(list(event.items()))))
    again = await capture(client, headers, json.dumps(respelled).encode())
    assert again.json()["stored"] == 0


@pytest.mark.req("EPC-03")
async def test_an_error_declaration_is_recorded_beside_the_event_it_corrects(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    event = object_event([sgtin("SN-ERR-1")], bizStep="receiving")
    original = (await capture(client, headers, document(event))).json()["eventIds"][0]
    declaration = {
        **event,
        "eventID": original,
        "errorDeclaration": {
            "declarationTime": "2026-11-25T08:00:00Z",
            "reason": "incorrect_data",
            "correctiveEventIDs": ["ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0"],
            "example:confidence": 0.75,
        },
    }
    with_prefix = [*CONTEXT, {"example": "https://ns.example.com/epcis/"}]
    declared = await capture(client, headers, document(declaration, context=with_prefix))
    assert declared.status_code == 201, declared.text
    assert declared.json() | {"captureId": 0} == {
        "captureId": 0,
        "eventIds": [original],
        "stored": 1,
        "duplicates": 0,
        "errorDeclarations": 1,
    }
    digest = original.split(";")[1].split("?")[0]
    shown = (await client.get(f"/epcis/events/{digest}", headers=headers)).json()
    assert shown["event"]["bizStep"] == "receiving"
    assert "errorDeclaration" not in shown["event"]  # the event itself is never changed
    assert [d["errorDeclaration"]["reason"] for d in shown["errorDeclarations"]] == [
        "incorrect_data"
    ]
    # Declaring the same thing again changes nothing.
    again = await capture(client, headers, document(declaration, context=with_prefix))
    assert again.json()["stored"] == 0


@pytest.mark.req("EPC-03")
async def test_events_cannot_be_updated_or_deleted(
    client: httpx.AsyncClient, runtime: Runtime, backend: str
) -> None:
    headers = await bearer(client, ERP)
    response = await capture(client, headers, document(object_event([sgtin("SN-IMM-1")])))
    digest = response.json()["eventIds"][0].split(";")[1].split("?")[0]
    for method in ("DELETE", "PUT", "PATCH"):
        answer = await client.request(method, f"/epcis/events/{digest}", headers=headers)
        assert answer.status_code == 405, (method, answer.text)
    for statement in (
        "UPDATE epcis_events SET biz_step = 'x'",
        "DELETE FROM epcis_events",
        "UPDATE epcis_captures SET stored_count = 0",
    ):
        async with runtime.sessions() as session:
            with pytest.raises(Exception, match="append-only"):
                await session.execute(text(statement))
            await session.rollback()


@pytest.mark.req("A11-02")
async def test_size_limits_answer_413_and_write_nothing(runtime: Runtime, tmp_path: Path) -> None:
    small = dataclasses.replace(
        runtime,
        limits=dataclasses.replace(
            runtime.limits, epcis_max_document_bytes=4000, epcis_max_events=3
        ),
    )
    app = create_app(Settings.from_env({"TRACEPORT_VAR_DIR": str(tmp_path)}), runtime=small)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = await bearer(http, ERP)
        before = await snapshot(runtime)
        events = [object_event([sgtin(f"SN-BIG-{i}")]) for i in range(4)]
        too_many = await capture(http, headers, document(*events))
        assert too_many.status_code == 413
        assert "holds 4 events; the limit is 3" in too_many.json()["message"]
        padded = document(object_event([sgtin("SN-BIG-X")], **{"cbvmda:note": "x" * 5000}))
        too_big = await capture(http, headers, padded)
        assert too_big.status_code == 413
        assert "the limit is 4,000 bytes" in too_big.json()["message"]
        assert await snapshot(runtime) == before
        assert (await capture(http, headers, document(*events[:3]))).status_code == 201


async def test_capturing_needs_the_events_write_scope(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = document(object_event([sgtin("SN-SCOPE-1")]))
    tokens = (
        await bearer(client, ACME),  # a supplier's client without events:write
        await bearer(client, ERP, "trace:read production:write"),  # narrowed token
    )
    before = await snapshot(runtime)
    unauthenticated = await capture(client, {}, body)
    assert unauthenticated.status_code == 401
    for headers in tokens:
        refused = await capture(client, headers, body)
        assert refused.status_code == 403, refused.text
    assert await snapshot(runtime) == before


async def _supplier(runtime: Runtime, name: str) -> Actor:
    async with runtime.sessions() as session:
        org = await session.scalar(select(Organization).where(Organization.name == name))
        assert org is not None
    return Actor(
        "client",
        None,
        f"{name} test client",
        org.id,
        org.kind,
        "api",
        permissions_for_scopes(["events:write", "trace:read"]),
    )


async def _capture_as(runtime: Runtime, actor: Actor, body: dict[str, Any]) -> Any:
    async with provide_services(runtime, actor) as services:
        return await services.epcis.capture(actor, json.dumps(body).encode())


async def test_a_suppliers_client_captures_only_about_its_own_lots(runtime: Runtime) -> None:
    acme = await _supplier(runtime, "Acme Polymers")
    steri = await _supplier(runtime, "SteriPro")
    # Acme's lot AP-24-0815 (its part has no GTIN: the lot number names it) and new things.
    own = document(
        object_event(
            [sgtin("AC-DRUM-1", NEW_GTIN)],
            action="ADD",
            quantityList=[
                {"epcClass": lgtin("AP-24-0815", NEW_GTIN), "quantity": 25, "uom": "KGM"}
            ],
            bizStep="commissioning",
        )
    )
    result = await _capture_as(runtime, acme, own)
    assert result.stored == 1
    before = await snapshot(runtime)
    for actor, body in (
        # our finished lot and serial
        (acme, document(object_event([sgtin("SN-DEMO-0001")]))),
        (acme, document({**object_event([]), "quantityList": [{"epcClass": lgtin(FG_LOT)}]})),
        # what Acme named first is Acme's
        (steri, document(object_event([sgtin("AC-DRUM-1", NEW_GTIN)]))),
    ):
        with pytest.raises(PermissionDenied, match="not one of your organization's lots"):
            await _capture_as(runtime, actor, body)
    assert await snapshot(runtime) == before


async def test_captured_events_become_genealogy_found_by_the_trace(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    sterile_lot = lgtin("STER-0001", NEW_GTIN)
    sscc = "urn:epc:id:sscc:0614141.1000000001"
    body = document(
        {
            "type": "TransformationEvent",
            "eventTime": "2026-11-24T10:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "inputQuantityList": [{"epcClass": lgtin(FG_LOT), "quantity": 4}],
            "inputEPCList": [sgtin("SN-DEMO-0006")],
            "outputQuantityList": [{"epcClass": sterile_lot, "quantity": 4}],
            "outputEPCList": [sgtin("ST-1", NEW_GTIN)],
            "bizStep": "commissioning",
        },
        {
            "type": "AggregationEvent",
            "eventTime": "2026-11-24T11:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "parentID": sscc,
            "childEPCs": [sgtin("ST-1", NEW_GTIN)],
            "action": "ADD",
            "bizStep": "packing",
        },
        object_event(
            [sscc],
            eventTime="2026-11-24T12:00:00Z",
            eventTimeZoneOffset="+00:00",
            bizStep="shipping",
            destinationList=[
                {"type": "owning_party", "destination": "urn:epc:id:pgln:4012345.00001"},
                {"type": "location", "destination": "urn:epc:id:sgln:4012345.00001.0"},
            ],
        ),
    )
    response = await capture(client, headers, body)
    assert response.status_code == 201, response.text
    back = await client.get("/api/v1/trace/backward", params={"id": "ST-1"}, headers=headers)
    assert back.status_code == 200, back.text
    found = {(n["kind"], n["identifier"]) for n in back.json()["nodes"]}
    assert {
        ("epc_item", "ST-1"),
        ("epc_lot", "STER-0001"),
        ("internal_lot", FG_LOT),
        ("serial", "SN-DEMO-0006"),
        ("internal_lot", "IL-RES-0001"),
        ("supplier_lot", "AP-24-0815"),
    } <= found
    kinds = {e["kind"] for e in back.json()["edges"]}
    assert {"production", "consumption", "receipt"} <= kinds
    forward = await client.get(
        "/api/v1/trace/forward", params={"id": "SN-DEMO-0006"}, headers=headers
    )
    reached = {(n["kind"], n["identifier"]) for n in forward.json()["nodes"]}
    assert {
        ("sscc", "106141410000000019"),
        ("consignee", "https://id.gs1.org/417/4012345000016"),
    } <= reached
    assert {"packing", "shipment"} <= {e["kind"] for e in forward.json()["edges"]}
    assert ("consignee", "https://id.gs1.org/414/4012345000016") not in reached  # party only
    assert await edges_with_wrong_end_kinds(runtime) == []


@pytest.mark.req("A11-02")
async def test_a_capture_that_would_close_a_cycle_is_refused_whole(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)

    def transform(source: str, target: str, minute: int) -> dict[str, Any]:
        return {
            "type": "TransformationEvent",
            "eventTime": f"2026-11-24T10:{minute:02d}:00Z",
            "eventTimeZoneOffset": "+00:00",
            "inputQuantityList": [{"epcClass": lgtin(source, NEW_GTIN)}],
            "outputQuantityList": [{"epcClass": lgtin(target, NEW_GTIN)}],
        }

    ok = await capture(client, headers, document(transform("CY-A", "CY-B", 1)))
    assert ok.status_code == 201
    chain = await capture(client, headers, document(transform("CY-B", "CY-C", 2)))
    assert chain.status_code == 201
    before = await snapshot(runtime)
    for body, pointer in (
        # closes A -> B -> C -> A, with a harmless event before it
        (
            document(object_event([sgtin("SN-CY-1")]), transform("CY-C", "CY-A", 3)),
            "/epcisBody/eventList/1",
        ),
        (document(transform("CY-D", "CY-E", 4), transform("CY-E", "CY-D", 5)), None),
        (document(transform("CY-F", "CY-F", 6)), "/epcisBody/eventList/0"),
    ):
        refused = await capture(client, headers, body)
        assert refused.status_code == 422, refused.text
        assert "its own ancestor" in refused.json()["message"]
        if pointer:
            assert list(refused.json()["fields"]) == [pointer]
    assert await snapshot(runtime) == before


async def test_the_capture_is_a_record_with_its_audit_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    response = await capture(client, headers, _file("AggregationEvent.json").read_bytes())
    capture_id = response.json()["captureId"]
    record = await client.get(f"/api/v1/records/epcis_capture/{capture_id}", headers=headers)
    # The ERP's client reads records of types its scopes allow; trace:read covers captures.
    assert record.status_code == 200, record.text
    assert record.json()["version"]["content"]["stored"] == 1
    async with runtime.sessions() as session:
        events = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.record_type == "epcis_capture", AuditEvent.record_id == capture_id
                )
            )
        )
    assert [e.action for e in events] == ["create"]
    assert events[0].actor_name == "traceport-erp" or events[0].actor_kind == "client"


def test_context_constant_is_the_published_one() -> None:
    assert CONTEXT == ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"]
