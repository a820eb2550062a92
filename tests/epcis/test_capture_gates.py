"""EPCIS capture obeys the material gate (QMS-10, A11-02; issue 13, reproduction 4): an event
that consumes, packs or ships material that is not released is rejected whole with the event's
JSON pointer and the blocking record; a receiving ObjectEvent of a supplier lot becomes a goods
receipt exactly as the receipts page makes it (quarantine, certificate check)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.epcis.conftest import (
    ERP,
    bearer,
    capture,
    document,
    lgtin,
    object_event,
    sgtin,
    snapshot,
)
from trace_core.epcis.genealogy import GateRejected
from trace_core.identity.actor import Actor, permissions_for_scopes
from trace_core.identity.models import Organization
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.receipts.models import Receipt
from trace_core.services import Runtime, provide_services

pytestmark = [pytest.mark.req("QMS-10"), pytest.mark.req("A11-02")]
OTHER_GTIN = "04012345000009"


def transform(inputs: list[dict[str, Any]], output: str, minute: int = 0) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": f"2026-11-24T10:{minute:02d}:00Z",
        "eventTimeZoneOffset": "+00:00",
        "inputQuantityList": inputs,
        "outputQuantityList": [{"epcClass": lgtin(output, OTHER_GTIN), "quantity": 1}],
        "bizStep": "commissioning",
    }


def receiving(epc_class: str, quantity: float | None, uom: str | None = "KGM") -> dict[str, Any]:
    entry: dict[str, Any] = {"epcClass": epc_class}
    if quantity is not None:
        entry["quantity"] = quantity
        if uom:
            entry["uom"] = uom
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-11-24T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [],
        "quantityList": [entry],
        "action": "ADD",
        "bizStep": "receiving",
    }


async def receipts(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Receipt)) or 0)


async def supplier_lot_urn(runtime: Runtime, lot_number: str) -> str:
    async with runtime.sessions() as session:
        org = await session.scalar(
            select(SupplierLot.organization_id).where(SupplierLot.lot_number == lot_number)
        )
    return f"urn:traceport:supplier-lot:{org}:RES-100:{lot_number}"


async def set_status(runtime: Runtime, model: Any, column: Any, key: str, status: str) -> None:
    async with runtime.sessions() as session:
        await session.execute(update(model).where(column == key).values(status=status))
        await session.commit()


async def open_recall(runtime: Runtime, identifier: str) -> None:
    from tests.trace_core.test_slice_services import QA, user

    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        await s.recalls.open(qa, identifier, "particles", QA)


async def test_consuming_a_quarantined_lot_is_refused_whole(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await set_status(runtime, InternalLot, InternalLot.lot_number, "IL-RES-0001", "quarantine")
    headers = await bearer(client, ERP)
    before = await snapshot(runtime)
    body = document(
        object_event([sgtin("SN-GATE-X")]),
        transform([{"epcClass": "urn:traceport:lot:IL-RES-0001", "quantity": 2}], "MIX-1"),
    )
    refused = await capture(client, headers, body)
    assert refused.status_code == 422, refused.text
    pointer = "/epcisBody/eventList/1/inputQuantityList/0/epcClass"
    assert refused.json()["fields"] == {
        pointer: "IL-RES-0001 is in quarantine; it cannot be consumed until QA releases it."
    }
    assert pointer in refused.json()["message"]
    assert await snapshot(runtime) == before
    # Released again, the same document is accepted.
    await set_status(runtime, InternalLot, InternalLot.lot_number, "IL-RES-0001", "released")
    assert (await capture(client, headers, body)).status_code == 201


async def test_shipping_and_packing_held_serials_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await set_status(runtime, Serial, Serial.serial, "SN-DEMO-0006", "on_hold")
    await set_status(runtime, InternalLot, InternalLot.lot_number, "FG-LOT-0001", "recalled")
    headers = await bearer(client, ERP)
    before = await snapshot(runtime)
    shipping = object_event(
        [sgtin("SN-DEMO-0006")],
        action="ADD",
        bizStep="shipping",
        destinationList=[{"type": "owning_party", "destination": "urn:epc:id:pgln:4012345.00001"}],
    )
    packing = {
        "type": "AggregationEvent",
        "eventTime": "2026-11-24T11:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "parentID": "urn:epc:id:sscc:0614141.1000000077",
        "childEPCs": [sgtin("SN-DEMO-0007")],
        "action": "ADD",
        "bizStep": "packing",
    }
    refused = await capture(client, headers, document(shipping, packing))
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"] == {
        "/epcisBody/eventList/1/childEPCs/0": (
            "SN-DEMO-0007 belongs to lot FG-LOT-0001, which is recalled; it cannot be packed."
        ),
        "/epcisBody/eventList/0/epcList/0": "SN-DEMO-0006 is on hold; it cannot be shipped.",
    }
    assert await snapshot(runtime) == before


async def test_a_receiving_event_becomes_a_receipt_in_quarantine(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await bearer(client, ERP)
    urn = await supplier_lot_urn(runtime, "AP-24-0816")  # submitted, not yet approved
    before = await receipts(runtime)
    captured = await capture(client, headers, document(receiving(urn, 5)))
    assert captured.status_code == 201, captured.text
    assert await receipts(runtime) == before + 1
    async with runtime.sessions() as session:
        receipt = await session.scalar(select(Receipt).order_by(Receipt.id.desc()).limit(1))
        assert receipt is not None
        assert receipt.supplier_lot.lot_number == "AP-24-0816"
        assert receipt.internal_lot.status == "quarantine"
        assert str(receipt.quantity.normalize()) == "5"
        assert receipt.certificate_status == "covered"
    # The same event again is a duplicate: no second receipt.
    assert (await capture(client, headers, document(receiving(urn, 5)))).status_code == 201
    assert await receipts(runtime) == before + 1


@pytest.mark.req("QMS-14")
async def test_a_recalled_or_unquantified_receiving_is_refused_whole(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await open_recall(runtime, "AP-24-0815")
    headers = await bearer(client, ERP)
    recalled = await supplier_lot_urn(runtime, "AP-24-0815")
    fine = await supplier_lot_urn(runtime, "AP-24-0816")
    before = await snapshot(runtime)
    count = await receipts(runtime)
    pointer = "/epcisBody/eventList/1/quantityList/0/epcClass"
    for body, message in (
        (
            document(receiving(fine, 5), receiving(recalled, 25)),
            "Supplier lot AP-24-0815 is under recall RC-000001; it cannot be received.",
        ),
        (
            document(receiving(fine, 5), receiving(fine, None)),
            "the receiving of supplier lot AP-24-0816 needs its quantity",
        ),
        (
            document(receiving(fine, 5), receiving(fine, 3, "LTR")),
            "supplier lot AP-24-0816 is counted in kg, not LTR",
        ),
    ):
        refused = await capture(client, headers, body)
        assert refused.status_code == 422, refused.text
        assert message in refused.json()["fields"][pointer]
        assert await snapshot(runtime) == before
        assert await receipts(runtime) == count


async def test_a_suppliers_client_is_told_its_lot_is_held_not_why(runtime: Runtime) -> None:
    await open_recall(runtime, "AP-24-0815")
    async with runtime.sessions() as session:
        org = await session.scalar(select(Organization).where(Organization.name == "Acme Polymers"))
        assert org is not None
    acme = Actor(
        "client",
        None,
        "Acme test client",
        org.id,
        org.kind,
        "api",
        permissions_for_scopes(["events:write", "trace:read"]),
    )
    before = await snapshot(runtime)
    shipping = object_event(
        [],
        quantityList=[{"epcClass": lgtin("AP-24-0815", OTHER_GTIN), "quantity": 5, "uom": "KGM"}],
        action="OBSERVE",
        bizStep="shipping",
        destinationList=[{"type": "owning_party", "destination": "urn:epc:id:pgln:4012345.00001"}],
    )
    async with provide_services(runtime, acme) as s:
        with pytest.raises(GateRejected) as refused:
            await s.epcis.capture(acme, json.dumps(document(shipping)).encode())
    (message,) = refused.value.errors.values()
    assert message == "Lot AP-24-0815 is on hold by the customer's QA; it cannot be shipped."
    assert "RC-" not in refused.value.message and "recall" not in refused.value.message
    assert await snapshot(runtime) == before


async def test_the_gate_is_asked_by_the_same_service_whatever_the_channel(
    runtime: Runtime,
) -> None:
    """The CLI and jobs reach the same service through ``provide_services``: the system actor
    is refused like any other."""
    await set_status(runtime, InternalLot, InternalLot.lot_number, "IL-RES-0001", "on_hold")
    from trace_core.production.service import ConsumedLot, WorkOrderInputData

    system = Actor.system("cli")
    async with provide_services(runtime, system) as s:
        with pytest.raises(Exception, match="IL-RES-0001 is on hold; it cannot be consumed"):
            await s.production.post(
                system,
                WorkOrderInputData(
                    "WO-CLI", "FG-1000", "FG-CLI", [ConsumedLot("IL-RES-0001", "1")], ["SN-CLI"]
                ),
            )
