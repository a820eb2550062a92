"""Password hashing with scrypt (memory-hard). The parameters travel inside each hash so they
can be raised later without invalidating stored passwords."""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Iterable

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from trace_core.identity import password_policy

_N, _R, _P, _LEN = 2**15, 8, 1, 32
MIN_LENGTH = password_policy.MIN_LENGTH


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


def password_problem(
    password: str, username: str, names: Iterable[str] = (), organization: str | None = None
) -> str | None:
    """Why ``password`` is not acceptable, or None: the policy of ``password_policy`` (length,
    common-password list, names, sequences; P11-23)."""
    return password_policy.password_problem(password, username, names, organization)
