"""Reading the dates people and machines declare (``YYYY-MM-DD``): a day as declared, never
converted, with a message for the form when it is missing or not a date."""

from __future__ import annotations

import datetime as dt


def parse_date(value: str | dt.date | None, name: str, errors: dict[str, str]) -> dt.date | None:
    """The date, or None with the problem recorded under ``errors[name]``."""
    if isinstance(value, dt.date):
        return value
    if not value or not value.strip():
        errors[name] = "A date is required (YYYY-MM-DD)."
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = f"'{value}' is not a date; write it as YYYY-MM-DD."
        return None
