"""The trace service pauses the cyclic garbage collector while it builds a result
(``trace_core/trace/service.py``, docs/PERFORMANCE.md): overlapping traces share the pause,
and a collector someone else switched off stays off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from trace_core.trace.service import collector_paused


@pytest.fixture(autouse=True)
def _collector_enabled_again() -> Iterator[None]:
    yield
    gc.enable()


def test_overlapping_pauses_resume_the_collector_after_the_last_one() -> None:
    gc.enable()
    outer = collector_paused()
    inner = collector_paused()
    outer.__enter__()
    inner.__enter__()
    assert not gc.isenabled()
    outer.__exit__(None, None, None)  # the first trace ends while the second still runs
    assert not gc.isenabled()
    inner.__exit__(None, None, None)
    assert gc.isenabled()


def test_the_collector_resumes_when_a_trace_fails() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("query failed")
    assert gc.isenabled()


def test_a_collector_switched_off_elsewhere_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
