"""GS1 check digits and the key validators built on them (UDI-01).

A wrong check digit almost always means a misread or mistyped key; accepting it would attach a
trace query or a UDI record to the wrong product, so keys with a bad check digit are refused.
"""

from __future__ import annotations

from trace_core.gs1.errors import Gs1Error

#: GS1 CSET 82, in the order that gives each character its value in the alphanumeric
#: check-character-pair algorithm (GS1 General Specifications, "Check character calculation
#: (for alphanumeric keys)").
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
#: The 32 characters a check character pair is drawn from.
CSET32 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

_GTIN_LENGTHS = (8, 12, 13, 14)


def is_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts and other scripts' digits)."""
    return text.isascii() and text.isdigit()


def gs1_check_digit(payload: str) -> int:
    """The GS1 mod-10 check digit for ``payload`` (all digits, without its check digit)."""
    if not is_digits(payload):
        raise ValueError(f"check digits are computed over digits only, got {payload!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(payload)))
    return (10 - total % 10) % 10


def check_digit_problem(key: str) -> str | None:
    """``None`` if the last digit of ``key`` is its correct check digit, else a message."""
    expected = gs1_check_digit(key[:-1])
    if int(key[-1]) != expected:
        return f"check digit is {key[-1]}, expected {expected}"
    return None


def _alpha_primes(count: int) -> tuple[int, ...]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return tuple(primes)


# Data fields are at most 90 characters (AIs 91-99); 97 primes cover any field.
_PRIMES = _alpha_primes(97)


def check_pair_problem(value: str) -> str | None:
    """Check the alphanumeric check character pair that ends ``value`` (GMN, AI 8013/8014)."""
    if len(value) < 2:
        return "too short to carry a check character pair"
    data, pair = value[:-2], value[-2:]
    bad = next((c for c in data if c not in CSET82), None)
    if bad is not None:
        return f"character {bad!r} is not allowed before the check character pair"
    if len(data) > len(_PRIMES):
        return "too long for the check character pair algorithm"
    total = sum(CSET82.index(c) * _PRIMES[i] for i, c in enumerate(reversed(data))) % 1021
    expected = CSET32[total >> 5] + CSET32[total & 31]
    if pair != expected:
        return f"check character pair is {pair!r}, expected {expected!r}"
    return None


def _numeric_key(kind: str, key: str, lengths: tuple[int, ...]) -> str:
    text = key.strip()
    if not is_digits(text):
        raise Gs1Error(f"{kind} {text!r}: only digits are allowed", rule="syntax")
    if len(text) not in lengths:
        wanted = ", ".join(str(n) for n in lengths[:-1])
        wanted = f"{wanted} or {lengths[-1]}" if wanted else str(lengths[-1])
        raise Gs1Error(f"{kind} {text!r}: {wanted} digits required, got {len(text)}", rule="syntax")
    problem = check_digit_problem(text)
    if problem:
        raise Gs1Error(f"{kind} {text}: {problem}", rule="check digit")
    return text


def validate_gtin(gtin: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as 14 digits (the form UDI databases use)."""
    return _numeric_key("GTIN", gtin, _GTIN_LENGTHS).zfill(14)


def validate_sscc(sscc: str) -> str:
    """Validate an 18-digit SSCC (Serial Shipping Container Code) and return it."""
    return _numeric_key("SSCC", sscc, (18,))


def validate_gln(gln: str) -> str:
    """Validate a 13-digit GLN (Global Location Number) and return it."""
    return _numeric_key("GLN", gln, (13,))
