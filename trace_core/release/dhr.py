"""The device history record review of a finished lot, and the one function that says why it
cannot be released (``release_blockers``): the release page, the API and the release step
itself all ask it, so a refusal reads the same everywhere.

What blocks a release (each blocker names the rule and the record that blocks):

- the lot itself is not in quarantine (on hold, recalled, rejected) — QMS-10;
- anything upstream of it in the genealogy is on hold, recalled, rejected or back in
  quarantine (internal lots), or rejected or voided (supplier lots) — QMS-10. The upstream is
  the backward trace (``TraceService.backward``: one set-based walk, never a walk per node);
  ``upstream_blockers`` is the one place that judges it, so a new hold state is one line;
- a process the part requires (``part_required_processes``) has no accepted run over the lot,
  or the accepted run does not meet **our** limits (COA-05), or it ran under a process
  validation that had lapsed (QMS-09);
- the part carries a GTIN and the lot lacks a UDI production identifier: date of manufacture,
  expiry, serials; or they cannot be encoded as GS1 (QMS-16).

Messages are ``template % params``: the template is a fixed English text (the pages find it in
the catalogue, ``portal/vocabulary.py``), the params the records' identifiers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.gs1.digital_link import digital_link_for
from trace_core.gs1.element_strings import (
    Element,
    LocatedElement,
    to_hri,
    validate_elements,
)
from trace_core.gs1.errors import Gs1Error
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.parts.models import PartRequiredProcess
from trace_core.processes.models import ProcessRun, ProcessRunLot, ProcessRunValue
from trace_core.production.models import WorkOrder
from trace_core.release.models import FinishedLotRelease
from trace_core.trace.service import TraceResult

if TYPE_CHECKING:
    from trace_core.services import Services

#: Internal lot statuses upstream that block a release (QMS-10). Quarantine too: material
#: that went back to quarantine after it was consumed is under question.
BLOCKING_INTERNAL = ("quarantine", "on_hold", "recalled", "rejected")
#: Supplier lot statuses upstream that block a release.
BLOCKING_SUPPLIER = ("rejected", "voided")

# The blocker texts, one per rule (portal/vocabulary.py marks the same texts for the
# catalogue; tests/trace_core/test_release.py checks that they agree).
LOT_NOT_IN_QUARANTINE = "%(lot)s is %(status)s; only a lot in quarantine can be released."
UPSTREAM_INTERNAL = (
    "%(lot)s cannot be released: upstream internal lot %(record)s is %(status)s (QMS-10)."
)
UPSTREAM_SUPPLIER = (
    "%(lot)s cannot be released: upstream supplier lot %(record)s of %(supplier)s is "
    "%(status)s (QMS-10)."
)
#: A supplier lot upstream held by QA or a recall (the material gate's holds, docs/GATES.md).
UPSTREAM_HELD = (
    "%(lot)s cannot be released: upstream supplier lot %(record)s is on hold (%(hold)s) (QMS-10)."
)
UPSTREAM_RECALLED = (
    "%(lot)s cannot be released: upstream supplier lot %(record)s is under recall "
    "%(recall)s (QMS-10)."
)
PROCESS_MISSING = "%(lot)s needs %(process)s; no accepted run covers it."
PROCESS_NOT_ACCEPTED = (
    "%(lot)s needs %(process)s; run %(record)s covers it but is %(status)s, not accepted."
)
VALUE_MISSING = (
    "Run %(record)s does not report %(value)s, which our limits for %(process)s require (COA-05)."
)
VALUE_OUTSIDE = (
    "Run %(record)s: %(value)s %(measured)s is outside our limit %(criterion)s for "
    "%(process)s (COA-05)."
)
VALIDATION_LAPSED = (
    "Run %(record)s ended on %(ended)s, after %(contractor)s's process validation for "
    "%(process)s lapsed on %(due)s (QMS-09)."
)
UDI_MANUFACTURED = (
    "%(lot)s is %(part)s with GTIN %(gtin)s: its UDI needs the date of manufacture (QMS-16)."
)
UDI_EXPIRY = "%(lot)s is %(part)s with GTIN %(gtin)s: its UDI needs the expiry date (QMS-16)."
UDI_SERIALS = "%(lot)s is %(part)s with GTIN %(gtin)s: its UDI needs serial numbers (QMS-16)."
UDI_INVALID = "%(lot)s: the UDI cannot be encoded in GS1: %(problem)s (QMS-16)."

BLOCKER_TEMPLATES = (
    LOT_NOT_IN_QUARANTINE,
    UPSTREAM_INTERNAL,
    UPSTREAM_SUPPLIER,
    UPSTREAM_HELD,
    UPSTREAM_RECALLED,
    PROCESS_MISSING,
    PROCESS_NOT_ACCEPTED,
    VALUE_MISSING,
    VALUE_OUTSIDE,
    VALIDATION_LAPSED,
    UDI_MANUFACTURED,
    UDI_EXPIRY,
    UDI_SERIALS,
    UDI_INVALID,
)


@dataclass(frozen=True)
class Blocker:
    """One reason a lot cannot be released. ``field`` is where the API reports it
    (``status``, ``upstream``, ``required_processes``, ``udi``); ``record`` names the record
    that blocks."""

    field: str
    requirement: str
    record: str
    template: str
    params: dict[str, str]

    @property
    def message(self) -> str:
        return self.template % self.params


@dataclass(frozen=True)
class JudgedValue:
    name: str
    value: str | None
    unit: str | None
    criterion: str
    verdict: str  # "pass", "fail" or "missing"


@dataclass(frozen=True)
class RunView:
    run: ProcessRun
    values: list[JudgedValue]
    validation_lapsed: bool


@dataclass(frozen=True)
class RequiredProcessView:
    requirement: PartRequiredProcess
    runs: list[RunView]
    satisfied: bool


@dataclass(frozen=True)
class UdiView:
    gtin: str | None
    lot_number: str
    manufactured_on: dt.date | None
    expires_on: dt.date | None
    serials: list[str]
    serial_count: int
    #: The printed form and Digital Link of the first serial's UDI (None without a GTIN or
    #: while an element is missing or invalid).
    hri: str | None = None
    digital_link: str | None = None
    #: Why the UDI cannot be encoded in GS1 (an AI's characters or length, a check digit).
    problem: str | None = None


@dataclass
class DeviceHistory:
    lot: InternalLot
    release: FinishedLotRelease
    work_order: WorkOrder
    #: Upstream nodes of the backward trace (the lot itself left out), with their evidence.
    upstream: list[dict[str, Any]]
    processes: list[RequiredProcessView]
    udi: UdiView
    blockers: list[Blocker] = field(default_factory=list)

    @property
    def releasable(self) -> bool:
        return not self.blockers


def criterion(limit: dict[str, Any]) -> str:
    unit = f" {limit['unit']}" if limit.get("unit") else ""
    lower, upper = limit.get("lower"), limit.get("upper")
    if lower is not None and upper is not None:
        return f"{lower} – {upper}{unit}"
    if lower is not None:
        return f"≥ {lower}{unit}"
    if upper is not None:
        return f"≤ {upper}{unit}"
    return f"pass{unit}"


def judge_against(limit: dict[str, Any], value: ProcessRunValue | None) -> JudgedValue:
    """A run's value against one of our limits (COA-05). The contractor's own limits play no
    part. A limit without bounds asks for a passing text value (a BI ``negative``)."""
    name = str(limit["name"])
    if value is None:
        return JudgedValue(name, None, limit.get("unit"), criterion(limit), "missing")
    lower = _decimal(limit.get("lower"))
    upper = _decimal(limit.get("upper"))
    if lower is None and upper is None:
        verdict = "pass" if value.verdict == "pass" else "fail"
    elif value.value_numeric is None or (limit.get("unit") and value.unit != limit["unit"]):
        verdict = "fail"
    else:
        number = value.value_numeric
        inside = (lower is None or number >= lower) and (upper is None or number <= upper)
        verdict = "pass" if inside else "fail"
    return JudgedValue(name, value.value_text, value.unit, criterion(limit), verdict)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def upstream_blockers(lot_number: str, upstream: list[dict[str, Any]]) -> list[Blocker]:
    """What upstream of a lot blocks its release: the one place this is judged (QMS-10)."""
    blockers: list[Blocker] = []
    for node in upstream:
        status = str(node.get("status") or "")
        if node["kind"] == "internal_lot" and status in BLOCKING_INTERNAL:
            blockers.append(
                Blocker(
                    "upstream",
                    "QMS-10",
                    node["identifier"],
                    UPSTREAM_INTERNAL,
                    {
                        "lot": lot_number,
                        "record": node["identifier"],
                        "status": status.replace("_", " "),
                    },
                )
            )
        elif node["kind"] == "supplier_lot" and status in BLOCKING_SUPPLIER:
            blockers.append(
                Blocker(
                    "upstream",
                    "QMS-10",
                    node["identifier"],
                    UPSTREAM_SUPPLIER,
                    {
                        "lot": lot_number,
                        "record": node["identifier"],
                        "supplier": str(node.get("supplier") or ""),
                        "status": status,
                    },
                )
            )
    return blockers


def _upstream(trace: TraceResult, root: int) -> list[dict[str, Any]]:
    """The nodes the root's backward trace reaches (the root left out), nearest first."""
    following = trace.next_of()
    seen = {root}
    order: list[int] = []
    frontier = [root]
    while frontier:
        nxt: list[int] = []
        for node_id in frontier:
            for _, far in following.get(node_id, []):
                if far not in seen:
                    seen.add(far)
                    order.append(far)
                    nxt.append(far)
        frontier = nxt
    return [trace.nodes[i].as_dict() for i in order]


async def device_history(services: Services, actor: Actor, lot: InternalLot) -> DeviceHistory:
    """The lot's device history record as the release page shows it, with its blockers."""
    session = services.session
    release = await session.scalar(
        select(FinishedLotRelease).where(FinishedLotRelease.lot_id == lot.id)
    )
    assert release is not None
    order = await session.get(WorkOrder, release.work_order_id)
    assert order is not None
    trace = await services.trace.backward(actor, lot.lot_number)
    root = next(
        node.id
        for node in trace.nodes.values()
        if node.kind == "internal_lot" and node.details.get("record", {}).get("id") == lot.id
    )
    upstream = _upstream(trace, root)
    processes = await _required_processes(services, lot)
    serials = list(
        await session.scalars(
            select(Serial.serial).where(Serial.lot_id == lot.id).order_by(Serial.serial)
        )
    )
    udi = _udi(lot, order, serials)
    history = DeviceHistory(lot, release, order, upstream, processes, udi)
    history.blockers = _blockers(history) + await _held_upstream(services, lot)
    return history


async def _held_upstream(services: Services, lot: InternalLot) -> list[Blocker]:
    """Supplier lots upstream that QA or a recall holds: the material gate's own walk
    (``MaterialGate.held_upstream``), so a hold stops a release as it stops every movement."""
    held = (await services.gate.held_upstream([lot.id])).get(lot.id, [])
    return [
        Blocker(
            "upstream",
            "QMS-10",
            source.lot_number,
            UPSTREAM_RECALLED if source.recall else UPSTREAM_HELD,
            {
                "lot": lot.lot_number,
                "record": source.lot_number,
                "hold": source.hold,
                "recall": source.recall or "",
            },
        )
        for source in held
    ]


async def release_blockers(services: Services, actor: Actor, lot: InternalLot) -> list[Blocker]:
    """Why ``lot`` cannot be released now; empty when it can (the one rule, QMS-10)."""
    return (await device_history(services, actor, lot)).blockers


async def _required_processes(services: Services, lot: InternalLot) -> list[RequiredProcessView]:
    session = services.session
    required = list(
        await session.scalars(
            select(PartRequiredProcess)
            .where(PartRequiredProcess.part_id == lot.part_id)
            .order_by(PartRequiredProcess.id)
        )
    )
    if not required:
        return []
    # Runs the lot came out of: returned as itself or made by the run.
    runs = list(
        (
            await session.scalars(
                select(ProcessRun)
                .where(
                    ProcessRun.id.in_(
                        select(ProcessRunLot.run_id).where(
                            ProcessRunLot.lot_id == lot.id, ProcessRunLot.role == "output"
                        )
                    ),
                    ProcessRun.status != "voided",
                )
                .order_by(ProcessRun.id)
            )
        ).unique()
    )
    views: list[RequiredProcessView] = []
    for requirement in required:
        judged: list[RunView] = []
        for run in (r for r in runs if r.process_kind == requirement.process_kind):
            by_name = {v.name.lower(): v for v in run.values}
            values = [
                judge_against(limit, by_name.get(str(limit["name"]).lower()))
                for limit in requirement.limits
            ]
            lapsed = run.approval.validation_lapsed(run.ended_on)
            judged.append(RunView(run, values, lapsed))
        satisfied = any(
            view.run.status == "accepted"
            and not view.validation_lapsed
            and all(v.verdict == "pass" for v in view.values)
            for view in judged
        )
        views.append(RequiredProcessView(requirement, judged, satisfied))
    return views


def _udi(lot: InternalLot, order: WorkOrder, serials: list[str]) -> UdiView:
    gtin = lot.part.gtin
    hri = link = problem = None
    if gtin and order.manufactured_on and order.expires_on and serials:
        lot_elements = [
            Element("01", gtin),
            Element("11", order.manufactured_on.strftime("%y%m%d")),
            Element("17", order.expires_on.strftime("%y%m%d")),
            Element("10", lot.lot_number),
        ]
        try:
            # Every serial must encode as AI (21), not only the one shown.
            for serial in serials:
                _validate([*lot_elements, Element("21", serial)])
            first = [*lot_elements, Element("21", serials[0])]
            hri, link = to_hri(first), digital_link_for(first)
        except Gs1Error as exc:
            problem = str(exc)
    return UdiView(
        gtin,
        lot.lot_number,
        order.manufactured_on,
        order.expires_on,
        serials[:20],
        len(serials),
        hri,
        link,
        problem,
    )


def _validate(elements: list[Element]) -> None:
    today = dt.datetime.now(dt.UTC).date()
    validate_elements([LocatedElement(e, None) for e in elements], today)


def _blockers(history: DeviceHistory) -> list[Blocker]:
    lot = history.lot
    number = lot.lot_number
    blockers: list[Blocker] = []
    if lot.status != "quarantine":
        blockers.append(
            Blocker(
                "status",
                "QMS-10",
                number,
                LOT_NOT_IN_QUARANTINE,
                {"lot": number, "status": lot.status.replace("_", " ")},
            )
        )
    blockers += upstream_blockers(number, history.upstream)
    for view in history.processes:
        process = view.requirement.label
        if view.satisfied:
            continue
        accepted = [r for r in view.runs if r.run.status == "accepted"]
        if not view.runs:
            blockers.append(
                Blocker(
                    "required_processes",
                    "COA-05",
                    number,
                    PROCESS_MISSING,
                    {"lot": number, "process": process},
                )
            )
        elif not accepted:
            latest = view.runs[-1].run
            blockers.append(
                Blocker(
                    "required_processes",
                    "COA-05",
                    latest.run_number,
                    PROCESS_NOT_ACCEPTED,
                    {
                        "lot": number,
                        "process": process,
                        "record": latest.run_number,
                        "status": latest.status,
                    },
                )
            )
        for run_view in accepted:
            run = run_view.run
            if run_view.validation_lapsed:
                assert run.approval.revalidation_due is not None
                blockers.append(
                    Blocker(
                        "required_processes",
                        "QMS-09",
                        run.run_number,
                        VALIDATION_LAPSED,
                        {
                            "record": run.run_number,
                            "ended": run.ended_on.isoformat(),
                            "contractor": run.organization.name,
                            "process": process,
                            "due": run.approval.revalidation_due.isoformat(),
                        },
                    )
                )
            for value in run_view.values:
                if value.verdict == "missing":
                    blockers.append(
                        Blocker(
                            "required_processes",
                            "COA-05",
                            run.run_number,
                            VALUE_MISSING,
                            {"record": run.run_number, "value": value.name, "process": process},
                        )
                    )
                elif value.verdict == "fail":
                    measured = f"{value.value} {value.unit}" if value.unit else str(value.value)
                    blockers.append(
                        Blocker(
                            "required_processes",
                            "COA-05",
                            run.run_number,
                            VALUE_OUTSIDE,
                            {
                                "record": run.run_number,
                                "value": value.name,
                                "measured": measured,
                                "criterion": value.criterion,
                                "process": process,
                            },
                        )
                    )
    udi = history.udi
    if udi.gtin:
        params = {"lot": number, "part": lot.part.number, "gtin": udi.gtin}
        if udi.manufactured_on is None:
            blockers.append(Blocker("udi", "QMS-16", number, UDI_MANUFACTURED, params))
        if udi.expires_on is None:
            blockers.append(Blocker("udi", "QMS-16", number, UDI_EXPIRY, params))
        if not udi.serial_count:
            blockers.append(Blocker("udi", "QMS-16", number, UDI_SERIALS, params))
        if udi.problem:
            params = {"lot": number, "problem": udi.problem}
            blockers.append(Blocker("udi", "QMS-16", number, UDI_INVALID, params))
    return blockers


def blocker_errors(blockers: list[Blocker]) -> dict[str, str]:
    """The blockers as a ``ValidationFailed``'s fields: one message per field, joined."""
    errors: dict[str, list[str]] = {}
    for blocker in blockers:
        errors.setdefault(blocker.field, []).append(blocker.message)
    return {key: " ".join(messages) for key, messages in errors.items()}
