"""The concurrency benchmark (``bench/concurrency.py``) on a small plant: it starts
``traceport serve`` in a process of its own, drives backward traces from several clients at
once (alone and with a recall scope alongside) and reports every run. Nothing is timed here:
the test proves the benchmark measures real answers (no errors), not how fast they come."""

from __future__ import annotations

import dataclasses

import pytest

from bench.concurrency import ConcurrencyOptions, run_concurrency_benchmark
from portal.settings import Settings

SERIALS = 2000
SEED = 5


@pytest.mark.req("QMS-11")
async def test_the_concurrency_benchmark_drives_a_real_server(
    bench_url: str, bench_settings: Settings
) -> None:
    settings = dataclasses.replace(bench_settings, database_url=bench_url)
    options = ConcurrencyOptions(SERIALS, SEED, clients=(1, 3), seconds=1.5)
    report = await run_concurrency_benchmark(settings, options)
    runs = report["runs"]
    assert [(r["clients"], r["with_recall_scope"]) for r in runs] == [
        (1, False),
        (3, False),
        (1, True),
        (3, True),
    ]
    for run in runs:
        assert run["errors"] == 0
        assert run["requests"] > 0 and run["throughput_per_s"] > 0
        assert 0 < run["backward_p50_ms"] <= run["backward_p95_ms"] <= run["backward_max_ms"]
    for run in runs[2:]:
        assert run["scopes"] >= 1 and run["scope_p50_ms"] > 0


@pytest.mark.parametrize(
    ("clients", "message"), [("a,2", "give whole numbers"), ("0", "at least one count")]
)
def test_the_command_refuses_client_counts_that_are_not_counts(clients: str, message: str) -> None:
    from click.testing import CliRunner

    from portal.cli import main

    result = CliRunner().invoke(
        main,
        ["bench", "concurrency", "--database-url", "sqlite:///unused.db", "--clients", clients],
    )
    assert result.exit_code == 2
    assert message in result.output
