"""The trace scope over HTTP: the API (`/api/v1/trace/scope`, bundles opened with
`/api/v1/trace/nodes/{id}/serials`), the forward trace page with its bundles opened by htmx, the
CSV downloads, and the CLI's ``--scope``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import Browser, api_token

pytestmark = pytest.mark.req("QMS-11")

ERP = ("traceport-erp", "traceport-erp-secret")
ACME = ("acme-edi", "acme-edi-secret")
QA = "qa@traceport.example"
MARYS = "St. Mary's Hospital, Central Sterile Supply"


async def bearer(http: httpx.AsyncClient, creds: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {await api_token(http, *creds)}"}


async def test_api_scope_of_the_resin_lot(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/trace/scope", params={"id": "AP-24-0815"}, headers=await bearer(client, ERP)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {
        "supplier_lot": 1,
        "internal_lot": 2,
        "serial": 10,
        "shipment": 2,
        "shipping_unit": 2,
    }
    assert {(n["kind"], n["identifier"]) for n in body["nodes"]} == {
        ("supplier_lot", "AP-24-0815"),
        ("internal_lot", "IL-RES-0001"),
        ("internal_lot", "FG-LOT-0001"),
        ("shipment", "SH-0001"),
        ("shipment", "SH-0002"),
        ("shipping_unit", "006141410000000012"),
        ("shipping_unit", "006141410000000029"),
    }
    lots = {lot["lot_number"]: lot for lot in body["lots"]}
    assert lots["FG-LOT-0001"]["serials"] == 10
    assert lots["FG-LOT-0001"]["from_scope"]  # the resin consumed, as posted
    assert [(c["shipment"], c["name"]) for c in body["consignees"]] == [
        ("SH-0001", MARYS),
        ("SH-0002", MARYS),
    ]
    (bundle,) = body["serial_bundles"]
    assert (bundle["via"], bundle["serials"]) == ("production", 10)

    page = await client.get(
        f"/api/v1/trace/nodes/{bundle['node']}/serials",
        params={"limit": 3},
        headers=await bearer(client, ERP),
    )
    assert page.status_code == 200, page.text
    listed = page.json()
    assert (listed["total"], listed["limit"], len(listed["serials"])) == (10, 3, 3)
    assert listed["node"]["identifier"] == "FG-LOT-0001"
    assert [s["serial"] for s in listed["serials"]] == [
        "SN-DEMO-0001",
        "SN-DEMO-0002",
        "SN-DEMO-0003",
    ]


async def test_api_scope_and_bundles_refuse_bad_requests(client: httpx.AsyncClient) -> None:
    erp = await bearer(client, ERP)
    unknown = await client.get("/api/v1/trace/scope", params={"id": "NOPE-1"}, headers=erp)
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Nothing is known by the identifier 'NOPE-1'."
    sideways = await client.get(
        "/api/v1/trace/scope", params={"id": "AP-24-0815", "direction": "sideways"}, headers=erp
    )
    assert sideways.status_code == 422 and "backward or forward" in sideways.text
    too_many = await client.get(
        "/api/v1/trace/nodes/1/serials", params={"limit": 5000}, headers=erp
    )
    assert too_many.status_code == 422 and "1 to 1000 serials" in too_many.text
    missing = await client.get("/api/v1/trace/nodes/999999/serials", headers=erp)
    assert missing.status_code == 404 and "No trace node 999999" in missing.text
    anonymous = await client.get("/api/v1/trace/scope", params={"id": "AP-24-0815"})
    assert anonymous.status_code == 401


@pytest.mark.req("P11-04")
async def test_api_supplier_scope_is_its_lot_and_receipt_and_no_bundles(
    client: httpx.AsyncClient,
) -> None:
    acme = await bearer(client, ACME)
    response = await client.get("/api/v1/trace/scope", params={"id": "AP-24-0815"}, headers=acme)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"supplier_lot": 1, "internal_lot": 1}
    assert body["serial_bundles"] == [] and body["consignees"] == []
    for secret in ("SN-DEMO", "SH-0001", "St. Mary", "FG-LOT-0001"):
        assert secret not in response.text
    refused = await client.get("/api/v1/trace/nodes/1/serials", headers=acme)
    assert refused.status_code == 403


async def test_forward_trace_page_shows_the_scope_and_opens_a_bundle(
    client: httpx.AsyncClient, browser: Browser
) -> None:
    await browser.login(QA)
    page = await client.get(
        "/internal/trace",
        params={"q": "AP-24-0815", "direction": "forward"},
        headers={"HX-Request": "true"},
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert (
        "Forward trace of" in html and "10 serials" in html and MARYS in html.replace("&#39;", "'")
    )
    assert "SN-DEMO-0001" not in html  # bundled until opened
    assert "Reached through the serials" in html and "006141410000000029" in html
    start = html.index('hx-get="/internal/trace/serials?node=')
    url = html[start + len('hx-get="') : html.index('"', start + len('hx-get="'))]
    opened = await client.get(url.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert opened.status_code == 200, opened.text
    assert "SN-DEMO-0001" in opened.text and "Serials 1–10 of 10" in opened.text
    assert "SH-0001" in opened.text  # what followed the shipped serials

    lots = await client.get(
        "/internal/trace/scope.csv",
        params={"q": "AP-24-0815", "direction": "forward", "list": "lots"},
    )
    assert lots.status_code == 200 and lots.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(lots.text)))
    assert {r["lot"] for r in rows} == {"IL-RES-0001", "FG-LOT-0001"}
    consignees = await client.get(
        "/internal/trace/scope.csv", params={"q": "AP-24-0815", "list": "consignees"}
    )
    assert [r["consignee"] for r in csv.DictReader(io.StringIO(consignees.text))] == [MARYS] * 2
    bad = await client.get(
        "/internal/trace/scope.csv", params={"q": "AP-24-0815", "list": "serials"}
    )
    assert bad.status_code == 400 and "list is one of" in bad.text


def test_cli_trace_forward_scope(tmp_path: Path) -> None:
    from portal.cli import main

    env = {"TRACEPORT_VAR_DIR": str(tmp_path / "var")}
    seeded = CliRunner().invoke(main, ["demo", "--no-serve"], env=env)
    assert seeded.exit_code == 0, seeded.output
    result = CliRunner().invoke(
        main, ["trace", "forward", "AP-24-0815", "--scope", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["counts"]["serial"] == 10 and body["serial_bundles"][0]["serials"] == 10
    text = CliRunner().invoke(main, ["trace", "forward", "AP-24-0815", "--scope"], env=env)
    assert text.exit_code == 0, text.output
    assert "[production] 10 serials" in text.output and "SH-0001" in text.output
    unknown = CliRunner().invoke(main, ["trace", "forward", "NOPE", "--scope", "--json"], env=env)
    assert unknown.exit_code == 2
    assert json.loads(unknown.output) == {"error": "Nothing is known by the identifier 'NOPE'."}
