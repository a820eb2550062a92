"""Reading and checking a captured EPCIS 2.0 JSON-LD document (EPC-02, A11-02): JSON syntax,
size, GS1's JSON schema with formats, then CBV vocabulary, namespaces and identifiers. The first
fault rejects the whole document; nothing of it is stored.

A bare event (``{"type": "ObjectEvent", "@context": ..., ...}``), which the schema also
describes, is read as a document holding that one event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from trace_core.epcis.errors import EpcisRejected, Fault, pointer
from trace_core.epcis.event_hash import ignored_fields
from trace_core.epcis.identifiers import identifier_problem, read_gs1
from trace_core.epcis.schema import schema_fault
from trace_core.epcis.vocabulary import (
    event_faults,
    has_epcis_context,
    key_problem,
    measurement_problem,
    prefixes_in,
    standard_uri,
    vocabulary_of,
    vocabulary_problem,
)
from trace_core.errors import TooLarge

EVENT_TYPES = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent"}
    | {"AssociationEvent"}
)
#: Far deeper than any EPCIS event needs; keeps every recursive step of the checks and the hash
#: well inside Python's recursion limit.
MAX_DEPTH = 64
_EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


@dataclass(frozen=True)
class CaptureDocument:
    """A checked document: its events (each with the pointer it came from) and the namespace
    prefixes in force for them."""

    document: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    prefixes: dict[str, str]
    ignore: frozenset[str]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the field {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(raw: bytes, max_bytes: int, max_events: int) -> CaptureDocument:
    """Read and check a capture; raise :class:`EpcisRejected` (422) or ``TooLarge`` (413)."""
    if len(raw) > max_bytes:
        raise TooLarge(
            f"The EPCIS document is {len(raw):,} bytes; the limit is {max_bytes:,} bytes per "
            "capture. Split it into several captures; nothing was stored."
        )
    try:
        text = raw.decode("utf-8-sig")
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise EpcisRejected(Fault("", f"the document is not UTF-8 ({exc.reason})")) from exc
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise EpcisRejected(Fault("", message)) from exc
    except ValueError as exc:
        raise EpcisRejected(Fault("", f"not valid JSON: {exc}")) from exc
    except RecursionError as exc:
        raise EpcisRejected(Fault("", "the JSON is nested too deeply")) from exc
    if not isinstance(document, dict):
        raise EpcisRejected(Fault("", "an EPCIS document must be a JSON object"))
    if _depth(document) > MAX_DEPTH:
        raise EpcisRejected(Fault("", f"the JSON is nested more than {MAX_DEPTH} levels deep"))
    if document.get("type") in EVENT_TYPES:
        document = {
            "@context": document.get("@context"),
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": document.get("eventTime"),
            "epcisBody": {"eventList": [document]},
            "_bare_event": True,
        }
    body = document.get("epcisBody")
    event_list = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(event_list, list) and len(event_list) > max_events:
        raise TooLarge(
            f"The EPCIS document holds {len(event_list):,} events; the limit is {max_events:,} "
            "per capture. Split it into several captures; nothing was stored."
        )
    bare = bool(document.pop("_bare_event", False))
    fault = check(document)
    if fault is not None:
        if bare and fault.pointer.startswith("/epcisBody/eventList/0"):
            fault = Fault(fault.pointer[len("/epcisBody/eventList/0") :], fault.message)
        raise EpcisRejected(fault)
    prefixes = prefixes_in(document.get("@context"))
    return CaptureDocument(
        document,
        [(pointer(["epcisBody", "eventList", i]), e) for i, e in enumerate(event_list or [])],
        prefixes,
        ignored_fields(document, prefixes),
    )


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def check(document: Mapping[str, Any]) -> Fault | None:
    """The first fault of a capture document, or ``None`` when it may be stored."""
    if document.get("type") == "EPCISQueryDocument":
        return Fault("/type", "capture takes an EPCISDocument; this is an EPCISQueryDocument")
    fault = schema_fault(document)
    if fault is not None:
        return _in_cbv_words(document, fault)
    if document.get("type") != "EPCISDocument":
        return Fault("/type", f"capture takes an EPCISDocument, not {document.get('type')!r}")
    if not has_epcis_context(document.get("@context")):
        return Fault(
            "/@context",
            "the @context must include the EPCIS 2.0 context "
            "(https://ref.gs1.org/standards/epcis/epcis-context.jsonld)",
        )
    prefixes = prefixes_in(document.get("@context"))
    for key in document:
        if key not in _DOCUMENT_FIELDS:
            problem = key_problem(key, prefixes)
            if problem:
                return Fault(pointer([key]), problem)
    for index, event in enumerate(document["epcisBody"]["eventList"]):
        path: list[str | int] = ["epcisBody", "eventList", index]
        for found in _event_faults(event, path, prefixes):
            return found
    return None


def _in_cbv_words(document: Mapping[str, Any], fault: Fault) -> Fault:
    """A schema complaint about a code-list value, said in CBV terms."""
    path: list[str | int] = [
        int(p) if p.isdigit() else p.replace("~1", "/").replace("~0", "~")
        for p in fault.pointer.split("/")[1:]
    ]
    value: Any = document
    parent: Any = None
    for step in path:
        try:
            parent, value = value, value[step]
        except (KeyError, IndexError, TypeError):
            return fault
    if isinstance(parent, dict) and fault.message.endswith("as a field name here"):
        problem = key_problem(str(path[-1]), prefixes_in(document.get("@context")))
        return Fault(fault.pointer, problem) if problem else fault
    if not isinstance(value, str):
        return fault
    if len(path) >= 3 and path[-3] == "sensorReport" and path[-1] in ("type", "exception"):
        return Fault(fault.pointer, measurement_problem(value, str(path[-1])))
    vocabulary = vocabulary_of(path)
    if vocabulary is None:
        return fault
    standard = standard_uri(vocabulary, value)
    if standard and value.startswith("urn:epcglobal:cbv:"):
        term = standard.rsplit("-", 1)[-1]
        return Fault(
            fault.pointer,
            f"{value!r}: GS1's EPCIS 2.0 JSON schema does not allow the CBV URN form in JSON; "
            f"write {term!r} or {standard!r}",
        )
    problem = vocabulary_problem(vocabulary, value, prefixes_in(document.get("@context")))
    return Fault(fault.pointer, problem) if problem else fault


_DOCUMENT_FIELDS = frozenset(
    {"@context", "id", "type", "schemaVersion", "creationDate", "instanceIdentifier"}
    | {"sender", "receiver", "epcisHeader", "epcisBody"}
)


def _event_faults(
    event: Mapping[str, Any], path: list[str | int], prefixes: Mapping[str, str]
) -> Iterator[Fault]:
    # Fields in document order: whichever check finds the earliest field wins.
    faults = [*event_faults(event, path, prefixes), *_identifier_faults(event, path)]
    order = {key: index for index, key in enumerate(event)}

    def position(fault: Fault) -> tuple[int, str]:
        field = fault.pointer[len(pointer(path)) + 1 :].split("/")[0].replace("~1", "/")
        return order.get(field.replace("~0", "~"), len(order)), fault.pointer

    yield from sorted(faults, key=position)


def _identifier_faults(event: Mapping[str, Any], path: list[str | int]) -> Iterator[Fault]:
    moment = event.get("eventTime")
    if isinstance(moment, str):
        # The schema's date-time check and Python's reader differ at the edges; the event is
        # stored by its time, so a time Python cannot read is refused here, not failed later.
        try:
            dt.datetime.fromisoformat(moment.strip().upper())
        except ValueError:
            yield Fault(
                pointer([*path, "eventTime"]),
                f"{moment!r} cannot be stored as a time (a leap second, 60, is not supported)",
            )
    for name in _EPC_LISTS:
        for index, value in enumerate(event.get(name) or []):
            where = pointer([*path, name, index])
            if value.startswith(("urn:epc:class:", "urn:epc:idpat:")):
                yield Fault(where, f"{value!r} names a class; {name} takes individual objects")
                continue
            problem = identifier_problem(value)
            if problem:
                yield Fault(where, problem)
    for name in _QUANTITY_LISTS:
        for index, element in enumerate(event.get(name) or []):
            value = element.get("epcClass", "")
            where = pointer([*path, name, index, "epcClass"])
            problem = identifier_problem(value)
            found = read_gs1(value) if problem is None else None
            if problem is None and (
                value.startswith("urn:epc:id:") or (found is not None and found.level != "class")
            ):
                problem = f"{value!r} names one object; epcClass takes a class (lot or product)"
            if problem:
                yield Fault(where, problem)
    for name, member in (("parentID", None), ("readPoint", "id"), ("bizLocation", "id")):
        value = event.get(name)
        if member and isinstance(value, dict):
            value = value.get(member)
        if isinstance(value, str):
            problem = identifier_problem(value)
            if problem:
                yield Fault(pointer([*path, name, *([member] if member else [])]), problem)
    for name, member in (("sourceList", "source"), ("destinationList", "destination")):
        for index, item in enumerate(event.get(name) or []):
            problem = identifier_problem(item.get(member, ""))
            if problem:
                yield Fault(pointer([*path, name, index, member]), problem)
    for index, item in enumerate(event.get("bizTransactionList") or []):
        problem = identifier_problem(item.get("bizTransaction", ""))
        if problem:
            yield Fault(pointer([*path, "bizTransactionList", index, "bizTransaction"]), problem)
