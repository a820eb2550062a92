"""Process runs over real HTTP: the contractor records, signs and sees its runs; QA accepts
with a signature and finds the run on the trace page; the API creates drafts for contractors'
clients; every refusal answers with its specific message and changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest

from documents.pdf import make_pdf
from tests.conftest import Browser, api_token, bearer, row_counts
from trace_core.services import Runtime

SAM, ANNA, QA = "sam@steripro.example", "anna@acme-polymers.example", "qa@traceport.example"
TODAY = dt.datetime.now(dt.UTC).date()
#: Tables a refused request must not touch.
WATCHED = ("process_runs", "record_versions", "audit_events", "documents")


def form(**changes: str) -> dict[str, str]:
    values = {
        "process_kind": "sterilization",
        "run_number": "SP-RUN-H1",
        "cycle_id": "GC-77",
        "started_on": (TODAY - dt.timedelta(days=2)).isoformat(),
        "ended_on": (TODAY - dt.timedelta(days=1)).isoformat(),
        "param_name_0": "Target dose",
        "param_value_0": "31",
        "param_unit_0": "kGy",
        "param_lower_0": "25",
        "param_upper_0": "45",
        "result_name_0": "Biological indicator",
        "result_value_0": "negative",
        "input_lot_0": "IL-RES-0001",
        "input_qty_0": "4",
        "output_lot_0": "IL-RES-0001-G",
        "output_qty_0": "4",
    }
    values.update(changes)
    return values


def api_run(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "process_kind": "sterilization",
        "run_number": "SP-RUN-A1",
        "started_on": (TODAY - dt.timedelta(days=2)).isoformat(),
        "ended_on": (TODAY - dt.timedelta(days=1)).isoformat(),
        "parameters": [{"name": "Target dose", "value": "30", "unit": "kGy", "lower_limit": "25"}],
        "results": [{"name": "Biological indicator", "value": "negative"}],
        "inputs": [{"lot_number": "FG-LOT-0001", "quantity": "10"}],
        "outputs": [{"lot_number": "FG-LOT-0001", "quantity": "10"}],
    }
    body.update(changes)
    return body


@pytest.mark.req("QMS-08")
async def test_contractor_records_and_signs_a_run_and_qa_accepts_it(
    client: httpx.AsyncClient,
) -> None:
    sam = Browser(client)
    await sam.login(SAM)
    listing = await sam.get("/supplier/process-runs")
    assert listing.status_code == 200
    assert "SP-RUN-0417" in listing.text and "QAG-2026-014" in listing.text
    assert (await sam.get("/supplier/process-runs/new")).status_code == 200
    certificate = make_pdf("Certificate of Irradiation", ["Load SP-RUN-H1", "BI negative"])
    created = await sam.post(
        "/supplier/process-runs",
        form(),
        files={"certificate": ("cert.pdf", certificate, "application/pdf")},
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    page = await sam.get(url)
    assert "SP-RUN-H1" in page.text and "Sign and submit" in page.text and "cert.pdf" in page.text
    wrong = await sam.sign(f"{url}/sign", page.text, SAM, "nope")
    assert wrong.status_code == 422 and "not correct" in wrong.text
    stale = await sam.sign(f"{url}/sign", page.text, SAM, version="9")
    assert stale.status_code == 409 and "you saw 9" in stale.text
    signed = await sam.sign(f"{url}/sign", page.text, SAM)
    assert signed.status_code == 303, signed.text
    page = await sam.get(url)
    assert "Sam Okafor" in page.text and "submitted as accurate" in page.text
    await sam.logout()

    qa = Browser(client)
    await qa.login(QA)
    queue = await qa.get("/internal/process-runs")
    run_id = re.search(r'href="/internal/process-runs/(\d+)">SP-RUN-H1', queue.text)
    assert run_id, queue.text
    review = await qa.get(f"/internal/process-runs/{run_id.group(1)}")
    assert "Sign decision" in review.text and "Target dose" in review.text
    decided = await qa.sign(
        f"/internal/process-runs/{run_id.group(1)}/decision",
        review.text,
        QA,
        decision="accept",
        comment="",
    )
    assert decided.status_code == 303, decided.text
    trace = await qa.get("/internal/trace", params={"q": "IL-RES-0001-G", "direction": "backward"})
    assert trace.status_code == 200
    assert "SP-RUN-H1" in trace.text and "Target dose 31 kGy" in trace.text
    assert "AP-24-0815" in trace.text  # through the process edge back to the supplier lot
    demo = await qa.get("/internal/trace", params={"q": "SN-DEMO-0001", "direction": "backward"})
    assert "SP-RUN-0417" in demo.text and "returned as itself" in demo.text
    record = await qa.get(f"/records/process_run/{run_id.group(1)}")
    assert record.status_code == 200 and "Quinn Avery" in record.text


@pytest.mark.req("QMS-07")
async def test_a_supplier_without_an_approval_is_refused_on_the_form(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    anna = Browser(client)
    await anna.login(ANNA)
    before = await row_counts(runtime, WATCHED)
    certificate = make_pdf("Certificate", ["uploaded with a refused run"])
    refused = await anna.post(
        "/supplier/process-runs",
        form(),
        files={"certificate": ("cert.pdf", certificate, "application/pdf")},
    )
    assert refused.status_code == 422
    assert "Acme Polymers has no approval (quality agreement) for sterilization" in refused.text
    assert await row_counts(runtime, WATCHED) == before  # not even the uploaded certificate


@pytest.mark.req("QMS-08")
async def test_form_errors_name_the_field(client: httpx.AsyncClient, runtime: Runtime) -> None:
    sam = Browser(client)
    await sam.login(SAM)
    before = await row_counts(runtime, WATCHED)
    bad = await sam.post(
        "/supplier/process-runs",
        form(param_value_0="thirty", input_lot_0="IL-NOPE", output_lot_0="FG-LOT-0001"),
    )
    assert bad.status_code == 422
    assert "Target dose: &#39;thirty&#39; is not a number" in bad.text
    assert "We have no lot IL-NOPE" in bad.text
    assert await row_counts(runtime, WATCHED) == before


@pytest.mark.req("P11-04")
async def test_another_organization_gets_404_for_a_run(client: httpx.AsyncClient) -> None:
    qa = Browser(client)
    await qa.login(QA)
    queue = await qa.get("/internal/process-runs")
    run_id = re.search(r'href="/internal/process-runs/(\d+)">SP-RUN-0417', queue.text)
    assert run_id
    await client.post("/logout", data={"_csrf_token": qa.csrf})
    client.cookies.clear()
    anna = Browser(client)
    await anna.login(ANNA)
    assert (await anna.get(f"/supplier/process-runs/{run_id.group(1)}")).status_code == 404
    assert (await anna.get(f"/records/process_run/{run_id.group(1)}")).status_code == 404
    listing = await anna.get("/supplier/process-runs")
    assert listing.status_code == 200 and "SP-RUN-0417" not in listing.text
    assert (await anna.get(f"/internal/process-runs/{run_id.group(1)}")).status_code in (403, 404)
    token = await api_token(client, "acme-edi", "acme-edi-secret")
    response = await client.get(f"/api/v1/process-runs/{run_id.group(1)}", headers=bearer(token))
    assert response.status_code == 404


@pytest.mark.req("QMS-07")
@pytest.mark.req("QMS-08")
async def test_the_api_creates_drafts_and_refuses_bad_runs(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    steri = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    created = await client.post("/api/v1/process-runs", json=api_run(), headers=steri)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "draft" and body["signatures"] == []  # a person signs it
    assert body["lots"][1] == {
        "role": "output",
        "lot_number": "FG-LOT-0001",
        "quantity": "10",
        "unit": "pcs",
        "same_identity": True,
        "sources": [],
    }
    listed = await client.get("/api/v1/process-runs", headers=steri)
    assert {r["run_number"] for r in listed.json()} == {"SP-RUN-0417", "SP-RUN-A1"}
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    before = await row_counts(runtime, WATCHED)  # (issuing a token is audited; it happens before)
    bad = await client.post(
        "/api/v1/process-runs",
        json=api_run(
            run_number="SP-RUN-A2",
            parameters=[{"name": "Target dose", "value": "30", "lower_limit": "x"}],
        ),
        headers=steri,
    )
    assert bad.status_code == 422
    assert "Target dose: a limit is not valid: This is not a number" in bad.text
    refused = await client.post("/api/v1/process-runs", json=api_run(), headers=acme)
    assert refused.status_code == 422
    assert "Acme Polymers has no approval" in refused.text
    assert (await client.get("/api/v1/process-runs", headers=acme)).json() == []
    assert await row_counts(runtime, WATCHED) == before
