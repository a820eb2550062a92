"""``traceport bench``: benchmarks. They live in the ``bench`` package of a source checkout,
which is not installed with the app, so the command finds it next to ``portal/``."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from portal.cli_records import settings_for

CHECKOUT = Path(__file__).resolve().parents[1]


def import_bench() -> None:
    """Make the checkout's ``bench`` package importable (an editable install maps only the
    app's packages); a clear error where there is no checkout."""
    if importlib.util.find_spec("bench") is not None:
        return
    if not (CHECKOUT / "bench" / "__init__.py").is_file():
        raise click.ClickException(
            "traceport bench runs from a source checkout: bench/ is not installed with the app"
        )
    sys.path.insert(0, str(CHECKOUT))


def _plant_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--database-url``, ``--serials`` and ``--seed``: the plant every benchmark runs on."""
    for option in reversed(
        (
            click.option(
                "--database-url",
                envvar="TRACEPORT_DATABASE_URL",
                required=True,
                help="A database of the benchmark's own (default TRACEPORT_DATABASE_URL); the "
                "plant is written into its tables.",
            ),
            click.option(
                "--serials",
                type=click.IntRange(min=1000),
                default=1_000_000,
                show_default=True,
                help="Plant size (built if missing); everything else scales from the "
                "reference (1,000,000).",
            ),
            click.option(
                "--seed", type=int, default=1, show_default=True, help="Seed of the plant."
            ),
        )
    ):
        command = option(command)
    return command


def _progress(message: str) -> None:
    click.echo(f"bench: {message}", err=True)


def _run(benchmark: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """A benchmark's report; a plant that cannot be used is the command's error."""
    from bench.load import PlantError

    try:
        return asyncio.run(benchmark)
    except PlantError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def bench() -> None:
    """Benchmarks (from a source checkout; results in docs/PERFORMANCE.md)."""


@bench.command("trace")
@_plant_options
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Random serials traced backward.",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Timed runs of each forward measurement (the median is reported).",
)
@click.option(
    "--walk-cap",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds after which the per-node walk stops and is extrapolated.",
)
@click.option("--no-http", is_flag=True, help="Skip the measurements through HTTP.")
@click.option("--rebuild", is_flag=True, help="Build the plant again even if it matches.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def bench_trace(
    database_url: str,
    serials: int,
    seed: int,
    samples: int,
    repeats: int,
    walk_cap: float,
    no_http: bool,
    rebuild: bool,
    as_json: bool,
) -> None:
    """Build (or reuse) a plant and time backward, forward and recall traces against their
    bare-SQL floor and a per-node walk. Progress goes to stderr."""
    import_bench()
    from bench.trace import BenchOptions, iter_report_lines, run_trace_benchmark

    settings = settings_for(database_url)
    options = BenchOptions(
        serials=serials,
        seed=seed,
        samples=samples,
        warmup=min(20, samples),
        repeats=repeats,
        rebuild=rebuild,
        walk_cap_s=walk_cap,
        http=not no_http,
    )
    report = _run(run_trace_benchmark(settings, options, _progress))
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        for line in iter_report_lines(report):
            click.echo(line)


@bench.command("recall")
@_plant_options
def bench_recall(database_url: str, serials: int, seed: int) -> None:
    """Time the recall preview and opening a recall of the widest raw lot, then roll both
    back (the plant is unchanged). Prints one JSON object; progress goes to stderr."""
    import_bench()
    from bench.recall import run_recall_benchmark

    report = _run(run_recall_benchmark(settings_for(database_url), serials, seed, _progress))
    click.echo(json.dumps(report, indent=2, default=str))


@bench.command("concurrency")
@_plant_options
@click.option(
    "--clients",
    default="1,4,16",
    show_default=True,
    help="Comma-separated numbers of concurrent clients, one run each.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Length of each run.",
)
@click.option("--no-recall", is_flag=True, help="Skip the runs with a recall scope alongside.")
def bench_concurrency(
    database_url: str, serials: int, seed: int, clients: str, seconds: float, no_recall: bool
) -> None:
    """Backward traces through HTTP from several clients at once against `traceport serve` in
    its own process, alone and with a recall scope running alongside. Prints one JSON object;
    progress goes to stderr."""
    import_bench()
    from bench.concurrency import ConcurrencyOptions, run_concurrency_benchmark

    try:
        counts = tuple(int(c) for c in clients.split(",") if c.strip())
    except ValueError as exc:
        raise click.BadParameter("give whole numbers, e.g. 1,4,16", param_hint="--clients") from exc
    if not counts or min(counts) < 1:
        raise click.BadParameter("give at least one count of 1 or more", param_hint="--clients")
    settings = settings_for(database_url)
    options = ConcurrencyOptions(serials, seed, counts, seconds, with_recall=not no_recall)
    report = _run(run_concurrency_benchmark(settings, options, _progress))
    click.echo(json.dumps(report, indent=2, default=str))
