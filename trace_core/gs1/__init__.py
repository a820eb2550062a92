"""GS1 / UDI scanning: element strings, Digital Link URIs, check digits, dates and AI pairing
rules driven by the vendored GS1 Barcode Syntax Dictionary; HIBCC and ICCBBA codes recognised.

Public surface:

- :func:`read_barcode` (GS1 result or HIBCC/ICCBBA code), :func:`parse` (GS1 only),
  :func:`parse_element_string`, :func:`parse_digital_link`, :func:`to_digital_link`,
  :func:`identifiers_for_trace`;
- :class:`Gs1Result`, :class:`NonGs1Code`, :class:`Element`;
- :class:`ScanError` and its subclasses :class:`Gs1Error`, :class:`HibccError`;
  :class:`NotGs1Error` from :func:`parse`;
- key helpers :func:`validate_gtin`, :func:`validate_sscc`, :func:`validate_gln`,
  :func:`gs1_check_digit`, and :func:`ai_definition` for the AI table.
"""

from __future__ import annotations

from trace_core.gs1.check_digits import gs1_check_digit, validate_gln, validate_gtin, validate_sscc
from trace_core.gs1.dictionary import AiDefinition, ai_definition
from trace_core.gs1.element_strings import GS, Element
from trace_core.gs1.errors import Gs1Error, HibccError, NotGs1Error, ScanError
from trace_core.gs1.non_gs1 import NonGs1Code
from trace_core.gs1.result import Gs1Result
from trace_core.gs1.scan import (
    identifiers_for_trace,
    parse,
    parse_digital_link,
    parse_element_string,
    read_barcode,
    to_digital_link,
)

__all__ = [
    "GS",
    "AiDefinition",
    "Element",
    "Gs1Error",
    "Gs1Result",
    "HibccError",
    "NonGs1Code",
    "NotGs1Error",
    "ScanError",
    "ai_definition",
    "gs1_check_digit",
    "identifiers_for_trace",
    "parse",
    "parse_digital_link",
    "parse_element_string",
    "read_barcode",
    "to_digital_link",
    "validate_gln",
    "validate_gtin",
    "validate_sscc",
]
