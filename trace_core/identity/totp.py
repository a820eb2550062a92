"""RFC 6238 one-time codes (30-second steps, 6 digits, SHA-1 as authenticator apps expect),
built on ``cryptography``'s TOTP. A code is accepted for the current step and one step either
side (clock drift), and never twice: the caller stores the accepted step."""

from __future__ import annotations

import base64
import secrets
import time
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "Traceport"


def new_secret() -> str:
    """A fresh 160-bit secret in base32, as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _totp(secret: str) -> TOTP:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    # SHA-1 is what RFC 6238 authenticator apps implement; the HMAC use is not collision-bound.
    return TOTP(key, DIGITS, SHA1(), STEP_SECONDS, enforce_key_length=False)  # noqa: S303


def code_at(secret: str, moment: float) -> str:
    return _totp(secret).generate(int(moment)).decode("ascii")


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step the code belongs to (now ±1 step), or None when it matches none."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    moment = time.time() if now is None else now
    totp = _totp(secret)
    for drift in (0, -1, 1):
        at = int(moment) + drift * STEP_SECONDS
        try:
            totp.verify(code.encode("ascii"), at)
        except InvalidToken:
            continue
        return at // STEP_SECONDS
    return None


def provisioning_uri(secret: str, account: str) -> str:
    label = quote(f"{ISSUER}:{account}")
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={quote(ISSUER)}"
        f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
