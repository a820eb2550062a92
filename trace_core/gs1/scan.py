"""Reading whatever a scanner or a person puts in the search box: GS1 element strings (with or
without symbology identifier and GS separators), the printed "(AI)value" form, GS1 Digital Link
URIs, bare GTINs/SSCCs, and HIBCC/ICCBBA codes, which are recognised and named (UDI-02, -06, -07).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from trace_core.gs1.check_digits import is_digits, validate_gtin, validate_sscc
from trace_core.gs1.dictionary import ai_definition
from trace_core.gs1.digital_link import DEFAULT_BASE, digital_link_for, split_digital_link
from trace_core.gs1.element_strings import (
    GS,
    Element,
    LocatedElement,
    check_pairing,
    split_element_string,
    split_hri,
    validate_elements,
    validate_value,
)
from trace_core.gs1.errors import Gs1Error, HibccError, NotGs1Error, ScanError
from trace_core.gs1.non_gs1 import NonGs1Code, is_hibcc, is_iccbba, read_hibcc, read_iccbba
from trace_core.gs1.result import Gs1Result
from trace_core.gs1.symbology import split_symbology

_HTTP = re.compile(r"^https?://", re.IGNORECASE)
_HRI_START = re.compile(r"^\(\d{2,4}\)")
#: Digit counts that, with no symbology identifier, are first tried as a bare GTIN (EAN-8,
#: UPC-A, EAN-13, ITF-14 as printed, typed, or sent by a scanner without identifier) or SSCC.
_BARE_KEY_LENGTHS = (8, 12, 13, 14, 18)


def read_barcode(
    text: str,
    *,
    separators: Iterable[str] = (GS,),
    check_pairs: bool = True,
    today: dt.date | None = None,
) -> Gs1Result | NonGs1Code:
    """Read a scanned or typed code.

    Returns a :class:`Gs1Result` for GS1 data and a :class:`NonGs1Code` for HIBCC and ICCBBA;
    raises :class:`Gs1Error` (or :class:`HibccError`) with a precise message for invalid input.

    ``separators`` are the characters that stand for FNC1: GS (0x1D) by default; keyboard-wedge
    scanners that cannot send control characters are often set up to send another one.
    ``check_pairs=False`` skips the AI pairing rules (only for reading partial data, such as a
    second label of the same item; UDI checks keep them on). ``today`` fixes the reference date
    for two-digit years (tests; defaults to today).
    """
    today = today or dt.date.today()
    seps = tuple(separators)
    trimmed = text.strip()
    if not trimmed:
        raise Gs1Error("nothing to read: the text is empty")
    symbology, data = split_symbology(trimmed)
    offset = len(trimmed) - len(data)
    name = symbology.name if symbology else None
    identifier = symbology.identifier if symbology else None
    if is_hibcc(data):
        if text.rstrip("\r\n\t").endswith(" "):
            # Space is a valid HIBCC check character, and trimming would have removed it.
            try:
                return read_hibcc(data + " ", name)
            except HibccError:
                pass
        return read_hibcc(data, name)
    if is_iccbba(data):
        return read_iccbba(data, name)
    if _HTTP.match(data):
        return _digital_link(data, today, check_pairs, name, identifier)
    if symbology is not None and symbology.carries == "gtin":
        if not is_digits(data) or len(data) not in symbology.gtin_lengths:
            digits = " or ".join(str(n) for n in symbology.gtin_lengths)
            raise Gs1Error(
                f"{symbology.name} ({identifier}) carries a GTIN of {digits} digits, got {data!r}",
                position=offset + 1,
            )
        return _bare("01", validate_gtin(data), today, name, identifier)
    if symbology is not None and symbology.carries == "other":
        raise Gs1Error(
            f"{symbology.name} ({identifier}) is not a GS1 symbol: its data is neither GS1 "
            "element strings (those come as ]C1, ]d2, ]Q3, ]e0 or ]J1) nor a Digital Link, "
            "HIBCC or ICCBBA code",
            position=1,
            rule="symbology",
        )
    if symbology is None and is_digits(data) and len(data) in _BARE_KEY_LENGTHS:
        return _bare_or_element_string(data, seps, check_pairs, today)
    return _element_string(data, offset, seps, check_pairs, today, name, identifier)


def parse_element_string(
    text: str,
    *,
    separators: Iterable[str] = (GS,),
    check_pairs: bool = True,
    today: dt.date | None = None,
) -> Gs1Result:
    """Read text that is known to be GS1 element strings, raw (FNC1/GS) or printed
    ``(AI)value``, e.g. from a GS1-128 scanner profile or an EDI field. Unlike
    :func:`read_barcode` it never reads a bare number as a GTIN or SSCC."""
    trimmed = text.strip()
    if not trimmed:
        raise Gs1Error("nothing to read: the text is empty")
    symbology, data = split_symbology(trimmed)
    return _element_string(
        data,
        len(trimmed) - len(data),
        tuple(separators),
        check_pairs,
        today or dt.date.today(),
        symbology.name if symbology else None,
        symbology.identifier if symbology else None,
    )


def parse(
    text: str,
    *,
    separators: Iterable[str] = (GS,),
    check_pairs: bool = True,
    today: dt.date | None = None,
) -> Gs1Result:
    """Like :func:`read_barcode`, for callers that accept GS1 only: a HIBCC or ICCBBA code
    raises :class:`NotGs1Error` (which carries the decoded :class:`NonGs1Code`)."""
    result = read_barcode(text, separators=separators, check_pairs=check_pairs, today=today)
    if isinstance(result, NonGs1Code):
        raise NotGs1Error(result)
    return result


def parse_digital_link(
    uri: str, *, check_pairs: bool = True, today: dt.date | None = None
) -> Gs1Result:
    """Read a GS1 Digital Link URI and nothing else."""
    return _digital_link(uri.strip(), today or dt.date.today(), check_pairs, None, None)


def to_digital_link(
    source: Gs1Result | Iterable[Element] | Iterable[tuple[str, str]],
    base: str = DEFAULT_BASE,
) -> str:
    """Write a Digital Link URI. Plain ``(ai, value)`` pairs are validated first."""
    if isinstance(source, Gs1Result):
        return digital_link_for(source.elements, base)
    elements = [e if isinstance(e, Element) else Element(e[0], e[1]) for e in source]
    _validated([LocatedElement(e, None) for e in elements], dt.date.today(), True)
    return digital_link_for(elements, base)


def identifiers_for_trace(text: str) -> list[str]:
    """What to look up in the genealogy for a scanned or typed string.

    Lot, serial and SSCC, in that order, when the text is a barcode; the text itself when it is
    not one (a typed lot number), and also for a bare number that happens to be a valid GTIN or
    SSCC, since a numeric lot number can look exactly like one. Text that is clearly a scan
    (symbology identifier, GS separator, "(AI)" form, Digital Link, HIBCC) but is invalid
    raises the :class:`ScanError`, so the person sees why instead of an empty result.
    """
    stripped = text.strip()
    try:
        result = read_barcode(text)
    except ScanError:
        if _looks_scanned(text):
            raise
        return [stripped] if stripped else []
    if isinstance(result, NonGs1Code):
        candidates = [result.lot, result.serial]
    else:
        candidates = [result.lot, result.serial, result.sscc]
        if result.source == "bare key" and result.symbology is None:
            candidates.append(stripped)
    found: list[str] = []
    for candidate in candidates:
        if candidate and candidate not in found:
            found.append(candidate)
    return found


def _looks_scanned(text: str) -> bool:
    stripped = text.strip()
    return bool(
        stripped.startswith("]")
        or GS in text
        or _HRI_START.match(stripped)
        or _HTTP.match(stripped)
        or is_hibcc(stripped)
    )


def _validated(located: list[LocatedElement], today: dt.date, check_pairs: bool) -> list[Element]:
    if check_pairs:
        return validate_elements(located, today)
    for item in located:
        definition = ai_definition(item.element.ai)
        assert definition is not None
        validate_value(definition, item.element.value, today, position=item.position)
    return [item.element for item in located]


def _bare_or_element_string(
    data: str, separators: tuple[str, ...], check_pairs: bool, today: dt.date
) -> Gs1Result:
    """A number of a GTIN's or SSCC's length is read as that key when its check digit holds,
    else as element strings if it is valid as such, else refused with the key's error.

    The order matters: German EAN-13s (prefixes 400-440) are also well-formed "(400) order
    number" element strings, and a scanner without symbology identifiers sends both as bare
    digits; on a medical-device label the EAN is by far the likelier.
    """
    validate = validate_sscc if len(data) == _BARE_KEY_LENGTHS[-1] else validate_gtin
    try:
        key = validate(data)
    except Gs1Error as key_error:
        try:
            return _element_string(data, 0, separators, check_pairs, today, None, None)
        except Gs1Error:
            raise key_error from None
    return _bare("00" if validate is validate_sscc else "01", key, today, None, None)


def _element_string(
    data: str,
    offset: int,
    separators: tuple[str, ...],
    check_pairs: bool,
    today: dt.date,
    symbology: str | None,
    identifier: str | None,
) -> Gs1Result:
    located: list[LocatedElement]
    if symbology is None and data.startswith("("):
        located = split_hri(data, offset=offset)
    else:
        located = split_element_string(data, offset=offset, separators=separators)
    return Gs1Result.from_elements(
        _validated(located, today, check_pairs),
        source="element string",
        today=today,
        symbology=symbology,
        symbology_identifier=identifier,
    )


def _bare(
    ai: str, value: str, today: dt.date, symbology: str | None, identifier: str | None
) -> Gs1Result:
    return Gs1Result.from_elements(
        [Element(ai, value)],
        source="bare key",
        today=today,
        symbology=symbology,
        symbology_identifier=identifier,
    )


def _digital_link(
    uri: str, today: dt.date, check_pairs: bool, symbology: str | None, identifier: str | None
) -> Gs1Result:
    linked = split_digital_link(uri)
    for item in linked:
        definition = ai_definition(item.element.ai)
        assert definition is not None
        validate_value(definition, item.element.value, today, place=item.place)
    elements = [item.element for item in linked]
    if check_pairs:
        check_pairing(elements)
    return Gs1Result.from_elements(
        elements,
        source="digital link",
        today=today,
        symbology=symbology,
        symbology_identifier=identifier,
    )
