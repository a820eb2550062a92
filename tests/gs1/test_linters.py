"""The content rules the Syntax Dictionary attaches to AI components, one by one."""

from __future__ import annotations

import datetime as dt

import pytest

from trace_core.gs1 import Gs1Error, parse
from trace_core.gs1.linters import CHECKED_LINTERS

TODAY = dt.date(2026, 6, 15)

CASES = {
    "csum": (["09506000134352", "106141412345678908"], ["09506000134353"]),
    "csumalpha": (
        ["1987654Ad4X4bL5ttr2310c2K", "12345678901234567890123NT", "00000!HV"],
        ["1987654Ad4X4bL5ttr2310cXK", "2", "1987654Ad4X4bL5ttr2310c 2K"],
    ),
    "yymmdd": (["260228", "280229"], ["260229", "261301", "260100"]),
    "yymmd0": (["260200", "261231"], ["261300", "260232"]),
    "yyyymmdd": (["20260228", "20280229"], ["20260229", "00000101"]),
    "hhmi": (["0000", "2359"], ["2400", "0060"]),
    "hh": (["00", "23"], ["24"]),
    "mi": (["00", "59"], ["60"]),
    "ss": (["00", "59"], ["60"]),
    "latitude": (["0000000000", "1800000000"], ["1800000001"]),
    "longitude": (["0000000000", "3600000000"], ["3600000001"]),
    "nonzero": (["0001"], ["0000"]),
    "zero": (["0"], ["1"]),
    "yesno": (["0", "1"], ["2"]),
    "winding": (["0", "1", "9"], ["2"]),
    "iso5218": (["0", "1", "2", "9"], ["3"]),
    "hyphen": (["-"], ["_"]),
    "nozeroprefix": (["1", "10"], ["0", "01"]),
    "hasnondigit": (["12A"], ["123"]),
    "pcenc": (["a%20b", "abc"], ["a%2", "a%zz"]),
    "pieceoftotal": (["11", "0103", "999999"], ["00", "10", "21", "111", "0908"]),
    "posinseqslash": (["1/3", "10/10", "9/10"], ["0/1", "2/1", "1//2", "1/", "01/2"]),
    "importeridx": (["-", "_", "a", "Z", "0"], ["!", "AA", ""]),
    "mediatype": (["01", "10", "80", "99"], ["00", "11", "79", "1"]),
    "iban": (["GB82WEST12345698765432"], ["GB82WEST12345698765431", "gb82WEST1234"]),
}


def test_every_checked_linter_has_cases() -> None:
    assert set(CASES) == set(CHECKED_LINTERS) - {"yyyymmd0"}


@pytest.mark.parametrize(
    ("linter", "value", "good"),
    [(name, v, True) for name, (ok, _) in CASES.items() for v in ok]
    + [(name, v, False) for name, (_, bad) in CASES.items() for v in bad],
)
def test_linter(linter: str, value: str, good: bool) -> None:
    problem = CHECKED_LINTERS[linter](value, TODAY)
    assert (problem is None) == good, problem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "(8006)095060001343520302",
            "AI (8006) at character 1: piece/total '0302': piece 3 exceeds total 2",
        ),
        (
            "(00)106141412345678908(4321)2",
            "AI (4321) at character 23: yes/no flag must be one of 0, 1, got '2'",
        ),
        (
            "(8003)10950600013435212",
            "AI (8003) at character 1: must be 0, got '1'",
        ),
    ],
)
def test_linters_through_element_strings(text: str, message: str) -> None:
    with pytest.raises(Gs1Error) as caught:
        parse(text, today=TODAY)
    assert caught.value.message == message


def test_good_values_through_element_strings() -> None:
    assert parse("(8006)095060001343520203", today=TODAY).value("8006") == "095060001343520203"
    result = parse("(00)106141412345678908(4309)02790858483015297971(4321)1", today=TODAY)
    assert result.value("4309") == "02790858483015297971"
