"""The movements material makes and the one table of which status lets which movement pass
(QMS-10). Nothing here touches the database: ``gate.py`` reads the statuses and asks this."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from trace_core.errors import Conflict


class Movement(StrEnum):
    """Every way material moves through Traceport. A new path that moves material names one
    of these and asks the gate (``MaterialGate.check``) before it writes anything."""

    #: A supplier lot becomes our internal lot (goods receipt; EPCIS receiving).
    RECEIVE = "receive"
    #: An internal lot goes into a work order (or an EPCIS TransformationEvent's inputs).
    CONSUME = "consume"
    #: Our lot goes out to a contractor for an outsourced process (a run's input lots).
    PROCESS_OUT = "process_out"
    #: What came back from a contractor is accepted (QA's acceptance of a run).
    PROCESS_IN = "process_in"
    #: Serials or lots go into a case or onto a pallet (AggregationEvent).
    PACK = "pack"
    #: Serials or lots leave to a consignee (EPCIS shipping).
    SHIP = "ship"


ALL = frozenset(Movement)
#: Internal lot status → the movements it allows. Quarantined material may go out to a
#: contractor and come back (it stays in quarantine there, awaiting QA): a finished lot is
#: sterilized before its release, never after (21 CFR 801.150(e), docs/RELEASE.md), and a
#: contractor's output waits for QA's acceptance. Nothing else moves it.
INTERNAL_LOT_ALLOWS: dict[str, frozenset[Movement]] = {
    "released": ALL - {Movement.RECEIVE},
    "quarantine": frozenset({Movement.PROCESS_OUT, Movement.PROCESS_IN}),
    "rejected": frozenset(),
    "on_hold": frozenset(),
    "recalled": frozenset(),
}
#: Serial status → the movements it allows (a serial's lot is asked as well).
SERIAL_ALLOWS: dict[str, frozenset[Movement]] = {
    "in_stock": frozenset({Movement.PACK, Movement.SHIP, Movement.CONSUME}),
    "on_hold": frozenset(),
    "shipped": frozenset(),
}
#: Supplier lot review status → may it be received. A submitted lot is received into
#: quarantine (QA's approval releases it), an approved one released.
SUPPLIER_LOT_RECEIVABLE = frozenset({"submitted", "approved"})
#: Supplier lot hold status (``None``: not held) → may it move at all, and may what was made
#: from it move (the gate looks upstream).
HOLD_STATUSES = ("on_hold", "recalled", "scrapped", "returned")
#: The hold statuses that also stop what was made from the lot (a recall's closing decides
#: the internal lots themselves when it scraps or returns the supplier lot).
UPSTREAM_HOLD_STATUSES = ("on_hold", "recalled")


def internal_lot_allows(status: str, movement: Movement) -> bool:
    return movement in INTERNAL_LOT_ALLOWS.get(status, frozenset())


def serial_allows(status: str, movement: Movement) -> bool:
    return movement in SERIAL_ALLOWS.get(status, frozenset())


def supplier_lot_allows(status: str, hold_status: str | None, movement: Movement) -> bool:
    if hold_status is not None:
        return False
    return movement is Movement.RECEIVE and status in SUPPLIER_LOT_RECEIVABLE


#: What each movement is called in a refusal.
VERB = {
    Movement.RECEIVE: "received",
    Movement.CONSUME: "consumed",
    Movement.PROCESS_OUT: "sent out for processing",
    Movement.PROCESS_IN: "accepted back from processing",
    Movement.PACK: "packed",
    Movement.SHIP: "shipped",
}

#: What a QA release of a lot is called in a refusal (``MaterialGate.check_release``).
RELEASE_VERB = "released for use"

# The refusal texts, each a fixed English pattern with named values: the portal shows them in
# the reader's language (``portal/vocabulary.py`` marks them for the catalogue).
LOT_STATUS = "{record} is {status}; it cannot be {verb} (only released material moves)."
LOT_QUARANTINE = "{record} is in quarantine; it cannot be {verb} until QA releases it."
SERIAL_STATUS = "{record} is {status}; it cannot be {verb}."
SERIAL_LOT = "{record} belongs to lot {lot}, which is {status}; it cannot be {verb}."
SUPPLIER_LOT_STATUS = (
    "Supplier lot {record} is {status}; only submitted or approved lots can be received."
)
SUPPLIER_LOT_HELD = "Supplier lot {record} is on hold ({hold}); it cannot be {verb}."
SUPPLIER_LOT_RECALLED = "Supplier lot {record} is under recall {recall}; it cannot be {verb}."
SUPPLIER_LOT_DISPOSED = "Supplier lot {record} was {status} ({hold}); it cannot be {verb}."
UPSTREAM_HELD = "{record} comes from {source}, which is on hold ({hold}); it cannot be {verb}."
UPSTREAM_RECALLED = (
    "{record} comes from {source}, which is under recall {recall}; it cannot be {verb}."
)
#: What a supplier is told about its own held lot (never our records).
SUPPLIER_LOT_HELD_EXTERNAL = "Lot {record} is on hold by the customer's QA; it cannot be {verb}."
LOT_EXTERNAL = "Lot {record} is not released by the customer's QA; it cannot be {verb}."

TEMPLATES = (
    LOT_STATUS,
    LOT_QUARANTINE,
    SERIAL_STATUS,
    SERIAL_LOT,
    SUPPLIER_LOT_STATUS,
    SUPPLIER_LOT_HELD,
    SUPPLIER_LOT_RECALLED,
    SUPPLIER_LOT_DISPOSED,
    UPSTREAM_HELD,
    UPSTREAM_RECALLED,
    SUPPLIER_LOT_HELD_EXTERNAL,
    LOT_EXTERNAL,
)


class Phrase(str):
    """A message built from a fixed pattern and its values: reads as the English text, and
    carries the pattern so that the portal can show it in the reader's language."""

    template: str
    params: dict[str, str]

    def __new__(cls, template: str, params: dict[str, str]) -> Phrase:
        phrase = super().__new__(cls, template.format(**params))
        phrase.template = template
        phrase.params = params
        return phrase

    def localized(self, gettext: Callable[[str], str]) -> str:
        """The pattern translated, then filled (statuses and verbs translated too)."""
        values = {k: gettext(v) if k in ("status", "verb") else v for k, v in self.params.items()}
        return gettext(self.template).format(**values)


@dataclass(frozen=True)
class Refusal:
    """One piece of material the gate stops: the input field it came from, the record that
    blocks it, the rule, and the message (a fixed pattern and its values)."""

    field: str
    record: str
    rule: str
    template: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> Phrase:
        return Phrase(self.template, self.params)

    def localized(self, gettext: Callable[[str], str]) -> str:
        return self.message.localized(gettext)

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "record": self.record,
            "rule": self.rule,
            "message": self.message,
        }


class MaterialRefused(Conflict):
    """The gate refused: 409, every refusal with its field (``errors``) and its blocking
    record (``refusals``). Nothing was written."""

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = list(refusals)
        self.errors: dict[str, str] = {}
        for refusal in self.refusals:
            known = self.errors.get(refusal.field)
            self.errors[refusal.field] = f"{known} {refusal.message}" if known else refusal.message
        messages = [r.message for r in self.refusals]
        super().__init__(messages[0] if len(messages) == 1 else " ".join(messages))

    def localized(self, gettext: Callable[[str], str]) -> str:
        return " ".join(r.localized(gettext) for r in self.refusals)
