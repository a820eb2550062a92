"""Reading the numbers people and machines type — quantities, CoA results, process-run values
and limits — by one rule, and checking that a number fits the ``Quantity`` column (18 integer
digits, 6 decimals), so nothing is rounded or overflows on either backend.

The rule (docs/LOTS.md, "Numbers"): digits 0–9 with a **full stop as the decimal mark**, an
optional leading sign, nothing else. A comma is refused, never guessed: ``1,300`` is 1.3 to a
German supplier and 1300 to an American or Chinese one, and a misread result is a wrong
verdict on a lot. Thousands separators, spaces inside the number, exponents (``1e3``), units
(``12.5 %``), ``NaN`` and ``Infinity`` are refused for the same reason: each has a reading
someone will get wrong. Full-width digits and the full-width full stop (``１２．５``, what a
Chinese input method types) are read as their ordinary forms: they cannot be misread.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

MAX_INTEGER_DIGITS = 18
MAX_DECIMALS = 6

#: The rule in one sentence, as the forms and the API description state it.
NUMBER_RULE = (
    "Numbers: digits with a full stop as the decimal mark (12.5); no commas, spaces, "
    "exponents or units."
)

NUMBER_REQUIRED = "A number is required."
COMMA_REFUSED = (
    "Use a full stop as the decimal mark (12.5). A comma is refused because 1,300 could mean "
    "1.3 or 1300."
)
UNIT_IN_NUMBER = "Write only the number here; the unit has its own field."
EXPONENT_REFUSED = "Write the number out in full (1000, not 1e3)."
SPACE_IN_NUMBER = "Do not group digits with spaces; write 1300, not 1 300."
NOT_A_NUMBER = "This is not a number: use digits 0–9 with a full stop as the decimal mark (12.5)."
QUANTITY_NOT_POSITIVE = "The quantity must be a number greater than zero."
TOO_MANY_DECIMALS = "Use at most 6 decimal places."
TOO_LARGE = "The number is too large."

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_COMMA_NUMBER = re.compile(r"[+-]?[0-9.,]*,[0-9.,]*")
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")
_WITH_UNIT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)\s*[^\s0-9.,+-][^0-9]*")
_SPACED = re.compile(r"[+-]?[0-9][0-9 .]*\s[0-9 .]*[0-9]")


def _normalised(value: object) -> str:
    """The text with full-width forms made ordinary (NFKC), the minus sign U+2212 made a
    hyphen-minus, and surrounding white space removed."""
    text = unicodedata.normalize("NFKC", str(value if value is not None else ""))
    return text.replace("\u2212", "-").strip()


def number_problem(value: object) -> str | None:
    """Why ``value`` is not a number by the rule, or None when it is one."""
    text = _normalised(value)
    if not text:
        return NUMBER_REQUIRED
    if _NUMBER.fullmatch(text):
        return None
    if _COMMA_NUMBER.fullmatch(text):
        return COMMA_REFUSED
    if _EXPONENT.fullmatch(text):
        return EXPONENT_REFUSED
    if _SPACED.fullmatch(text):
        return SPACE_IN_NUMBER
    if _WITH_UNIT.fullmatch(text):
        return UNIT_IN_NUMBER
    return NOT_A_NUMBER


def looks_like_a_number(value: object) -> bool:
    """Whether ``value`` is a number or was meant as one (a comma decimal, an exponent, a
    number with its unit): text such as ``no growth`` is not."""
    return number_problem(value) in (None, COMMA_REFUSED, EXPONENT_REFUSED, SPACE_IN_NUMBER)


def parse_decimal(value: object) -> Decimal:
    """The number ``value`` states by the rule, storable exactly; ValueError with a message
    for the person otherwise. Negative zero is read as zero."""
    problem = number_problem(value)
    if problem is not None:
        raise ValueError(problem)
    try:
        number = Decimal(_normalised(value))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(NOT_A_NUMBER) from None
    if number.is_zero():
        number = abs(number)
    check_storable(number)
    return number


def parse_quantity(value: object) -> Decimal:
    """The quantity, or ValueError with a message for the user."""
    number = parse_decimal(value)
    problem = quantity_problem(number)
    if problem is not None:
        raise ValueError(problem)
    return number


def quantity_problem(number: Decimal) -> str | None:
    """Why ``number`` cannot be a quantity, or None."""
    return QUANTITY_NOT_POSITIVE if number <= 0 else None


def storable_problem(number: Decimal) -> str | None:
    """Why ``number`` would not be stored exactly (rounded, or too large), or None."""
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        return TOO_MANY_DECIMALS
    if abs(number) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        return TOO_LARGE
    return None


def check_storable(number: Decimal) -> None:
    """ValueError unless ``number`` is stored exactly (never rounded) in a Quantity column."""
    problem = storable_problem(number)
    if problem is not None:
        raise ValueError(problem)
