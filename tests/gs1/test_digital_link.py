"""UDI-06: GS1 Digital Link URIs parsed and emitted, with percent-decoding; round trips."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_core.gs1 import (
    Element,
    Gs1Error,
    gs1_check_digit,
    parse,
    parse_digital_link,
    parse_element_string,
    read_barcode,
    to_digital_link,
)
from trace_core.gs1.check_digits import CSET82
from trace_core.gs1.element_strings import to_element_string

TODAY = dt.date(2026, 6, 15)
GTIN = "09506000134352"
ID = "https://id.gs1.org"


def pairs(uri: str) -> list[tuple[str, str]]:
    return [(e.ai, e.value) for e in parse_digital_link(uri, today=TODAY).elements]


@pytest.mark.req("UDI-06")
def test_requirement_example_percent_decoded_lot() -> None:
    uri = f"https://id.gs1.org/01/{GTIN}/10/AB%2F12"
    result = parse_digital_link(uri, today=TODAY)
    assert (result.gtin, result.lot, result.source) == (GTIN, "AB/12", "digital link")
    assert to_digital_link(result) == uri


@pytest.mark.req("UDI-06")
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"https://id.gs1.org/01/{GTIN}", [("01", GTIN)]),
        (f"HTTP://example.com/01/{GTIN}/", [("01", GTIN)]),
        ("https://example.com/a/b/01/614141123452", [("01", "00614141123452")]),
        (
            f"https://d.example/01/{GTIN}/22/V1/10/L%2B1?17=261200&linkType=gs1:pip&11=250101",
            [("01", GTIN), ("22", "V1"), ("10", "L+1"), ("17", "261200"), ("11", "250101")],
        ),
        (f"https://id.gs1.org/01/{GTIN}/21/S%26N%3D1", [("01", GTIN), ("21", "S&N=1")]),
        (f"https://id.gs1.org/01/{GTIN}/235/TPX1", [("01", GTIN), ("235", "TPX1")]),
        ("https://id.gs1.org/00/106141412345678908", [("00", "106141412345678908")]),
        (
            "https://id.gs1.org/414/0614141000012/254/EXT1",
            [("414", "0614141000012"), ("254", "EXT1")],
        ),
    ],
)
def test_digital_links_are_read(uri: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(uri) == expected


@pytest.mark.req("UDI-06")
def test_digital_link_from_a_scan_and_its_fields() -> None:
    result = read_barcode(f"]Q1https://id.gs1.org/01/{GTIN}/10/AB-12/21/S1?17=261200", today=TODAY)
    assert result.symbology == "QR Code"
    assert (result.lot, result.serial, result.expiry) == (
        "AB-12",
        "S1",
        dt.date(2026, 12, 31),
    )


@pytest.mark.req("UDI-06")
@pytest.mark.parametrize(
    ("text", "uri"),
    [
        (
            f"(01){GTIN}(17)261200(10)AB/12(21)SN&1",
            f"https://id.gs1.org/01/{GTIN}/10/AB%2F12/21/SN%261?17=261200",
        ),
        (f"(01){GTIN}(22)V1(21)S", f"https://id.gs1.org/01/{GTIN}/22/V1/21/S"),
        (f"(01){GTIN}(235)T1", f"https://id.gs1.org/01/{GTIN}/235/T1"),
        (
            f"(01){GTIN}(3103)000500(11)250101(10)L",
            f"https://id.gs1.org/01/{GTIN}/10/L?11=250101&3103=000500",
        ),
        (
            "(00)106141412345678908(02)00614141123452(37)25",
            "https://id.gs1.org/00/106141412345678908?02=00614141123452&37=25",
        ),
    ],
)
def test_digital_links_are_written_in_standard_order(text: str, uri: str) -> None:
    result = parse(text, today=TODAY)
    assert to_digital_link(result) == uri
    assert result.as_dict()["digital_link"] == uri
    assert sorted(pairs(uri)) == sorted((e.ai, e.value) for e in result.elements)


@pytest.mark.req("UDI-06")
def test_digital_link_base_and_plain_pairs() -> None:
    uri = to_digital_link([("01", GTIN), ("10", "A")], base="https://trace.example.com/gs1/")
    assert uri == f"https://trace.example.com/gs1/01/{GTIN}/10/A"
    assert pairs(uri) == [("01", GTIN), ("10", "A")]


@pytest.mark.req("UDI-06")
@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://id.gs1.org/01/1", "a GS1 Digital Link must be an http:// or https:// URI, "
         "got 'ftp://id.gs1.org/01/1'"),
        ("https:///01/1", "a GS1 Digital Link needs a domain name, got 'https:///01/1'"),
        ("https://example.com/foo/123", "no GS1 primary key (such as /01/ for a GTIN or /00/ "
         "for an SSCC) in the Digital Link path '/foo/123'"),
        (f"https://example.com/01/{GTIN}/10", "the Digital Link path after (01) has an odd "
         "number of segments; AI/value pairs expected"),
        (f"{ID}/01/{GTIN}/17/261200", "(17) is not a key qualifier of (01) in a Digital Link "
         "path; allowed: (22), (10), (21), (235)"),
        (f"{ID}/01/{GTIN}/10/A/22/V", "key qualifiers of (01) must follow the order (22), (10), "
         "(21), got (10), (22)"),
        (f"{ID}/01/{GTIN}/22/V/235/T", "key qualifiers (22), (235) of (01) cannot be combined "
         "in one path"),
        (f"{ID}/00/106141412345678908/10/A", "(00) takes no key qualifiers in a Digital Link "
         "path, got (10)"),
        (f"{ID}/01/{GTIN}?21=S1", "AI (21) is not allowed as a Digital Link data attribute "
         "(query parameter)"),
        (f"{ID}/01/{GTIN}?9999=1", "unknown GS1 Application Identifier (9999) in the Digital "
         "Link query"),
        (f"{ID}/01/{GTIN}/10/A%2G", "invalid percent-encoding '%2G' in the value of (10)"),
        (f"{ID}/01/{GTIN}/10/%FF", "percent-encoded bytes in the value of (10) are not UTF-8"),
        (f"{ID}/01/09506000134353", "AI (01) in the Digital Link path: check digit is 3, "
         "expected 2"),
        (f"{ID}/01/{GTIN}/10/%C3%A9", "AI (10) in the Digital Link path: character 'é' at "
         "value position 1 is not allowed (GS1 character set 82)"),
        (f"{ID}/01/{GTIN}?17=261301", "AI (17) in the Digital Link query: invalid date "
         "'261301': month 13 does not exist"),
    ],
)  # fmt: skip
def test_digital_link_errors(uri: str, message: str) -> None:
    with pytest.raises(Gs1Error) as caught:
        parse_digital_link(uri, today=TODAY)
    assert caught.value.message == message


@pytest.mark.req("UDI-06")
def test_what_cannot_be_written_as_a_digital_link() -> None:
    with pytest.raises(Gs1Error) as caught:
        to_digital_link(parse_element_string("(10)A", check_pairs=False, today=TODAY))
    assert caught.value.message == (
        "cannot write a Digital Link: no primary key such as (01) GTIN or (00) SSCC among the "
        "elements"
    )
    partial = parse_element_string("(00)106141412345678908(21)X", check_pairs=False, today=TODAY)
    with pytest.raises(Gs1Error) as caught:
        to_digital_link(partial)
    assert caught.value.message == (
        "AI (21) cannot be carried in a Digital Link with primary key (00)"
    )
    assert partial.as_dict()["digital_link"] is None
    with pytest.raises(Gs1Error, match=r"^AI \(01\): check digit is 3, expected 2$"):
        to_digital_link([("01", "09506000134353")])


# Round trips ------------------------------------------------------------------------------------

_payload = st.text(alphabet="0123456789", min_size=13, max_size=13)
_gtin = _payload.map(lambda p: p + str(gs1_check_digit(p)))
_cset82 = st.text(alphabet=CSET82, min_size=1, max_size=20)
_day = st.dates(min_value=dt.date(1978, 1, 1), max_value=dt.date(2075, 12, 31))


@st.composite
def _elements(draw: st.DrawFn) -> list[Element]:
    elements = [Element("01", draw(_gtin))]
    expiry = draw(_day)
    day = "00" if draw(st.booleans()) else f"{expiry.day:02d}"
    elements.append(Element("17", expiry.strftime("%y%m") + day))
    if draw(st.booleans()):
        elements.append(Element("10", draw(_cset82)))
    if draw(st.booleans()):
        elements.append(Element("21", draw(_cset82)))
    if draw(st.booleans()):
        elements.append(Element("11", draw(_day).strftime("%y%m%d")))
    return draw(st.permutations(elements))


@pytest.mark.req("UDI-02")
@pytest.mark.req("UDI-06")
@settings(max_examples=300, database=None, deadline=None)
@given(_elements())
def test_element_string_and_digital_link_round_trip(elements: list[Element]) -> None:
    scanned = "]d2" + to_element_string(elements)
    result = parse(scanned, today=TODAY)
    assert list(result.elements) == elements
    if "(" not in f"{result.lot}{result.serial}":
        # The printed form cannot carry values that contain "(digits)"; see docs/GS1.md.
        assert parse(result.hri, today=TODAY).elements == result.elements
    uri = to_digital_link(result)
    again = parse(uri, today=TODAY)
    assert sorted(again.elements, key=lambda e: e.ai) == sorted(elements, key=lambda e: e.ai)
    assert to_digital_link(again) == uri
    assert (again.lot, again.serial, again.expiry) == (result.lot, result.serial, result.expiry)
