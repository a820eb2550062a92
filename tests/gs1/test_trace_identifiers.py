"""What the trace search box looks up for a scanned or typed string."""

from __future__ import annotations

import pytest

from trace_core.gs1 import GS, Gs1Error, HibccError, identifiers_for_trace

GTIN = "09506000134352"


@pytest.mark.req("UDI-02")
@pytest.mark.parametrize(
    ("text", "identifiers"),
    [
        (f"]d201{GTIN}17261200" + f"10AB-12{GS}21SN0001", ["AB-12", "SN0001"]),
        (f"(01){GTIN}(21)SN0001(10)AB-12", ["AB-12", "SN0001"]),
        (f"https://id.gs1.org/01/{GTIN}/10/AB%2F12/21/S1", ["AB/12", "S1"]),
        ("(00)106141412345678908", ["106141412345678908"]),
        (f"(01){GTIN}(10)L1(21)L1", ["L1"]),
        (f"(01){GTIN}", []),
        # Not barcodes: the typed text is the identifier.
        ("SN-DEMO-0001", ["SN-DEMO-0001"]),
        ("  LOT 42 ", ["LOT 42"]),
        ("20240117", ["20240117"]),
        ("", []),
        # A bare number that is also a valid GTIN or SSCC may just as well be a lot number.
        ("00614141000012", ["00614141000012"]),
        ("106141412345678908", ["106141412345678908"]),
        # With a symbology identifier it is a barcode: a GTIN alone gives nothing to search.
        ("]E05901234123457", []),
    ],
)
def test_identifiers_for_trace(text: str, identifiers: list[str]) -> None:
    assert identifiers_for_trace(text) == identifiers


@pytest.mark.req("UDI-07")
def test_other_agencies() -> None:
    assert identifiers_for_trace("+A123BJC5D6E71/$$52001510X3C") == ["10X3"]
    assert identifiers_for_trace("=A99992612345600") == []


@pytest.mark.req("UDI-02")
@pytest.mark.parametrize(
    ("text", "error"),
    [
        (f"]d201{GTIN}17261300", Gs1Error),
        (f"(01){GTIN}(17)261300", Gs1Error),
        (f"01{GTIN}10A{GS}17261300", Gs1Error),
        (f"https://id.gs1.org/01/{GTIN}/17/261200", Gs1Error),
        ("+A123BJC5D6E71H", HibccError),
    ],
)
def test_an_invalid_scan_is_reported_not_searched_as_text(
    text: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        identifiers_for_trace(text)
