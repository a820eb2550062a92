"""Canonical JSON (``trace_core/records/canonical.py``): the record keeper hashes a value it
has just reduced with ``plain`` without walking it again; the texts are the same as the
checked ones verifiers recompute, so every version and audit event hashes as before."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from trace_core.records.canonical import canonical_json, canonical_text, plain
from trace_core.records.models import AuditEvent
from trace_core.records.service import (
    _new_event_hash,
    _new_version_hashes,
    audit_event_hash,
    version_content_hash,
)

VALUES: list[Any] = [
    {"b": 1, "a": [True, None, "x"], "ü": "Größe 粒子", "n": 2**70},
    {"serial_groups": [{"serials": [f"SN-{i}" for i in range(5)], "gtin": None}]},
    {"quantity": Decimal("2.50"), "at": dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)},
    [1, "2", {"3": [4, {"5": "six"}]}],
    "",
    0,
]


def _old_hash(value: Any) -> str:
    """The hash as it was computed before ``canonical_text``: every value walked."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("value", VALUES)
def test_the_text_of_a_plain_value_is_its_canonical_json(value: Any) -> None:
    assert canonical_text(plain(value)) == canonical_json(value)
    content, data = _new_version_hashes("recall", 7, 2, "open", plain(value))
    assert data == _old_hash(value)
    assert content == version_content_hash("recall", 7, 2, "open", plain(value))


def test_version_and_audit_hashes_are_what_they_were() -> None:
    content = plain(VALUES[0] | {"q": Decimal("1.5")})
    wrapper = {"record_type": "recall", "record_id": 7, "version": 2, "status": "open"}
    assert _new_version_hashes("recall", 7, 2, "open", content)[0] == _old_hash(
        {**wrapper, "data": content}
    )
    event = AuditEvent(
        seq=12,
        occurred_at=dt.datetime(2026, 11, 25, 10, 0, 1, 5, tzinfo=dt.UTC),
        actor_kind="user",
        actor_id=3,
        actor_name="Quinn Avery",
        organization_id=1,
        channel="ui",
        action="create",
        record_type="recall",
        record_id=7,
        version=1,
        old_values=None,
        new_values=content,
        reason="why",
        prev_hash="0" * 64,
        record_sha256="a" * 64,
    )
    fields = {
        name: getattr(event, name)
        for name in [
            "seq",
            "occurred_at",
            "actor_kind",
            "actor_id",
            "actor_name",
            "organization_id",
            "channel",
            "action",
            "record_type",
            "record_id",
            "version",
            "old_values",
            "new_values",
            "reason",
            "prev_hash",
            "record_sha256",
        ]
    }
    assert _new_event_hash(event) == audit_event_hash(event) == _old_hash(fields)


def test_what_json_cannot_hold_is_refused_not_hashed() -> None:
    with pytest.raises(TypeError):
        canonical_text({"quantity": Decimal("1")})
    with pytest.raises(TypeError):
        canonical_json({"quantity": 1.5})
    assert json.loads(canonical_text(plain({"q": Decimal("1.50")}))) == {"q": "1.50"}
