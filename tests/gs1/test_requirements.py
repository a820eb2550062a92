"""The UDI-01..04 rows of shared/REQUIREMENTS.md: check digits, element strings, dates, pairing.

Every example in those rows is a test here, and every rule has a negative test that checks the
exact message, because the message is what a person at the scanner acts on.
"""

from __future__ import annotations

import datetime as dt

import pytest

from trace_core.gs1 import (
    GS,
    Gs1Error,
    parse,
    parse_element_string,
    read_barcode,
    validate_gln,
    validate_gtin,
    validate_sscc,
)
from trace_core.gs1.dates import full_year

TODAY = dt.date(2026, 6, 15)
GTIN = "09506000134352"
DATAMATRIX = f"]d201{GTIN}17261200" + f"10AB-12{GS}21SN0001"


def refused(text: str, **options: object) -> Gs1Error:
    with pytest.raises(Gs1Error) as caught:
        read_barcode(text, today=TODAY, **options)  # type: ignore[arg-type]
    return caught.value


# UDI-01: GS1 keys' check digits ------------------------------------------------------------


@pytest.mark.req("UDI-01")
def test_requirement_example_gtin_check_digit() -> None:
    assert validate_gtin("00614141000012") == "00614141000012"
    with pytest.raises(Gs1Error) as caught:
        validate_gtin("00614141000013")
    assert caught.value.message == "GTIN 00614141000013: check digit is 3, expected 2"
    assert caught.value.rule == "check digit"


@pytest.mark.req("UDI-01")
def test_requirement_example_as_scanned() -> None:
    assert parse("00614141000012", today=TODAY).gtin == "00614141000012"
    assert refused("00614141000013").message == "GTIN 00614141000013: check digit is 3, expected 2"


@pytest.mark.req("UDI-01")
@pytest.mark.parametrize(
    ("validate", "good", "bad", "message"),
    [
        pytest.param(
            validate_gtin,
            "614141000036",
            "614141000037",
            "GTIN 614141000037: check digit is 7, expected 6",
            id="GTIN-12",
        ),
        pytest.param(
            validate_sscc,
            "106141412345678908",
            "106141412345678909",
            "SSCC 106141412345678909: check digit is 9, expected 8",
            id="SSCC",
        ),
        pytest.param(
            validate_gln,
            "1234567890128",
            "1234567890127",
            "GLN 1234567890127: check digit is 7, expected 8",
            id="GLN",
        ),
    ],
)
def test_key_check_digits(validate: object, good: str, bad: str, message: str) -> None:
    assert callable(validate)
    assert validate(good).endswith(good)
    with pytest.raises(Gs1Error) as caught:
        validate(bad)
    assert caught.value.message == message


@pytest.mark.req("UDI-01")
@pytest.mark.parametrize(
    ("validate", "text", "message"),
    [
        (validate_gtin, "123", "GTIN '123': 8, 12, 13 or 14 digits required, got 3"),
        (validate_gtin, "0061414100001x", "GTIN '0061414100001x': only digits are allowed"),
        (validate_sscc, "1234567890123456", "SSCC '1234567890123456': 18 digits required, got 16"),
        (validate_gln, "123456789012", "GLN '123456789012': 13 digits required, got 12"),
    ],
)
def test_key_shape(validate: object, text: str, message: str) -> None:
    assert callable(validate)
    with pytest.raises(Gs1Error) as caught:
        validate(text)
    assert caught.value.message == message


@pytest.mark.req("UDI-01")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(01)00614141000013(10)A1", "AI (01) at character 1: check digit is 3, expected 2"),
        ("(00)106141412345678909", "AI (00) at character 1: check digit is 9, expected 8"),
        ("(414)1234567890127", "AI (414) at character 1: check digit is 7, expected 8"),
        ("]C1010061414100001317261200", "AI (01) at character 4: check digit is 3, expected 2"),
        (
            "(8013)1987654Ad4X4bL5ttr2310cXK",
            "AI (8013) at character 1: check character pair is 'XK', expected '2K'",
        ),
    ],
)
def test_check_digits_inside_element_strings(text: str, message: str) -> None:
    error = refused(text)
    assert error.message == message
    assert error.rule == "check digit"


@pytest.mark.req("UDI-01")
def test_alphanumeric_check_pair_accepted() -> None:
    result = parse("(8013)1987654Ad4X4bL5ttr2310c2K", today=TODAY)
    assert result.value("8013") == "1987654Ad4X4bL5ttr2310c2K"


# UDI-02: element strings with or without symbology identifier and GS -----------------------


@pytest.mark.req("UDI-02")
@pytest.mark.parametrize(
    ("text", "symbology"),
    [
        (DATAMATRIX, "GS1 DataMatrix"),
        (DATAMATRIX[3:], None),
        (GS + DATAMATRIX[3:], None),
        ("]C1" + DATAMATRIX[3:], "GS1-128"),
        ("]Q3" + DATAMATRIX[3:], "GS1 QR Code"),
        ("]J1" + DATAMATRIX[3:], "GS1 DotCode"),
        (f"  {DATAMATRIX}{GS}\r\n", "GS1 DataMatrix"),
        (f"(01){GTIN}(17)261200(10)AB-12(21)SN0001", None),
        (f"(01) {GTIN} (17) 261200 (10) AB-12 (21) SN0001", None),
    ],
)
def test_requirement_example_datamatrix_yields_gtin_lot_expiry_serial(
    text: str, symbology: str | None
) -> None:
    result = parse(text, today=TODAY)
    assert (result.gtin, result.lot, result.serial) == (GTIN, "AB-12", "SN0001")
    assert result.expiry == dt.date(2026, 12, 31)
    assert result.symbology == symbology
    assert result.source == "element string"
    assert [(e.ai, e.value) for e in result.elements] == [
        ("01", GTIN),
        ("17", "261200"),
        ("10", "AB-12"),
        ("21", "SN0001"),
    ]


@pytest.mark.req("UDI-02")
def test_fixed_length_ais_need_no_separator_and_tolerate_one() -> None:
    plain = parse(f"]d201{GTIN}11250101172612001012345", today=TODAY)
    assert plain.production_date == dt.date(2025, 1, 1)
    assert plain.lot == "12345"
    spaced = parse(f"]d201{GTIN}{GS}11250101{GS}{GS}172612001012345{GS}", today=TODAY)
    assert spaced.elements == plain.elements


@pytest.mark.req("UDI-02")
def test_missing_separator_makes_a_variable_value_run_on() -> None:
    # Without GS after (10) the serial's AI is read as part of the lot: the symbol is wrong,
    # and nothing in the data can tell. What we can refuse is a value past its maximum length.
    result = parse(f"]d201{GTIN}10AB-1221SN0001", today=TODAY)
    assert (result.lot, result.serial) == ("AB-1221SN0001", None)
    error = refused(f"]d201{GTIN}10123456789012345678901{GS}21S")
    assert error.message == (
        "AI (10) at character 20: value is longer than 20 characters, "
        "or the GS separator after it is missing"
    )


@pytest.mark.req("UDI-02")
def test_other_separator_characters_can_be_configured() -> None:
    result = read_barcode(f"01{GTIN}10AB|21SN", separators=("|",), today=TODAY)
    assert (result.lot, result.serial) == ("AB", "SN")


@pytest.mark.req("UDI-02")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing to read: the text is empty"),
        (
            f"01{GTIN}23X",
            "no GS1 Application Identifier at character 17: '23X' does not start with a known AI",
        ),
        (f"(01){GTIN}(23)X", "unknown GS1 Application Identifier (23) at character 19"),
        (f"(1){GTIN}", "unknown GS1 Application Identifier (1) at character 1"),
        (
            "(01)0950600013435",
            "AI (01) at character 1: value '0950600013435' is too short: 14 digits required",
        ),
        (f"(01){GTIN}(10)", "AI (10) at character 19: value is empty"),
        (
            f"(01){GTIN}(10)AB 12",
            "AI (10) at character 19: character ' ' at value position 3 is not allowed "
            "(GS1 character set 82)",
        ),
        (
            f"(01){GTIN}(10)ÄB",
            "AI (10) at character 19: character 'Ä' at value position 1 is not allowed "
            "(GS1 character set 82)",
        ),
        (
            f"(01){GTIN}(7011)26010185",
            "AI (7011) at character 19: value '26010185' is too short: part 2 must be 4 digits",
        ),
        (
            f"(01){GTIN}(21){'S' * 21}",
            f"AI (21) at character 19: value '{'S' * 21}' is too long: at most 20 characters",
        ),
        (
            f"]C101{GTIN}17261300",
            "AI (17) at character 20: invalid date '261300': month 13 does not exist",
        ),
        (
            "aaa(17)221231",
            "no GS1 Application Identifier at character 1: 'aaa(17)22123' does not start "
            "with a known AI",
        ),
    ],
)
def test_element_string_syntax_errors(text: str, message: str) -> None:
    assert refused(text).message == message


@pytest.mark.req("UDI-02")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "]X9010950600013435",
            "unknown or unsupported symbology identifier ']X9' at character 1 (supported: ]C1, "
            "]d2, ]Q3, ]e0, ]J1, ]E0, ]E4, ]I1, ]C0, ]d1, ]Q1, ]A0, ]A1)",
        ),
        (
            f"]d101{GTIN}",
            "Data Matrix (]d1) is not a GS1 symbol: its data is neither GS1 element strings "
            "(those come as ]C1, ]d2, ]Q3, ]e0 or ]J1) nor a Digital Link, HIBCC or ICCBBA code",
        ),
        ("]E0123", "EAN-13 / UPC-A (]E0) carries a GTIN of 12 or 13 digits, got '123'"),
    ],
)
def test_symbology_errors(text: str, message: str) -> None:
    assert refused(text).message == message


@pytest.mark.req("UDI-02")
def test_retail_symbologies_carry_a_bare_gtin() -> None:
    ean13 = parse("]E05901234123457", today=TODAY)
    assert (ean13.gtin, ean13.source, ean13.symbology) == (
        "05901234123457",
        "bare key",
        "EAN-13 / UPC-A",
    )
    assert parse("]E496385074", today=TODAY).gtin == "00000096385074"


@pytest.mark.req("UDI-02")
def test_bare_number_of_key_length_prefers_the_key() -> None:
    # A German EAN-13 (prefix 400) is also a well-formed "(400) order number" element string.
    assert parse("4001234567891", today=TODAY).gtin == "04001234567891"
    # Not a valid GTIN, but a valid element string: read as such.
    assert parse("90SE0110", today=TODAY).value("90") == "SE0110"
    # Element-string callers can insist.
    assert parse_element_string("4001234567891", today=TODAY).value("400") == "1234567891"


@pytest.mark.req("UDI-02")
def test_separators_are_written_after_variable_length_values_only() -> None:
    result = parse(f"(01){GTIN}(10)AB-12(17)261200(21)SN0001", today=TODAY)
    assert result.element_string == f"01{GTIN}10AB-12{GS}1726120021SN0001"
    assert result.hri == f"(01){GTIN}(10)AB-12(17)261200(21)SN0001"


# UDI-03: dates --------------------------------------------------------------------------------


@pytest.mark.req("UDI-03")
def test_requirement_example_day_00_is_last_day_of_month() -> None:
    result = parse_element_string("(17)261200", check_pairs=False, today=TODAY)
    assert result.expiry == dt.date(2026, 12, 31)
    assert result.as_dict()["expiry"] == "2026-12-31"
    assert parse(f"(01){GTIN}(17)261200", today=TODAY).expiry == dt.date(2026, 12, 31)


@pytest.mark.req("UDI-03")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("280200", dt.date(2028, 2, 29)),
        ("270200", dt.date(2027, 2, 28)),
        ("260400", dt.date(2026, 4, 30)),
        ("280229", dt.date(2028, 2, 29)),
        ("761231", dt.date(2076, 12, 31)),
        ("771231", dt.date(1977, 12, 31)),
    ],
)
def test_expiry_dates(value: str, expected: dt.date) -> None:
    assert parse(f"(01){GTIN}(17){value}", today=TODAY).expiry == expected


@pytest.mark.req("UDI-03")
def test_two_digit_years_follow_the_gs1_window() -> None:
    # 49 years back, 50 forward from the current year (GS1 General Specifications 7.12).
    assert full_year(76, TODAY) == 2076
    assert full_year(77, TODAY) == 1977
    assert full_year(30, dt.date(2080, 1, 1)) == 2130
    assert full_year(31, dt.date(2080, 1, 1)) == 2031


@pytest.mark.req("UDI-03")
def test_other_date_fields() -> None:
    result = parse(f"(01){GTIN}(11)250131(13)250201(15)270600(16)270500", today=TODAY)
    assert result.production_date == dt.date(2025, 1, 31)
    assert result.packaging_date == dt.date(2025, 2, 1)
    assert result.best_before == dt.date(2027, 6, 30)
    assert result.sell_by == dt.date(2027, 5, 31)


@pytest.mark.req("UDI-03")
@pytest.mark.parametrize(
    ("ai", "value", "message"),
    [
        ("17", "261300", "invalid date '261300': month 13 does not exist"),
        ("17", "260000", "invalid date '260000': month 00 does not exist"),
        ("17", "260230", "invalid date '260230': 2026-02 has no day 30"),
        ("17", "270229", "invalid date '270229': 2027-02 has no day 29"),
        ("11", "260432", "invalid date '260432': 2026-04 has no day 32"),
        # Day 00 only where the dictionary allows it (yymmd0); first-freeze date is yymmdd.
        ("7006", "260200", "invalid date '260200': 2026-02 has no day 00"),
        ("7003", "2602012460", "hour '24' is not between 00 and 23"),
        ("17", "26123A", "character 'A' at value position 6 is not allowed (digits only)"),
    ],
)
def test_invalid_dates_are_refused(ai: str, value: str, message: str) -> None:
    error = refused(f"(01){GTIN}({ai}){value}")
    assert error.message == f"AI ({ai}) at character 19: {message}"
    assert (error.ai, error.position) == (ai, 19)


@pytest.mark.req("UDI-03")
def test_invalid_date_rule_is_reported() -> None:
    assert refused(f"(01){GTIN}(17)261300").rule == "date"


# UDI-04: AI pairing rules ---------------------------------------------------------------------


@pytest.mark.req("UDI-04")
def test_requirement_example_expiry_alone_is_refused() -> None:
    error = refused("(17)261200")
    assert error.message == (
        "AI (17) requires (01), (02), (03), (255), (8006) or (8026) in the same data"
    )
    assert (error.rule, error.ai) == ("pairing", "17")
    assert refused("]C117261200").message == error.message


@pytest.mark.req("UDI-04")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(10)ABC", "AI (10) requires (01), (02), (03), (8006) or (8026) in the same data"),
        (
            f"(01){GTIN}(250)SEC1",
            "AI (250) requires (01) with (21), (03) with (21) or (8006) with (21) in the same data",
        ),
        (f"(01){GTIN}(37)5", "AI (01) and AI (37) must not appear together"),
        (f"(01){GTIN}(02){GTIN}(37)5", "AI (01) and AI (37) must not appear together"),
        (
            f"(01){GTIN}(3100)000100(3101)000010",
            "AI (3100) and AI (3101) must not appear together",
        ),
        (f"(01){GTIN}(10)A(10)B", "AI (10) appears twice with different values ('A' and 'B')"),
        (
            "https://id.gs1.org/00/106141412345678908?10=ABC",
            "AI (10) requires (01), (02), (03), (8006) or (8026) in the same data",
        ),
    ],
)
def test_pairing_rules(text: str, message: str) -> None:
    error = refused(text)
    assert error.message == message
    assert error.rule == "pairing"


@pytest.mark.req("UDI-04")
def test_pairing_rules_that_hold() -> None:
    assert parse(f"(01){GTIN}(21)S1(250)SEC1", today=TODAY).value("250") == "SEC1"
    assert parse(f"(01){GTIN}(10)A(10)A", today=TODAY).lot == "A"
    assert parse(f"(01){GTIN}(3100)000100(3200)000220", today=TODAY).value("3200") == "000220"


@pytest.mark.req("UDI-04")
def test_pairing_can_be_skipped_for_partial_data() -> None:
    result = parse_element_string("(10)ABC(17)261200", check_pairs=False, today=TODAY)
    assert (result.lot, result.expiry) == ("ABC", dt.date(2026, 12, 31))
