"""The GS1 Application Identifier table, read from the vendored GS1 Barcode Syntax Dictionary.

The table (formats, check rules, FNC1 needs, pairing rules, Digital Link keys) is GS1's own
machine-readable file in ``data/``, parsed once and cached, rather than typed in by hand: GS1
adds and changes AIs every year, and a hand-copied table drifts silently. The loader is strict
on purpose: a line it does not understand, or a linter it has not been taught, fails at import
(and in the tests) instead of being half-applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from trace_core.gs1.linters import KNOWN_LINTERS

DICTIONARY_FILE = "gs1-syntax-dictionary.txt"

_COMPONENT = re.compile(r"^(\[)?([NXYZ])(\.\.)?(\d+)(\])?((?:,[a-z0-9]+)*)$")
_FLAGS = re.compile(r"""^[*!?"$%&'()+,\-./:;<=>@\[\\\]^_`{|}~]+$""")
_AI_RANGE = re.compile(r"^(\d{2,4})(?:-(\d{2,4}))?$")
_AI_PATTERN = re.compile(r"^\d{2,4}$|^\d+n+$")


@dataclass(frozen=True, slots=True)
class Component:
    """One part of an AI's data field, e.g. ``N6,yymmd0`` or ``[X..17]``."""

    #: ``N`` digits, ``X`` GS1 CSET 82, ``Y`` CSET 39, ``Z`` CSET 64 (base64url).
    charset: str
    min_length: int
    max_length: int
    optional: bool
    linters: tuple[str, ...]

    @property
    def fixed(self) -> bool:
        return self.min_length == self.max_length

    def describe(self) -> str:
        kind = {"N": "digits", "X": "characters", "Y": "characters", "Z": "characters"}
        word = kind[self.charset]
        if self.fixed:
            return f"{self.max_length} {word}"
        return f"1 to {self.max_length} {word}"


@dataclass(frozen=True, slots=True)
class AiDefinition:
    """Everything the dictionary says about one AI."""

    ai: str
    title: str
    #: ``*`` flag: a predefined-length AI, so no FNC1/GS separator follows it.
    predefined_length: bool
    #: ``?`` flag: may appear as a query parameter (data attribute) of a Digital Link URI.
    dl_data_attribute: bool
    components: tuple[Component, ...]
    #: Each ``req=`` attribute is a tuple of alternatives; an alternative is a tuple of AI
    #: patterns that must all be present (``01+21``). Every ``req=`` must be satisfied.
    requires: tuple[tuple[tuple[str, ...], ...], ...]
    #: ``ex=`` patterns: AIs that must not appear with this one (``310n`` matches 3100-3109).
    excludes: tuple[str, ...]
    #: ``dlpkey``: this AI can be the primary key of a Digital Link URI.
    dl_primary_key: bool
    #: ``dlpkey=22,10,21|235``: alternative ordered sequences of key qualifiers.
    dl_qualifiers: tuple[tuple[str, ...], ...]

    @property
    def max_length(self) -> int:
        return sum(c.max_length for c in self.components)

    @property
    def min_length(self) -> int:
        return sum(c.min_length for c in self.components if not c.optional)


def pattern_matches(pattern: str, ai: str) -> bool:
    """Whether an AI pattern from ``req=``/``ex=`` (``01``, ``310n``, ``35nn``) matches ``ai``."""
    return len(pattern) == len(ai) and all(p in ("n", a) for p, a in zip(pattern, ai, strict=True))


def format_pattern(pattern: str) -> str:
    return f"({pattern})"


class DictionaryFormatError(ValueError):
    """The syntax dictionary file contains something this loader does not understand."""


def _parse_component(token: str, line_no: int) -> Component:
    match = _COMPONENT.match(token)
    if match is None:
        raise DictionaryFormatError(f"line {line_no}: cannot read component {token!r}")
    opened, charset, variable, length, closed, linter_text = match.groups()
    if bool(opened) != bool(closed):
        raise DictionaryFormatError(f"line {line_no}: unbalanced brackets in {token!r}")
    linters = tuple(name for name in linter_text.split(",") if name)
    unknown = [name for name in linters if name not in KNOWN_LINTERS]
    if unknown:
        raise DictionaryFormatError(f"line {line_no}: unknown linter(s) {', '.join(unknown)}")
    max_length = int(length)
    return Component(
        charset=charset,
        min_length=1 if variable else max_length,
        max_length=max_length,
        optional=bool(opened),
        linters=linters,
    )


def _parse_patterns(text: str, line_no: int) -> tuple[str, ...]:
    patterns = tuple(text.split("+"))
    for pattern in patterns:
        if not _AI_PATTERN.match(pattern):
            raise DictionaryFormatError(f"line {line_no}: bad AI pattern {pattern!r}")
    return patterns


def _expand_ais(token: str, line_no: int) -> list[str]:
    match = _AI_RANGE.match(token)
    if match is None:
        raise DictionaryFormatError(f"line {line_no}: bad AI or AI range {token!r}")
    first, last = match.groups()
    if last is None:
        return [first]
    if len(first) != len(last) or int(last) < int(first):
        raise DictionaryFormatError(f"line {line_no}: bad AI range {token!r}")
    return [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]


def load_syntax_dictionary(text: str) -> dict[str, AiDefinition]:
    """Parse the text of a GS1 Barcode Syntax Dictionary into ``{ai: AiDefinition}``."""
    table: dict[str, AiDefinition] = {}
    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        body, _, title = raw_line.partition("#")
        tokens = body.split()
        if not tokens:
            continue
        ais = _expand_ais(tokens[0], line_no)
        rest = tokens[1:]
        flags = ""
        if rest and _FLAGS.match(rest[0]):
            flags = rest.pop(0)
        components: list[Component] = []
        while rest and _COMPONENT.match(rest[0]):
            components.append(_parse_component(rest.pop(0), line_no))
        if not components:
            raise DictionaryFormatError(f"line {line_no}: no data components")
        requires: list[tuple[tuple[str, ...], ...]] = []
        excludes: list[str] = []
        dl_primary_key = False
        dl_qualifiers: tuple[tuple[str, ...], ...] = ()
        for token in rest:
            key, has_value, value = token.partition("=")
            if key == "req" and has_value:
                requires.append(tuple(_parse_patterns(alt, line_no) for alt in value.split(",")))
            elif key == "ex" and has_value:
                excludes.extend(
                    p for alt in value.split(",") for p in _parse_patterns(alt, line_no)
                )
            elif key == "dlpkey":
                dl_primary_key = True
                if has_value:
                    dl_qualifiers = tuple(tuple(seq.split(",")) for seq in value.split("|"))
            else:
                raise DictionaryFormatError(f"line {line_no}: unknown attribute {token!r}")
        for ai in ais:
            if ai in table:
                raise DictionaryFormatError(f"line {line_no}: AI {ai} defined twice")
            table[ai] = AiDefinition(
                ai=ai,
                title=title.strip(),
                predefined_length="*" in flags,
                dl_data_attribute="?" in flags,
                components=tuple(components),
                requires=tuple(requires),
                excludes=tuple(excludes),
                dl_primary_key=dl_primary_key,
                dl_qualifiers=dl_qualifiers,
            )
    return table


@cache
def syntax_dictionary() -> dict[str, AiDefinition]:
    """The vendored dictionary, parsed once per process."""
    text = resources.files("trace_core.gs1").joinpath("data", DICTIONARY_FILE).read_text("utf-8")
    return load_syntax_dictionary(text)


def ai_definition(ai: str) -> AiDefinition | None:
    return syntax_dictionary().get(ai)


def ai_at(text: str, start: int) -> AiDefinition | None:
    """The AI that begins at ``text[start:]``, if any.

    GS1 allocates AIs so that no AI is a prefix of another (the first two digits fix the AI's
    length), so trying 2, 3 and 4 digits in turn finds the only candidate.
    """
    table = syntax_dictionary()
    for length in (2, 3, 4):
        candidate = text[start : start + length]
        if len(candidate) == length and candidate in table:
            return table[candidate]
    return None


# Parse at import: a missing or unreadable dictionary should stop the process at start-up, not
# at the first scan on the shop floor.
syntax_dictionary()
