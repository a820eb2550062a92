"""Outsourced process runs in Chromium against a real ``traceport demo`` server: SteriPro's
signer records a sterilization run over one of our released lots (parameters, results, a
release certificate, a new lot number for what came back) and signs it; QA finds it in the
process-run queue and accepts it with a signed decision; the backward trace shows the run on
the lots it touched; and a run the quality agreement does not cover is refused on the form
with the reason, saving nothing (QMS-07, QMS-08)."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from documents.pdf import make_pdf
from tests.browser.test_slice_browser import UTC_TIME, Page

pytestmark = pytest.mark.browser

SAM = "sam@steripro.example"
QA = "qa@traceport.example"
#: A released internal lot of the demo (25 kg of resin received from Acme Polymers).
INPUT_LOT = "IL-RES-0001"


@pytest.fixture(scope="module")
def run() -> dict[str, str]:
    """What the contractor's test recorded, for the tests after it in this module."""
    tag = secrets.token_hex(3).upper()
    return {"number": f"SP-BR-{tag}", "cycle": f"GC-BR-{tag}", "output": f"IL-RES-S-{tag}"}


def _fill_run(
    page: Page,
    form: WebElement,
    *,
    kind: str,
    number: str,
    cycle: str,
    started: dt.date,
    ended: dt.date,
    output: str,
) -> None:
    Select(page.field("process_kind", form)).select_by_value(kind)
    page.type("run_number", number, form)
    page.type("cycle_id", cycle, form)
    page.set_value("started_on", started.isoformat())
    page.set_value("ended_on", ended.isoformat())
    for index, (name, value, unit, lower, upper) in enumerate(
        (("Target dose", "30", "kGy", "25", "45"), ("Exposure time", "398", "min", "", ""))
    ):
        for field, text in (("name", name), ("value", value), ("unit", unit)):
            page.type(f"param_{field}_{index}", text, form)
        for field, text in (("lower", lower), ("upper", upper)):
            if text:
                page.type(f"param_{field}_{index}", text, form)
    for index, (name, value, unit, lower) in enumerate(
        (("Dosimetry minimum", "27.9", "kGy", "25"), ("Biological indicator", "negative", "", ""))
    ):
        page.type(f"result_name_{index}", name, form)
        page.type(f"result_value_{index}", value, form)
        if unit:
            page.type(f"result_unit_{index}", unit, form)
        if lower:
            page.type(f"result_lower_{index}", lower, form)
    page.type("input_lot_0", INPUT_LOT, form)
    page.type("input_qty_0", "1", form)
    page.type("input_unit_0", "kg", form)
    page.type("output_lot_0", output, form)
    page.type("output_qty_0", "1", form)
    page.type("output_unit_0", "kg", form)
    page.type("output_from_0", INPUT_LOT, form)


def _open_new_run_form(page: Page) -> WebElement:
    driver = page.driver
    page.nav("Process runs")
    page.wait_for_path(r"/supplier/process-runs")
    page.wait_for_text("Your process approvals", "QAG-2026-014")
    driver.find_element(By.LINK_TEXT, "Record a process run").click()
    page.wait_for_path(r"/supplier/process-runs/new")
    page.wait_for_text("Record a process run", "Parameters", "Input lots")
    return page.form("/supplier/process-runs")


def _trace_page(live_server: str, driver: WebDriver) -> Page:
    page = Page(driver, live_server)
    page.sign_in(QA)
    page.wait_for_path(r"/internal/?")
    page.open("/internal/trace")
    page.wait_for_text("Trace")
    return page


@pytest.mark.req("QMS-07", "QMS-08")
def test_contractor_records_and_signs_a_sterilization_run(
    live_server: str, driver: WebDriver, run: dict[str, str], tmp_path: Path
) -> None:
    page = Page(driver, live_server)
    today = dt.datetime.now(dt.UTC).date()
    page.sign_in(SAM)
    page.wait_for_path(r"/supplier/?")
    form = _open_new_run_form(page)
    _fill_run(
        page,
        form,
        kind="sterilization",
        number=run["number"],
        cycle=run["cycle"],
        started=today - dt.timedelta(days=3),
        ended=today - dt.timedelta(days=2),
        output=run["output"],
    )
    certificate = tmp_path / f"{run['number']}-certificate.pdf"
    certificate.write_bytes(
        make_pdf(
            "Certificate of Irradiation",
            [f"Load: {run['number']}  Cycle: {run['cycle']}", "Minimum dose 27.9 kGy"],
        )
    )
    page.field("certificate", form).send_keys(str(certificate))
    page.submit(form)

    run_id = page.wait_for_path(r"/supplier/process-runs/(\d+)").group(1)
    body = page.wait_for_text(
        f"Sterilization run {run['number']}",
        "SteriPro",
        run["cycle"],
        "QAG-2026-014",
        "Target dose",
        f"new lot from {INPUT_LOT}",
        "Not signed yet.",
    )
    assert "draft" in page.status(), body
    values = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "table.results tbody tr")]
    assert len(values) == 4 and all("pass" in v or "report" in v for v in values[:3]), values
    dose = next(v for v in values if "Target dose" in v)
    assert "30 kGy" in dose and "≥ 25" in dose and "≤ 45" in dose and "pass" in dose, dose
    assert f"{run['number']}-certificate.pdf" in body, body

    # Sam signs: the first signature of the session asks for the user ID too.
    sign_action = f"/supplier/process-runs/{run_id}/sign"
    form = page.form(sign_action)
    assert "submitted as accurate" in form.text, form.text
    page.sign(form, SAM)
    page.wait_for_path(rf"/supplier/process-runs/{run_id}")
    page.wait_for_text("submitted as accurate")
    assert "submitted" in page.status()
    signature = driver.find_element(By.CSS_SELECTOR, "tr.signature").text
    assert "Sam Okafor" in signature and "submitted as accurate" in signature, signature
    assert UTC_TIME.search(signature), signature
    assert not driver.find_elements(By.CSS_SELECTOR, f'form[action="{sign_action}"]')
    page.screenshot("browser-process-run-signed.png")

    page.open("/supplier/process-runs")
    row = next(
        r.text for r in driver.find_elements(By.CSS_SELECTOR, "table tr") if run["number"] in r.text
    )
    assert INPUT_LOT in row and "submitted" in row, row
    page.assert_console_clean()
    run["id"] = run_id


@pytest.mark.req("QMS-08")
def test_qa_accepts_the_run_from_the_queue(
    live_server: str, driver: WebDriver, run: dict[str, str]
) -> None:
    if "id" not in run:
        pytest.skip("the contractor's test did not get as far as signing the run")
    page = Page(driver, live_server)
    page.sign_in(QA)
    page.wait_for_path(r"/internal/?")
    page.nav("Process runs")
    page.wait_for_path(r"/internal/process-runs")
    page.wait_for_text("Waiting for QA", run["number"])
    queue = driver.find_element(By.XPATH, "//section[h2[normalize-space()='Waiting for QA']]")
    row = next(r for r in queue.find_elements(By.CSS_SELECTOR, "tr") if run["number"] in r.text)
    assert "SteriPro" in row.text and INPUT_LOT in row.text and "submitted" in row.text, row.text
    row.find_element(By.LINK_TEXT, run["number"]).click()
    page.wait_for_path(rf"/internal/process-runs/{run['id']}")
    body = page.wait_for_text(
        "Decision", f"Sterilization run {run['number']}", "Sam Okafor", "Release certificate"
    )
    assert "Target dose" in body and "Biological indicator" in body, body
    frame = driver.find_element(By.CSS_SELECTOR, "iframe.pdf")
    assert "/documents/" in (frame.get_attribute("src") or "")
    page.screenshot("browser-process-run-review.png")

    page.decide(
        f"/internal/process-runs/{run['id']}/decision",
        "accept",
        QA,
        "Dose within 25-45 kGy, BI negative.",
    )
    page.wait_for_path(rf"/internal/process-runs/{run['id']}")
    page.wait_for_text("Quinn Avery")
    assert "accepted" in page.status()
    signatures = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr.signature")]
    approval = [s for s in signatures if "Quinn Avery" in s]
    assert approval and "approved" in approval[0] and "BI negative" in approval[0], signatures
    assert any("Sam Okafor" in s for s in signatures), signatures
    assert not driver.find_elements(By.CSS_SELECTOR, "section.sign form")

    page.open("/internal/process-runs")
    queue = driver.find_element(By.XPATH, "//section[h2[normalize-space()='Waiting for QA']]")
    assert run["number"] not in queue.text, queue.text
    page.assert_console_clean()
    run["accepted"] = "yes"


@pytest.mark.req("QMS-08")
def test_backward_trace_of_a_demo_serial_shows_its_sterilization_run(
    live_server: str, driver: WebDriver
) -> None:
    page = _trace_page(live_server, driver)
    # The demo's finished lot was gamma-sterilized by SteriPro and came back as itself.
    text = page.trace("SN-DEMO-0001", "backward")
    runs = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#trace-result .process-run")]
    demo = [r for r in runs if "SP-RUN-0417" in r]
    assert demo, f"SP-RUN-0417 missing from the backward trace:\n{text}"
    for needle in ("SteriPro", "GC-2291", "returned as itself", "Target dose 30 kGy", "Sam Okafor"):
        assert needle in demo[0], f"{needle!r} missing from the run on FG-LOT-0001:\n{demo[0]}"
    page.assert_console_clean()


@pytest.mark.req("QMS-08")
def test_backward_trace_of_the_returned_lot_shows_the_new_run(
    live_server: str, driver: WebDriver, run: dict[str, str]
) -> None:
    if "accepted" not in run:
        pytest.skip("the journey did not get as far as QA's acceptance")
    page = _trace_page(live_server, driver)
    # The lot that came back under a new number traces back through the run to what went in.
    text = page.trace(run["output"], "backward")
    tree = driver.find_element(By.CSS_SELECTOR, "#trace-result .trace-tree").text
    assert run["output"] in tree and INPUT_LOT in tree, text
    runs = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#trace-result .process-run")]
    ours = [r for r in runs if run["number"] in r]
    roles = " / ".join(ours)
    assert "made by the run" in roles and "sent in" in roles, roles
    for needle in ("SteriPro", run["cycle"], "Target dose 30 kGy", "accepted", "Quinn Avery"):
        assert needle in ours[0], f"{needle!r} missing from the run in the trace:\n{ours[0]}"
    output = driver.find_element(
        By.XPATH, f"//div[contains(@class,'trace-tree')]//*[normalize-space()='{run['output']}']/.."
    ).text
    assert "released" in output, f"the accepted run did not release {run['output']}:\n{output}"
    page.screenshot("browser-process-run-trace.png")
    page.assert_console_clean()


@pytest.mark.req("QMS-07")
def test_a_run_outside_the_quality_agreement_is_refused(
    live_server: str, driver: WebDriver, run: dict[str, str]
) -> None:
    page = Page(driver, live_server)
    today = dt.datetime.now(dt.UTC).date()
    refused = run["number"] + "-X"
    page.sign_in(SAM)
    page.wait_for_path(r"/supplier/?")

    # SteriPro holds an approval for sterilization only: a coating run is refused.
    form = _open_new_run_form(page)
    _fill_run(
        page,
        form,
        kind="coating",
        number=refused,
        cycle=run["cycle"] + "-X",
        started=today - dt.timedelta(days=3),
        ended=today - dt.timedelta(days=2),
        output=run["output"] + "-X",
    )
    page.submit(form)
    assert page.path() == "/supplier/process-runs", page.path()
    page.wait_for_text("Nothing was saved", "Record a process run")
    error = driver.find_element(
        By.XPATH, "//select[@name='process_kind']/../following-sibling::*[1][self::p]"
    )
    assert "SteriPro has no approval (quality agreement) for coating" in error.text, error.text
    assert "QMS-07" in error.text, error.text
    # The form comes back as the person filled it.
    form = page.form("/supplier/process-runs")
    assert page.field("run_number", form).get_attribute("value") == refused
    assert page.field("param_name_0", form).get_attribute("value") == "Target dose"
    assert page.field("input_lot_0", form).get_attribute("value") == INPUT_LOT
    page.screenshot("browser-process-run-refused.png")

    # Sterilization, but before the agreement took effect: refused with its validity.
    Select(page.field("process_kind", form)).select_by_value("sterilization")
    page.set_value("started_on", (today - dt.timedelta(days=500)).isoformat())
    page.set_value("ended_on", (today - dt.timedelta(days=499)).isoformat())
    page.submit(form)
    page.wait_for_text("Nothing was saved")
    error = driver.find_element(
        By.XPATH, "//select[@name='process_kind']/../following-sibling::*[1][self::p]"
    )
    assert "approval for sterilization (QAG-2026-014) is valid from" in error.text, error.text
    assert "is outside it" in error.text, error.text

    # Nothing was recorded: the run list does not know the refused run.
    page.open("/supplier/process-runs")
    page.wait_for_text("Process runs", "SP-RUN-0417")
    assert refused not in page.body()
    page.assert_console_clean()
