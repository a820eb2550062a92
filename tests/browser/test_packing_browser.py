"""Packing in Chromium against a real ``traceport demo`` server: ops scan serials into a new
case one at a time (htmx swaps the packing panel in place, with the SSCC Traceport allocated),
a second scan of the same serial shows the refusal where the person is looking, then the case
is closed and traced forward from its SSCC."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_slice_browser import Page

pytestmark = pytest.mark.browser


@pytest.mark.req("QMS-11")
def test_scanning_serials_into_a_case(live_server: str, driver: WebDriver) -> None:
    page = Page(driver, live_server)
    page.login("ops@traceport.example")
    page.open("/internal/shipping-units")
    page.wait_for_text("Pack serials into a case")
    html = driver.find_element(By.TAG_NAME, "html")
    page.field("scan").send_keys("SN-DEMO-0006", Keys.ENTER)
    page.wait(
        lambda d: "SN-DEMO-0006" in d.find_element(By.ID, "pack-panel").text,
        "the scanned serial did not appear in the packing panel",
    )
    assert page.path() == "/internal/shipping-units"  # swapped in place, no new page
    assert html.tag_name == "html"  # the same document: not replaced by a page load
    panel = driver.find_element(By.ID, "pack-panel")
    sscc = page.field("sscc", panel).get_attribute("value") or ""
    assert re.fullmatch(r"\d{18}", sscc), sscc
    page.field("scan").send_keys("SN-DEMO-0006", Keys.ENTER)
    page.wait(
        lambda d: "already packed in" in d.find_element(By.ID, "pack-panel").text,
        "the refusal of a second scan was not shown",
    )
    page.field("scan").send_keys("SN-DEMO-0007", Keys.ENTER)
    page.wait(lambda d: "SN-DEMO-0007" in d.find_element(By.ID, "pack-panel").text)
    driver.find_element(By.CSS_SELECTOR, "#pack-panel p.notice a").click()
    page.wait_for_path(r"/internal/shipping-units/\d+")
    page.submit(page.form(page.path() + "/close"))
    page.wait_for_text("closed", "SN-DEMO-0006", "SN-DEMO-0007")
    page.open(f"/internal/trace?q=(00){sscc}&direction=backward")
    page.wait_for_text("SN-DEMO-0006", "AP-24-0815")
    page.assert_console_clean()
