"""Supplier certificates in Chromium against a real ``traceport demo`` server (CERT-01): Acme's
signer uploads a certificate PDF with its scope and signs it; QA finds it on the certificate
list and accepts it with a signed decision; the backward trace of a demo serial shows, at each
supplier lot, the certificate status on the receipt date — covered for Acme, lapsed for
SteriPro."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from documents.pdf import make_pdf
from tests.browser.test_slice_browser import UTC_TIME, Page

pytestmark = [pytest.mark.browser, pytest.mark.req("CERT-01")]

ANNA = "anna@acme-polymers.example"
QA = "qa@traceport.example"


@pytest.fixture(scope="module")
def certificate() -> dict[str, str]:
    return {"number": f"Q-9001-{secrets.token_hex(3).upper()}"}


def test_supplier_uploads_and_signs_a_certificate(
    live_server: str, driver: WebDriver, certificate: dict[str, str], tmp_path: Path
) -> None:
    page = Page(driver, live_server)
    today = dt.datetime.now(dt.UTC).date()
    page.sign_in(ANNA)
    page.wait_for_path(r"/supplier/?")
    page.nav("Certificates")
    page.wait_for_path(r"/supplier/certificates")
    page.wait_for_text("Your certificates", "DE-13485-2291")
    driver.find_element(By.LINK_TEXT, "Add a certificate").click()
    page.wait_for_path(r"/supplier/certificates/new")
    form = page.form("/supplier/certificates")
    page.type("standard", "ISO 9001:2015", form)
    page.type("certificate_number", certificate["number"], form)
    page.type("issuer", "Test Registrar Ltd", form)
    page.set_value("valid_from", (today - dt.timedelta(days=5)).isoformat())
    page.set_value("valid_until", (today + dt.timedelta(days=900)).isoformat())
    page.type("sites", "Acme Polymers, Ludwigshafen", form)
    page.type("product_scope", "Compounding of polymers", form)
    page.type("part_numbers", "RES-100", form)
    pdf = tmp_path / f"{certificate['number']}.pdf"
    pdf.write_bytes(make_pdf("Certificate", [f"ISO 9001 certificate {certificate['number']}"]))
    page.field("certificate", form).send_keys(str(pdf))
    page.submit(form)

    certificate_id = page.wait_for_path(r"/supplier/certificates/(\d+)").group(1)
    body = page.wait_for_text(
        f"ISO 9001:2015 certificate {certificate['number']}",
        "Test Registrar Ltd",
        "RES-100",
        "Not signed yet.",
    )
    assert "draft" in page.status(), body
    form = page.form(f"/supplier/certificates/{certificate_id}/sign")
    assert "submitted as accurate" in form.text, form.text
    page.sign(form, ANNA)
    page.wait_for_path(rf"/supplier/certificates/{certificate_id}")
    page.wait_for_text("submitted as accurate")
    assert "submitted" in page.status()
    signature = driver.find_element(By.CSS_SELECTOR, "tr.signature").text
    assert "Anna Schmidt" in signature and UTC_TIME.search(signature), signature
    page.assert_console_clean()
    certificate["id"] = certificate_id


def test_qa_accepts_the_certificate_and_the_trace_shows_the_status(
    live_server: str, driver: WebDriver, certificate: dict[str, str]
) -> None:
    if "id" not in certificate:
        pytest.skip("the supplier's test did not get as far as signing the certificate")
    page = Page(driver, live_server)
    page.sign_in(QA)
    page.wait_for_path(r"/internal/?")
    page.nav("Certificates")
    page.wait_for_path(r"/internal/certificates")
    listing = page.wait_for_text("Supplier certificates", certificate["number"], "SP-11137-0042")
    lapsed = next(
        r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr") if "SP-11137-0042" in r.text
    )
    assert "lapsed" in lapsed, listing
    driver.find_element(By.LINK_TEXT, certificate["number"]).click()
    page.wait_for_path(rf"/internal/certificates/{certificate['id']}")
    page.wait_for_text("Decision", "Anna Schmidt", "Certificate PDF")
    page.decide(f"/internal/certificates/{certificate['id']}/decision", "accept", QA)
    page.wait_for_path(rf"/internal/certificates/{certificate['id']}")
    page.wait_for_text("Quinn Avery")
    assert "accepted" in page.status()
    signatures = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr.signature")]
    assert any("Quinn Avery" in s and "approved" in s for s in signatures), signatures

    page.open("/internal/trace")
    page.wait_for_text("Trace")
    text = page.trace("SN-DEMO-0001", "backward")
    checks = [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, "#trace-result .certificate-check")
    ]
    covered = [c for c in checks if "DE-13485-2291" in c]
    lapsed_checks = [c for c in checks if "SP-11137-0042" in c]
    assert covered and "certificate covered" in covered[0], text
    assert "CertNord GmbH" in covered[0] and "v3" in covered[0], covered[0]
    assert lapsed_checks and "CERTIFICATE LAPSED" in lapsed_checks[0], text
    assert "lapsed on" in lapsed_checks[0], lapsed_checks[0]
    page.screenshot("browser-certificate-trace.png")
    page.assert_console_clean()
