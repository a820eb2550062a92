"""Content rules ("linters") that the Syntax Dictionary attaches to AI components.

Each linter named in the dictionary (``N6,yymmd0``, ``N14,csum``...) is implemented here after
GS1's reference descriptions, or listed in :data:`UNCHECKED_LINTERS` with the reason it is not
applied. The dictionary loader refuses any other name, so a new dictionary release cannot add a
rule that we then silently skip.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable

from trace_core.gs1.check_digits import check_digit_problem, check_pair_problem, is_digits
from trace_core.gs1.dates import DateProblem, parse_yymmdd, parse_yyyymmdd

#: A linter returns ``None`` when the component is fine, else a message saying what is wrong.
Linter = Callable[[str, dt.date], str | None]

#: Linters we do not apply, and why. Listed so the gap is explicit (docs/GS1.md repeats it).
UNCHECKED_LINTERS: dict[str, str] = {
    "gcppos1": "needs GS1's licensed GS1 Company Prefix length table",
    "gcppos2": "needs GS1's licensed GS1 Company Prefix length table",
    "iso3166": "needs the ISO 3166 country code list",
    "iso3166999": "needs the ISO 3166 country code list",
    "iso3166alpha2": "needs the ISO 3166 country code list",
    "iso4217": "needs the ISO 4217 currency code list",
    "packagetype": "needs the UN/ECE Recommendation 21 package type list",
    "couponcode": "coupon data are out of scope for medical devices",
    "couponposoffer": "coupon data are out of scope for medical devices",
}


def _date(value: str, today: dt.date, *, day_zero: bool) -> str | None:
    try:
        parse_yymmdd(value, today, day_zero=day_zero)
    except DateProblem as problem:
        return str(problem)
    return None


def _long_date(value: str, _today: dt.date, *, day_zero: bool) -> str | None:
    try:
        parse_yyyymmdd(value, day_zero=day_zero)
    except DateProblem as problem:
        return str(problem)
    return None


def _in_range(name: str, low: int, high: int) -> Linter:
    def lint(value: str, _today: dt.date) -> str | None:
        if not is_digits(value) or not low <= int(value) <= high:
            return f"{name} {value!r} is not between {low:0{len(value)}d} and {high}"
        return None

    return lint


def _one_of(name: str, allowed: str) -> Linter:
    def lint(value: str, _today: dt.date) -> str | None:
        if len(value) != 1 or value not in allowed:
            choices = ", ".join(allowed)
            return f"{name} must be one of {choices}, got {value!r}"
        return None

    return lint


def _csum(value: str, _today: dt.date) -> str | None:
    return check_digit_problem(value) if is_digits(value) else "only digits are allowed"


def _csumalpha(value: str, _today: dt.date) -> str | None:
    return check_pair_problem(value)


def _nonzero(value: str, _today: dt.date) -> str | None:
    return "must not be all zeros" if value.strip("0") == "" else None


def _zero(value: str, _today: dt.date) -> str | None:
    return None if value == "0" else f"must be 0, got {value!r}"


def _hyphen(value: str, _today: dt.date) -> str | None:
    return None if value == "-" else f"must be '-', got {value!r}"


def _nozeroprefix(value: str, _today: dt.date) -> str | None:
    return "must not start with 0" if value.startswith("0") else None


def _hasnondigit(value: str, _today: dt.date) -> str | None:
    return "must contain at least one non-digit character" if is_digits(value) else None


def _pcenc(value: str, _today: dt.date) -> str | None:
    hexdigits = set(string.hexdigits)
    for i, char in enumerate(value):
        if char == "%" and not (len(value) >= i + 3 and set(value[i + 1 : i + 3]) <= hexdigits):
            return f"'%' at value position {i + 1} is not followed by two hex digits"
    return None


def _pieceoftotal(value: str, _today: dt.date) -> str | None:
    half = len(value) // 2
    piece, total = value[:half], value[half:]
    if len(value) % 2 or not is_digits(value):
        return f"piece/total {value!r} must be two equal-width numbers"
    if int(piece) == 0 or int(total) == 0:
        return f"piece/total {value!r}: neither piece nor total may be zero"
    if int(piece) > int(total):
        return f"piece/total {value!r}: piece {int(piece)} exceeds total {int(total)}"
    return None


def _posinseqslash(value: str, _today: dt.date) -> str | None:
    position, slash, end = value.partition("/")
    if not slash or not is_digits(position) or not is_digits(end):
        return f"position in sequence {value!r} must look like 1/3"
    if position.startswith("0") or end.startswith("0"):
        return f"position in sequence {value!r}: numbers must not be zero or start with 0"
    if int(position) > int(end):
        return f"position in sequence {value!r}: position exceeds the end"
    return None


_IMPORTER_INDEX = set(string.ascii_letters + string.digits + "-_")


def _importeridx(value: str, _today: dt.date) -> str | None:
    if len(value) != 1 or value not in _IMPORTER_INDEX:
        return f"importer index {value!r} must be one of 0-9, A-Z, a-z, '-', '_'"
    return None


def _mediatype(value: str, _today: dt.date) -> str | None:
    if is_digits(value) and len(value) == 2 and (1 <= int(value) <= 10 or int(value) >= 80):
        return None
    return f"AIDC media type {value!r} is not assigned (01-10 or 80-99)"


def _iban(value: str, _today: dt.date) -> str | None:
    # ISO 13616 structure and mod-97 check; the per-country lengths are not checked.
    if not (
        len(value) >= 5
        and value[:2].isascii()
        and value[:2].isupper()
        and value[:2].isalpha()
        and is_digits(value[2:4])
        and value[4:].isascii()
        and value[4:].isalnum()
        and value[4:] == value[4:].upper()
    ):
        return f"IBAN {value!r} is malformed"
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    if int(number) % 97 != 1:
        return f"IBAN {value!r} fails its mod-97 check"
    return None


CHECKED_LINTERS: dict[str, Linter] = {
    "csum": _csum,
    "csumalpha": _csumalpha,
    "yymmdd": lambda v, t: _date(v, t, day_zero=False),
    "yymmd0": lambda v, t: _date(v, t, day_zero=True),
    "yyyymmdd": lambda v, t: _long_date(v, t, day_zero=False),
    "yyyymmd0": lambda v, t: _long_date(v, t, day_zero=True),
    "hhmi": lambda v, t: _in_range("hour", 0, 23)(v[:2], t) or _in_range("minute", 0, 59)(v[2:], t),
    "hh": _in_range("hour", 0, 23),
    "mi": _in_range("minute", 0, 59),
    "ss": _in_range("second", 0, 59),
    "latitude": _in_range("latitude", 0, 1800000000),
    "longitude": _in_range("longitude", 0, 3600000000),
    "nonzero": _nonzero,
    "zero": _zero,
    "yesno": _one_of("yes/no flag", "01"),
    "winding": _one_of("winding direction", "019"),
    "iso5218": _one_of("sex code (ISO 5218)", "0129"),
    "hyphen": _hyphen,
    "nozeroprefix": _nozeroprefix,
    "hasnondigit": _hasnondigit,
    "pcenc": _pcenc,
    "pieceoftotal": _pieceoftotal,
    "posinseqslash": _posinseqslash,
    "importeridx": _importeridx,
    "mediatype": _mediatype,
    "iban": _iban,
}

KNOWN_LINTERS = frozenset(CHECKED_LINTERS) | frozenset(UNCHECKED_LINTERS)
