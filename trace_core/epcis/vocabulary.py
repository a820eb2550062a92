"""CBV 2.0 vocabulary and JSON-LD namespace checks, the part of EPC-02 a JSON schema cannot
express: a business step, disposition or business transaction / source / destination type is a
standard CBV term (bare name, Web URI or legacy URN), or a URI of the sender's own vocabulary
whose namespace prefix is declared in ``@context``; every extension field is namespaced with a
declared prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from trace_core.epcis.errors import Fault, pointer
from trace_core.epcis.schema import schema, standard_terms

#: Prefixes the EPCIS 2.0 JSON-LD context itself defines, usable without declaring them.
STANDARD_PREFIXES: dict[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}
EPCIS_CONTEXT = re.compile(
    r"^https://(ref\.gs1\.org/standards/epcis/(\d+\.\d+\.\d+/)?|gs1\.github\.io/EPCIS/)"
    r"epcis-context\.jsonld$"
)
#: URI schemes an absolute vocabulary URI may use without a declared prefix.
ABSOLUTE_SCHEMES = frozenset({"http", "https", "urn", "tag"})
CBV_WEB = "https://ref.gs1.org/cbv/"


@dataclass(frozen=True)
class Vocabulary:
    """One CBV code list: its schema definition, its Web URI and URN prefixes, and its name
    in the messages."""

    definition: str
    web_type: str
    urn: str | None
    label: str
    example: str

    @property
    def terms(self) -> frozenset[str]:
        return standard_terms(self.definition)

    @property
    def web_prefix(self) -> str:
        return f"{CBV_WEB}{self.web_type}-"


BIZ_STEP = Vocabulary(
    "bizStep", "BizStep", "urn:epcglobal:cbv:bizstep:", "business step", "shipping"
)
DISPOSITION = Vocabulary(
    "disposition", "Disp", "urn:epcglobal:cbv:disp:", "disposition", "in_transit"
)
BIZ_TRANSACTION_TYPE = Vocabulary(
    "bizTransaction-type", "BTT", "urn:epcglobal:cbv:btt:", "business transaction type", "po"
)
SOURCE_DEST_TYPE = Vocabulary(
    "source-dest-type", "SDT", "urn:epcglobal:cbv:sdt:", "source/destination type", "owning_party"
)
ERROR_REASON = Vocabulary(
    "error-reason", "ER", "urn:epcglobal:cbv:er:", "error reason", "incorrect_data"
)
COMPONENT = Vocabulary("component", "Comp", None, "sensor component", "x")
VOCABULARIES = (BIZ_STEP, DISPOSITION, BIZ_TRANSACTION_TYPE, SOURCE_DEST_TYPE, ERROR_REASON)
_BY_WEB_TYPE = {v.web_type: v for v in (*VOCABULARIES, COMPONENT)}
#: GS1 Web Vocabulary terms (bare in JSON) of sensor reports.
GS1_VOC = "https://gs1.org/voc/"
_BY_FIELD = {"bizStep": BIZ_STEP, "disposition": DISPOSITION, "reason": ERROR_REASON}


def vocabulary_of(path: list[str | int]) -> Vocabulary | None:
    """The CBV code list a value at ``path`` (inside an event) belongs to."""
    last = path[-1] if path else None
    if isinstance(last, str) and last in _BY_FIELD:
        return _BY_FIELD[last]
    if len(path) >= 3 and last == "type" and path[-3] == "bizTransactionList":
        return BIZ_TRANSACTION_TYPE
    if len(path) >= 3 and last == "type" and path[-3] in ("sourceList", "destinationList"):
        return SOURCE_DEST_TYPE
    if len(path) >= 3 and path[-3] == "persistentDisposition":
        return DISPOSITION
    return None


def measurement_problem(value: str, field: str) -> str:
    kind = "measurement type" if field == "type" else "sensor alert type"
    example = "Temperature" if field == "type" else "ALARM_CONDITION"
    return (
        f"{value!r} is not a GS1 {kind}; use a standard name (e.g. {example!r}) or a URI of "
        "your own vocabulary with its namespace declared in @context"
    )


def prefixes_in(context: Any, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """Namespace prefixes declared by a JSON-LD ``@context`` (string, object or list), on top
    of ``inherited`` (the document's, for an event's own ``@context``)."""
    found = dict(inherited or {})
    items = context if isinstance(context, list) else [context]
    for item in items:
        if not isinstance(item, dict):
            continue
        for name, value in item.items():
            if name.startswith("@"):
                continue
            if isinstance(value, str):
                found[name] = value
            elif isinstance(value, dict) and isinstance(value.get("@id"), str):
                found[name] = value["@id"]
    return found


def has_epcis_context(context: Any) -> bool:
    items = context if isinstance(context, list) else [context]
    return any(isinstance(i, str) and EPCIS_CONTEXT.match(i) for i in items)


def expand_curie(value: str, prefixes: Mapping[str, str]) -> str:
    """``gs1:Temperature`` → ``https://gs1.org/voc/Temperature`` when the prefix is known
    (declared or standard); anything else unchanged."""
    prefix, colon, rest = value.partition(":")
    if not colon or rest.startswith("//"):
        return value
    iri = prefixes.get(prefix) or STANDARD_PREFIXES.get(prefix)
    return iri + rest if iri else value


def standard_uri(vocabulary: Vocabulary, value: str) -> str | None:
    """The CBV Web URI of a standard term given bare, as Web URI or as URN; else ``None``."""
    if value in vocabulary.terms:
        return vocabulary.web_prefix + value
    for prefix in (vocabulary.web_prefix, vocabulary.urn):
        if prefix and value.startswith(prefix) and value[len(prefix) :] in vocabulary.terms:
            return vocabulary.web_prefix + value[len(prefix) :]
    return None


def vocabulary_problem(
    vocabulary: Vocabulary, value: str, prefixes: Mapping[str, str]
) -> str | None:
    """Why ``value`` is not acceptable for a field of ``vocabulary`` (``None`` if it is)."""
    if standard_uri(vocabulary, value):
        return None
    advice = (
        f"use a standard CBV 2.0 {vocabulary.label} (e.g. {vocabulary.example!r}), its CBV "
        "URI, or a URI of your own vocabulary with its namespace declared in @context"
    )
    expanded = expand_curie(value, prefixes)
    for prefix in (vocabulary.urn, CBV_WEB):
        if prefix and expanded.startswith(prefix):
            local = expanded[len(prefix) :]
            owner_type, dash, term = local.partition("-")
            owner = _BY_WEB_TYPE.get(owner_type) if prefix == CBV_WEB and dash else None
            if prefix == vocabulary.urn:
                owner, term = vocabulary, local
            if owner is None:
                return None  # a CBV-namespace name outside the Type-term pattern
            if owner is not vocabulary:
                return f"{value!r} is a CBV {owner.label}, not a {vocabulary.label}"
            return f"{value!r}: {term!r} is not a standard CBV 2.0 {vocabulary.label}; {advice}"
    prefix, colon, _rest = value.partition(":")
    if not colon:
        return f"{value!r} is not a CBV 2.0 {vocabulary.label}; {advice}"
    if prefix in prefixes or prefix in STANDARD_PREFIXES or prefix.lower() in ABSOLUTE_SCHEMES:
        return None
    return f"{value!r}: the namespace prefix {prefix + ':'!r} is not declared in @context"


def key_problem(key: str, prefixes: Mapping[str, str]) -> str | None:
    """An extension field name must be a CURIE with a declared prefix or an absolute URI."""
    if key.startswith("@"):
        return None
    prefix, colon, rest = key.partition(":")
    if not colon:
        return (
            f"{key!r} is not an EPCIS field: an extension field needs a namespace, e.g. "
            f"'example:{key}' with 'example' declared in @context"
        )
    if prefix in prefixes or prefix in STANDARD_PREFIXES:
        return None
    if prefix.lower() in ABSOLUTE_SCHEMES and rest:
        return None
    return f"the namespace prefix {prefix + ':'!r} of field {key!r} is not declared in @context"


# -- where the checks apply -------------------------------------------------------------------


#: Standard fields of each event type (from the schema's ``propertyNames`` lists).
def standard_fields(event_type: str) -> frozenset[str]:
    definitions = schema()["definitions"]
    common = definitions["common-event-properties"]["anyOf"][0]["enum"]
    if event_type not in definitions:
        return frozenset(common)
    own = definitions[event_type]["allOf"][1]["propertyNames"]["anyOf"][1]["enum"]
    return frozenset((*common, *own))


_NESTED_STANDARD = {
    "readPoint": {"id"},
    "bizLocation": {"id"},
    "errorDeclaration": {"declarationTime", "reason", "correctiveEventIDs"},
    "sensorElement": {"sensorMetadata", "sensorReport"},
    "sensorMetadata": set(schema()["definitions"]["sensorMetadata"]["properties"]),
    "sensorReport": set(schema()["definitions"]["sensorReport"]["properties"]),
}


def _extension_keys(value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    """Every field name inside an extension value (they must all be namespaced)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield [*path, key], key
            yield from _extension_keys(inner, [*path, key])
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _extension_keys(inner, [*path, index])


def event_faults(
    event: Mapping[str, Any], path: list[str | int], prefixes: Mapping[str, str]
) -> Iterator[Fault]:
    """Vocabulary and namespace faults of one event that passed the schema, in field order."""
    own = prefixes_in(event.get("@context"), prefixes) if "@context" in event else prefixes
    allowed = standard_fields(str(event.get("type", "")))
    for key, value in event.items():
        here = [*path, key]
        if key not in allowed:
            problem = key_problem(key, own)
            if problem:
                yield Fault(pointer(here), problem)
                continue
            yield from _namespaced(value, here, own)
        elif key == "ilmd" and isinstance(value, dict):
            for name, inner in value.items():
                problem = key_problem(name, own)
                if problem:
                    yield Fault(pointer([*here, name]), problem)
                else:
                    yield from _namespaced(inner, [*here, name], own)
        elif key in ("bizStep", "disposition") and isinstance(value, str):
            vocabulary = BIZ_STEP if key == "bizStep" else DISPOSITION
            problem = vocabulary_problem(vocabulary, value, own)
            if problem:
                yield Fault(pointer(here), problem)
        elif key == "persistentDisposition" and isinstance(value, dict):
            for name in ("set", "unset"):
                for index, item in enumerate(value.get(name, [])):
                    problem = vocabulary_problem(DISPOSITION, item, own)
                    if problem:
                        yield Fault(pointer([*here, name, index]), problem)
        elif key in ("bizTransactionList", "sourceList", "destinationList"):
            vocabulary = BIZ_TRANSACTION_TYPE if key == "bizTransactionList" else SOURCE_DEST_TYPE
            for index, item in enumerate(value):
                if isinstance(item, dict) and isinstance(item.get("type"), str):
                    problem = vocabulary_problem(vocabulary, item["type"], own)
                    if problem:
                        yield Fault(pointer([*here, index, "type"]), problem)
        elif key in ("readPoint", "bizLocation", "errorDeclaration") and isinstance(value, dict):
            yield from _nested(key, value, here, own)
            reason = value.get("reason") if key == "errorDeclaration" else None
            if isinstance(reason, str):
                problem = vocabulary_problem(ERROR_REASON, reason, own)
                if problem:
                    yield Fault(pointer([*here, "reason"]), problem)
        elif key == "sensorElementList":
            for index, element in enumerate(value):
                yield from _sensor_element(element, [*here, index], own)


def _namespaced(value: Any, path: list[str | int], prefixes: Mapping[str, str]) -> Iterator[Fault]:
    """Field names inside an extension value: a prefixed one must use a declared prefix. An
    unprefixed one belongs to the extension's own structure and is left to its owner."""
    for where, key in _extension_keys(value, path):
        problem = key_problem(key, prefixes) if ":" in key else None
        if problem:
            yield Fault(pointer(where), problem)


def _nested(
    name: str, value: Mapping[str, Any], path: list[str | int], prefixes: Mapping[str, str]
) -> Iterator[Fault]:
    for key, inner in value.items():
        if key in _NESTED_STANDARD[name]:
            continue
        problem = key_problem(key, prefixes)
        if problem:
            yield Fault(pointer([*path, key]), problem)
        else:
            yield from _namespaced(inner, [*path, key], prefixes)


def _sensor_element(
    element: Any, path: list[str | int], prefixes: Mapping[str, str]
) -> Iterator[Fault]:
    if not isinstance(element, dict):
        return
    yield from _nested("sensorElement", element, path, prefixes)
    if isinstance(element.get("sensorMetadata"), dict):
        meta = element["sensorMetadata"]
        yield from _nested("sensorMetadata", meta, [*path, "sensorMetadata"], prefixes)
    for index, report in enumerate(element.get("sensorReport") or []):
        if isinstance(report, dict):
            where = [*path, "sensorReport", index]
            yield from _nested("sensorReport", report, where, prefixes)
