"""Numbers of a series (receipts ``GR-…``, material holds ``MH-…``) that two transactions can
never both take: ``count() + 1`` gave concurrent postings the same number (issue 13).

On PostgreSQL each series is a real sequence, ``<series>_number_seq``: ``nextval`` never hands
out a number twice, whatever the transactions do (a rolled-back posting leaves a gap). SQLite
has no sequences and one writer at a time, so the series' row of ``number_counters`` is
incremented in the posting's own transaction. Migrations create both (0015, 0018)."""

from __future__ import annotations

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.receipts.models import NumberCounter

#: The series there are, each with its sequence (PostgreSQL) or counter row (SQLite).
SERIES = ("receipt", "material_hold")


async def next_in_series(session: AsyncSession, series: str) -> int:
    """The next number of ``series`` (one of ``SERIES``), taken in ``session``'s transaction."""
    if series not in SERIES:
        raise ValueError(f"unknown number series {series!r}")
    if session.get_bind().dialect.name == "postgresql":
        return int(await session.scalar(text(f"SELECT nextval('{series}_number_seq')")))
    value = await session.scalar(
        update(NumberCounter)
        .where(NumberCounter.name == series)
        .values(value=NumberCounter.value + 1)
        .returning(NumberCounter.value)
    )
    if value is None:
        raise RuntimeError(f"the {series} number counter is missing: run `traceport db upgrade`")
    return int(value)
