"""Errors raised while reading a scanned or typed code.

A person at the trace search box or a label-check station acts on these messages, so each one
names what is wrong, which Application Identifier (AI) it concerns and where, in their words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trace_core.gs1.non_gs1 import NonGs1Code


class ScanError(ValueError):
    """The text could not be read as a valid barcode of the kind it claims to be."""

    def __init__(self, message: str, *, ai: str | None = None, position: int | None = None):
        super().__init__(message)
        self.message = message
        #: The AI the problem concerns, without parentheses (``"17"``), when there is one.
        self.ai = ai
        #: 1-based character position in the (trimmed) input where the problem starts.
        self.position = position


class Gs1Error(ScanError):
    """Invalid GS1 data: syntax, check digit, date, pairing or Digital Link structure."""

    def __init__(
        self,
        message: str,
        *,
        ai: str | None = None,
        position: int | None = None,
        rule: str = "syntax",
    ):
        super().__init__(message, ai=ai, position=position)
        #: Which kind of rule failed: ``syntax``, ``check digit``, ``date``, ``pairing``,
        #: ``digital link`` or ``symbology``. Lets callers treat, say, pairing separately.
        self.rule = rule


class HibccError(ScanError):
    """A code that is recognisably HIBCC but is malformed or fails its check character."""


class NotGs1Error(Exception):
    """Raised by :func:`trace_core.gs1.parse` for a HIBCC or ICCBBA code.

    Deliberately not a :class:`Gs1Error`: the code is (or may be) perfectly valid, it is just
    issued under another agency's rules, and UDI-07 requires saying so rather than reporting a
    GS1 syntax error. :func:`trace_core.gs1.read_barcode` returns the code instead of raising.
    """

    def __init__(self, code: NonGs1Code):
        super().__init__(f"{code.issuing_agency} code, not GS1: {code.summary}")
        self.code = code
