"""GS1 date fields (UDI-03): two-digit years and the "day 00" rule.

GS1 dates carry two-digit years. The General Specifications (section 7.12) put a year in the
window from 49 years before to 50 years after the current year, so the reading is stable for a
label's whole life. Day ``00`` in the date AIs that allow it (expiry, best before...) means the
last day of the month, which is how expiry is printed on many devices (``(17)261200`` is
2026-12-31). An invalid date is refused, never "corrected", because an expiry that silently
moves is a patient-safety defect.
"""

from __future__ import annotations

import calendar
import datetime as dt

from trace_core.gs1.check_digits import is_digits


class DateProblem(ValueError):
    """A date field that is not a real date; the message says why."""


def full_year(yy: int, today: dt.date) -> int:
    """Expand a two-digit year with the GS1 rule (49 years back, 50 years forward)."""
    current = today.year % 100
    century = today.year - current
    difference = yy - current
    if difference >= 51:
        century -= 100
    elif difference <= -50:
        century += 100
    return century + yy


def _build(year: int, month: int, day: int, *, day_zero: bool, text: str) -> dt.date:
    if not 1 <= month <= 12:
        raise DateProblem(f"invalid date {text!r}: month {month:02d} does not exist")
    last = calendar.monthrange(year, month)[1]
    if day == 0 and day_zero:
        return dt.date(year, month, last)
    if not 1 <= day <= last:
        raise DateProblem(f"invalid date {text!r}: {year}-{month:02d} has no day {day:02d}")
    return dt.date(year, month, day)


def parse_yymmdd(text: str, today: dt.date, *, day_zero: bool) -> dt.date:
    """``YYMMDD`` to a date; with ``day_zero`` a day of ``00`` is the month's last day."""
    if len(text) != 6 or not is_digits(text):
        raise DateProblem(f"invalid date {text!r}: YYMMDD (6 digits) required")
    year = full_year(int(text[:2]), today)
    return _build(year, int(text[2:4]), int(text[4:]), day_zero=day_zero, text=text)


def parse_yyyymmdd(text: str, *, day_zero: bool) -> dt.date:
    """``YYYYMMDD`` to a date (AIs 7250/7251 carry four-digit years)."""
    if len(text) != 8 or not is_digits(text):
        raise DateProblem(f"invalid date {text!r}: YYYYMMDD (8 digits) required")
    year = int(text[:4])
    if year < 1:
        raise DateProblem(f"invalid date {text!r}: year 0000 does not exist")
    return _build(year, int(text[4:6]), int(text[6:]), day_zero=day_zero, text=text)
