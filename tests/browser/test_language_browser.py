"""A person switches the interface to Simplified Chinese in headless Chromium against a real
``traceport demo`` server: the header's switch, the choice kept across sign-in and pages,
and back to English (docs/I18N.md)."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from trace_core.demo import DEMO_PASSWORD

WAIT = 15
ANNA = "anna@acme-polymers.example"

pytestmark = pytest.mark.browser


def _wait(driver: WebDriver, condition: Any, message: str) -> None:
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(condition, message)


def _page(driver: WebDriver) -> tuple[str, str]:
    """The page's language and its visible text."""
    html = driver.find_element(By.TAG_NAME, "html")
    return str(html.get_attribute("lang")), str(driver.find_element(By.TAG_NAME, "body").text)


def _wait_for(driver: WebDriver, language: str, *needles: str) -> str:
    _wait(
        driver,
        lambda d: _page(d)[0] == language and all(n in _page(d)[1] for n in needles),
        f"expected a page in {language} showing {needles}",
    )
    return _page(driver)[1]


def _switch(driver: WebDriver, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "header nav.languages").find_element(
        By.LINK_TEXT, name
    ).click()


def test_a_person_switches_the_interface_to_chinese_and_back(
    live_server: str, driver: WebDriver
) -> None:
    driver.get(f"{live_server}/supplier")  # not signed in: to the sign-in page
    english = _wait_for(driver, "en", "Sign in", "Forgot your password?")
    assert "忘记密码" not in english

    _switch(driver, "简体中文")
    chinese = _wait_for(driver, "zh-CN", "登录", "忘记密码？")
    assert "Forgot your password?" not in chinese
    # Back on the same sign-in page, still on its way to /supplier.
    assert driver.current_url.startswith(f"{live_server}/login?next=")

    form = driver.find_element(By.CSS_SELECTOR, 'form[action="/login"]')
    form.find_element(By.NAME, "email").send_keys(ANNA)
    form.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    dashboard = _wait_for(driver, "zh-CN", "您供应的零件", "您的批次", "退出登录")
    assert "Parts you supply" not in dashboard
    assert "已批准" in dashboard or "已提交" in dashboard  # the lots' statuses are data

    driver.find_element(By.LINK_TEXT, "提交批次").click()
    # Acme supplies two of our parts (RES-100, and RES-200 of the incoming-inspection demo):
    # the first is chosen.
    _wait_for(driver, "zh-CN", "继续")
    driver.find_element(By.CSS_SELECTOR, "form[action='/supplier/lots/new'] button").click()
    _wait_for(driver, "zh-CN", "批号（与您的标签完全一致）", "保存并对照我方规范检查")

    _switch(driver, "English")
    back = _wait_for(driver, "en", "Save and check against our specification", "Sign out")
    assert "保存并对照我方规范检查" not in back
    assert driver.current_url == f"{live_server}/supplier/lots/new?part=RES-100"
