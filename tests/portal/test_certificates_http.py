"""Supplier certificates over real HTTP (CERT-01): the supplier uploads a certificate PDF and
signs it, QA accepts it with a signature; the receipts, lot review and trace pages show the
certificate status on the receipt date; the API creates drafts only; every refusal answers
with its specific message and changes nothing; another supplier's certificate is 404."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from documents.pdf import make_pdf
from tests.conftest import Browser, api_token, bearer, row_counts
from trace_core.certificates.models import SupplierCertificate
from trace_core.demo import DEMO_PASSWORD
from trace_core.lots.models import SupplierLot
from trace_core.services import Runtime

pytestmark = pytest.mark.req("CERT-01")

SAM, ANNA, QA = "sam@steripro.example", "anna@acme-polymers.example", "qa@traceport.example"
TODAY = dt.datetime.now(dt.UTC).date()
#: Tables a refused request must not touch.
WATCHED = ("supplier_certificates", "record_versions", "documents", "signatures")


def form(**changes: str) -> dict[str, str]:
    values = {
        "standard": "ISO 9001:2015",
        "certificate_number": "Q-9001-77",
        "issuer": "Test Registrar Ltd",
        "sites": "Acme Polymers, Ludwigshafen\nAcme Polymers, Mannheim warehouse",
        "product_scope": "Compounding of polymers",
        "valid_from": (TODAY - dt.timedelta(days=10)).isoformat(),
        "valid_until": (TODAY + dt.timedelta(days=30)).isoformat(),
        "part_numbers": "RES-100",
    }
    values.update(changes)
    return values


def pdf_file(text: str = "ISO 9001 certificate Q-9001-77") -> dict[str, Any]:
    return {"certificate": ("Q-9001-77.pdf", make_pdf("Certificate", [text]), "application/pdf")}


async def certificate_id(runtime: Runtime, number: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(SupplierCertificate.id).where(SupplierCertificate.certificate_number == number)
        )
    assert found is not None
    return int(found)


async def test_supplier_uploads_and_signs_and_qa_accepts_a_certificate(
    client: httpx.AsyncClient,
) -> None:
    anna = Browser(client)
    await anna.login(ANNA)
    assert "DE-13485-2291" in (await anna.get("/supplier/certificates")).text
    assert (await anna.get("/supplier/certificates/new")).status_code == 200
    created = await anna.post("/supplier/certificates", form(), files=pdf_file())
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    page = await anna.get(url)
    assert "Q-9001-77" in page.text and "Sign and submit" in page.text
    assert "Acme Polymers, Mannheim warehouse" in page.text and "Q-9001-77.pdf" in page.text
    wrong = await anna.sign(f"{url}/sign", page.text, ANNA, "nope")
    assert wrong.status_code == 422 and "not correct" in wrong.text
    signed = await anna.sign(f"{url}/sign", page.text, ANNA)
    assert signed.status_code == 303, signed.text
    page = await anna.get(url)
    assert "Anna Schmidt" in page.text and "submitted as accurate" in page.text
    await anna.logout()

    qa = Browser(client)
    await qa.login(QA)
    listing = await qa.get("/internal/certificates")
    # SteriPro's demo certificate lapsed; Acme's new one ends within 60 days once accepted.
    assert "SP-11137-0042" in listing.text and "lapsed" in listing.text
    found = re.search(r'href="/internal/certificates/(\d+)">Q-9001-77', listing.text)
    assert found, listing.text
    review = await qa.get(f"/internal/certificates/{found.group(1)}")
    assert "Sign decision" in review.text and "Test Registrar Ltd" in review.text
    decided = await qa.sign(
        f"/internal/certificates/{found.group(1)}/decision",
        review.text,
        QA,
        decision="accept",
        comment="",
    )
    assert decided.status_code == 303, decided.text
    review = await qa.get(f"/internal/certificates/{found.group(1)}")
    assert "Quinn Avery" in review.text and "expiring soon" in review.text
    record = await qa.get(f"/records/supplier_certificate/{found.group(1)}")
    assert record.status_code == 200 and "Q-9001-77" in record.text


async def test_qa_sees_the_flag_on_receipts_lot_review_and_trace(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    qa = Browser(client)
    await qa.login(QA)
    receipts = await qa.get("/internal/receipts")
    assert "CERTIFICATE LAPSED" in receipts.text and "certificate covered" in receipts.text
    trace = await qa.get("/internal/trace", params={"q": "SN-DEMO-0001", "direction": "backward"})
    assert trace.status_code == 200
    assert "CERTIFICATE LAPSED" in trace.text and "SP-11137-0042" in trace.text
    assert "DE-13485-2291" in trace.text and "Gamma Assurance Registrar Inc." in trace.text
    async with runtime.sessions() as session:
        lot_id = await session.scalar(
            select(SupplierLot.id).where(SupplierLot.lot_number == "SP-24-0117")
        )
    review = await qa.get(f"/internal/lots/{lot_id}")
    assert "Supplier certificate on the receipt date" in review.text
    assert "CERTIFICATE LAPSED" in review.text and "lapsed on" in review.text
    api = await client.get(
        "/api/v1/trace/backward",
        params={"id": "SN-DEMO-0001"},
        headers=bearer(await api_token(client, "traceport-erp", "traceport-erp-secret")),
    )
    assert api.status_code == 200
    node = next(n for n in api.json()["nodes"] if n["identifier"] == "SP-24-0117")
    (check,) = node["certificates"]
    assert check["at_receipt"]["status"] == "lapsed"
    certificate = check["at_receipt"]["certificate"]
    assert certificate["certificate_number"] == "SP-11137-0042"
    assert certificate["issuer"] == "Gamma Assurance Registrar Inc."
    assert certificate["valid_until"] == (TODAY - dt.timedelta(days=10)).isoformat()
    assert certificate["record"]["type"] == "supplier_certificate"
    assert len(certificate["record"]["content_sha256"]) == 64


async def test_bad_dates_and_a_non_pdf_are_refused_on_the_form(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    anna = Browser(client)
    await anna.login(ANNA)
    before = await row_counts(runtime, WATCHED)
    bad = await anna.post(
        "/supplier/certificates",
        form(valid_from=TODAY.isoformat(), valid_until=(TODAY - dt.timedelta(days=1)).isoformat()),
        files=pdf_file(),
    )
    assert bad.status_code == 422
    assert "The certificate cannot expire" in bad.text and "before it becomes valid" in bad.text
    assert await row_counts(runtime, WATCHED) == before  # not even the uploaded PDF
    not_pdf = await anna.post(
        "/supplier/certificates",
        form(),
        files={"certificate": ("cert.pdf", b"\x89PNG\r\n\x1a\n not a pdf", "application/pdf")},
    )
    assert not_pdf.status_code == 422 and "Nothing was saved" in not_pdf.text
    assert 'class="error" role="alert"' in not_pdf.text
    unknown = await anna.post(
        "/supplier/certificates", form(part_numbers="NOPE-9"), files=pdf_file()
    )
    assert unknown.status_code == 422 and "We have no part NOPE-9" in unknown.text
    assert await row_counts(runtime, WATCHED) == before


@pytest.mark.req("P11-04")
async def test_another_supplier_gets_404_for_a_certificate(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    acme_iso = await certificate_id(runtime, "DE-13485-2291")
    sam = Browser(client)
    await sam.login(SAM)
    before = await row_counts(runtime, WATCHED)
    assert (await sam.get(f"/supplier/certificates/{acme_iso}")).status_code == 404
    assert (await sam.get(f"/records/supplier_certificate/{acme_iso}")).status_code == 404
    listing = await sam.get("/supplier/certificates")
    assert "SP-11137-0042" in listing.text and "DE-13485-2291" not in listing.text
    withdrawn = await sam.post(
        f"/supplier/certificates/{acme_iso}/withdraw", {"version": "3", "reason": "mine"}
    )
    assert withdrawn.status_code == 404
    signed = await sam.post(
        f"/supplier/certificates/{acme_iso}/sign",
        {"version": "3", "password": DEMO_PASSWORD, "user_id": SAM},
    )
    assert signed.status_code == 404
    assert (await sam.get(f"/internal/certificates/{acme_iso}")).status_code in (403, 404)
    token = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    assert (await client.get(f"/api/v1/certificates/{acme_iso}", headers=token)).status_code == 404
    listed = await client.get("/api/v1/certificates", headers=token)
    assert [c["certificate_number"] for c in listed.json()] == ["SP-11137-0042"]
    assert await row_counts(runtime, WATCHED) == before


async def test_the_api_creates_drafts_only(client: httpx.AsyncClient, runtime: Runtime) -> None:
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    upload = await client.post(
        "/api/v1/documents",
        headers=acme,
        files={
            "file": ("iso.pdf", make_pdf("Certificate", ["ISO 13485 renewal"]), "application/pdf")
        },
    )
    assert upload.status_code == 201, upload.text
    body = {
        "standard": "ISO 13485:2016",
        "certificate_number": "DE-13485-2292",
        "issuer": "CertNord GmbH",
        "sites": ["Acme Polymers, Ludwigshafen"],
        "valid_from": TODAY.isoformat(),
        "valid_until": (TODAY + dt.timedelta(days=1000)).isoformat(),
        "document_id": upload.json()["id"],
        "part_kinds": ["material"],
    }
    created = await client.post("/api/v1/certificates", json=body, headers=acme)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["status"] == "draft" and made["signatures"] == []
    assert made["part_kinds"] == ["material"] and made["document"]["filename"] == "iso.pdf"
    # No API route signs or decides: a person of Acme signs on the portal, our QA decides.
    for path in ("sign", "decision", "accept"):
        response = await client.post(
            f"/api/v1/certificates/{made['id']}/{path}", json={}, headers=acme
        )
        assert response.status_code in (404, 405)
    before = await row_counts(runtime, WATCHED)
    bad = await client.post(
        "/api/v1/certificates",
        json={**body, "valid_until": (TODAY - dt.timedelta(days=1)).isoformat()},
        headers=acme,
    )
    assert bad.status_code == 422 and "valid_until" in bad.json()["fields"]
    steri = bearer(await api_token(client, "steripro-edi", "steripro-edi-secret"))
    foreign = await client.post(  # SteriPro naming Acme's document
        "/api/v1/certificates", json={**body, "certificate_number": "X"}, headers=steri
    )
    assert foreign.status_code == 422
    assert foreign.json()["fields"] == {"document": "The certificate document was not found."}
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))
    ours = await client.post("/api/v1/certificates", json=body, headers=erp)
    assert ours.status_code == 403  # our own systems do not record suppliers' certificates
    assert await row_counts(runtime, WATCHED) == before
    listed = await client.get("/api/v1/certificates", headers=erp)
    assert {"DE-13485-2291", "DE-13485-2292", "SP-11137-0042"} <= {
        c["certificate_number"] for c in listed.json()
    }


async def test_coverage_on_any_day_on_the_page_and_through_the_api(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """ "Was this part from this supplier covered on that day?" for any day, judged with what
    we know now: QA's form on the certificates page and GET /api/v1/certificates/coverage. Bad
    questions are answered with what is wrong; a supplier asks only about itself."""
    erp = bearer(await api_token(client, "traceport-erp", "traceport-erp-secret"))

    async def ask(headers: dict[str, str], **params: str) -> httpx.Response:
        return await client.get("/api/v1/certificates/coverage", params=params, headers=headers)

    day = TODAY.isoformat()
    covered = await ask(erp, supplier="Acme Polymers", part="RES-100", date=day)
    assert covered.status_code == 200, covered.text
    answer = covered.json()
    assert (answer["supplier"], answer["part_number"], answer["day"]) == (
        "Acme Polymers",
        "RES-100",
        day,
    )
    assert answer["status"] == "covered" and answer["explanation"].startswith("Covered on")
    assert answer["certificate"]["certificate_number"] == "DE-13485-2291"
    later = (TODAY + dt.timedelta(days=800)).isoformat()
    assert (await ask(erp, supplier="Acme Polymers", part="RES-100", date=later)).json()[
        "status"
    ] == "lapsed"
    outside = await ask(erp, supplier="Acme Polymers", part="STE-200", date=day)
    assert outside.json()["status"] == "not_covered"
    assert "does not cover this part" in outside.json()["explanation"]
    for params, field, message in (
        ({"supplier": "Acme Polymers", "part": "RES-100", "date": "25.11.2026"}, "date", "YYYY"),
        ({"supplier": "Acme Polymer", "part": "RES-100", "date": day}, "supplier", "no supplier"),
        ({"supplier": "Acme Polymers", "part": "", "date": day}, "part_number", "Name the part"),
        ({"supplier": "Acme Polymers", "part": "NOPE-1", "date": day}, "part_number", "NOPE-1"),
        ({"part": "RES-100", "date": day}, "supplier", "Name the supplier"),
    ):
        refused = await ask(erp, **params)
        assert refused.status_code == 422, (params, refused.text)
        assert message in refused.json()["fields"][field], refused.json()
    # A supplier's client asks about itself, with or without its name; never about another.
    acme = bearer(await api_token(client, "acme-edi", "acme-edi-secret"))
    own = await ask(acme, part="RES-100", date=day)
    assert own.status_code == 200 and own.json()["supplier"] == "Acme Polymers"
    other = await ask(acme, supplier="SteriPro", part="STE-200", date=day)
    assert other.status_code == 404

    qa = Browser(client)
    await qa.login(QA)
    page = await qa.get(f"/internal/certificates?supplier=Acme+Polymers&part=RES-100&date={later}")
    assert page.status_code == 200
    assert "Was a part covered on a day?" in page.text
    assert re.search(r"DE-13485-2291.{0,80}lapsed on", page.text, re.S), page.text
    bad = await qa.get("/internal/certificates?supplier=Acme+Polymers&part=RES-100&date=soon")
    assert bad.status_code == 422 and "write it as YYYY-MM-DD" in bad.text
    plain = await qa.get("/internal/certificates")
    assert plain.status_code == 200 and "coverage-answer" not in plain.text


@pytest.mark.req("CERT-01")
async def test_a_supplier_asks_on_its_certificates_page_whether_a_part_was_covered(
    client: httpx.AsyncClient,
) -> None:
    """The supplier's side of the coverage question: its own approved parts to choose from,
    its own certificates judged, a bad day answered with what is wrong."""
    supplier = Browser(client)
    await supplier.login(ANNA)
    page = await supplier.get("/supplier/certificates")
    assert page.status_code == 200 and "Was a part covered on a day?" in page.text
    assert '<option value="RES-100"' in page.text
    assert 'name="supplier"' not in page.text  # it asks about itself only
    day = TODAY.isoformat()
    covered = await supplier.get(f"/supplier/certificates?part=RES-100&date={day}")
    assert covered.status_code == 200
    assert re.search(r"Covered on .{0,200}DE-13485-2291", covered.text, re.S), covered.text
    assert 'href="/supplier/certificates/' in covered.text
    later = (TODAY + dt.timedelta(days=800)).isoformat()
    lapsed = await supplier.get(f"/supplier/certificates?part=RES-100&date={later}")
    assert lapsed.status_code == 200 and "lapsed on" in lapsed.text
    bad = await supplier.get("/supplier/certificates?part=RES-100&date=soon")
    assert bad.status_code == 422 and "write it as YYYY-MM-DD" in bad.text
    unknown = await supplier.get(f"/supplier/certificates?part=NOPE-1&date={day}")
    assert unknown.status_code == 422 and "NOPE-1" in unknown.text
