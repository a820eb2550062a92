"""Evaluation of a supplier's result against *our* characteristic (DESIGN invariant 7): the
verdict never comes from the supplier's own limits or pass marks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from trace_core.parts.models import Characteristic
from trace_core.quantities import check_storable

#: Units written differently that mean the same thing, and exact conversions between units.
_UNIT_ALIASES = {
    "g/10 min": "g/10min",
    "g/10 minutes": "g/10min",
    "percent": "%",
    "pct": "%",
    "g/cc": "g/cm3",
    "g/cm³": "g/cm3",
    "mg/kg": "ppm",
    "µm": "um",
    "μm": "um",
}
_CONVERSIONS: dict[tuple[str, str], Decimal] = {
    ("%", "ppm"): Decimal(10000),
    ("ppm", "%"): Decimal("0.0001"),
    ("kg/m3", "g/cm3"): Decimal("0.001"),
    ("g/cm3", "kg/m3"): Decimal(1000),
    ("mm", "um"): Decimal(1000),
    ("um", "mm"): Decimal("0.001"),
    ("kgy", "mrad"): Decimal("0.1"),
    ("mrad", "kgy"): Decimal(10),
}
_PASS_WORDS = {"pass", "passed", "conforms", "complies", "ok", "yes", "negative"}
_FAIL_WORDS = {"fail", "failed", "does not conform", "not ok", "no", "positive"}


class ResultTypeError(ValueError):
    """The value cannot be read as the characteristic's kind (the supplier must correct it)."""


@dataclass(frozen=True)
class Verdict:
    value_numeric: Decimal | None
    verdict: str  # "pass" or "fail"
    explanation: str


def _unit_key(unit: str | None) -> str:
    key = (unit or "").strip().lower()
    return _UNIT_ALIASES.get(key, key)


def convert(value: Decimal, from_unit: str | None, to_unit: str | None) -> Decimal:
    source, target = _unit_key(from_unit), _unit_key(to_unit)
    if source == target or not source:
        return value
    factor = _CONVERSIONS.get((source, target))
    if factor is None:
        raise ResultTypeError(f"unit '{from_unit}' cannot be converted to our unit '{to_unit}'")
    return value * factor


def evaluate(characteristic: Characteristic, value: str, unit: str | None) -> Verdict:
    text = value.strip()
    if not text:
        raise ResultTypeError("a value is required")
    if characteristic.kind == "numeric":
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation as exc:
            raise ResultTypeError(f"'{text}' is not a number") from exc
        if not number.is_finite():
            raise ResultTypeError(f"'{text}' is not a finite number")
        ours = convert(number, unit or characteristic.unit, characteristic.unit)
        try:
            check_storable(number)
            check_storable(ours)
        except ValueError as exc:
            raise ResultTypeError(f"'{text}' cannot be recorded exactly: {exc}") from None
        low, high = characteristic.lower_limit, characteristic.upper_limit
        shown = f"{ours} {characteristic.unit or ''}".strip()
        if low is not None and ours < low:
            return Verdict(ours, "fail", f"{shown} is below our minimum {low}")
        if high is not None and ours > high:
            return Verdict(ours, "fail", f"{shown} is above our maximum {high}")
        return Verdict(ours, "pass", f"{shown} is within {characteristic.criterion()}")
    if characteristic.kind == "pass_fail":
        word = text.lower()
        if word in _PASS_WORDS:
            return Verdict(None, "pass", "reported as passing")
        if word in _FAIL_WORDS:
            return Verdict(None, "fail", "reported as failing")
        raise ResultTypeError(f"'{text}' is not a pass/fail result (write pass or fail)")
    expected = (characteristic.expected_text or "").strip()
    if expected and text.lower() != expected.lower():
        return Verdict(None, "fail", f"'{text}' does not match our requirement '{expected}'")
    return Verdict(None, "pass", "matches our requirement" if expected else "recorded")
