"""SSCCs (GS1 AI 00): reading one that was typed or scanned, and allocating our own.

An SSCC is the extension digit, the GS1 company prefix, a serial reference and the check digit:
18 digits. We allocate from the configured company prefix (``TRACEPORT_GS1_COMPANY_PREFIX``)
and extension digit, with the serial reference counting up; a typed or scanned one is checked
by ``trace_core.gs1`` (check digit, element string or Digital Link syntax) and, when a prefix is
configured, must carry it: a label from someone else's number range is not ours to pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from trace_core.gs1 import NonGs1Code, ScanError, gs1_check_digit, read_barcode

SSCC_LENGTH = 18


class SsccProblem(ValueError):
    """A typed or scanned SSCC that cannot be used, with the reason in plain words."""


@dataclass(frozen=True)
class SsccRange:
    """Where our own SSCCs come from."""

    company_prefix: str
    extension_digit: int = 0

    def __post_init__(self) -> None:
        if not (self.company_prefix.isdigit() and 6 <= len(self.company_prefix) <= 12):
            raise ValueError(f"GS1 company prefix {self.company_prefix!r}: must be 6 to 12 digits")
        if not 0 <= self.extension_digit <= 9:
            raise ValueError(f"SSCC extension digit {self.extension_digit}: must be 0 to 9")

    @property
    def stem(self) -> str:
        """The first digits every SSCC of this range starts with."""
        return f"{self.extension_digit}{self.company_prefix}"

    @property
    def reference_digits(self) -> int:
        return SSCC_LENGTH - 1 - len(self.stem)

    def make(self, reference: int) -> str:
        if not 0 <= reference < 10**self.reference_digits:
            raise SsccProblem(
                f"serial reference {reference} does not fit in {self.reference_digits} digits: "
                "the SSCC range of this company prefix and extension digit is used up"
            )
        payload = f"{self.stem}{reference:0{self.reference_digits}d}"
        return payload + str(gs1_check_digit(payload))

    def reference_of(self, sscc: str) -> int | None:
        if not sscc.startswith(self.stem):
            return None
        return int(sscc[len(self.stem) : -1])

    def owns(self, sscc: str) -> bool:
        """Whether ``sscc`` carries our company prefix (any extension digit)."""
        return sscc[1:].startswith(self.company_prefix)


def read_sscc(text: str) -> str:
    """The 18-digit SSCC in ``text``: the bare number, an element string (``(00)…``,
    ``00…``, with or without symbology identifier) or a GS1 Digital Link (``…/00/…``)."""
    stripped = text.strip()
    if not stripped:
        raise SsccProblem("type or scan the SSCC")
    if stripped.isdigit() and len(stripped) not in (SSCC_LENGTH, SSCC_LENGTH + 2):
        raise SsccProblem(f"an SSCC has 18 digits; {stripped!r} has {len(stripped)}")
    try:
        result = read_barcode(stripped)
    except ScanError as exc:
        raise SsccProblem(f"{stripped!r} is not a valid SSCC: {exc}") from exc
    if isinstance(result, NonGs1Code) or not result.sscc:
        raise SsccProblem(
            f"{stripped!r} is not an SSCC: scan the shipping label's (00) barcode or type its "
            "18 digits"
        )
    return str(result.sscc)
