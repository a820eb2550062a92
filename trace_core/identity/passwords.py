"""Password hashing with scrypt (memory-hard). The parameters travel inside each hash so they
can be raised later without invalidating stored passwords."""

from __future__ import annotations

import base64
import hmac
import os

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_N, _R, _P, _LEN = 2**15, 8, 1, 32
MIN_LENGTH = 12


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=_LEN, n=_N, r=_R, p=_P).derive(password.encode("utf-8"))
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${_N}${_R}${_P}${salt_b64}${digest_b64}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    digest = Scrypt(salt=salt, length=len(expected), n=int(n), r=int(r), p=int(p)).derive(
        password.encode("utf-8")
    )
    return hmac.compare_digest(digest, expected)


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` is not acceptable, or None. The full policy (common-password list,
    aging) is issue 4's; length and username containment hold from the start."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    local = username.split("@", 1)[0].lower()
    if local and local in password.lower():
        return "The password must not contain your user name."
    return None
