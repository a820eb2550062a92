"""Symbology identifiers (ISO/IEC 15424 ``]Cm``) that scanners may put in front of the data.

The identifier tells whether the symbol is a GS1 one (FNC1 in first position: ``]C1``, ``]d2``,
``]Q3``...), a retail code carrying a bare GTIN (``]E0`` EAN-13/UPC-A), or a plain symbol whose
content is not GS1 element strings (``]d1``: may hold a Digital Link URI or a HIBCC code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trace_core.gs1.errors import Gs1Error

Carries = Literal["element string", "gtin", "other"]


@dataclass(frozen=True, slots=True)
class Symbology:
    identifier: str
    name: str
    #: What the data after the identifier is: GS1 element strings, a bare GTIN, or anything
    #: else (Digital Link URI, HIBCC, ICCBBA, free text).
    carries: Carries
    #: For ``gtin`` symbologies, the digit counts the data may have.
    gtin_lengths: tuple[int, ...] = ()


SYMBOLOGIES: dict[str, Symbology] = {
    s.identifier: s
    for s in (
        Symbology("]C1", "GS1-128", "element string"),
        Symbology("]d2", "GS1 DataMatrix", "element string"),
        Symbology("]Q3", "GS1 QR Code", "element string"),
        Symbology("]e0", "GS1 DataBar", "element string"),
        Symbology("]J1", "GS1 DotCode", "element string"),
        Symbology("]E0", "EAN-13 / UPC-A", "gtin", (12, 13)),
        Symbology("]E4", "EAN-8", "gtin", (8,)),
        Symbology("]I1", "ITF-14", "gtin", (14,)),
        Symbology("]C0", "Code 128", "other"),
        Symbology("]d1", "Data Matrix", "other"),
        Symbology("]Q1", "QR Code", "other"),
        Symbology("]A0", "Code 39", "other"),
        Symbology("]A1", "Code 39", "other"),
    )
}


def split_symbology(text: str) -> tuple[Symbology | None, str]:
    """Separate a leading symbology identifier from the data."""
    if not text.startswith("]"):
        return None, text
    identifier = text[:3]
    symbology = SYMBOLOGIES.get(identifier)
    if symbology is None:
        known = ", ".join(SYMBOLOGIES)
        raise Gs1Error(
            f"unknown or unsupported symbology identifier {identifier!r} at character 1 "
            f"(supported: {known})",
            position=1,
            rule="symbology",
        )
    return symbology, text[3:]
