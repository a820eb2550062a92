"""Reading quantities people and machines type: exact decimals that fit the ``Quantity``
column (18 integer digits, 6 decimals), so nothing is rounded or overflows on either backend."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_INTEGER_DIGITS = 18
MAX_DECIMALS = 6


def parse_quantity(value: object) -> Decimal:
    """The quantity, or ValueError with a message for the user."""
    text = str(value if value is not None else "").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a number.") from None
    if not number.is_finite() or number <= 0:
        raise ValueError("The quantity must be a number greater than zero.")
    check_storable(number)
    return number


def check_storable(number: Decimal) -> None:
    """ValueError unless ``number`` is stored exactly (never rounded) in a Quantity column."""
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise ValueError(f"Use at most {MAX_DECIMALS} decimal places.")
    if abs(number) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise ValueError("The number is too large.")
