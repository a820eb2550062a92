"""Benchmarks, run from a source checkout (not installed with the app).

- ``bench.plant``: the design of a realistic plant, scaled from the reference size, and its
  rows for the real tables, deterministic by seed.
- ``bench.load``: writes a plant into a database (COPY on PostgreSQL), reusing or resuming
  one that is already there (the ``bench_plant`` marker table).
- ``bench.trace``: the trace benchmark behind ``traceport bench trace``.
"""
