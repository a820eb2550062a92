"""The EPCIS capture limits are settings (``TRACEPORT_EPCIS_MAX_MB``,
``TRACEPORT_EPCIS_MAX_EVENTS``): read from the environment, refused when nonsensical, and the
configured values are what a capture over HTTP answers 413 with, writing nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from portal.app import create_app
from portal.settings import Settings
from tests.epcis.conftest import ERP, bearer, capture, document, object_event, sgtin, snapshot
from trace_core.services import Limits, Runtime


def test_limits_default_and_read_from_the_environment() -> None:
    default = Settings.from_env({})
    assert default.limits.epcis_max_document_bytes == Limits().epcis_max_document_bytes
    assert default.limits.epcis_max_events == Limits().epcis_max_events == 10_000
    configured = Settings.from_env(
        {"TRACEPORT_EPCIS_MAX_MB": "0.5", "TRACEPORT_EPCIS_MAX_EVENTS": "250"}
    )
    assert configured.limits.epcis_max_document_bytes == 512 * 1024
    assert configured.limits.epcis_max_events == 250


@pytest.mark.req("A11-02")
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRACEPORT_EPCIS_MAX_EVENTS", "0", "must be greater than 0"),
        ("TRACEPORT_EPCIS_MAX_EVENTS", "-5", "must be greater than 0"),
        ("TRACEPORT_EPCIS_MAX_EVENTS", "many", "is not a number"),
        ("TRACEPORT_EPCIS_MAX_MB", "0", "must be greater than 0"),
        ("TRACEPORT_EPCIS_MAX_MB", "8 MiB", "is not a number"),
    ],
)
def test_nonsensical_limits_refuse_to_start(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: .*{message}|{name}: {message}"):
        Settings.from_env({name: value})


@pytest.mark.req("A11-02")
async def test_a_capture_limit_above_the_upload_limit_is_the_one_that_counts(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The capture route has its own body limit: a document larger than the upload limit but
    within the EPCIS limit is read, and one beyond the EPCIS limit gets the capture's precise
    413, not the upload message (the other routes keep the upload limit)."""
    settings = Settings.from_env(
        {"TRACEPORT_VAR_DIR": str(tmp_path), "TRACEPORT_MAX_UPLOAD_MB": "0.01"}
    )
    limited = dataclasses.replace(
        runtime,
        limits=dataclasses.replace(
            runtime.limits, max_upload_bytes=10_000, epcis_max_document_bytes=200_000
        ),
    )
    app = create_app(settings, runtime=limited)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = await bearer(http, ERP)
        note = {"cbvmda:note": "x" * 1_100_000}
        huge = await capture(http, headers, document(object_event([sgtin("SN-H")], **note)))
        assert huge.status_code == 413, huge.text
        assert "the limit is 200,000 bytes per capture" in huge.json()["message"]
        padded = document(object_event([sgtin("SN-LARGE-1")], **{"cbvmda:note": "x" * 50_000}))
        accepted = await capture(http, headers, padded)
        assert accepted.status_code == 201, accepted.text


@pytest.mark.req("A11-02")
@pytest.mark.req("EPC-02")
async def test_configured_limits_answer_413_with_a_precise_message(
    runtime: Runtime, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            "TRACEPORT_VAR_DIR": str(tmp_path),
            "TRACEPORT_EPCIS_MAX_MB": "0.004",  # 4,194 bytes
            "TRACEPORT_EPCIS_MAX_EVENTS": "2",
        }
    )
    limited = dataclasses.replace(
        runtime,
        limits=dataclasses.replace(
            runtime.limits,
            epcis_max_document_bytes=settings.limits.epcis_max_document_bytes,
            epcis_max_events=settings.limits.epcis_max_events,
        ),
    )
    app = create_app(settings, runtime=limited)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = await bearer(http, ERP)
        before = await snapshot(runtime)
        events = [object_event([sgtin(f"SN-LIMIT-{i}")]) for i in range(3)]
        too_many = await capture(http, headers, document(*events))
        assert too_many.status_code == 413, too_many.text
        body = too_many.json()
        assert body["error"] == "TooLarge"
        assert "holds 3 events; the limit is 2" in body["message"]
        padded = document(object_event([sgtin("SN-LIMIT-X")], **{"cbvmda:note": "x" * 5000}))
        too_big = await capture(http, headers, padded)
        assert too_big.status_code == 413, too_big.text
        assert "the limit is 4,194 bytes per capture" in too_big.json()["message"]
        assert "nothing was stored" in too_big.json()["message"]
        assert await snapshot(runtime) == before
        accepted = await capture(http, headers, document(*events[:2]))
        assert accepted.status_code == 201, accepted.text
