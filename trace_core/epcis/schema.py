"""Validation against GS1's EPCIS 2.0.1 JSON Schema (vendored in ``data/``, see its
``SOURCES.md``), as JSON Schema Draft 7 with format checking (``date-time``, ``uri``).

The schema also carries the CBV 2.0 code lists (business steps, dispositions, business
transaction, source/destination and error-reason types, ...): :func:`standard_terms` reads them
from it, so the vocabulary checks and the schema can never disagree.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from trace_core.epcis.errors import Fault, pointer

SCHEMA_FILE = "epcis-json-schema.json"
#: GS1's published 2.0.1 schema (https://ref.gs1.org/standards/epcis/2.0.1/epcis-json-schema.json).
SCHEMA_SHA256 = "0f46ff694efffd8d8ce840a33dfde84228add11b516b8b258f3200740ae210af"


def schema_bytes() -> bytes:
    return resources.files("trace_core.epcis").joinpath("data", SCHEMA_FILE).read_bytes()


@cache
def schema() -> dict[str, Any]:
    raw = schema_bytes()
    if hashlib.sha256(raw).hexdigest() != SCHEMA_SHA256:
        raise RuntimeError(f"trace_core/epcis/data/{SCHEMA_FILE} is not GS1's 2.0.1 schema")
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(schema(), format_checker=FormatChecker())


def standard_terms(definition: str) -> frozenset[str]:
    """The bare CBV names the schema lists for ``definition`` (``bizStep``, ``disposition``,
    ``bizTransaction-type``, ``source-dest-type``, ``error-reason``, ``measurementType``,
    ``sensorAlertType``, ``component``)."""
    options = schema()["definitions"][definition]["anyOf"]
    return frozenset(term for option in options for term in option.get("enum", ()))


def _describe(error: ValidationError) -> str:
    field = error.path[-1] if error.path else None
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator == "format":
        return f"{error.instance!r} is not a valid {error.validator_value}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{error.instance!r} is not allowed here; allowed: {allowed}"
    if error.validator == "type":
        return f"{error.instance!r} is not of type {error.validator_value}"
    if error.validator == "propertyNames":
        return f"the field name {error.instance!r} is not allowed here"
    if error.validator == "anyOf" and isinstance(field, str):
        return f"{error.instance!r} is not a valid value for {field}"
    missing = [
        str(cause.validator_value[0])
        for cause in error.context or ()
        if cause.validator == "required" and not cause.path
    ]
    if error.validator == "anyOf" and missing:
        names = list(dict.fromkeys(missing))
        if "sensorElementList" in names and "readPoint" in names:
            names.remove("readPoint")
            names[names.index("sensorElementList")] = "sensorElementList (with readPoint)"
        return "needs one of: " + ", ".join(names)
    return str(error.message)


def schema_fault(document: Any) -> Fault | None:
    """The first place ``document`` breaks the schema, or ``None``.

    "First" is in document order (the earliest JSON pointer path), and within one place the
    most specific of the schema's complaints (``jsonschema``'s ``best_match``): a partner
    fixes faults one at a time, starting at the top.
    """
    errors = list(_validator().iter_errors(document))
    if not errors:
        return None
    # Errors under if/then and anyOf carry their causes in ``context``; descend to the cause
    # at the deepest, earliest place so the pointer names the field, not its event.
    first = min(errors, key=lambda e: _order(e.absolute_path))
    # A fault inside a field comes before a complaint about the object holding it.
    chosen = best_match([first]) if first.context else first
    if chosen is None:  # pragma: no cover - best_match of a non-empty list
        chosen = first
    problem = _describe(chosen)
    where = list(chosen.absolute_path)
    if "propertyNames" in chosen.absolute_schema_path and isinstance(chosen.instance, str):
        where.append(chosen.instance)
        problem = f"{chosen.instance!r} is not allowed as a field name here"
    elif chosen.validator == "additionalProperties" and isinstance(chosen.instance, dict):
        allowed = list(chosen.schema.get("properties", {}))
        extra = [k for k in chosen.instance if k not in allowed]
        if extra:
            where.append(extra[0])
            problem = f"{extra[0]!r} is not allowed here; allowed: {', '.join(allowed)}"
    return Fault(pointer(where), problem)


def _order(path: Any) -> tuple[tuple[int, int | str], ...]:
    """Document order, children before their parent (the parent's complaint is vaguer)."""
    steps = tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in path)
    return (*steps, (2, ""))
