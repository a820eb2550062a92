"""The outcome of reading a GS1 code: its elements in order plus the fields Traceport uses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from trace_core.gs1.digital_link import DEFAULT_BASE, digital_link_for
from trace_core.gs1.element_strings import Element, date_value, to_element_string, to_hri
from trace_core.gs1.errors import Gs1Error

Source = Literal["element string", "digital link", "bare key"]

# Which AI feeds which named field. GLN: 414 is the GLN of a physical location, 417 of a party;
# the other 41x AIs are shipping roles (ship to, bill to...) rather than "the" GLN of the item.
_TEXT_FIELDS = {
    "gtin": ("01",),
    "sscc": ("00",),
    "gln": ("414", "417"),
    "lot": ("10",),
    "serial": ("21",),
}
_DATE_FIELDS = {
    "production_date": "11",
    "packaging_date": "13",
    "best_before": "15",
    "sell_by": "16",
    "expiry": "17",
}
_QUANTITY_AIS = ("30", "37")


@dataclass(frozen=True, slots=True)
class Gs1Result:
    """A validated GS1 code. ``elements`` keeps the input order; the named fields are derived
    from it (first occurrence; repeats with another value were already refused)."""

    elements: tuple[Element, ...]
    source: Source
    symbology: str | None
    symbology_identifier: str | None
    gtin: str | None
    sscc: str | None
    gln: str | None
    lot: str | None
    serial: str | None
    expiry: dt.date | None
    production_date: dt.date | None
    packaging_date: dt.date | None
    best_before: dt.date | None
    sell_by: dt.date | None
    quantity: int | None

    @classmethod
    def from_elements(
        cls,
        elements: list[Element],
        *,
        source: Source,
        today: dt.date,
        symbology: str | None = None,
        symbology_identifier: str | None = None,
    ) -> Gs1Result:
        first: dict[str, str] = {}
        for element in elements:
            first.setdefault(element.ai, element.value)
        text = {
            name: next((first[ai] for ai in ais if ai in first), None)
            for name, ais in _TEXT_FIELDS.items()
        }
        dates = {
            name: date_value(ai, first[ai], today) if ai in first else None
            for name, ai in _DATE_FIELDS.items()
        }
        quantity = next((int(first[ai]) for ai in _QUANTITY_AIS if ai in first), None)
        return cls(
            elements=tuple(elements),
            source=source,
            symbology=symbology,
            symbology_identifier=symbology_identifier,
            gtin=text["gtin"],
            sscc=text["sscc"],
            gln=text["gln"],
            lot=text["lot"],
            serial=text["serial"],
            expiry=dates["expiry"],
            production_date=dates["production_date"],
            packaging_date=dates["packaging_date"],
            best_before=dates["best_before"],
            sell_by=dates["sell_by"],
            quantity=quantity,
        )

    def value(self, ai: str) -> str | None:
        """The value of the first element with this AI."""
        return next((e.value for e in self.elements if e.ai == ai), None)

    @property
    def hri(self) -> str:
        """The printed form, ``(01)...(17)...``."""
        return to_hri(list(self.elements))

    @property
    def element_string(self) -> str:
        """The transmitted form, with GS (0x1D) after variable-length values."""
        return to_element_string(list(self.elements))

    def digital_link(self, base: str = DEFAULT_BASE) -> str | None:
        """The Digital Link for these elements, or ``None`` when they cannot form one."""
        try:
            return digital_link_for(self.elements, base)
        except Gs1Error:
            return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: elements in order, then the named fields, dates as YYYY-MM-DD."""

        def day(value: dt.date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "issuing_agency": "GS1",
            "source": self.source,
            "symbology": self.symbology,
            "symbology_identifier": self.symbology_identifier,
            "elements": [{"ai": e.ai, "value": e.value} for e in self.elements],
            "gtin": self.gtin,
            "sscc": self.sscc,
            "gln": self.gln,
            "lot": self.lot,
            "serial": self.serial,
            "expiry": day(self.expiry),
            "production_date": day(self.production_date),
            "packaging_date": day(self.packaging_date),
            "best_before": day(self.best_before),
            "sell_by": day(self.sell_by),
            "quantity": self.quantity,
            "hri": self.hri,
            "digital_link": self.digital_link(),
        }
