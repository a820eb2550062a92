"""Fixtures for the browser tests: a real ``traceport demo`` server on a free port and a
headless Chromium driven by Selenium (Debian's ``chromium`` and ``chromium-driver``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run ``python -m portal.cli demo`` (migrate, seed, serve) and yield its base URL."""
    workdir = tmp_path_factory.mktemp("live-server")
    port = _free_port()
    env = {
        **os.environ,
        "TRACEPORT_VAR_DIR": str(workdir / "var"),
        "TRACEPORT_SECURE_COOKIES": "false",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("TRACEPORT_DATABASE_URL", "TRACEPORT_STORAGE_URL", "TRACEPORT_PORT"):
        env.pop(name, None)
    log_path = workdir / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "demo", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _healthy(f"{base}/healthz"):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = log_path.read_text(errors="replace")
                    state = (
                        f"exited with {process.returncode}"
                        if process.poll() is not None
                        else f"not healthy after {STARTUP_TIMEOUT:.0f} s"
                    )
                    pytest.fail(f"traceport demo server {state}; its output:\n{output}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    """A fresh headless Chromium with its own profile (one per test module, so a module's tests
    can continue one journey); skipped when Chromium is absent."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        if os.environ.get("TRACEPORT_REQUIRE_BROWSER"):
            pytest.fail(f"TRACEPORT_REQUIRE_BROWSER is set but Chromium is missing: {missing}")
        pytest.skip(
            f"browser tests need Debian's chromium and chromium-driver; missing: "
            f"{', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="traceport-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        chrome = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield chrome
        finally:
            chrome.quit()
