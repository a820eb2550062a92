"""Units of quantity for material moving in and out (receipts): which units we know, which
can be converted into which, and the exact factor between them.

A receipt may be typed in a different unit than the supplier declared its lot in (grams
against kilograms, millilitres against litres). It is converted into the lot's unit before
it is compared with what the supplier shipped. The factors are exact ``Decimal``s from the SI
definitions, so a conversion never rounds; a result that does not fit the ``Quantity``
column exactly is refused rather than rounded (``trace_core.quantities.check_storable``).

A unit this table does not know (``load``, ``roll``) is still usable, but only as itself:
the same unit needs no conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trace_core.quantities import check_storable


@dataclass(frozen=True)
class Unit:
    symbol: str
    #: What it measures; only units of the same dimension convert into each other.
    dimension: str
    #: How many of the dimension's base unit (kg, l, pcs) one of this unit is.
    factor: Decimal


UNITS: dict[str, Unit] = {
    u.symbol: u
    for u in (
        Unit("kg", "mass", Decimal(1)),
        Unit("g", "mass", Decimal("0.001")),
        Unit("mg", "mass", Decimal("0.000001")),
        Unit("t", "mass", Decimal(1000)),
        Unit("l", "volume", Decimal(1)),
        Unit("ml", "volume", Decimal("0.001")),
        Unit("m3", "volume", Decimal(1000)),
        Unit("pcs", "count", Decimal(1)),
        Unit("m", "length", Decimal(1)),
        Unit("cm", "length", Decimal("0.01")),
        Unit("mm", "length", Decimal("0.001")),
    )
}
#: Other spellings of the same units.
ALIASES = {
    "kgs": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "gram": "g",
    "grams": "g",
    "tonne": "t",
    "litre": "l",
    "liter": "l",
    "litres": "l",
    "liters": "l",
    "millilitre": "ml",
    "milliliter": "ml",
    "m³": "m3",
    "pc": "pcs",
    "piece": "pcs",
    "pieces": "pcs",
    "ea": "pcs",
    "each": "pcs",
}


class UnitError(ValueError):
    """The unit is unknown, or cannot be converted into the wanted one (``reason``:
    ``missing``, ``unknown``, ``incompatible`` or ``inexact``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def canonical_unit(unit: str) -> str:
    """The unit as we write it: known spellings folded to their symbol; anything else as
    given (trimmed), since it can still be used as itself."""
    key = unit.strip()
    folded = ALIASES.get(key.lower(), key.lower())
    return folded if folded in UNITS else key


def convert_quantity(quantity: Decimal, unit: str, into: str) -> Decimal:
    """``quantity`` of ``unit`` expressed in ``into``, exactly; UnitError when the units
    cannot be converted or the result would not be stored exactly."""
    source, target = canonical_unit(unit), canonical_unit(into)
    if not source:
        raise UnitError("missing", "Name a unit.")
    if source == target:
        return quantity
    known_source, known_target = UNITS.get(source), UNITS.get(target)
    if known_source is None:
        raise UnitError("unknown", f"'{unit}' is not a unit we can convert; use '{into}'.")
    if known_target is None or known_source.dimension != known_target.dimension:
        raise UnitError("incompatible", f"'{unit}' cannot be converted into '{into}'.")
    converted = (quantity * known_source.factor / known_target.factor).normalize()
    try:
        check_storable(converted)
    except ValueError as exc:
        raise UnitError("inexact", f"{quantity} {unit} is {converted} {into}: {exc}") from None
    return plain_decimal(converted)


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (``20.40`` → ``20.4``,
    ``1E+3`` → ``1000``): how quantities are shown and compared in messages."""
    if value == value.to_integral():
        return value.quantize(Decimal(1))
    return value.normalize()
