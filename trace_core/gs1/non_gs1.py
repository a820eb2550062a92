"""Codes issued under other UDI agencies' rules: HIBCC and ICCBBA (UDI-07).

FDA accredits three UDI issuing agencies. A HIBCC (``+``...) or ICCBBA/ISBT 128 (``=``/``&``...)
label scanned into the trace search box must be recognised and named, not reported as a broken
GS1 code, which would send people hunting for a defect that does not exist.

HIBCC Supplier Labeling (LIC) data are decoded and their modulo-43 check character verified.
ISBT 128 is only recognised: its data structures and tables are licensed by ICCBBA, so the
data identifier is named where it is one of the few widely published ones and nothing more is
claimed.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from trace_core.gs1.check_digits import is_digits
from trace_core.gs1.errors import HibccError

#: The Code 39 character set in the order that gives each character its modulo-43 value.
HIBC_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"

#: ISBT 128 data identifiers named here, with ICCBBA's names. Anything else is reported as
#: "not interpreted".
ISBT_DATA_IDENTIFIERS = {
    "=<": "Product Code",
    "=>": "Expiration Date",
    "&>": "Expiration Date and Time",
    "=%": "Blood Groups [ABO and RhD]",
    "=+": "Compound Message",
}
_DIN_FIRST = frozenset("ABCDEFGHIJKLMNPQRSTUVWXYZ123456789")
_ISBT_NOTE = (
    "ISBT 128 data structures are recognised, not decoded: decoding needs ICCBBA's licensed "
    "specification and tables"
)


@dataclass(frozen=True, slots=True)
class NonGs1Code:
    """A HIBCC or ICCBBA code: what could be read, and which agency's rules apply."""

    issuing_agency: Literal["HIBCC", "ICCBBA"]
    text: str
    #: HIBCC: ``primary``, ``secondary``, ``concatenated`` or ``provider (PAS)``;
    #: ICCBBA: ``ISBT 128``.
    structure: str
    symbology: str | None = None
    labeler: str | None = None
    product: str | None = None
    unit_of_measure: int | None = None
    lot: str | None = None
    serial: str | None = None
    expiry: dt.date | None = None
    quantity: int | None = None
    check_character: str | None = None
    #: A standalone HIBCC secondary symbol repeats the primary's check character to link them.
    link_character: str | None = None
    data_identifier: str | None = None
    data_identifier_name: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def summary(self) -> str:
        if self.issuing_agency == "ICCBBA":
            name = self.data_identifier_name or "data identifier not interpreted"
            return f"ISBT 128 data identifier {self.data_identifier!r} ({name})"
        parts = [f"HIBCC {self.structure} data"]
        for label, value in (
            ("labeler", self.labeler),
            ("product", self.product),
            ("lot", self.lot),
            ("serial", self.serial),
            ("expiry", self.expiry.isoformat() if self.expiry else None),
        ):
            if value:
                parts.append(f"{label} {value}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "issuing_agency": self.issuing_agency,
            "structure": self.structure,
            "symbology": self.symbology,
            "labeler": self.labeler,
            "product": self.product,
            "unit_of_measure": self.unit_of_measure,
            "lot": self.lot,
            "serial": self.serial,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "quantity": self.quantity,
            "check_character": self.check_character,
            "link_character": self.link_character,
            "data_identifier": self.data_identifier,
            "data_identifier_name": self.data_identifier_name,
            "notes": list(self.notes),
            "text": self.text,
        }


def hibcc_check_character(data: str) -> str:
    """The HIBCC modulo-43 check character over ``data`` (including the leading ``+``)."""
    return HIBC_CHARACTERS[sum(HIBC_CHARACTERS.index(c) for c in data) % 43]


def is_hibcc(text: str) -> bool:
    return text.startswith("+") or text.startswith("*+")


def is_iccbba(text: str) -> bool:
    return len(text) >= 2 and text[0] in "=&" and text[1].isprintable() and not text[1].isspace()


def read_iccbba(text: str, symbology: str | None = None) -> NonGs1Code:
    identifier = text[:2]
    name = ISBT_DATA_IDENTIFIERS.get(identifier)
    if name is None and text[0] == "=" and text[1] in _DIN_FIRST:
        name = "Donation Identification Number"
    return NonGs1Code(
        issuing_agency="ICCBBA",
        text=text,
        structure="ISBT 128",
        symbology=symbology,
        data_identifier=identifier,
        data_identifier_name=name,
        notes=(_ISBT_NOTE,),
    )


def _fail(message: str, position: int | None = None) -> HibccError:
    return HibccError(f"HIBCC code: {message}", position=position)


def _date(year: int, month: int, day: int, shown: str) -> dt.date:
    if not 1 <= month <= 12:
        raise _fail(f"invalid date {shown!r}: month {month:02d} does not exist")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise _fail(f"invalid date {shown!r}: {year}-{month:02d} has no day {day:02d}")
    return dt.date(year, month, day)


def _julian(year: int, day_of_year: int, shown: str) -> dt.date:
    days = 366 if calendar.isleap(year) else 365
    if not 1 <= day_of_year <= days:
        raise _fail(f"invalid date {shown!r}: {year} has no day {day_of_year:03d}")
    return dt.date(year, 1, 1) + dt.timedelta(days=day_of_year - 1)


def _digits(text: str, count: int, what: str) -> str:
    part = text[:count]
    if len(part) != count or not is_digits(part):
        raise _fail(f"{what} needs {count} digits, got {part!r}")
    return part


def _expiry(rest: str) -> tuple[dt.date | None, str]:
    """Read the date-format flag and date that follow ``$$`` (and any quantity)."""
    if not rest:
        raise _fail("secondary data end where an expiry date format was expected")
    flag = rest[0]
    if flag in "01":
        # No flag character: MMYY directly. HIBCC gives the month only; we use its last day,
        # the same convention GS1 uses for day 00.
        d = _digits(rest, 4, "expiry MMYY")
        year, month = 2000 + int(d[2:]), int(d[:2])
        if not 1 <= month <= 12:
            raise _fail(f"invalid date {d!r}: month {month:02d} does not exist")
        return dt.date(year, month, calendar.monthrange(year, month)[1]), rest[4:]
    formats = {"2": 6, "3": 6, "4": 8, "5": 5, "6": 7, "7": 0}
    if flag not in formats:
        raise _fail(f"unknown expiry date format flag {flag!r} after '$$' (0-7 expected)")
    d = _digits(rest[1:], formats[flag], "expiry date") if formats[flag] else ""
    rest = rest[1 + formats[flag] :]
    if flag == "2":
        return _date(2000 + int(d[4:6]), int(d[:2]), int(d[2:4]), d), rest
    if flag in "34":
        if flag == "4" and int(d[6:8]) > 23:
            raise _fail(f"invalid hour {d[6:8]!r} in expiry {d!r}")
        return _date(2000 + int(d[:2]), int(d[2:4]), int(d[4:6]), d), rest
    if flag in "56":
        if flag == "6" and int(d[5:7]) > 23:
            raise _fail(f"invalid hour {d[5:7]!r} in expiry {d!r}")
        return _julian(2000 + int(d[:2]), int(d[2:5]), d), rest
    return None, rest


def _quantity(rest: str) -> tuple[int | None, str]:
    if rest[:1] == "8":
        return int(_digits(rest[1:], 2, "quantity")), rest[3:]
    if rest[:1] == "9":
        return int(_digits(rest[1:], 5, "quantity")), rest[6:]
    return None, rest


def _secondary(data: str) -> dict[str, Any]:
    """Decode HIBCC secondary data (without ``+``, link or check character)."""
    if not data:
        raise _fail("secondary data are empty")
    if data[0].isdigit():
        d = _digits(data, 5, "Julian date YYJJJ")
        return {"expiry": _julian(2000 + int(d[:2]), int(d[2:]), d), "lot": data[5:]}
    if data.startswith("$$"):
        serial = data.startswith("$$+")
        rest = data[3:] if serial else data[2:]
        quantity, rest = _quantity(rest)
        expiry, rest = _expiry(rest)
        return {"quantity": quantity, "expiry": expiry, "serial" if serial else "lot": rest}
    if data.startswith("$+"):
        return {"serial": data[2:]}
    if data.startswith("$"):
        return {"lot": data[1:]}
    raise _fail(f"secondary data must start with a digit or '$', got {data[:1]!r}")


def read_hibcc(text: str, symbology: str | None = None) -> NonGs1Code:
    """Decode a HIBCC Supplier Labeling (LIC) code and verify its check character."""
    body = text[1:-1] if text.startswith("*") and text.endswith("*") and len(text) > 2 else text
    for index, char in enumerate(body):
        if char not in HIBC_CHARACTERS:
            raise _fail(
                f"character {char!r} at character {index + 1} is not allowed (HIBCC uses "
                "A-Z, 0-9, space and - . $ / + %)",
                index + 1,
            )
    if len(body) < 3:
        raise _fail(f"{body!r} is too short")
    data, check = body[:-1], body[-1]
    expected = hibcc_check_character(data)
    if check != expected:
        raise _fail(f"check character is {check!r}, expected {expected!r} (modulo 43)", len(body))
    common: dict[str, Any] = {
        "issuing_agency": "HIBCC",
        "text": text,
        "symbology": symbology,
        "check_character": check,
    }
    content = data[1:]
    if content.startswith("/"):
        return NonGs1Code(
            structure="provider (PAS)",
            notes=("HIBC Provider Applications Standard data are recognised, not decoded",),
            **common,
        )
    if not content[0].isalpha():
        secondary, link = content[:-1], content[-1]
        return NonGs1Code(
            structure="secondary", link_character=link, **common, **_clean(_secondary(secondary))
        )
    primary, slash, secondary = content.partition("/")
    labeler, rest = primary[:4], primary[4:]
    if len(labeler) != 4 or not labeler.isalnum():
        raise _fail(f"labeler identification code {labeler!r} must be 4 letters or digits")
    if len(rest) < 2 or not rest.isalnum():
        raise _fail(f"product number and unit of measure missing or malformed in {primary!r}")
    if not rest[-1].isdigit():
        raise _fail(f"unit of measure must be a digit, got {rest[-1]!r}")
    fields: dict[str, Any] = {
        "labeler": labeler,
        "product": rest[:-1],
        "unit_of_measure": int(rest[-1]),
    }
    if slash:
        fields.update(_clean(_secondary(secondary)))
    return NonGs1Code(structure="concatenated" if slash else "primary", **common, **fields)


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "")}
