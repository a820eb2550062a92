"""Recovery codes for the second factor (P11-26): ten random single-use codes, shown once at
enrolment, stored as SHA-256 only.

A code is twelve characters of Crockford's base32 alphabet (60 bits), written in three groups
of four (``7k2m-x9qd-4hfa``). SHA-256 without a salt is enough here, unlike for passwords: the
codes are random with 60 bits each, so there is nothing to guess from a dictionary.
"""

from __future__ import annotations

import hashlib
import secrets

#: Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
COUNT = 10
LENGTH = 12


def new_codes() -> list[str]:
    """``COUNT`` fresh codes, formatted for display."""
    codes = []
    for _ in range(COUNT):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, LENGTH, 4)))
    return codes


def normalise(code: str) -> str:
    """What a person typed, without case, spaces or dashes."""
    return "".join(code.split()).replace("-", "").lower()


def looks_like_recovery_code(code: str) -> bool:
    plain = normalise(code)
    return len(plain) == LENGTH and all(c in ALPHABET for c in plain)


def code_sha256(code: str) -> str:
    return hashlib.sha256(normalise(code).encode("ascii")).hexdigest()
