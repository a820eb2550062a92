"""GS1 element strings: splitting scanned (FNC1/GS) and printed "(AI)value" text into elements,
checking each value against the Syntax Dictionary, and checking AI pairing rules (UDI-02, -04).

Validation is shared with Digital Link parsing, so a value means the same thing whichever way it
arrived. Error positions are 1-based character positions in the trimmed input, because that is
what a person can count on the screen.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NamedTuple

from trace_core.gs1.check_digits import CSET82, is_digits
from trace_core.gs1.dates import parse_yymmdd
from trace_core.gs1.dictionary import AiDefinition, ai_at, ai_definition, pattern_matches
from trace_core.gs1.errors import Gs1Error
from trace_core.gs1.linters import CHECKED_LINTERS

#: The ASCII group separator that stands for FNC1 in transmitted data.
GS = "\x1d"

_CSET39 = frozenset("#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CSET64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_CSET82 = frozenset(CSET82)
_CHARSET_NAMES = {
    "N": "digits only",
    "X": "GS1 character set 82",
    "Y": "GS1 character set 39",
    "Z": "GS1 character set 64",
}
_HRI_AI = re.compile(r"\((\d{1,4})\)")
_DATE_RULES = {"yymmdd": False, "yymmd0": True}
_LINTER_RULES = {
    "csum": "check digit",
    "csumalpha": "check digit",
    "yymmdd": "date",
    "yymmd0": "date",
    "yyyymmdd": "date",
    "yyyymmd0": "date",
}


class Element(NamedTuple):
    """One AI and its value, as data (no parentheses, no separators). A named tuple, so a
    result's elements can be used as plain ``(ai, value)`` pairs."""

    ai: str
    value: str


@dataclass(frozen=True, slots=True)
class LocatedElement:
    """An element and where it started in the input (1-based), for error messages."""

    element: Element
    position: int | None


def _where(ai: str, position: int | None, place: str | None) -> str:
    if position is not None:
        return f"AI ({ai}) at character {position}"
    if place:
        return f"AI ({ai}) {place}"
    return f"AI ({ai})"


def _bad_character(charset: str, piece: str) -> int | None:
    allowed = {"N": None, "X": _CSET82, "Y": _CSET39, "Z": _CSET64}[charset]
    for index, char in enumerate(piece):
        if allowed is None:
            if not is_digits(char):
                return index
        elif charset == "Z" and char == "=":
            # Base64 padding, only at the end of the field.
            if piece[index:].strip("=") != "":
                return index
        elif char not in allowed:
            return index
    return None


def validate_value(
    definition: AiDefinition,
    value: str,
    today: dt.date,
    *,
    position: int | None = None,
    place: str | None = None,
) -> None:
    """Check ``value`` against the AI's components (length, character set, linters)."""
    ai = definition.ai

    def fail(detail: str, rule: str = "syntax") -> Gs1Error:
        return Gs1Error(
            f"{_where(ai, position, place)}: {detail}", ai=ai, position=position, rule=rule
        )

    if value == "":
        raise fail("value is empty")
    several = len(definition.components) > 1
    offset = 0
    for number, component in enumerate(definition.components, start=1):
        remaining = len(value) - offset
        if remaining == 0:
            if component.optional:
                break
            what = f"part {number} ({component.describe()}) is missing"
            raise fail(f"value {value!r} is too short: {what}")
        if component.fixed and remaining < component.max_length:
            need = component.describe()
            what = f"part {number} must be {need}" if several else f"{need} required"
            raise fail(f"value {value!r} is too short: {what}")
        piece = value[offset : offset + component.max_length]
        bad = _bad_character(component.charset, piece)
        if bad is not None:
            raise fail(
                f"character {piece[bad]!r} at value position {offset + bad + 1} is not allowed "
                f"({_CHARSET_NAMES[component.charset]})"
            )
        for linter in component.linters:
            check = CHECKED_LINTERS.get(linter)
            problem = check(piece, today) if check else None
            if problem:
                raise fail(problem, _LINTER_RULES.get(linter, "syntax"))
        offset += len(piece)
    if offset < len(value):
        raise fail(f"value {value!r} is too long: at most {definition.max_length} characters")


def check_pairing(elements: list[Element]) -> None:
    """Apply the dictionary's ``req=`` and ``ex=`` rules and refuse contradictory repeats.

    GS1 says the rules hold over all data read from one item, so callers pass every element of
    the barcode (or Digital Link) together.
    """
    seen: dict[str, str] = {}
    for element in elements:
        earlier = seen.setdefault(element.ai, element.value)
        if earlier != element.value:
            raise Gs1Error(
                f"AI ({element.ai}) appears twice with different values "
                f"({earlier!r} and {element.value!r})",
                ai=element.ai,
                rule="pairing",
            )
    present = list(seen)
    for ai in present:
        definition = ai_definition(ai)
        if definition is None:  # pragma: no cover - elements are validated before pairing
            continue
        for requirement in definition.requires:
            if not any(
                all(any(pattern_matches(p, other) for other in present) for p in alternative)
                for alternative in requirement
            ):
                raise Gs1Error(
                    f"AI ({ai}) requires {_describe_requirement(requirement)} in the same data",
                    ai=ai,
                    rule="pairing",
                )
        for pattern in definition.excludes:
            clash = next((o for o in present if o != ai and pattern_matches(pattern, o)), None)
            if clash is not None:
                raise Gs1Error(
                    f"AI ({ai}) and AI ({clash}) must not appear together", ai=ai, rule="pairing"
                )


def _describe_requirement(requirement: tuple[tuple[str, ...], ...]) -> str:
    options = [" with ".join(f"({p})" for p in alternative) for alternative in requirement]
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + f" or {options[-1]}"


def split_element_string(
    data: str, *, offset: int = 0, separators: tuple[str, ...] = (GS,)
) -> list[LocatedElement]:
    """Split raw element strings (as a scanner sends them) into elements.

    ``offset`` is how many characters of the input precede ``data`` (a symbology identifier),
    so positions in messages count from the start of what the user scanned.
    """
    found: list[LocatedElement] = []
    index = 0
    while index < len(data):
        if data[index] in separators:
            # A separator after a predefined-length AI, a doubled one or a trailing one carries
            # no information; GS1 scanners emit them, so they are tolerated.
            index += 1
            continue
        position = offset + index + 1
        definition = ai_at(data, index)
        if definition is None:
            snippet = data[index : index + 12]
            raise Gs1Error(
                f"no GS1 Application Identifier at character {position}: {snippet!r} "
                "does not start with a known AI",
                position=position,
            )
        start = index + len(definition.ai)
        stop = start
        while stop < len(data) and data[stop] not in separators:
            stop += 1
        end = min(stop, start + definition.max_length)
        if not definition.predefined_length and end < stop:
            raise Gs1Error(
                f"AI ({definition.ai}) at character {position}: value is longer than "
                f"{definition.max_length} characters, or the GS separator after it is missing",
                ai=definition.ai,
                position=position,
            )
        found.append(LocatedElement(Element(definition.ai, data[start:end]), position))
        index = end
    if not found:
        raise Gs1Error("no GS1 element string found: the data is empty", position=offset + 1)
    return found


def split_hri(text: str, *, offset: int = 0) -> list[LocatedElement]:
    """Split the printed form ``(01)09506000134352(17)261200(10)AB-12`` into elements.

    Whitespace around values is ignored (people type it). A ``(digits)`` group is always read
    as an AI marker, so values that themselves contain such a group cannot be given this way.
    """
    if not text.startswith("("):
        raise Gs1Error(
            f"expected '(AI)' at character {offset + 1}, got {text[:12]!r}", position=offset + 1
        )
    markers = list(_HRI_AI.finditer(text))
    if not markers or markers[0].start() != 0:
        raise Gs1Error(
            f"expected '(AI)' at character {offset + 1}, got {text[:12]!r}", position=offset + 1
        )
    found: list[LocatedElement] = []
    for number, marker in enumerate(markers):
        ai = marker.group(1)
        position = offset + marker.start() + 1
        if ai_definition(ai) is None:
            raise Gs1Error(
                f"unknown GS1 Application Identifier ({ai}) at character {position}",
                ai=ai,
                position=position,
            )
        end = markers[number + 1].start() if number + 1 < len(markers) else len(text)
        found.append(LocatedElement(Element(ai, text[marker.end() : end].strip()), position))
    return found


def validate_elements(
    located: list[LocatedElement], today: dt.date, *, place: str | None = None
) -> list[Element]:
    """Validate every value, then the pairing rules over all of them."""
    for item in located:
        definition = ai_definition(item.element.ai)
        if definition is None:
            raise Gs1Error(
                f"unknown GS1 Application Identifier ({item.element.ai})",
                ai=item.element.ai,
                position=item.position,
            )
        validate_value(definition, item.element.value, today, position=item.position, place=place)
    elements = [item.element for item in located]
    check_pairing(elements)
    return elements


def date_value(ai: str, value: str, today: dt.date) -> dt.date | None:
    """The date an AI's value stands for, if its first component is a YYMMDD date."""
    definition = ai_definition(ai)
    if definition is None:
        return None
    first = definition.components[0]
    for linter, day_zero in _DATE_RULES.items():
        if linter in first.linters:
            return parse_yymmdd(value[:6], today, day_zero=day_zero)
    return None


def to_element_string(elements: list[Element], separator: str = GS) -> str:
    """Elements as a scanner would send them: a separator after every variable-length AI
    except the last (GS1 General Specifications 7.8.5)."""
    parts: list[str] = []
    for index, element in enumerate(elements):
        parts.append(element.ai + element.value)
        definition = ai_definition(element.ai)
        last = index == len(elements) - 1
        if definition is not None and not definition.predefined_length and not last:
            parts.append(separator)
    return "".join(parts)


def to_hri(elements: list[Element]) -> str:
    """Elements in their printed form, ``(01)...(10)...``."""
    return "".join(f"({e.ai}){e.value}" for e in elements)
