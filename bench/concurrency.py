"""The concurrency benchmark (``traceport bench concurrency``): backward traces through HTTP
from several clients at once, against the real server in a process of its own.

The trace benchmark times one request at a time. A plant has many people tracing at once, and
a recall question (a forward scope of a wide lot, hundreds of milliseconds of work) can arrive
in the middle of them. This benchmark starts ``traceport serve`` (one process: one event loop
and its database pool, as the README runs it) on a free local port against the plant's
database, and drives it from this process with ``clients`` concurrent keep-alive connections,
each sending ``GET /api/v1/trace/backward`` for random serials back to back for a fixed time:

- for each client count: requests, errors, throughput and latency percentiles;
- then the same with one more client asking ``GET /api/v1/trace/scope`` for the plant's widest
  lot in a loop (a recall scope), to show what a recall question does to everyone else's
  traces, and how long the scopes themselves took meanwhile.

The load generator shares the machine's cores with the server and PostgreSQL; its own CPU time
is reported so that a reader can judge how much of the machine it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.load import ensure_plant
from bench.trace import _free_port, bearer_token, machine, percentile, trace_reader_client
from portal.runtime import build_runtime
from portal.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConcurrencyOptions:
    serials: int
    seed: int
    clients: tuple[int, ...]
    seconds: float
    with_recall: bool = True


async def run_concurrency_benchmark(
    settings: Settings, options: ConcurrencyOptions, progress: Progress = lambda _m: None
) -> dict[str, Any]:
    plant = await ensure_plant(
        settings.database_url,
        lambda: build_runtime(settings),
        options.serials,
        options.seed,
        progress=progress,
    )
    runtime, engine = build_runtime(settings)
    try:
        client_id, secret = await trace_reader_client(
            runtime, "concurrency benchmark (made per run)"
        )
    finally:
        await engine.dispose()

    rng = random.Random(f"traceport-bench:{options.seed}:concurrency")
    report: dict[str, Any] = {
        "benchmark": "concurrency",
        "serials": options.serials,
        "seconds_per_run": options.seconds,
        "server": "traceport serve: one process, one event loop (as the README runs it)",
        "machine": machine(),
        "runs": [],
    }
    async with _server(settings, progress) as base:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            headers = {"authorization": await bearer_token(http, client_id, secret)}
            # Warm the server's pool and prepared statements.
            for _ in range(20):
                await _backward(http, headers, _serial(rng, options.serials))
        scenarios = [(c, False) for c in options.clients]
        if options.with_recall:
            scenarios += [(c, True) for c in options.clients]
        for clients, recall in scenarios:
            what = f"{clients} client(s) tracing backward" + (
                f", one asking the scope of {plant.widest_lot}" if recall else ""
            )
            progress(f"{what}, {options.seconds:g} s")
            run = await _run(
                base,
                headers,
                clients,
                options.seconds,
                rng,
                options.serials,
                plant.widest_lot if recall else None,
            )
            report["runs"].append({"clients": clients, "with_recall_scope": recall, **run})
    return report


def _serial(rng: random.Random, serials: int) -> str:
    return f"SN-{rng.randrange(serials) + 1:08d}"


async def _backward(http: httpx.AsyncClient, headers: dict[str, str], serial: str) -> bool:
    response = await http.get("/api/v1/trace/backward", params={"id": serial}, headers=headers)
    return response.status_code == 200


async def _run(
    base: str,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    rng: random.Random,
    serials: int,
    scope_of: str | None,
) -> dict[str, Any]:
    latencies: list[float] = []
    scopes: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    cpu0 = time.process_time()

    async def tracer() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            while time.perf_counter() < stop:
                serial = _serial(rng, serials)
                t0 = time.perf_counter()
                ok = await _backward(http, headers, serial)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += 0 if ok else 1

    async def recaller(lot: str) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                response = await http.get(
                    "/api/v1/trace/scope", params={"id": lot}, headers=headers
                )
                scopes.append((time.perf_counter() - t0) * 1000)
                errors += 0 if response.status_code == 200 else 1

    started = time.perf_counter()
    tasks = [tracer() for _ in range(clients)]
    if scope_of is not None:
        tasks.append(recaller(scope_of))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = {
        "requests": len(latencies),
        "errors": errors,
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "backward_p50_ms": round(percentile(latencies, 0.50), 2),
        "backward_p95_ms": round(percentile(latencies, 0.95), 2),
        "backward_p99_ms": round(percentile(latencies, 0.99), 2),
        "backward_max_ms": round(max(latencies), 2),
        "load_generator_cpu_share": round((time.process_time() - cpu0) / elapsed, 2),
    }
    if scope_of is not None:
        result["scopes"] = len(scopes)
        result["scope_p50_ms"] = round(percentile(scopes, 0.5), 1) if scopes else None
        result["scope_max_ms"] = round(max(scopes), 1) if scopes else None
    return result


@contextlib.asynccontextmanager
async def _server(settings: Settings, progress: Progress) -> AsyncIterator[str]:
    """``traceport serve`` in a process of its own on a free port; its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "TRACEPORT_DATABASE_URL": settings.database_url,
        "TRACEPORT_VAR_DIR": str(settings.var_dir),
    }
    if settings.storage_url:
        env["TRACEPORT_STORAGE_URL"] = settings.storage_url
    command = [sys.executable, "-m", "portal.cli", "serve", "--host", "127.0.0.1"]
    process = await asyncio.create_subprocess_exec(
        *command,
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(600):
                if process.returncode is not None:
                    detail = await process.stderr.read() if process.stderr else b""
                    raise RuntimeError(f"traceport serve stopped: {detail.decode()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("traceport serve did not answer /healthz within 60 s")
        progress(f"server: traceport serve on {base} (pid {process.pid})")
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
