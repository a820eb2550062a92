"""The thin slice, walked in headless Chromium against a real ``traceport demo`` server:
a supplier submits and signs a lot with its CoA, QA approves it, operations receive it, build
it into serials and ship one, and the trace page follows the chain both ways."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from documents.pdf import make_pdf
from trace_core.demo import DEMO_PASSWORD

RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"
WAIT = 15
UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
SHA256 = re.compile(r"\b[0-9a-f]{64}\b")

pytestmark = pytest.mark.browser


class Page:
    """Small helpers over the driver: navigate, wait for text, read the visible body."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base
        self.console: list[dict[str, Any]] = []

    def wait(self, condition: Callable[[WebDriver], Any], message: str = "") -> Any:
        # A page replaced while the condition reads it raises "stale element" or "node does
        # not belong to the document": that is the page still changing, so poll again.
        return WebDriverWait(self.driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            condition, message
        )

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        self.collect_console()

    def body(self) -> str:
        for _attempt in range(5):
            try:
                return str(self.driver.find_element(By.TAG_NAME, "body").text)
            except WebDriverException:  # the page was being replaced; read the new one
                time.sleep(0.2)
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def path(self) -> str:
        return str(self.driver.current_url).removeprefix(self.base)

    def wait_for_path(self, pattern: str) -> re.Match[str]:
        self.wait(
            lambda d: re.fullmatch(pattern, str(d.current_url).removeprefix(self.base)),
            f"expected a URL matching {pattern}",
        )
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        self.collect_console()
        match = re.fullmatch(pattern, self.path())
        assert match, self.path()
        return match

    def wait_for_text(self, *needles: str) -> str:
        try:
            self.wait(lambda _d: all(n in self.body() for n in needles))
        except Exception:
            missing = [n for n in needles if n not in self.body()]
            raise AssertionError(f"{missing} not shown at {self.path()}:\n{self.body()}") from None
        return self.body()

    def field(self, name: str, within: WebElement | None = None) -> WebElement:
        return (within or self.driver).find_element(By.NAME, name)

    def type(self, name: str, value: str, within: WebElement | None = None) -> None:
        element = self.field(name, within)
        element.clear()
        element.send_keys(value)

    def set_value(self, name: str, value: str) -> None:
        self.driver.execute_script("arguments[0].value = arguments[1];", self.field(name), value)

    def submit(self, form: WebElement, label: str | None = None) -> None:
        """Click the form's submit button and wait for the old page to go."""
        buttons = form.find_elements(By.CSS_SELECTOR, "button[type=submit], button:not([type])")
        if label is not None:
            buttons = [b for b in buttons if b.text.strip() == label]
        assert buttons, f"no submit button {label!r} in the form"
        old = self.driver.find_element(By.TAG_NAME, "html")
        buttons[0].click()
        self.wait(ec.staleness_of(old), "the page did not change after submitting")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")
        self.collect_console()

    def form(self, action: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f'form[action="{action}"]')

    def login(self, email: str, password: str = DEMO_PASSWORD) -> None:
        self.open("/")
        self.wait_for_path(r"/login(\?.*)?")
        self.wait_for_text("Sign in")
        form = self.form("/login")
        self.type("email", email, form)
        self.type("password", password, form)
        self.submit(form)

    def sign_in(self, email: str) -> None:
        """A fresh sign-in, whoever the browser was signed in as before."""
        self.driver.delete_all_cookies()
        self.login(email)

    def nav(self, link: str) -> None:
        """Follow a link of the header's navigation."""
        self.driver.find_element(By.CSS_SELECTOR, "header nav").find_element(
            By.LINK_TEXT, link
        ).click()

    def status(self) -> str:
        """The status badge under a record page's heading."""
        badge = self.driver.find_element(By.CSS_SELECTOR, "h1 + p .badge[class*=status-]")
        return str(badge.text)

    def sign(self, form: WebElement, email: str, label: str | None = None) -> None:
        """Give a signing form the signature components — the user ID where the form asks
        for it again (first signature of a session) — and send it."""
        if form.find_elements(By.NAME, "user_id"):
            self.type("user_id", email, form)
        self.type("password", DEMO_PASSWORD, form)
        self.submit(form, label)

    def decide(self, action: str, decision: str, email: str, comment: str = "") -> None:
        """QA's signed decision on a record's page."""
        form = self.form(action)
        form.find_element(By.CSS_SELECTOR, f'input[name="decision"][value="{decision}"]').click()
        if comment:
            self.type("comment", comment, form)
        self.sign(form, email, "Sign decision")

    def logout(self) -> None:
        header = self.driver.find_element(By.CSS_SELECTOR, "header form.who")
        self.submit(header, "Sign out")
        self.open("/")
        self.wait_for_path(r"/login(\?.*)?")

    def collect_console(self) -> None:
        with contextlib.suppress(WebDriverException, AttributeError, ValueError):
            self.console.extend(self.driver.get_log("browser"))

    def trace(self, identifier: str, direction: str) -> str:
        """Trace from the trace page; htmx swaps the result in without loading a new page."""
        html = self.driver.find_element(By.TAG_NAME, "html")
        form = self.driver.find_element(By.CSS_SELECTOR, "form.search")
        self.type("q", identifier, form)
        radio = form.find_element(By.CSS_SELECTOR, f'input[name="direction"][value="{direction}"]')
        if not radio.is_selected():
            radio.click()  # also triggers htmx (change from:input[name=direction])
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        heading = f"{direction.capitalize()} trace of “{identifier}”"
        self.wait(
            lambda d: (
                heading in d.find_element(By.ID, "trace-result").text
                and not d.find_elements(By.CSS_SELECTOR, ".htmx-request")
            ),
            f"no {direction} trace result for {identifier}",
        )
        assert not ec.staleness_of(html)(self.driver), "the trace reloaded the page (no htmx)"
        self.collect_console()
        return str(self.driver.find_element(By.ID, "trace-result").text)

    def assert_console_clean(self) -> None:
        """No Content Security Policy violations or other errors in the console (when the
        driver exposes the console log at all)."""
        self.collect_console()
        csp = [e for e in self.console if "Content Security Policy" in str(e.get("message"))]
        assert not csp, csp
        severe = [
            e
            for e in self.console
            if e.get("level") == "SEVERE"
            and "favicon" not in str(e.get("message"))
            and "status of 422" not in str(e.get("message"))
        ]
        assert not severe, severe

    def screenshot(self, name: str) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / name
        assert self.driver.save_screenshot(str(path)), f"could not save {path}"
        return path


@pytest.fixture(scope="module")
def journey() -> dict[str, str]:
    """What the journey test made, for the tests after it in this module."""
    return {}


def _table_row(page: Page, *needles: str) -> str:
    rows = [r.text for r in page.driver.find_elements(By.CSS_SELECTOR, "table tr")]
    matching = [r for r in rows if all(n in r for n in needles)]
    assert matching, f"no table row with {needles} at {page.path()}:\n" + "\n".join(rows)
    return matching[0]


def test_thin_slice_in_chromium(
    live_server: str, driver: WebDriver, journey: dict[str, str], tmp_path: Path
) -> None:
    page = Page(driver, live_server)
    tag = secrets.token_hex(3).upper()
    lot_number = f"BR-{tag}"
    internal_lot = f"IL-BR-{tag}"
    work_order = f"WO-BR-{tag}"
    finished_lot = f"FG-BR-{tag}"
    serial_1, serial_2 = f"SN-BR-{tag}-1", f"SN-BR-{tag}-2"
    shipment = f"SH-BR-{tag}"

    # 1. The supplier signs in and sees the parts she supplies.
    page.login("anna@acme-polymers.example")
    page.wait_for_path(r"/supplier/?")
    page.wait_for_text("Parts you supply", "RES-100", "Anna Schmidt")

    # 2. She submits a lot of RES-100 with a CoA PDF and her results.
    row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "table tr") if "RES-100" in r.text)
    row.find_element(By.LINK_TEXT, "Submit a lot").click()
    page.wait_for_path(r"/supplier/lots/new\?part=RES-100")
    page.wait_for_text("Submit a lot", "RES-100", "Results")
    coa = tmp_path / f"coa-{lot_number}.pdf"
    coa.write_bytes(make_pdf("Certificate of Analysis", [f"Lot {lot_number}", "MFI 10.4"]))
    form = driver.find_element(By.ID, "lot-form")
    page.type("lot_number", lot_number, form)
    page.type("quantity", "12.5", form)
    page.type("unit", "kg", form)
    page.set_value("manufactured_on", "2026-01-15")
    page.set_value("expires_on", "2026-10-01")
    page.field("coa", form).send_keys(str(coa))
    for code, value in (
        ("MFI", "10.4"),
        ("MOIST", "0.02"),
        ("DENS", "1.30"),
        ("CYTO", "pass"),
        ("APPEAR", "Conforms"),
    ):
        page.type(f"result_{code}", value, form)
    page.submit(form)
    lot_id = page.wait_for_path(r"/supplier/lots/(\d+)").group(1)
    body = page.wait_for_text(f"Lot {lot_number}", "Text extracted from the CoA", "conforming")
    assert "draft" in driver.find_element(By.CSS_SELECTOR, "h1 .badge[class*=status-]").text
    overall = driver.find_element(By.XPATH, "//p[contains(., 'Overall verdict')]").text
    assert "conforming" in overall and "non" not in overall, overall
    extracted = driver.find_element(By.CSS_SELECTOR, "pre.extracted").text
    assert lot_number in extracted and "MFI 10.4" in extracted, extracted
    assert "No signatures yet." in body

    # 3. A wrong password does not sign; the right one submits the lot.
    sign_action = f"/supplier/lots/{lot_id}/sign"
    form = page.form(sign_action)
    # The first signature of a session needs the user ID too (continuous-session rule).
    page.type("user_id", "anna@acme-polymers.example", form)
    page.type("password", "not-the-password", form)
    page.submit(form)
    error = driver.find_element(By.CSS_SELECTOR, "section.sign .error").text
    assert error.strip(), "no error shown for a wrong signing password"
    assert "draft" in driver.find_element(By.CSS_SELECTOR, "h1 .badge[class*=status-]").text
    assert "No signatures yet." in page.body()
    form = page.form(sign_action)
    page.type("user_id", "anna@acme-polymers.example", form)
    page.type("password", DEMO_PASSWORD, form)
    page.submit(form)
    page.wait_for_path(rf"/supplier/lots/{lot_id}")
    page.wait_for_text("submitted as accurate")
    assert "submitted" in driver.find_element(By.CSS_SELECTOR, "h1 .badge[class*=status-]").text
    signature = driver.find_element(By.CSS_SELECTOR, "tr.signature").text
    assert "Anna Schmidt" in signature and "submitted as accurate" in signature, signature
    assert UTC_TIME.search(signature), signature
    assert not driver.find_elements(By.CSS_SELECTOR, f'form[action="{sign_action}"]')

    # 4. QA reviews the evidence and approves with a signed decision.
    page.logout()
    page.login("qa@traceport.example")
    page.wait_for_path(r"/internal/?")
    page.wait_for_text("Welcome", "Quinn Avery")
    driver.find_element(By.CSS_SELECTOR, "header nav").find_element(
        By.LINK_TEXT, "Review queue"
    ).click()
    page.wait_for_path(r"/internal/review")
    page.wait_for_text("Review queue", lot_number)
    driver.find_element(By.LINK_TEXT, lot_number).click()
    page.wait_for_path(rf"/internal/lots/{lot_id}")
    body = page.wait_for_text(
        f"Lot {lot_number}",
        "Decision",
        "Certificate of Analysis",
        "Text extracted from the CoA",
        "Results against our specification",
    )
    frame = driver.find_element(By.CSS_SELECTOR, "iframe.pdf")
    assert re.search(r"/documents/\d+$", frame.get_attribute("src") or ""), frame.get_attribute(
        "src"
    )
    assert lot_number in driver.find_element(By.CSS_SELECTOR, "pre.extracted").text
    results = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "table.results tbody tr")]
    assert len(results) == 5 and all("pass" in r for r in results), results
    assert "Melt flow index" in body and "10.4" in body
    signature = driver.find_element(By.CSS_SELECTOR, "tr.signature").text
    assert "Anna Schmidt" in signature and "submitted as accurate" in signature, signature
    assert UTC_TIME.search(signature), signature
    page.screenshot("browser-review.png")
    form = page.form(f"/internal/lots/{lot_id}/decision")
    form.find_element(By.CSS_SELECTOR, 'input[name="decision"][value="approve"]').click()
    page.type("comment", "Looks good", form)
    page.type("user_id", "qa@traceport.example", form)
    page.type("password", DEMO_PASSWORD, form)
    page.submit(form, "Sign decision")
    page.wait_for_path(rf"/internal/lots/{lot_id}")
    page.wait_for_text("Quinn Avery")
    assert "approved" in driver.find_element(By.CSS_SELECTOR, "h1 .badge[class*=status-]").text
    signatures = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr.signature")]
    approval = [s for s in signatures if "Quinn Avery" in s]
    assert approval and "approved" in approval[0] and "Looks good" in approval[0], signatures
    assert UTC_TIME.search(approval[0]), approval

    # 5. Operations receive the approved lot: it is released at once.
    page.logout()
    page.login("ops@traceport.example")
    page.wait_for_path(r"/internal/?")
    page.open("/internal/receipts")
    page.wait_for_text("Record a goods receipt")
    form = page.form("/internal/receipts")
    Select(page.field("supplier_lot_id", form)).select_by_visible_text(
        next(
            o.text
            for o in Select(page.field("supplier_lot_id", form)).options
            if lot_number in o.text
        )
    )
    page.type("quantity", "12.5", form)
    page.type("internal_lot_number", internal_lot, form)
    page.submit(form)
    page.wait_for_text(internal_lot)
    receipt = _table_row(page, lot_number, internal_lot)
    assert "released" in receipt and "12.5" in receipt, receipt

    # 6. A work order consumes it and makes two serials.
    page.open("/internal/work-orders")
    page.wait_for_text("Post a work order")
    form = page.form("/internal/work-orders")
    page.type("number", work_order, form)
    Select(page.field("part_number", form)).select_by_value("FG-1000")
    page.type("output_lot_number", finished_lot, form)
    Select(page.field("input_lot_0", form)).select_by_value(internal_lot)
    page.type("input_qty_0", "2", form)
    page.type("serials", f"{serial_1}\n{serial_2}", form)
    today = dt.datetime.now(dt.UTC).date()
    page.set_value("manufactured_on", (today - dt.timedelta(days=4)).isoformat())
    page.set_value("expires_on", (today + dt.timedelta(days=1000)).isoformat())
    page.submit(form)
    page.wait_for_text(work_order)
    order = _table_row(page, work_order, finished_lot)
    assert internal_lot in order and "quarantine" in order, order

    # 6b. FG-1000 is sterile: SteriPro gamma-sterilizes the lot (it comes back as itself)...
    page.sign_in("sam@steripro.example")
    page.wait_for_path(r"/supplier/?")
    page.open("/supplier/process-runs/new")
    page.wait_for_text("Record a process run")
    form = page.form("/supplier/process-runs")
    Select(page.field("process_kind", form)).select_by_value("sterilization")
    page.type("run_number", f"SP-{tag}", form)
    page.set_value("started_on", (today - dt.timedelta(days=3)).isoformat())
    page.set_value("ended_on", (today - dt.timedelta(days=2)).isoformat())
    for prefix, index, values in (
        ("param", 0, ("Target dose", "30", "kGy", "25", "45")),
        ("result", 0, ("Dosimetry minimum", "27.5", "kGy", "25", "")),
        ("result", 1, ("Biological indicator", "negative", "", "", "")),
    ):
        for field, text in zip(("name", "value", "unit", "lower", "upper"), values, strict=True):
            if text:
                page.type(f"{prefix}_{field}_{index}", text, form)
    page.type("input_lot_0", finished_lot, form)
    page.type("input_qty_0", "2", form)
    page.type("output_lot_0", finished_lot, form)
    page.type("output_qty_0", "2", form)
    page.submit(form)
    run_id = page.wait_for_path(r"/supplier/process-runs/(\d+)").group(1)
    page.sign(page.form(f"/supplier/process-runs/{run_id}/sign"), "sam@steripro.example")
    page.wait_for_text("submitted as accurate")

    # ...QA accepts the run, and the lot's release page shows nothing blocks it any more.
    page.sign_in("qa@traceport.example")
    page.wait_for_path(r"/internal/?")
    page.open(f"/internal/process-runs/{run_id}")
    page.decide(f"/internal/process-runs/{run_id}/decision", "accept", "qa@traceport.example")
    page.wait_for_text("Quinn Avery")
    page.nav("Release")
    page.wait_for_text("Finished lots waiting for release", finished_lot)
    page.driver.find_element(By.LINK_TEXT, finished_lot).click()
    page.wait_for_text("Device history record", "Nothing blocks the release of this lot.")
    page.decide(f"{page.path()}/decision", "release", "qa@traceport.example", "DHR ok.")
    page.wait_for_text("Quinn Avery")
    assert "released" in page.body()

    # 7. One serial ships to a hospital.
    page.sign_in("ops@traceport.example")
    page.wait_for_path(r"/internal/?")
    page.open("/internal/shipments")
    page.wait_for_text("Ship to a customer", serial_1, serial_2)
    form = page.form("/internal/shipments")
    page.type("number", shipment, form)
    page.type("consignee_name", "Hospital X", form)
    page.type("consignee_address", "1 Test Street, Testtown", form)
    page.type("consignee_contact", "Dr. X", form)
    page.type("consignee_phone", "+1 555 0100", form)
    form.find_element(By.CSS_SELECTOR, f'input[name="serial"][value="{serial_1}"]').click()
    page.submit(form)
    page.wait_for_text(shipment)
    shipped = _table_row(page, shipment, "Hospital X")
    assert "1 Test Street" in shipped, shipped

    # 8. The trace page (htmx, no page load) finds the serial and everything behind it...
    page.open("/internal/trace")
    page.wait_for_text("Trace")
    text = page.trace(serial_1, "backward")
    assert "1 × supplier lot" in text and "2 × internal lot" in text, text
    assert f"SERIAL {serial_1}" in text.upper() and finished_lot in text, text
    assert page.path().startswith("/internal/trace?"), page.path()  # hx-push-url
    page.screenshot("browser-trace-backward.png")

    # ...and, forward from the supplier lot, the consignee it reached.
    text = page.trace(lot_number, "forward")
    assert "1 × shipment" in text and "2 × serial" in text, text
    consignee = _table_row(page, shipment, "Hospital X")
    assert "1 Test Street" in consignee, consignee
    page.screenshot("browser-trace-forward.png")
    page.assert_console_clean()
    journey.update(
        lot=lot_number,
        internal_lot=internal_lot,
        finished_lot=finished_lot,
        serial=serial_1,
        shipment=shipment,
    )


def test_trace_tree_reaches_the_supplier_lot_and_the_consignee(
    live_server: str, driver: WebDriver, journey: dict[str, str]
) -> None:
    if not journey:
        pytest.skip("the journey test did not get as far as shipping")
    page = Page(driver, live_server)
    page.open("/internal/trace")
    page.wait_for_text("Trace")

    text = page.trace(journey["serial"], "backward")
    tree = driver.find_element(By.CSS_SELECTOR, "#trace-result .trace-tree").text
    for needle in (
        journey["finished_lot"],
        journey["internal_lot"],
        "Acme Polymers",
        "Anna Schmidt",
        "RES-100",
    ):
        assert needle in tree, f"{needle!r} missing from the backward trace tree:\n{text}"
    assert re.search(rf"SUPPLIER LOT {journey['lot']}\b", tree.upper()), tree
    assert SHA256.search(tree), f"no CoA SHA-256 in the backward trace tree:\n{text}"

    # Forward, the scope: lots in the tree, the serials bundled per lot and listed on demand.
    text = page.trace(journey["lot"], "forward")
    tree = driver.find_element(By.CSS_SELECTOR, "#trace-result .trace-tree").text
    for needle in (journey["internal_lot"], journey["finished_lot"], "2 serials"):
        assert needle in tree, f"{needle!r} missing from the forward trace tree:\n{text}"
    assert journey["serial"] not in tree, "serials are listed only when their bundle is opened"
    bundle = driver.find_element(By.XPATH, "//button[normalize-space()='2 serials']")
    bundle.click()
    page.wait(
        lambda d: journey["serial"] in d.find_element(By.CSS_SELECTOR, ".bundle-list").text,
        "the bundle of serials did not open",
    )
    opened = driver.find_element(By.CSS_SELECTOR, ".bundle-list").text
    for needle in (journey["serial"], journey["shipment"], "Hospital X", "1 Test Street"):
        assert needle in opened, f"{needle!r} missing from the opened bundle:\n{opened}"
    assert "Serials 1–2 of 2" in opened, opened
    page.screenshot("browser-trace-forward-bundle.png")
    page.assert_console_clean()
