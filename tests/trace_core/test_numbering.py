"""Number series (trace_core/numbering.py): receipts and material holds take their numbers from
a PostgreSQL sequence or a SQLite counter row, never from ``count() + 1`` (issue 13)."""

from __future__ import annotations

import pytest

from trace_core.numbering import SERIES, next_in_series
from trace_core.services import Runtime


@pytest.mark.parametrize("series", SERIES)
async def test_each_series_gives_increasing_numbers_never_the_same_twice(
    runtime: Runtime, series: str
) -> None:
    async with runtime.sessions() as session:
        taken = [await next_in_series(session, series) for _ in range(3)]
    assert taken == sorted(taken) and len(set(taken)) == 3
    assert taken[0] >= 1


async def test_an_unknown_series_is_a_programming_error(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(ValueError, match="unknown number series 'invoice'"):
            await next_in_series(session, "invoice")
