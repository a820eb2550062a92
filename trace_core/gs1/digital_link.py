"""GS1 Digital Link URIs (UDI-06): reading ``https://<any domain>/01/<GTIN>/10/<lot>?17=...``
and writing them from elements.

Which AI may be a primary key, which key qualifiers it takes and in what order, and which AIs
may ride in the query string all come from the Syntax Dictionary (``dlpkey`` and the ``?``
flag), so they stay in step with the element-string rules. Values are percent-decoded on the
way in and percent-encoded on the way out: ``/10/AB%2F12`` is lot ``AB/12``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from trace_core.gs1.check_digits import is_digits
from trace_core.gs1.dictionary import AiDefinition, ai_definition
from trace_core.gs1.element_strings import Element
from trace_core.gs1.errors import Gs1Error

DEFAULT_BASE = "https://id.gs1.org"

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH = "in the Digital Link path"
_QUERY = "in the Digital Link query"


@dataclass(frozen=True, slots=True)
class LinkedElement:
    """An element read from a Digital Link and where it was (path or query), for messages."""

    element: Element
    place: str


def looks_like_uri(text: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text))


def _error(message: str, ai: str | None = None) -> Gs1Error:
    return Gs1Error(message, ai=ai, rule="digital link")


def _decode(text: str, what: str) -> str:
    bad = _BAD_ESCAPE.search(text)
    if bad is not None:
        raise _error(f"invalid percent-encoding {text[bad.start() : bad.start() + 3]!r} {what}")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise _error(f"percent-encoded bytes {what} are not UTF-8") from exc


def _primary_key(ai: str) -> AiDefinition | None:
    definition = ai_definition(ai) if is_digits(ai) else None
    return definition if definition is not None and definition.dl_primary_key else None


def _in_order(qualifiers: list[str], sequence: tuple[str, ...]) -> bool:
    remaining = iter(sequence)
    return all(any(q == s for s in remaining) for q in qualifiers)


def _check_qualifiers(primary: AiDefinition, qualifiers: list[str]) -> None:
    if not qualifiers:
        return
    alternatives = primary.dl_qualifiers
    allowed = [q for seq in alternatives for q in seq]
    if not alternatives:
        raise _error(
            f"({primary.ai}) takes no key qualifiers in a Digital Link path, got ({qualifiers[0]})",
            qualifiers[0],
        )
    for qualifier in qualifiers:
        if qualifier not in allowed:
            choices = ", ".join(f"({q})" for q in allowed)
            raise _error(
                f"({qualifier}) is not a key qualifier of ({primary.ai}) in a Digital Link path; "
                f"allowed: {choices}",
                qualifier,
            )
    if any(_in_order(qualifiers, seq) for seq in alternatives):
        return
    given = ", ".join(f"({q})" for q in qualifiers)
    for seq in alternatives:
        if all(q in seq for q in qualifiers):
            order = ", ".join(f"({q})" for q in seq)
            raise _error(
                f"key qualifiers of ({primary.ai}) must follow the order {order}, got {given}",
                qualifiers[0],
            )
    raise _error(f"key qualifiers {given} of ({primary.ai}) cannot be combined in one path")


def split_digital_link(uri: str) -> list[LinkedElement]:
    """Read the elements of a Digital Link URI (not yet value-validated)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https"):
        raise _error(f"a GS1 Digital Link must be an http:// or https:// URI, got {uri!r}")
    if not parts.netloc:
        raise _error(f"a GS1 Digital Link needs a domain name, got {uri!r}")
    segments = parts.path.split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()
    start = next(
        (i for i, s in enumerate(segments) if _primary_key(s) and (len(segments) - i) % 2 == 0),
        None,
    )
    if start is None:
        key = next((s for s in segments if _primary_key(s)), None)
        if key is not None:
            raise _error(
                f"the Digital Link path after ({key}) has an odd number of segments; "
                "AI/value pairs expected",
                key,
            )
        raise _error(
            f"no GS1 primary key (such as /01/ for a GTIN or /00/ for an SSCC) in the "
            f"Digital Link path {parts.path!r}"
        )
    primary = _primary_key(segments[start])
    assert primary is not None
    found: list[LinkedElement] = []
    for index in range(start, len(segments), 2):
        ai = segments[index]
        if not is_digits(ai) or ai_definition(ai) is None:
            raise _error(f"unknown GS1 Application Identifier {ai!r} {_PATH}", ai)
        value = _decode(segments[index + 1], f"in the value of ({ai})")
        if ai == "01" and is_digits(value) and len(value) in (8, 12, 13):
            # GTIN-8, -12 and -13 may be written unpadded; the element is always 14 digits.
            value = value.zfill(14)
        found.append(LinkedElement(Element(ai, value), _PATH))
    _check_qualifiers(primary, [item.element.ai for item in found[1:]])
    for pair in parts.query.split("&") if parts.query else []:
        raw_key, _, raw_value = pair.partition("=")
        key = _decode(raw_key, "in a query parameter name")
        if not is_digits(key):
            # Non-AI parameters (linkType, context, ...) steer the resolver, not the data.
            continue
        definition = ai_definition(key)
        if definition is None:
            raise _error(f"unknown GS1 Application Identifier ({key}) {_QUERY}", key)
        if not definition.dl_data_attribute:
            raise _error(
                f"AI ({key}) is not allowed as a Digital Link data attribute (query parameter)",
                key,
            )
        found.append(
            LinkedElement(Element(key, _decode(raw_value, f"in the value of ({key})")), _QUERY)
        )
    return found


def digital_link_for(elements: Iterable[Element], base: str = DEFAULT_BASE) -> str:
    """Write elements as a Digital Link URI: primary key and its qualifiers in the path, in the
    standard's order, every other element as a query parameter (sorted by AI), values
    percent-encoded (everything but letters, digits and ``-._~``)."""
    unique: list[Element] = []
    for element in elements:
        if element not in unique:
            unique.append(element)
    primary = next((e for e in unique if _primary_key(e.ai)), None)
    if primary is None:
        raise _error(
            "cannot write a Digital Link: no primary key such as (01) GTIN or (00) SSCC among "
            "the elements"
        )
    definition = _primary_key(primary.ai)
    assert definition is not None
    present = {e.ai: e for e in reversed(unique)}
    best = max(definition.dl_qualifiers, key=lambda seq: sum(q in present for q in seq), default=())
    path_elements = [primary] + [present[q] for q in best if q in present]
    # Query parameters in AI order, so the same data always gives the same URI (the form
    # GS1's canonical Digital Link and biip use).
    query_elements = sorted((e for e in unique if e not in path_elements), key=lambda e: e.ai)
    for element in query_elements:
        other = ai_definition(element.ai)
        if other is None or not other.dl_data_attribute:
            raise _error(
                f"AI ({element.ai}) cannot be carried in a Digital Link with primary key "
                f"({primary.ai})",
                element.ai,
            )
    path = "".join(f"/{e.ai}/{quote(e.value, safe='')}" for e in path_elements)
    query = "&".join(f"{e.ai}={quote(e.value, safe='')}" for e in query_elements)
    return base.rstrip("/") + path + (f"?{query}" if query else "")
