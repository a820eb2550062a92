"""UDI-07: HIBCC and ICCBBA codes are recognised and named, not reported as broken GS1."""

from __future__ import annotations

import datetime as dt

import pytest

from trace_core.gs1 import (
    Gs1Error,
    HibccError,
    NonGs1Code,
    NotGs1Error,
    parse,
    read_barcode,
)
from trace_core.gs1.non_gs1 import hibcc_check_character

TODAY = dt.date(2026, 6, 15)


def hibcc(data: str) -> str:
    """``data`` with its modulo-43 check character appended."""
    return data + hibcc_check_character(data)


def read(text: str) -> NonGs1Code:
    result = read_barcode(text, today=TODAY)
    assert isinstance(result, NonGs1Code)
    return result


@pytest.mark.req("UDI-07")
def test_requirement_example_hibcc_is_named_not_a_gs1_error() -> None:
    code = read("+A123BJC5D6E71G")
    assert code.issuing_agency == "HIBCC"
    assert (code.structure, code.labeler, code.product, code.unit_of_measure) == (
        "primary",
        "A123",
        "BJC5D6E7",
        1,
    )
    with pytest.raises(NotGs1Error) as caught:
        parse("+A123BJC5D6E71G", today=TODAY)
    assert not isinstance(caught.value, Gs1Error)
    assert str(caught.value) == (
        "HIBCC code, not GS1: HIBCC primary data, labeler A123, product BJC5D6E7"
    )
    assert caught.value.code.as_dict()["issuing_agency"] == "HIBCC"


@pytest.mark.req("UDI-07")
def test_requirement_example_plus_h() -> None:
    text = hibcc("+H629CAT12341/$$3261231LOT7")
    code = read(text)
    assert (code.issuing_agency, code.labeler, code.product, code.lot) == (
        "HIBCC",
        "H629",
        "CAT1234",
        "LOT7",
    )
    with pytest.raises(NotGs1Error) as caught:
        parse(text, today=TODAY)
    assert str(caught.value).startswith("HIBCC code, not GS1: ")


@pytest.mark.req("UDI-07")
def test_check_character_algorithm_matches_the_published_example() -> None:
    # HIBC LIC example: +A123BJC5D6E71, sum 145, 145 mod 43 = 16, check character "G".
    assert hibcc_check_character("+A123BJC5D6E71") == "G"


@pytest.mark.req("UDI-07")
@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            "+A123BJC5D6E71/$$52001510X3C",
            {"structure": "concatenated", "lot": "10X3", "expiry": dt.date(2020, 1, 15)},
        ),
        (
            hibcc("+A123BJC5D6E71/$$3261231LOT12"),
            {"lot": "LOT12", "expiry": dt.date(2026, 12, 31)},
        ),
        (hibcc("+A123BJC5D6E71/$$0327LOT4"), {"lot": "LOT4", "expiry": dt.date(2027, 3, 31)}),
        (hibcc("+A123BJC5D6E71/$$2123126L"), {"lot": "L", "expiry": dt.date(2026, 12, 31)}),
        (hibcc("+A123BJC5D6E71/$$426123114"), {"lot": None, "expiry": dt.date(2026, 12, 31)}),
        (hibcc("+A123BJC5D6E71/$$62636508L"), {"lot": "L", "expiry": dt.date(2026, 12, 31)}),
        (hibcc("+A123BJC5D6E71/$$7LOT9"), {"lot": "LOT9", "expiry": None}),
        (hibcc("+A123BJC5D6E71/$$+3261231SN9"), {"serial": "SN9", "lot": None}),
        (hibcc("+A123BJC5D6E71/$+SN123"), {"serial": "SN123", "expiry": None}),
        (hibcc("+A123BJC5D6E71/$L1"), {"lot": "L1"}),
        (hibcc("+A123BJC5D6E71/$$8053261231LOT7"), {"quantity": 5, "lot": "LOT7"}),
        (hibcc("+A123BJC5D6E71/$$9001003261231L"), {"quantity": 100, "lot": "L"}),
        (hibcc("+A123BJC5D6E71/26001LOT"), {"lot": "LOT", "expiry": dt.date(2026, 1, 1)}),
        (
            hibcc("+$$3261231LOT12G"),
            {"structure": "secondary", "link_character": "G", "lot": "LOT12", "labeler": None},
        ),
        ("*+A123BJC5D6E71G*", {"structure": "primary"}),
        ("]d1+A123BJC5D6E71G", {"symbology": "Data Matrix"}),
        (hibcc("+/ABC123"), {"structure": "provider (PAS)", "labeler": None}),
    ],
)
def test_hibcc_structures(text: str, fields: dict[str, object]) -> None:
    code = read(text)
    assert code.issuing_agency == "HIBCC"
    for name, value in fields.items():
        assert getattr(code, name) == value, name


@pytest.mark.req("UDI-07")
def test_space_as_check_character_survives_trimming() -> None:
    text = hibcc("+A123BJC5D6E71/$$+3261231SN9")
    assert text.endswith(" ")
    assert read(text + "\r\n").serial == "SN9"


@pytest.mark.req("UDI-07")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+A123BJC5D6E71H", "HIBCC code: check character is 'H', expected 'G' (modulo 43)"),
        (
            "+a123BJC5D6E71G",
            "HIBCC code: character 'a' at character 2 is not allowed (HIBCC uses A-Z, 0-9, space "
            "and - . $ / + %)",
        ),
        ("+A", "HIBCC code: '+A' is too short"),
        (
            hibcc("+A12"),
            "HIBCC code: labeler identification code 'A12' must be 4 letters or digits",
        ),
        (hibcc("+A123BJC5D6E7X"), "HIBCC code: unit of measure must be a digit, got 'X'"),
        (
            hibcc("+A123BJC5D6E71/$$3261332LOT"),
            "HIBCC code: invalid date '261332': month 13 does not exist",
        ),
        (
            hibcc("+A123BJC5D6E71/$$3260230LOT"),
            "HIBCC code: invalid date '260230': 2026-02 has no day 30",
        ),
        (hibcc("+A123BJC5D6E71/27366L"), "HIBCC code: invalid date '27366': 2027 has no day 366"),
        (
            hibcc("+A123BJC5D6E71/$$ALOT"),
            "HIBCC code: unknown expiry date format flag 'A' after '$$' (0-7 expected)",
        ),
        (hibcc("+A123BJC5D6E71/$$3261"), "HIBCC code: expiry date needs 6 digits, got '261'"),
        (
            hibcc("+A123BJC5D6E71/%L"),
            "HIBCC code: secondary data must start with a digit or '$', got '%'",
        ),
    ],
)
def test_hibcc_errors(text: str, message: str) -> None:
    with pytest.raises(HibccError) as caught:
        read_barcode(text, today=TODAY)
    assert caught.value.message == message
    assert not isinstance(caught.value, Gs1Error)


@pytest.mark.req("UDI-07")
@pytest.mark.parametrize(
    ("text", "identifier", "name"),
    [
        ("=A99992612345600", "=A", "Donation Identification Number"),
        ("=<E0001A00", "=<", "Product Code"),
        ("&>0261231159", "&>", "Expiration Date and Time"),
        ("=>026365", "=>", "Expiration Date"),
        ("&!X1", "&!", None),
        ("]C0=%5100", "=%", "Blood Groups [ABO and RhD]"),
    ],
)
def test_iccbba_is_recognised(text: str, identifier: str, name: str | None) -> None:
    code = read(text)
    assert (code.issuing_agency, code.structure) == ("ICCBBA", "ISBT 128")
    assert (code.data_identifier, code.data_identifier_name) == (identifier, name)
    assert code.notes == (
        "ISBT 128 data structures are recognised, not decoded: decoding needs ICCBBA's "
        "licensed specification and tables",
    )


@pytest.mark.req("UDI-07")
def test_iccbba_through_parse_says_so() -> None:
    with pytest.raises(NotGs1Error) as caught:
        parse("=A99992612345600", today=TODAY)
    assert str(caught.value) == (
        "ICCBBA code, not GS1: ISBT 128 data identifier '=A' (Donation Identification Number)"
    )
    with pytest.raises(NotGs1Error, match="data identifier not interpreted"):
        parse("&!X1", today=TODAY)
