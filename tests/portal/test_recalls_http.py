"""Recall and supplied-by / supplied-to over HTTP: the supplier reports a suspect lot on its
page, QA sees the scope, signs the recall open and downloads CSV, PDF and EPCIS; the API gives
the same to internal clients and nothing to suppliers."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import Browser, api_token, bearer
from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.actor import Actor
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.services import Runtime, provide_services

QA = "qa@traceport.example"


@pytest.mark.req("QMS-14")
async def test_recall_journey_in_the_browser(client: httpx.AsyncClient) -> None:
    supplier = Browser(client)
    await supplier.login("anna@acme-polymers.example")
    dashboard = await supplier.get("/supplier")
    lot_id = re.search(r'href="/supplier/lots/(\d+)"[^>]*>AP-24-0815', dashboard.text)
    assert lot_id, "AP-24-0815 not on the dashboard"
    url = f"/supplier/lots/{lot_id.group(1)}"
    assert "Report this lot as suspect" in (await supplier.get(url)).text
    empty = await supplier.post(f"{url}/suspect", {"description": ""})
    assert empty.status_code == 422
    reported = await supplier.post(f"{url}/suspect", {"description": "additive mix-up"})
    assert reported.status_code == 303
    assert "additive mix-up" in (await supplier.get(url)).text
    await client.post("/logout", data={"_csrf_token": supplier.csrf})
    client.cookies.clear()

    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get("/internal/recalls")
    assert "additive mix-up" in page.text and "AP-24-0815" in page.text
    report_id = re.search(r"report=(\d+)", page.text)
    assert report_id
    scope = await qa.get(f"/internal/recalls?id=AP-24-0815&report={report_id.group(1)}")
    assert scope.status_code == 200
    assert "St. Mary" in scope.text and "FG-LOT-0001" in scope.text and "2.5 kg" in scope.text
    unknown = await qa.get("/internal/recalls?id=NOPE-1")
    assert unknown.status_code == 404 and "Nothing is known" in unknown.text
    form = {
        "identifier": "AP-24-0815",
        "suspect_report_id": report_id.group(1),
        "reason": "additive mix-up confirmed",
        "password": "wrong-password",
        "user_id": QA,
    }
    refused = await qa.post("/internal/recalls", form)
    assert refused.status_code == 422 and "not correct" in refused.text
    opened = await qa.post("/internal/recalls", {**form, "password": DEMO_PASSWORD})
    assert opened.status_code == 303, opened.text
    recall_url = opened.headers["location"]
    detail = await qa.get(recall_url)
    assert "RC-000001" in detail.text and "Quinn Avery" in detail.text and "approved" in detail.text
    csv_file = await qa.get(f"{recall_url}/consignees.csv")
    assert csv_file.status_code == 200 and csv_file.text.count("SN-DEMO-") == 8
    pdf = await qa.get(f"{recall_url}/recall.pdf")
    assert pdf.content.startswith(b"%PDF")
    epcis = await qa.get(f"{recall_url}/epcis.json")
    assert epcis.json()["epcisBody"]["eventList"][0]["disposition"] == "recalled"
    supplied = await qa.get("/internal/reports/supplied?id=SN-DEMO-0003")
    assert "Acme Polymers" in supplied.text and "SteriPro" in supplied.text
    assert "St. Mary" in supplied.text


@pytest.mark.req("MDR-01")
@pytest.mark.req("P11-04")
async def test_recall_api_for_internal_clients_only(client: httpx.AsyncClient) -> None:
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    report = await client.get("/api/v1/reports/supplied?id=SN-DEMO-0001", headers=erp)
    assert report.status_code == 200, report.text
    assert {r["supplier_lot"] for r in report.json()["supplied_by"]} == {
        "AP-24-0815",
        "SP-24-0117",
    }
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    assert (
        await client.get("/api/v1/reports/supplied?id=SN-DEMO-0001", headers=acme)
    ).status_code == 403
    assert (await client.get("/api/v1/recalls/1", headers=acme)).status_code == 403
    assert (await client.get("/api/v1/recalls/999", headers=erp)).status_code == 404
    lots = (await client.get("/api/v1/lots", headers=acme)).json()
    own = next(lot for lot in lots if lot["lot_number"] == "AP-24-0815")
    reported = await client.post(
        f"/api/v1/lots/{own['id']}/suspect", headers=acme, json={"description": "from ERP"}
    )
    assert reported.status_code == 201, reported.text
    steri = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    foreign = await client.post(
        f"/api/v1/lots/{own['id']}/suspect", headers=steri, json={"description": "x"}
    )
    assert foreign.status_code == 404


@pytest.mark.req("QMS-14")
async def test_a_wide_recall_preview_shows_the_first_rows_of_each_list(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A recall of a widely used lot reaches thousands of serials: the page counts them per
    lot, shipment, consignee and serial group, lists the first 500 rows of each list and the
    first 50 serials of each group, instead of all of them inline."""
    ops = Actor.system("cli")
    serials = [f"SN-WIDE-{i:04d}" for i in range(600)]
    async with provide_services(runtime, ops) as s:
        await s.production.post(
            ops,
            WorkOrderInputData(
                "WO-WIDE-1", "FG-1000", "FG-WIDE-1", [ConsumedLot("IL-RES-0001", "1")], serials
            ),
        )
        await s.keeper.commit()
    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get("/internal/recalls?id=FG-WIDE-1")
    assert page.status_code == 200, page.text
    assert "<b>600</b>: SN-WIDE-0000, SN-WIDE-0001" in page.text
    assert "SN-WIDE-0049 …" in page.text and "SN-WIDE-0050" not in page.text
