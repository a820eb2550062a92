"""Password hashing with scrypt (memory-hard). The parameters travel inside each hash
(``scrypt$N$r$p$salt$digest``), so the cost of new hashes (``Limits.password_hash_cost``) can be
raised later, or lowered for tests, without invalidating stored passwords: a hash is always
checked with the parameters it was made with."""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Iterable

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from trace_core.identity import password_policy

#: scrypt's CPU/memory cost N for new hashes in production (32 MiB and tens of milliseconds
#: per hash with r=8), the value ``Limits.password_hash_cost`` defaults to.
DEFAULT_COST = 2**15
#: The highest cost accepted (1 GiB per hash with r=8): more would exhaust a server's memory.
MAX_COST = 2**20
_R, _P, _LEN = 8, 1, 32
MIN_LENGTH = password_policy.MIN_LENGTH


def cost_problem(cost: int) -> str | None:
    """Why ``cost`` cannot be scrypt's N, or None: N must be a power of two from 2 to
    ``MAX_COST``."""
    if cost < 2 or cost > MAX_COST or cost & (cost - 1):
        return f"must be a power of two from 2 to {MAX_COST}, got {cost}"
    return None


def hash_password(password: str, cost: int = DEFAULT_COST) -> str:
    """A new salted scrypt hash of ``password`` with N = ``cost``, recorded in the hash."""
    problem = cost_problem(cost)
    if problem:
        raise ValueError(f"password hash cost {problem}")
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=_LEN, n=cost, r=_R, p=_P).derive(password.encode("utf-8"))
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${cost}${_R}${_P}${salt_b64}${digest_b64}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, checked with the parameters stored with it
    (whatever the cost of new hashes is now)."""
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
