"""Canonical JSON: the one byte representation that versions, audit events and signatures
are hashed and signed over. Keys are sorted, separators fixed, and types explicit — floats
are refused because their text form is not stable across platforms; exact values travel as
decimal strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON; use Decimal")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime in canonical JSON")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    raise TypeError(f"type {type(value).__name__} is not allowed in canonical JSON")


def canonical_json(value: Any) -> str:
    """The canonical text of ``value``."""
    return canonical_text(_normalise(value))


def canonical_hash(value: Any) -> str:
    """SHA-256 (hex) of the canonical UTF-8 bytes of ``value``."""
    return text_hash(canonical_json(value))


def text_hash(text: str) -> str:
    """SHA-256 (hex) of a canonical text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_text(value: Any) -> str:
    """The canonical text of a value that is JSON-native already (what ``plain`` returned),
    without walking it again: the record keeper's writing side, which has just reduced the
    value (a recall's content holds a hundred thousand serials; walking it once per hash
    cost seconds). Verifiers use ``canonical_json``, which checks every value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plain(value: Any) -> Any:
    """``value`` reduced to JSON-native types (as stored in version content)."""
    return _normalise(value)
