"""How an EPCIS document is refused: at one place, named by its JSON pointer (RFC 6901)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trace_core.errors import ValidationFailed


def pointer(path: Iterable[str | int]) -> str:
    """The JSON pointer of a path: ``["epcisBody", "eventList", 0]`` is
    ``/epcisBody/eventList/0``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@dataclass(frozen=True)
class Fault:
    """One thing wrong with a document: where (a JSON pointer, ``""`` for the whole document)
    and what, in words a partner's integrator can act on."""

    pointer: str
    message: str


class EpcisRejected(ValidationFailed):
    """The whole document is refused because of its first fault; nothing was stored."""

    def __init__(self, fault: Fault) -> None:
        where = fault.pointer or "/"
        super().__init__(
            {where: fault.message},
            f"The EPCIS document was rejected; nothing was stored. At {where}: {fault.message}",
        )
        self.fault = fault
