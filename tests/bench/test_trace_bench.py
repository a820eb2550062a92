"""The trace benchmark (``bench/trace.py``) compares like with like: the service, the bare
walk SQL and the per-node walk find the same nodes; ``traceport bench trace --json`` prints
the report. Nothing here is timed."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.load import ensure_plant
from bench.plant import sample_serials
from bench.trace import BenchOptions, _Floor, _tagged_ids, per_node_walk, percentile
from portal.cli import main
from portal.runtime import build_runtime
from portal.settings import Settings
from trace_core.identity.actor import Actor
from trace_core.services import provide_services
from trace_core.trace.scope import scope_of, scope_statement
from trace_core.trace.service import walk_statement
from trace_core.trace.statements import evidence_statement

SERIALS = 2000
SEED = 3


async def test_service_floor_and_per_node_walk_find_the_same_nodes(
    bench_url: str, bench_settings: Settings
) -> None:
    settings = dataclasses.replace(bench_settings, database_url=bench_url)
    plant = await ensure_plant(bench_url, lambda: build_runtime(settings), SERIALS, SEED)
    runtime, engine = build_runtime(settings)
    actor = Actor.system("cli")
    floor = _Floor(engine)
    try:
        cases = [("backward", s) for s in sample_serials(SERIALS, 5, SEED)]
        cases.append(("forward", plant.widest_lot))
        for direction, identifier in cases:
            async with provide_services(runtime, actor) as services:
                trace = (
                    services.trace.backward if direction == "backward" else (services.trace.forward)
                )
                result = await trace(actor, identifier)
            walked = await floor.run(floor.statement(walk_statement(direction), result.roots))
            found = {row[0] for row in walked}
            if direction == "backward":
                # The floor of a backward trace is its evidence statement: the same nodes.
                answer = await floor.run(
                    floor.statement(evidence_statement(direction), result.roots)
                )
                assert _tagged_ids(answer) == found
                seeded = evidence_statement(direction, by_identifier=True)
                answer = await floor.run(floor.statement(seeded, identifier))
                assert _tagged_ids(answer) == found
            async with runtime.sessions() as session:
                walk = await per_node_walk(
                    session, result.roots, result.direction, time.perf_counter() + 600
                )
                answered = await per_node_walk(
                    session,
                    result.roots,
                    result.direction,
                    time.perf_counter() + 600,
                    answer=True,
                )
            assert walk.complete and answered.complete
            assert set(result.nodes) == found == walk.nodes == answered.nodes, identifier
            assert walk.queries == answered.queries == len(walk.nodes)  # one query per node
            # The walk to the answer finds what the trace says of each lot and shipment.
            assert answered.counts == result.counts(), identifier
            shipments = {n.identifier for n in result.nodes.values() if n.kind == "shipment"}
            assert {number for number, *_ in answered.shipments.values()} == shipments
            lots = {
                node_id: (n.identifier, n.details["part_number"], n.details["quantity"])
                for node_id, n in result.nodes.items()
                if n.kind == "internal_lot"
            }
            assert answered.lots == lots, identifier
            if direction == "backward":
                kinds = {n.kind for n in result.nodes.values()}
                assert {"serial", "internal_lot", "supplier_lot"} <= kinds
            else:
                assert result.counts()["serial"] == plant.widest_lot_serials
        # The edges the service returns are exactly those between the nodes found.
        assert all(e.source in result.nodes and e.target in result.nodes for e in result.edges)
        # The scope of the widest lot: its statement lists the nodes that are not serials,
        # counts them all, and equals the scope derived from the full trace.
        async with provide_services(runtime, actor) as services:
            scope = await services.trace.scope(actor, plant.widest_lot)
        listed = _tagged_ids(
            await floor.run(floor.statement(scope_statement("forward"), scope.roots))
        )
        assert listed == set(scope.nodes)
        assert scope.counts == result.counts()
        assert json.dumps(scope.as_dict(), default=str, sort_keys=True) == json.dumps(
            scope_of(result).as_dict(), default=str, sort_keys=True
        )
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [([3.0, 1.0, 2.0], 0.5, 2.0), ([float(i) for i in range(1, 101)], 0.95, 95.0)],
)
def test_percentile_is_the_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


REPORT_KEYS = {
    "serials",
    "lots",
    "edges",
    "backward_p50_ms",
    "backward_p95_ms",
    "http_backward_p50_ms",
    "http_backward_p95_ms",
    "forward_worst_ms",
    "recall_worst_ms",
    "floor_backward_p50_ms",
    "floor_forward_worst_ms",
    "walk_forward_worst_ms",
    "targets",
    "machine",
    "database",
}


def test_the_command_prints_one_json_object_with_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPORT_VAR_DIR", str(tmp_path / "var"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'plant.db'}"
    arguments = ["bench", "trace", "--database-url", url, "--serials", "1000", "--samples", "5"]
    arguments += ["--repeats", "1", "--json"]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report.keys() >= REPORT_KEYS
    assert report["serials"] == 1000
    assert report["samples"] == 5
    assert report["walk_extrapolated"] is False
    assert report["forward_nodes"] > 0
    assert "bench: " in result.stderr  # progress goes to stderr, the JSON alone to stdout


def test_options_default_to_the_reference_run() -> None:
    options = BenchOptions()
    assert (options.serials, options.samples) == (1_000_000, 200)
