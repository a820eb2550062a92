"""EPCIS identifiers: EPC URIs (GS1 Tag Data Standard: ``urn:epc:id``, ``urn:epc:class``,
``urn:epc:idpat``) and GS1 Digital Link URIs.

Two jobs. :func:`identifier_problem` checks one captured identifier: an EPC URI must have the
structure of its scheme (company prefix and reference of the right total length, allowed
characters), a Digital Link must pass ``trace_core.gs1`` (check digits, AI formats). And
:func:`hash_form` / :func:`index_form` give every GS1 identifier one spelling, the constrained
canonical Digital Link of the CBV 2.0 event-hash rules 17 and 18 (``https://id.gs1.org``, no
query string, only the finest level of identification), so the URN and the Digital Link of the
same lot hash, match and trace alike.

:func:`hash_form` follows the reference implementation (RalphTro/epcis-event-hash-generator)
closely, including its refusal to normalise a Digital Link whose values contain
percent-escapes (those stay as written): event ids must agree with other systems' ids, not only
with the text of the standard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from trace_core.gs1 import ScanError, gs1_check_digit, parse_digital_link
from trace_core.gs1.check_digits import CSET82

CANONICAL_BASE = "https://id.gs1.org"

#: Schemes of the Tag Data Standard that carry no GS1 key: accepted as they are.
OTHER_EPC_SCHEMES = frozenset({"gid", "usdod", "adi", "bic", "imovn"})

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DIGITS = re.compile(r"^[0-9]+$")
#: Characters GS1 Digital Link requires percent-encoded that an EPC URI may carry raw.
_DL_ESCAPES = {ord(c): f"%{ord(c):02X}" for c in "!()*+,:"}
_CPI_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-#/")


class IdentifierError(ValueError):
    """An identifier that claims a GS1 scheme but breaks its rules."""


@dataclass(frozen=True)
class Gs1Identifier:
    """A GS1 identifier read from an EPC URI or a Digital Link."""

    scheme: str
    #: ``instance`` (one object), ``class`` (a lot or a product), ``location``, ``party``.
    level: str
    canonical: str
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    sscc: str | None = None
    gln: str | None = None


def _digits(text: str) -> bool:
    return bool(_DIGITS.match(text))


def _decoded(part: str, what: str, uri: str, *, chars: frozenset[str] = frozenset(CSET82)) -> str:
    if "%" in _ESCAPE.sub("", part):
        raise IdentifierError(f"{uri!r}: invalid percent-escape in the {what}")
    text = unquote(part)
    bad = next((c for c in text if c not in chars), None)
    if bad is not None:
        raise IdentifierError(f"{uri!r}: character {bad!r} is not allowed in the {what}")
    return text


def _company(cp: str, ref: str, total: int, uri: str, ref_name: str) -> None:
    if not (_digits(cp) and 6 <= len(cp) <= 12):
        raise IdentifierError(f"{uri!r}: the GS1 company prefix must be 6 to 12 digits")
    if ref and not _digits(ref):
        raise IdentifierError(f"{uri!r}: the {ref_name} must be digits")
    if len(cp) + len(ref) != total:
        raise IdentifierError(
            f"{uri!r}: company prefix and {ref_name} must have {total} digits together, "
            f"got {len(cp) + len(ref)}"
        )


def _check(digits: str) -> str:
    return digits + str(gs1_check_digit(digits))


def _gtin(cp: str, item_ref: str) -> str:
    return _check(item_ref[:1] + cp + item_ref[1:])


def _limit(text: str, most: int, what: str, uri: str, least: int = 1) -> None:
    if not least <= len(text) <= most:
        raise IdentifierError(f"{uri!r}: the {what} must have {least} to {most} characters")


def _fields(body: str, count: int, uri: str) -> list[str]:
    parts = body.split(".", count - 1)
    if len(parts) != count:
        raise IdentifierError(f"{uri!r}: expected {count} fields separated by '.'")
    return parts


def _dl(*segments: str) -> str:
    return CANONICAL_BASE + "".join(f"/{s}" for s in segments)


def _escaped(part: str) -> str:
    return part.translate(_DL_ESCAPES)


def _epc_id(scheme: str, body: str, uri: str) -> Gs1Identifier:
    """An EPC pure identity URI (``urn:epc:id:...``) of a GS1 key."""
    if scheme == "sgtin":
        cp, ref, serial = _fields(body, 3, uri)
        _company(cp, ref, 13, uri, "indicator and item reference")
        _limit(_decoded(serial, "serial number", uri), 20, "serial number", uri)
        gtin = _gtin(cp, ref)
        return Gs1Identifier(
            scheme, "instance", _dl("01", gtin, "21", _escaped(serial)), gtin=gtin,
            serial=unquote(serial),
        )  # fmt: skip
    if scheme == "sscc":
        cp, ref = _fields(body, 2, uri)
        _company(cp, ref, 17, uri, "extension digit and serial reference")
        sscc = _check(ref[:1] + cp + ref[1:])
        return Gs1Identifier(scheme, "instance", _dl("00", sscc), sscc=sscc)
    if scheme in ("sgln", "pgln"):
        parts = _fields(body, 3 if scheme == "sgln" else 2, uri)
        _company(parts[0], parts[1], 12, uri, "location reference")
        gln = _check(parts[0] + parts[1])
        if scheme == "pgln":
            return Gs1Identifier(scheme, "party", _dl("417", gln), gln=gln)
        extension = parts[2]
        _limit(_decoded(extension, "extension", uri), 20, "extension", uri)
        path = ("414", gln) if extension == "0" else ("414", gln, "254", _escaped(extension))
        return Gs1Identifier(scheme, "location", _dl(*path), gln=gln)
    if scheme in ("grai", "gdti", "sgcn"):
        cp, ref, serial = _fields(body, 3, uri)
        _company(cp, ref, 12, uri, "type reference")
        if scheme == "sgcn":
            if not (_digits(serial) and len(serial) <= 12):
                raise IdentifierError(f"{uri!r}: the coupon serial must be up to 12 digits")
            return Gs1Identifier(scheme, "instance", _dl("255", _check(cp + ref) + serial))
        most = 16 if scheme == "grai" else 17
        _limit(_decoded(serial, "serial component", uri), most, "serial component", uri)
        if scheme == "grai":
            key = _check("0" + cp + ref) + _escaped(serial)
            return Gs1Identifier(scheme, "instance", _dl("8003", key))
        return Gs1Identifier(scheme, "instance", _dl("253", _check(cp + ref) + _escaped(serial)))
    if scheme in ("giai", "ginc"):
        cp, ref = _fields(body, 2, uri)
        _company(cp, "", len(cp), uri, "reference")
        text = _decoded(ref, "reference", uri)
        _limit(cp + text, 30, "whole key", uri)
        ai = "8004" if scheme == "giai" else "401"
        return Gs1Identifier(scheme, "instance", _dl(ai, cp + _escaped(ref)))
    if scheme in ("gsrn", "gsrnp", "gsin"):
        cp, ref = _fields(body, 2, uri)
        _company(cp, ref, 16 if scheme == "gsin" else 17, uri, "reference")
        ai = {"gsrn": "8018", "gsrnp": "8017", "gsin": "402"}[scheme]
        return Gs1Identifier(scheme, "instance", _dl(ai, _check(cp + ref)))
    if scheme == "cpi":
        cp, ref, serial = _fields(body, 3, uri)
        _company(cp, "", len(cp), uri, "reference")
        text = _decoded(ref, "component/part reference", uri, chars=_CPI_CHARS)
        _limit(cp + text, 30, "component/part reference", uri)
        if not (_digits(serial) and len(serial) <= 12):
            raise IdentifierError(f"{uri!r}: the CPI serial must be up to 12 digits")
        return Gs1Identifier(scheme, "instance", _dl("8010", _escaped(cp + ref), "8011", serial))
    if scheme == "itip":
        cp, ref, piece, total, serial = _fields(body, 5, uri)
        _company(cp, ref, 13, uri, "indicator and item reference")
        if not (_digits(piece) and _digits(total) and len(piece) == len(total) == 2):
            raise IdentifierError(f"{uri!r}: piece and total must be two digits each")
        _limit(_decoded(serial, "serial number", uri), 20, "serial number", uri)
        key = _gtin(cp, ref) + piece + total
        return Gs1Identifier(scheme, "instance", _dl("8006", key, "21", _escaped(serial)))
    if scheme == "upui":
        cp, ref, tpx = _fields(body, 3, uri)
        _company(cp, ref, 13, uri, "indicator and item reference")
        _limit(_decoded(tpx, "third-party extension", uri), 28, "third-party extension", uri)
        gtin = _gtin(cp, ref)
        return Gs1Identifier(scheme, "instance", _dl("01", gtin, "235", _escaped(tpx)), gtin=gtin)
    raise IdentifierError(f"{uri!r}: unknown EPC scheme {scheme!r}")


def _epc_pattern(scheme: str, body: str, uri: str) -> Gs1Identifier:
    """An EPC pattern URI (``urn:epc:idpat:...``) naming a class: all serials of one key."""
    parts = body.split(".")
    if parts[-1] != "*":
        raise IdentifierError(f"{uri!r}: only patterns ending in '.*' (all serials) are read")
    if scheme in ("sgtin", "upui") and len(parts) == 3:
        _company(parts[0], parts[1], 13, uri, "indicator and item reference")
        gtin = _gtin(parts[0], parts[1])
        return Gs1Identifier(scheme, "class", _dl("01", gtin), gtin=gtin)
    if scheme in ("grai", "gdti", "sgcn") and len(parts) == 3:
        _company(parts[0], parts[1], 12, uri, "type reference")
        if scheme == "grai":
            return Gs1Identifier(scheme, "class", _dl("8003", _check("0" + parts[0] + parts[1])))
        ai = "253" if scheme == "gdti" else "255"
        return Gs1Identifier(scheme, "class", _dl(ai, _check(parts[0] + parts[1])))
    if scheme == "cpi" and len(parts) == 3:
        return Gs1Identifier(scheme, "class", _dl("8010", _escaped(parts[0] + parts[1])))
    if scheme == "itip" and len(parts) == 5:
        _company(parts[0], parts[1], 13, uri, "indicator and item reference")
        key = _gtin(parts[0], parts[1]) + parts[2] + parts[3]
        return Gs1Identifier(scheme, "class", _dl("8006", key))
    raise IdentifierError(f"{uri!r}: EPC pattern scheme {scheme!r} is not supported")


def parse_epc_uri(uri: str) -> Gs1Identifier | None:
    """Read an EPC URI of a GS1 key; ``None`` for a Tag Data Standard scheme without one
    (``gid``, ``usdod``, ...). Raises :class:`IdentifierError` when it is malformed."""
    match = re.match(r"^urn:epc:(id|class|idpat):([a-z0-9]+):(.*)$", uri)
    if match is None:
        raise IdentifierError(
            f"{uri!r} is not an EPC URI (urn:epc:id:<scheme>:..., urn:epc:class:lgtin:... or "
            "urn:epc:idpat:<scheme>:...)"
        )
    kind, scheme, body = match.groups()
    if kind == "id":
        return None if scheme in OTHER_EPC_SCHEMES else _epc_id(scheme, body, uri)
    if kind == "idpat":
        return _epc_pattern(scheme, body, uri)
    if scheme != "lgtin":
        raise IdentifierError(f"{uri!r}: the only EPC class scheme is lgtin")
    cp, ref, lot = _fields(body, 3, uri)
    _company(cp, ref, 13, uri, "indicator and item reference")
    _limit(_decoded(lot, "lot number", uri), 20, "lot number", uri)
    gtin = _gtin(cp, ref)
    return Gs1Identifier(
        "lgtin", "class", _dl("01", gtin, "10", _escaped(lot)), gtin=gtin, lot=unquote(lot)
    )


# -- GS1 Digital Link -------------------------------------------------------------------------

#: Primary keys a constrained canonical Digital Link may start with, and the short names that
#: Digital Link 1.x still allows for them (and for three qualifiers).
_PRIMARY = frozenset(
    ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010")
) | {"8017", "8018"}
_SHORT_NAMES = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417",
    "gsrnp": "8017", "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253",
    "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004", "cpv": "22", "lot": "10",
    "ser": "21",
}  # fmt: skip
#: The finest qualifier kept per primary key, in order of preference (hash rule 18).
_QUALIFIERS = {"01": ("21", "10", "235"), "8006": ("21", "10"), "414": ("254",), "8010": ("8011",)}
_VALUE = r"[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A]"
#: The reference implementation's final syntax check of a constrained canonical Digital Link.
_CANONICAL = re.compile(
    "^https://id\\.gs1\\.org/(?:"
    + "|".join(
        (
            r"00/\d{18}",
            rf"01/\d{{14}}(?:/(?:21|10)/{_VALUE}{{0,20}}|/235/{_VALUE}{{0,28}})?",
            rf"253/\d{{13}}{_VALUE}{{0,17}}",
            r"255/\d{13}\d{0,12}",
            rf"401/{_VALUE}{{0,30}}",
            r"402/\d{17}",
            rf"414/\d{{13}}(?:/254/{_VALUE}{{0,20}})?",
            r"417/\d{13}",
            rf"8003/\d{{14}}{_VALUE}{{0,16}}",
            rf"8004/{_VALUE}{{0,30}}",
            rf"8006/\d{{18}}(?:/(?:21|10)/{_VALUE}{{0,20}})?",
            r"8010/[\x23\x2D\x2F\x30-\x39\x41-\x5A]{0,30}(?:/8011/\d{0,12})?",
            r"8017/\d{18}",
            r"8018/\d{18}",
        )
    )
    + ")$"
)


def _dl_segments(uri: str) -> tuple[str, list[str]] | None:
    """The path segments of an http(s) URI from its GS1 primary key on, short names replaced."""
    if not re.match(r"^https?://", uri, re.IGNORECASE):
        return None
    path = urlsplit(uri).path
    segments = [_SHORT_NAMES.get(s, s) for s in path.split("/")[1:]]
    for index in range(len(segments) - 1):
        if segments[index] in _PRIMARY and re.match(r"^\d{4}", segments[index + 1]):
            return segments[index], segments[index + 1 :]
    return None


def digital_link_form(uri: str, *, strict: bool = True) -> str | None:
    """The constrained canonical form of a Digital Link (``None`` when ``uri`` is not one).

    ``strict`` applies the reference implementation's final syntax check, which refuses values
    with percent-escapes; the query index uses ``strict=False`` so such links still match."""
    found = _dl_segments(uri)
    if found is None:
        return None
    primary, rest = found
    value = rest[0]
    if primary == "01" and _digits(value) and len(value) in (8, 12, 13):
        value = value.zfill(14)
    qualifiers = dict(zip(rest[1::2], rest[2::2], strict=False))
    path = [primary, value]
    for qualifier in _QUALIFIERS.get(primary, ()):
        if qualifier in qualifiers:
            path += [qualifier, qualifiers[qualifier]]
            break
    canonical = _dl(*path)
    if strict and not _CANONICAL.match(canonical):
        return None
    return canonical


def hash_form(value: str) -> str | None:
    """The canonical Digital Link the event hash uses for ``value``, if it is a GS1 identifier
    (EPC URI, EPC class or pattern URI, Digital Link); otherwise ``None``."""
    if value.startswith("urn:epc:"):
        try:
            parsed = parse_epc_uri(value)
        except IdentifierError:
            return None
        return parsed.canonical if parsed is not None else None
    return digital_link_form(value)


def index_form(value: str) -> str:
    """One spelling per identifier, for storing and matching: the canonical Digital Link of a
    GS1 identifier, anything else as written."""
    text = value.strip()
    return hash_form(text) or digital_link_form(text, strict=False) or text


def identifier_problem(value: str) -> str | None:
    """What is wrong with an identifier claiming a GS1 scheme (``None`` when nothing is, or
    when it is a URI of the sender's own that Traceport cannot check)."""
    if value.startswith("urn:epc:"):
        try:
            parse_epc_uri(value)
        except IdentifierError as exc:
            return str(exc)
        return None
    found = _dl_segments(value)
    if found is None:
        return None
    primary, rest = found
    numeric = "/".join([primary, *rest])
    parts = urlsplit(value)
    link = f"{CANONICAL_BASE}/{numeric}" + (f"?{parts.query}" if parts.query else "")
    try:
        parse_digital_link(link, check_pairs=False)
    except ScanError as exc:
        return f"{value!r} is not a valid GS1 Digital Link: {exc.message}"
    return None


def read_gs1(value: str) -> Gs1Identifier | None:
    """The GS1 identifier in ``value`` (EPC URI or Digital Link), for genealogy; ``None`` for
    a URI of the sender's own."""
    text = value.strip()
    if text.startswith("urn:epc:"):
        try:
            return parse_epc_uri(text)
        except IdentifierError:
            return None
    canonical = digital_link_form(text, strict=False)
    if canonical is None:
        return None
    segments = canonical[len(CANONICAL_BASE) + 1 :].split("/")
    primary, key = segments[0], unquote(segments[1])
    extra = dict(zip(segments[2::2], (unquote(s) for s in segments[3::2]), strict=False))
    if primary == "01":
        if "21" in extra:
            return Gs1Identifier("dl", "instance", canonical, gtin=key, serial=extra["21"])
        if "10" in extra:
            return Gs1Identifier("dl", "class", canonical, gtin=key, lot=extra["10"])
        if "235" in extra:
            return Gs1Identifier("dl", "instance", canonical, gtin=key)
        return Gs1Identifier("dl", "class", canonical, gtin=key)
    if primary == "00":
        return Gs1Identifier("dl", "instance", canonical, sscc=key)
    if primary == "414":
        return Gs1Identifier("dl", "location", canonical, gln=key)
    if primary == "417":
        return Gs1Identifier("dl", "party", canonical, gln=key)
    return Gs1Identifier("dl", "instance", canonical)


def private_uri(kind: str, *parts: str) -> str:
    """Traceport's own URN for a thing without a GS1 key (``urn:traceport:lot:IL-RES-0001``)."""
    return ":".join(["urn:traceport", kind, *(quote(p, safe="-._~") for p in parts)])
