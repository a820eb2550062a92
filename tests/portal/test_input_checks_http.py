"""Input integrity over real HTTP (issue 13): the number rule and the physical bounds refuse
bad input on the pages (English and Simplified Chinese) and through the API (422 naming the
field) and write nothing; a late entry is flagged on the supplier's page, QA's review page and
queue and in the API; a lot our staff type from a paper CoA waits for a second person."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import httpx
import pytest

from documents.pdf import make_pdf
from tests.conftest import Browser, api_token, bearer, row_counts, version_of
from trace_core.lots.service import UNVERIFIED_ENTRY
from trace_core.parts.evaluation import BELOW_PHYSICAL_MINIMUM
from trace_core.quantities import COMMA_REFUSED, NUMBER_RULE, UNIT_IN_NUMBER
from trace_core.services import Runtime

ANNA, QA, OPS = "anna@acme-polymers.example", "qa@traceport.example", "ops@traceport.example"
TODAY = dt.datetime.now(dt.UTC).date()
GOOD = {"MFI": "10.2", "MOIST": "0.02", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
#: Tables a refused request must not touch.
WATCHED = ("supplier_lots", "lot_results", "record_versions", "audit_events", "documents")


def lot_form(lot_number: str, **changes: str) -> dict[str, str]:
    values = {
        "part_number": "RES-100",
        "lot_number": lot_number,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": (TODAY - dt.timedelta(days=3)).isoformat(),
        "expires_on": (TODAY + dt.timedelta(days=700)).isoformat(),
        **{f"result_{code}": value for code, value in GOOD.items()},
    }
    values.update(changes)
    return values


def coa(lot_number: str) -> dict[str, Any]:
    return {"coa": ("coa.pdf", make_pdf("CoA", [f"Lot {lot_number}"]), "application/pdf")}


def shown(page: str) -> str:
    return html.unescape(page)


async def test_the_lot_form_states_the_number_rule_and_the_physical_bounds(
    client: httpx.AsyncClient,
) -> None:
    anna = Browser(client)
    await anna.login(ANNA)
    page = shown((await anna.get("/supplier/lots/new?part=RES-100")).text)
    assert NUMBER_RULE in page
    assert "Physical bounds" in page and "0 – 100 %" in page and "≥ 0 g/10min" in page
    client.cookies.set("lang", "zh_CN")
    chinese = shown((await anna.get("/supplier/lots/new?part=RES-100")).text)
    assert NUMBER_RULE not in chinese and "句点" in chinese and "物理界限" in chinese


@pytest.mark.req("COA-02")
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"result_MOIST": "-5"}, "results.MOIST", BELOW_PHYSICAL_MINIMUM),
        ({"result_DENS": "1,30"}, "results.DENS", COMMA_REFUSED),
        ({"quantity": "12,5"}, "quantity", COMMA_REFUSED),
        ({"quantity": "12.5 kg"}, "quantity", UNIT_IN_NUMBER),
    ],
)
async def test_a_page_refuses_bad_numbers_naming_the_rule_and_writes_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    anna = Browser(client)
    await anna.login(ANNA)
    before = await row_counts(runtime, WATCHED)
    refused = await anna.post("/supplier/lots", lot_form("H-BAD", **changes), files=coa("H-BAD"))
    assert refused.status_code == 422
    assert message in shown(refused.text)
    assert "nothing was saved" in refused.text
    after = await row_counts(runtime, WATCHED)
    # Signing in writes its own audit event before the form; the refusal writes nothing.
    assert {k: v for k, v in after.items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"
    }
    assert after["audit_events"] == before["audit_events"]


async def test_the_refusal_reads_in_chinese(client: httpx.AsyncClient, runtime: Runtime) -> None:
    anna = Browser(client)
    await anna.login(ANNA)
    client.cookies.set("lang", "zh_CN")
    before = await row_counts(runtime, WATCHED)
    refused = await anna.post(
        "/supplier/lots", lot_form("H-ZH", result_DENS="1,30", result_MOIST="-5"), files=coa("H-ZH")
    )
    assert refused.status_code == 422
    page = shown(refused.text)
    assert COMMA_REFUSED not in page and BELOW_PHYSICAL_MINIMUM not in page
    assert "逗号" in page and "物理" in page
    assert await row_counts(runtime, WATCHED) == before


async def _acme(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await api_token(client, "acme-edi", "acme-edi-secret"))


async def _upload(client: httpx.AsyncClient, headers: dict[str, str], lot_number: str) -> int:
    response = await client.post(
        "/api/v1/documents",
        headers=headers,
        files={"file": ("coa.pdf", make_pdf("CoA", [f"Lot {lot_number}"]), "application/pdf")},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def lot_json(document_id: int, lot_number: str, **changes: Any) -> dict[str, Any]:
    results = changes.pop("results", GOOD)
    body: dict[str, Any] = {
        "part_number": "RES-100",
        "lot_number": lot_number,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": (TODAY - dt.timedelta(days=3)).isoformat(),
        "expires_on": (TODAY + dt.timedelta(days=700)).isoformat(),
        "coa_document_id": document_id,
        "results": [{"code": code, "value": value} for code, value in results.items()],
    }
    body.update(changes)
    return body


@pytest.mark.req("COA-02")
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"results": {**GOOD, "MOIST": "-5"}}, "results.MOIST", BELOW_PHYSICAL_MINIMUM),
        ({"results": {**GOOD, "DENS": "1,30"}}, "results.DENS", COMMA_REFUSED),
        ({"quantity": "12,5"}, "quantity", COMMA_REFUSED),
    ],
)
async def test_the_api_refuses_bad_numbers_with_422_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    acme = await _acme(client)
    document_id = await _upload(client, acme, "A-BAD")
    before = await row_counts(runtime, WATCHED)
    response = await client.post(
        "/api/v1/lots", headers=acme, json=lot_json(document_id, "A-BAD", **dict(changes))
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationFailed"
    assert body["fields"] == {field: message}
    assert await row_counts(runtime, WATCHED) == before


async def test_the_api_publishes_the_physical_bounds(client: httpx.AsyncClient) -> None:
    parts = (await client.get("/api/v1/parts", headers=await _acme(client))).json()
    resin = next(p for p in parts if p["number"] == "RES-100")
    moisture = next(c for c in resin["specification"]["characteristics"] if c["code"] == "MOIST")
    assert (moisture["physical_min"], moisture["physical_max"]) == ("0", "100")
    schema = (await client.get("/schema/openapi.json")).json()
    assert "full stop as the decimal mark" in schema["paths"]["/api/v1/lots"]["post"]["description"]


@pytest.mark.req("DI-02")
async def test_a_late_entry_is_accepted_and_flagged_everywhere(client: httpx.AsyncClient) -> None:
    acme = await _acme(client)
    document_id = await _upload(client, acme, "A-LATE")
    made = (TODAY - dt.timedelta(days=90)).isoformat()
    created = await client.post(
        "/api/v1/lots", headers=acme, json=lot_json(document_id, "A-LATE", manufactured_on=made)
    )
    assert created.status_code == 201, created.text
    lot = created.json()
    assert (lot["status"], lot["late_entry_days"], lot["entered_by_staff"]) == (
        "submitted",
        90,
        False,
    )
    again = (await client.get(f"/api/v1/lots/{lot['id']}", headers=acme)).json()
    assert again["late_entry_days"] == 90
    timely = await client.post(
        "/api/v1/lots", headers=acme, json=lot_json(await _upload(client, acme, "A-OK"), "A-OK")
    )
    assert timely.json()["late_entry_days"] is None

    anna = Browser(client)
    await anna.login(ANNA)
    page = shown((await anna.get(f"/supplier/lots/{lot['id']}")).text)
    assert "late entry" in page and "entered 90 days after its manufacture/test date" in page
    assert "late entry" in (await anna.get("/supplier")).text
    await anna.logout()
    qa = Browser(client)
    await qa.login(QA)
    queue = (await qa.get("/internal/review")).text
    row = re.search(r"A-LATE</a>.*?</tr>", queue, re.S)
    assert row and "late entry" in row.group(0)
    timely_row = re.search(r"A-OK</a>.*?</tr>", queue, re.S)
    assert timely_row and "late entry" not in timely_row.group(0)
    review = shown((await qa.get(f"/internal/lots/{lot['id']}")).text)
    assert "Late entry: this certificate was entered 90 days" in review
    client.cookies.set("lang", "zh_CN")
    assert "补录" in (await qa.get(f"/internal/lots/{lot['id']}")).text


# -- a paper CoA typed by our staff (A11-03) -----------------------------------------------------


async def _acme_id(client: httpx.AsyncClient, ops: Browser) -> str:
    page = (await ops.get("/internal/paper-lots/new")).text
    found = re.search(r'<option value="(\d+)"[^>]*>Acme Polymers</option>', page)
    assert found, page
    return found.group(1)


@pytest.mark.req("A11-03")
async def test_a_typed_paper_coa_waits_for_a_second_person(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ops = Browser(client)
    await ops.login(OPS)
    acme = await _acme_id(client, ops)
    form_page = shown(
        (await ops.get(f"/internal/paper-lots/new?supplier={acme}&part=RES-100")).text
    )
    assert re.search(r"Supplier:\s*<b>Acme Polymers</b>", form_page) and NUMBER_RULE in form_page

    before = await row_counts(runtime, WATCHED)
    refused = await ops.post(
        "/internal/paper-lots",
        {**lot_form("PAPER-H1", result_DENS="1,30"), "supplier": acme},
        files=coa("PAPER-H1"),
    )
    assert refused.status_code == 422 and COMMA_REFUSED in shown(refused.text)
    assert await row_counts(runtime, WATCHED) == before

    created = await ops.post(
        "/internal/paper-lots", {**lot_form("PAPER-H1"), "supplier": acme}, files=coa("PAPER-H1")
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    own = shown((await ops.get(url)).text)
    assert "needs verification" in own and "typed by our staff" in own
    assert "You typed this lot; a different person must verify it" in own
    assert (
        'action="/internal/lots/'
        not in own.split("Second-person verification")[1].split("</section>")[0]
    )
    assert "PAPER-H1" in (await ops.get("/internal/paper-lots")).text
    # The typist cannot verify by posting the form either.
    lot_id = url.rsplit("/", 1)[1]
    typist = await ops.post(
        f"/internal/lots/{lot_id}/verify", {"version": "1", "password": "x", "user_id": OPS}
    )
    assert typist.status_code == 403
    await ops.logout()

    qa = Browser(client)
    await qa.login(QA)
    page = (await qa.get(url)).text
    assert "Sign verification" in page and "Sign decision" not in page
    early = await qa.sign(f"/internal/lots/{lot_id}/decision", page, QA, decision="approve")
    assert early.status_code == 409 and UNVERIFIED_ENTRY in shown(early.text)
    verified = await qa.sign(f"/internal/lots/{lot_id}/verify", page, QA, comment="Matches.")
    assert verified.status_code == 303, verified.text
    after = shown((await qa.get(url)).text)
    assert "Sign decision" in after and "verified against the source document" in after
    assert version_of(after) == "2"
    assert "PAPER-H1" in (await qa.get("/internal/review")).text
