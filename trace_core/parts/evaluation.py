"""Evaluation of a supplier's result against *our* characteristic (DESIGN invariant 7): the
verdict never comes from the supplier's own limits or pass marks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trace_core.parts.models import Characteristic
from trace_core.quantities import parse_decimal, storable_problem

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


BELOW_PHYSICAL_MINIMUM = (
    "This value is below what is physically possible for this characteristic (see its "
    "physical bounds): it is refused as an input error and not judged. Check what was typed."
)
ABOVE_PHYSICAL_MAXIMUM = (
    "This value is above what is physically possible for this characteristic (see its "
    "physical bounds): it is refused as an input error and not judged. Check what was typed."
)


class ResultTypeError(ValueError):
    """The value cannot be read as the characteristic's kind (the supplier must correct it)."""


class InputRefused(ResultTypeError):
    """The value breaks an input rule (the number rule, a physical bound): its message is fixed
    and complete, so the form shows it as it is, in the reader's language."""


def plausibility_problem(characteristic: Characteristic, value: Decimal) -> str | None:
    """Why ``value`` (in our unit) cannot be a real measurement of ``characteristic``: the
    physical bounds (a moisture content below 0, a percentage above 100) are not the
    acceptance limits — a value outside them is a typing error, not a failing lot."""
    if characteristic.physical_min is not None and value < characteristic.physical_min:
        return BELOW_PHYSICAL_MINIMUM
    if characteristic.physical_max is not None and value > characteristic.physical_max:
        return ABOVE_PHYSICAL_MAXIMUM
    return None


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
            number = parse_decimal(text)
        except ValueError as exc:
            raise InputRefused(str(exc)) from None
        ours = convert(number, unit or characteristic.unit, characteristic.unit)
        problem = storable_problem(ours) or plausibility_problem(characteristic, ours)
        if problem is not None:
            raise InputRefused(problem)
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
