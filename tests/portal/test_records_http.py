"""Part 11 record features over real HTTP: the pages a person uses (revise with a reason,
versions and diffs, void, signing components, the audit-trail review that gates approval, the
audit page) and the machine API (revisions, void, records with ``?version=N``, audit events).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from documents.pdf import make_pdf
from tests.conftest import Browser, api_token, bearer
from trace_core.demo import DEMO_PASSWORD
from trace_core.records.models import AuditEvent
from trace_core.services import Runtime

GOOD = {"MFI": "10.2", "MOIST": "0.02", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
ANNA = "anna@acme-polymers.example"
QA = "qa@traceport.example"


def lot_form(
    lot_number: str, results: dict[str, str] | None = None, **extra: str
) -> dict[str, str]:
    made = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
    fields = {
        "part_number": "RES-100",
        "lot_number": lot_number,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": made.isoformat(),
        "expires_on": (made + dt.timedelta(days=700)).isoformat(),
    }
    for code, value in (results or GOOD).items():
        fields[f"result_{code}"] = value
    fields.update(extra)
    return fields


async def submit_draft(browser: Browser, lot_number: str) -> int:
    pdf = make_pdf("Certificate of Analysis", [f"Lot: {lot_number}"])
    response = await browser.post(
        "/supplier/lots",
        lot_form(lot_number),
        files={"coa": ("coa.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 303, response.text
    match = re.search(r"/supplier/lots/(\d+)$", response.headers["location"])
    assert match
    return int(match.group(1))


async def audit_count(runtime: Runtime, action: str) -> int:
    async with runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
            or 0
        )


@pytest.mark.req("P11-06")
@pytest.mark.req("A11-05")
@pytest.mark.req("A11-06")
async def test_supplier_revises_in_the_browser_and_sees_versions_and_diff(
    browser: Browser, runtime: Runtime
) -> None:
    await browser.login(ANNA)
    lot_id = await submit_draft(browser, "H-REV-1")
    form = await browser.get(f"/supplier/lots/{lot_id}/revise")
    assert form.status_code == 200
    assert 'name="reason"' in form.text and 'value="10.2"' in form.text and "readonly" in form.text
    before = await audit_count(runtime, "revise")
    refused = await browser.post(
        f"/supplier/lots/{lot_id}/revise", lot_form("H-REV-1", {**GOOD, "MFI": "10.9"}, version="1")
    )
    assert refused.status_code == 422
    assert "a revision without a reason is refused" in refused.text
    assert await audit_count(runtime, "revise") == before
    done = await browser.post(
        f"/supplier/lots/{lot_id}/revise",
        lot_form("H-REV-1", {**GOOD, "MFI": "10.9"}, version="1", reason="MFI misread"),
    )
    assert done.status_code == 303, done.text
    page = await browser.get(f"/supplier/lots/{lot_id}")
    assert "Revised after first entry" in page.text and "MFI misread" in page.text
    current = await browser.get(f"/records/supplier_lot/{lot_id}")
    assert current.status_code == 200
    assert "Current version" in current.text and "results[MFI].value" in current.text
    assert "10.9" in current.text and "Revised after first entry" in current.text
    first = await browser.get(f"/records/supplier_lot/{lot_id}?version=1")
    assert "Earlier version" in first.text
    content = first.text.split("Content of")[1].split("Signatures")[0]
    assert "10.2" in content and "10.9" not in content
    missing = await browser.get(f"/records/supplier_lot/{lot_id}?version=5")
    assert missing.status_code == 404 and "has no version 5" in missing.text


@pytest.mark.req("DI-04")
async def test_void_in_the_browser_keeps_the_record(browser: Browser) -> None:
    await browser.login(ANNA)
    lot_id = await submit_draft(browser, "H-VOID-1")
    refused = await browser.post(f"/supplier/lots/{lot_id}/void", {"version": "1", "reason": ""})
    assert refused.status_code == 422 and "Say why the lot is voided" in refused.text
    done = await browser.post(
        f"/supplier/lots/{lot_id}/void", {"version": "1", "reason": "duplicate entry"}
    )
    assert done.status_code == 303
    page = await browser.get(f"/records/supplier_lot/{lot_id}")
    assert page.status_code == 200 and "Voided" in page.text and "duplicate entry" in page.text


@pytest.mark.req("P11-20")
@pytest.mark.req("P11-21")
async def test_signing_form_asks_for_user_id_first_then_password_only(browser: Browser) -> None:
    await browser.login(ANNA)
    first = await submit_draft(browser, "H-SIGN-1")
    second = await submit_draft(browser, "H-SIGN-2")
    page = await browser.get(f"/supplier/lots/{first}")
    assert 'name="user_id"' in page.text
    refused = await browser.post(
        f"/supplier/lots/{first}/sign", {"version": "1", "password": DEMO_PASSWORD}
    )
    assert refused.status_code == 422 and "needs your user ID" in refused.text
    signed = await browser.post(
        f"/supplier/lots/{first}/sign",
        {"version": "1", "password": DEMO_PASSWORD, "user_id": ANNA},
    )
    assert signed.status_code == 303
    page = await browser.get(f"/supplier/lots/{second}")
    assert 'name="user_id"' not in page.text and 'name="password"' in page.text
    signed = await browser.post(
        f"/supplier/lots/{second}/sign", {"version": "1", "password": DEMO_PASSWORD}
    )
    assert signed.status_code == 303


@pytest.mark.req("A11-06")
@pytest.mark.req("P11-15")
async def test_qa_must_sign_audit_review_of_a_revised_lot_before_approving(
    client: httpx.AsyncClient,
) -> None:
    supplier, qa = Browser(client), None
    await supplier.login(ANNA)
    lot_id = await submit_draft(supplier, "H-GATE-1")
    await supplier.post(
        f"/supplier/lots/{lot_id}/revise",
        lot_form("H-GATE-1", {**GOOD, "DENS": "1.31"}, version="1", reason="density retest"),
    )
    await supplier.post(
        f"/supplier/lots/{lot_id}/sign",
        {"version": "2", "password": DEMO_PASSWORD, "user_id": ANNA},
    )
    await client.post("/logout", data={"_csrf_token": supplier.csrf})
    client.cookies.clear()
    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get(f"/internal/lots/{lot_id}")
    assert "Audit-trail review" in page.text and "approval waits for it" in page.text
    decision = {
        "version": "3",
        "decision": "approve",
        "comment": "",
        "password": DEMO_PASSWORD,
        "user_id": QA,
    }
    blocked = await qa.post(f"/internal/lots/{lot_id}/decision", decision)
    assert blocked.status_code == 409 and "review its audit trail" in blocked.text
    reviewed = await qa.post(
        f"/internal/lots/{lot_id}/audit-review",
        {"version": "3", "comment": "checked", "password": DEMO_PASSWORD, "user_id": QA},
    )
    assert reviewed.status_code == 303, reviewed.text
    approved = await qa.post(f"/internal/lots/{lot_id}/decision", {**decision, "user_id": ""})
    assert approved.status_code == 303, approved.text
    record = await qa.get(f"/records/supplier_lot/{lot_id}")
    signatures = re.findall(r'<tr class="signature">(.*?)</tr>', record.text, re.S)
    assert len(signatures) == 3
    assert "audit trail reviewed" in signatures[1] and "Quinn Avery" in signatures[1]
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC", signatures[2])


@pytest.mark.req("P11-05")
@pytest.mark.req("A11-06")
async def test_audit_page_filters_and_signs_a_review(browser: Browser) -> None:
    await browser.login(QA)
    page = await browser.get("/internal/audit?action=login&actor=quinn")
    assert page.status_code == 200 and "events match" in page.text and "Quinn Avery" in page.text
    bad = await browser.get("/internal/audit?since=yesterday")
    assert bad.status_code == 422 and "is not a date" in bad.text
    signed = await browser.post(
        "/internal/audit/review",
        {
            "action": "login",
            "actor": "quinn",
            "comment": "weekly review",
            "password": DEMO_PASSWORD,
            "user_id": QA,
        },
    )
    assert signed.status_code == 303, signed.text
    review = await browser.get(signed.headers["location"])
    assert "Audit-trail review" in review.text and "audit trail reviewed" in review.text
    checkpoint = await browser.post("/internal/audit/checkpoint", {})
    assert checkpoint.status_code == 303
    trail = await browser.get("/internal/audit?action=checkpoint")
    assert "checkpoint" in trail.text


@pytest.mark.req("P11-04")
async def test_suppliers_cannot_reach_the_audit_trail_or_foreign_records(
    browser: Browser,
) -> None:
    await browser.login("sam@steripro.example")
    assert (await browser.get("/internal/audit")).status_code == 403
    assert (await browser.get("/records/supplier_lot/1")).status_code == 404
    assert (await browser.get("/records/user/1")).status_code == 404
    assert (await browser.get("/records/supplier_lot/1/export.json")).status_code == 404


# -- the machine API ------------------------------------------------------------------------


async def api_lot(
    http: httpx.AsyncClient, headers: dict[str, str], lot_number: str
) -> dict[str, Any]:
    upload = await http.post(
        "/api/v1/documents",
        headers=headers,
        files={"file": ("coa.pdf", make_pdf("CoA", [lot_number]), "application/pdf")},
    )
    assert upload.status_code == 201, upload.text
    made = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
    body = {
        "part_number": "RES-100",
        "lot_number": lot_number,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": made.isoformat(),
        "coa_document_id": upload.json()["id"],
        "results": [{"code": k, "value": v} for k, v in GOOD.items()],
    }
    response = await http.post("/api/v1/lots", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def revision_body(**overrides: Any) -> dict[str, Any]:
    made = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
    body: dict[str, Any] = {
        "reason": "MFI retested",
        "expected_version": 1,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": made.isoformat(),
        "results": [{"code": k, "value": v} for k, v in {**GOOD, "MFI": "10.8"}.items()],
    }
    body.update(overrides)
    return body


@pytest.mark.req("P11-06")
@pytest.mark.req("A11-06")
async def test_api_revision_needs_a_reason_and_keeps_version_one(client: httpx.AsyncClient) -> None:
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    lot = await api_lot(client, acme, "API-REV-1")
    url = f"/api/v1/lots/{lot['id']}/revisions"
    no_reason = await client.post(url, headers=acme, json=revision_body(reason=" "))
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["fields"]
    stale = await client.post(url, headers=acme, json=revision_body(expected_version=3))
    assert stale.status_code == 409
    unknown = await client.post(url, headers=acme, json={**revision_body(), "status": "approved"})
    assert unknown.status_code == 400
    done = await client.post(url, headers=acme, json=revision_body())
    assert done.status_code == 201, done.text
    assert done.json()["version"] == 2 and done.json()["status"] == "submitted"
    record = await client.get(f"/api/v1/records/supplier_lot/{lot['id']}", headers=acme)
    assert record.status_code == 200
    data = record.json()
    assert data["revised_after_first_entry"] and data["current_version"] == 2
    assert {"field": "results[MFI].value", "old": "10.2", "new": "10.8"} in data["changes"]
    assert data["version"]["reason"] == "MFI retested" and data["version"]["channel"] == "api"
    v1 = await client.get(f"/api/v1/records/supplier_lot/{lot['id']}?version=1", headers=acme)
    mfi = [r for r in v1.json()["version"]["content"]["results"] if r["code"] == "MFI"]
    assert mfi[0]["value"] == "10.2" and v1.json()["changes"] == []
    steri = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    foreign = await client.get(f"/api/v1/records/supplier_lot/{lot['id']}", headers=steri)
    assert foreign.status_code == 404
    foreign_revision = await client.post(url, headers=steri, json=revision_body(expected_version=2))
    assert foreign_revision.status_code == 404


@pytest.mark.req("DI-04")
async def test_api_void_keeps_the_lot_retrievable(client: httpx.AsyncClient) -> None:
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    lot = await api_lot(client, acme, "API-VOID-1")
    url = f"/api/v1/lots/{lot['id']}/void"
    refused = await client.post(url, headers=acme, json={"reason": "", "expected_version": 1})
    assert refused.status_code == 422
    done = await client.post(
        url, headers=acme, json={"reason": "sent twice", "expected_version": 1}
    )
    assert done.status_code == 200 and done.json()["status"] == "voided"
    again = await client.get(f"/api/v1/lots/{lot['id']}", headers=acme)
    assert again.status_code == 200 and again.json()["status"] == "voided"


@pytest.mark.req("P11-05")
async def test_api_audit_events_for_internal_clients_only(client: httpx.AsyncClient) -> None:
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    response = await client.get(
        "/api/v1/audit/events?record_type=supplier_lot&limit=5", headers=erp
    )
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert len(events) == 5 and all(e["record_type"] == "supplier_lot" for e in events)
    assert events[0]["seq"] > events[-1]["seq"] and re.fullmatch(r"[0-9a-f]{64}", events[0]["hash"])
    older = await client.get(
        f"/api/v1/audit/events?limit=5&before_seq={events[-1]['seq']}", headers=erp
    )
    assert all(e["seq"] < events[-1]["seq"] for e in older.json()["events"])
    bad = await client.get("/api/v1/audit/events?since=soon", headers=erp)
    assert bad.status_code == 422 and "since" in bad.json()["fields"]
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    assert (await client.get("/api/v1/audit/events", headers=acme)).status_code == 403


@pytest.mark.req("P11-26")
@pytest.mark.req("P11-20")
async def test_totp_enrolment_page_and_signing_with_a_code(browser: Browser) -> None:
    import time

    from trace_core.identity.totp import code_at

    await browser.login(ANNA)
    page = await browser.get("/account/security")
    secret_match = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text)
    assert page.status_code == 200 and secret_match and "otpauth://totp/" in page.text
    secret = secret_match.group(1)
    wrong = await browser.post(
        "/account/totp", {"secret": secret, "code": "000000", "password": DEMO_PASSWORD}
    )
    assert wrong.status_code == 422 and "code does not match" in wrong.text
    enrolled = await browser.post(
        "/account/totp",
        {"secret": secret, "code": code_at(secret, time.time()), "password": DEMO_PASSWORD},
    )
    # The answer shows the recovery codes, once (P11-26).
    assert enrolled.status_code == 200 and "Your recovery codes" in enrolled.text
    assert "An authenticator is enrolled" in (await browser.get("/account/security")).text
    lot_id = await submit_draft(browser, "H-TOTP-1")
    form = await browser.get(f"/supplier/lots/{lot_id}")
    assert 'name="totp"' in form.text
    no_code = await browser.post(
        f"/supplier/lots/{lot_id}/sign",
        {"version": "1", "password": DEMO_PASSWORD, "user_id": ANNA},
    )
    assert no_code.status_code == 422 and "authenticator" in no_code.text
    signed = await browser.post(
        f"/supplier/lots/{lot_id}/sign",
        {
            "version": "1",
            "password": DEMO_PASSWORD,
            "user_id": ANNA,
            "totp": code_at(secret, time.time() + 30),
        },
    )
    assert signed.status_code == 303, signed.text


@pytest.mark.req("P11-02")
@pytest.mark.req("P11-16")
async def test_exports_over_http_verify_and_carry_the_manifestation(
    client: httpx.AsyncClient, signing_key: Any
) -> None:
    import io

    from pypdf import PdfReader

    from trace_core.records.export import verify_bundle

    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    lot = await api_lot(client, acme, "API-EXP-1")
    bundle = await client.get(f"/api/v1/records/supplier_lot/{lot['id']}/export", headers=acme)
    assert bundle.status_code == 200, bundle.text
    report = verify_bundle(bundle.json(), [signing_key.public_pem])
    assert report.ok, report.summary_lines()
    assert "export" in [e["action"] for e in bundle.json()["audit_events"]]
    pdf = await client.get(f"/api/v1/records/supplier_lot/{lot['id']}/export.pdf", headers=acme)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "API-EXP-1" in "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages
    )
    steri = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    other = await client.get(f"/api/v1/records/supplier_lot/{lot['id']}/export", headers=steri)
    assert other.status_code == 404

    browser = Browser(client)
    await browser.login(ANNA)
    lot_id = await submit_draft(browser, "H-EXP-1")
    await browser.post(
        f"/supplier/lots/{lot_id}/sign",
        {"version": "1", "password": DEMO_PASSWORD, "user_id": ANNA},
    )
    page_pdf = await browser.get(f"/records/supplier_lot/{lot_id}/export.pdf")
    assert page_pdf.status_code == 200
    assert "attachment" in page_pdf.headers["content-disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(page_pdf.content)).pages)
    assert "Anna Schmidt" in text and "submitted as accurate" in text and "UTC" in text
    page_json = await browser.get(f"/records/supplier_lot/{lot_id}/export.json")
    assert verify_bundle(page_json.json(), [signing_key.public_pem]).ok
