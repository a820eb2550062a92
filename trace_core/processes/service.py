"""Outsourced process runs: the contractor records and signs a run over lots of ours, the run is
posted to the genealogy at that signature, and our QA accepts or rejects it with its own.

States: draft → submitted (the contractor's signature posts it) → accepted | rejected; a draft
can be voided. Machine clients create drafts only: they cannot sign (DI-01), so a person of the
contractor signs on the portal. Every step is a record version with its audit event.

QMS-07: a run is refused — before anything is written — unless the contractor holds an active
``ProcessApproval`` for that kind of process covering the run's dates; the check is made again
at signing, because an approval can be suspended while a draft waits.

QMS-08: posting writes ``process`` edges from every input lot to every new output lot it came
from. A lot returned as itself gets no edge (it would be a self-loop); the run is evidence of
that lot instead (``evidence.process_evidence``), so the trace shows it on the lot's node.
A run can never close a cycle: an output is either an input lot returned as itself or a lot
number that does not exist yet, and a new lot has no edges leaving it.
"""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.attachments.models import Document
from trace_core.dates import parse_date
from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.gates import Movement
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.identity.service import SigningCredentials
from trace_core.inventory.models import InternalLot
from trace_core.processes.models import (
    APPROVAL_STATUSES,
    PROCESS_KINDS,
    ProcessApproval,
    ProcessRun,
    ProcessRunLot,
    ProcessRunValue,
)
from trace_core.quantities import looks_like_a_number, parse_decimal, parse_quantity
from trace_core.records.models import RecordVersion
from trace_core.records.service import SignatureView
from trace_core.records.signing import (
    SUBMITTED_AS_ACCURATE,
    SigningFlow,
    require_signing_person,
    submitted_as_accurate,
)
from trace_core.trace.models import TraceEdge, node_id

if TYPE_CHECKING:
    from trace_core.services import Services

RUN_RECORD = "process_run"
APPROVAL_RECORD = "process_approval"

#: Legal transitions; anything else is refused with 409 and changes nothing (P11-08).
TRANSITIONS = {
    ("draft", "sign"): "submitted",
    ("draft", "void"): "voided",
    ("submitted", "accept"): "accepted",
    ("submitted", "reject"): "rejected",
}
#: What a refused step is called in its message.
PAST = {"sign": "signed", "accept": "accepted", "reject": "rejected", "void": "voided"}
MAX_VALUES = 100
MAX_LOTS = 200


@dataclass(frozen=True)
class MeasuredValue:
    """A parameter or result as the contractor writes it; limits are the ones it declares
    (e.g. dose 25–40 kGy), optional."""

    name: str
    value: str
    unit: str | None = None
    lower: str | None = None
    upper: str | None = None


@dataclass(frozen=True)
class LotLine:
    lot_number: str
    quantity: str
    unit: str | None = None
    #: For a new output lot: the input lot numbers it came from (default: every input lot).
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSubmission:
    process_kind: str
    run_number: str
    cycle_id: str | None
    started_on: str | dt.date
    ended_on: str | dt.date
    certificate_document_id: int | None
    parameters: list[MeasuredValue] = field(default_factory=list)
    results: list[MeasuredValue] = field(default_factory=list)
    inputs: list[LotLine] = field(default_factory=list)
    outputs: list[LotLine] = field(default_factory=list)


@dataclass(frozen=True)
class ApprovalInput:
    organization_id: int
    process_kind: str
    agreement_reference: str
    scope: str
    valid_from: str | dt.date
    valid_until: str | dt.date | None
    #: When the contractor's process validation must be repeated (QMS-09); none: no date.
    revalidation_due: str | dt.date | None = None
    #: The validated cycle's parameters with their limits: the contractor's grid starts from
    #: them and may not declare looser ones.
    validated_cycle: list[MeasuredValue] = field(default_factory=list)


@dataclass
class RunDetail:
    run: ProcessRun
    signatures: list[SignatureView]
    versions: list[RecordVersion]

    @property
    def contractor_signed(self) -> bool:
        return submitted_as_accurate(self.signatures)


@dataclass(frozen=True)
class _Value:
    name: str
    text: str
    numeric: Decimal | None
    unit: str | None
    lower: Decimal | None
    upper: Decimal | None
    verdict: str
    our_lower: Decimal | None = None
    our_upper: Decimal | None = None


@dataclass(frozen=True)
class _Output:
    lot_number: str
    quantity: Decimal
    unit: str
    same_identity: bool
    sources: tuple[str, ...]


def _process_kind(value: str, errors: dict[str, str]) -> str:
    """The process kind as given, trimmed; an error under ``process_kind`` if it is not one we
    contract out."""
    kind = value.strip()
    if kind not in PROCESS_KINDS:
        errors["process_kind"] = (
            f"'{kind}' is not a process we contract out; use one of: " + ", ".join(PROCESS_KINDS)
        )
    return kind


def _decimal(text: str | None) -> Decimal | None:
    """A limit or measured value by the one number rule (``trace_core/quantities.py``), or None
    when nothing was given; ValueError with the rule's message otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    return parse_decimal(text)


def _values(
    items: builtins.list[MeasuredValue], what: str, errors: dict[str, str]
) -> builtins.list[_Value]:
    """Check parameters or results; each problem is reported under ``what.<name>``."""
    if not items:
        errors[what] = f"Give at least one {what[:-1]} (name, value and unit)."
        return []
    if len(items) > MAX_VALUES:
        errors[what] = f"At most {MAX_VALUES} {what} per run."
        return []
    seen: set[str] = set()
    checked: builtins.list[_Value] = []
    for index, item in enumerate(items):
        name = item.name.strip()
        key = f"{what}.{name or index}"
        value = item.value.strip()
        unit = (item.unit or "").strip() or None
        if not name:
            errors[key] = f"Each of the {what} needs a name."
            continue
        if len(name) > 80:
            errors[key] = f"The name '{name[:20]}…' is longer than 80 characters."
            continue
        if name.lower() in seen:
            errors[key] = f"'{name}' is given more than once."
            continue
        seen.add(name.lower())
        if not value:
            errors[key] = f"{name}: the value is missing."
            continue
        if len(value) > 200 or (unit and len(unit) > 20):
            errors[key] = f"{name}: the value (200) or unit (20 characters) is too long."
            continue
        try:
            lower, upper = _decimal(item.lower), _decimal(item.upper)
        except ValueError as exc:
            errors[key] = f"{name}: a limit is not valid: {exc}."
            continue
        if lower is not None and upper is not None and lower > upper:
            errors[key] = f"{name}: the lower limit {lower} is above the upper limit {upper}."
            continue
        try:
            numeric = _decimal(value)
        except ValueError as exc:
            if looks_like_a_number(value):
                # ``30,5`` is a number written against the rule, not a text result: refused,
                # never guessed (1,300 is 1.3 to some and 1300 to others).
                errors[key] = f"{name}: {exc}"
                continue
            numeric = None
        if numeric is None and (lower is not None or upper is not None):
            errors[key] = f"{name}: '{value}' is not a number, but limits were given for it."
            continue
        if numeric is not None and not unit:
            errors[key] = f"{name}: a measured value needs its unit (e.g. kGy, °C, min)."
            continue
        verdict = "report"
        if numeric is not None and (lower is not None or upper is not None):
            inside = (lower is None or numeric >= lower) and (upper is None or numeric <= upper)
            verdict = "pass" if inside else "fail"
        elif value.lower() in ("pass", "passed", "negative", "no growth", "conforms"):
            verdict = "pass"
        elif value.lower() in ("fail", "failed", "positive", "growth"):
            verdict = "fail"
        checked.append(_Value(name, value, numeric, unit, lower, upper, verdict))
    return checked


def _validated_cycle(
    items: builtins.list[MeasuredValue], errors: dict[str, str]
) -> builtins.list[dict[str, Any]]:
    """The validated cycle of an approval as stored: name, unit, lower and upper limits."""
    cycle: builtins.list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = item.name.strip()
        key = f"validated_cycle.{name or index}"
        if not name:
            errors[key] = "Each parameter of the validated cycle needs a name."
            continue
        if name.lower() in seen:
            errors[key] = "A parameter of the validated cycle is given twice."
            continue
        seen.add(name.lower())
        try:
            lower, upper = _decimal(item.lower), _decimal(item.upper)
        except ValueError:
            errors[key] = "A limit of the validated cycle is not a number."
            continue
        if lower is None and upper is None:
            errors[key] = "A parameter of the validated cycle needs a lower or an upper limit."
            continue
        if lower is not None and upper is not None and lower > upper:
            errors[key] = "The lower limit is above the upper limit."
            continue
        cycle.append(
            {
                "name": name,
                "unit": (item.unit or "").strip() or None,
                "lower": None if lower is None else str(lower),
                "upper": None if upper is None else str(upper),
            }
        )
    return cycle


def _within_validated_cycle(
    parameters: builtins.list[_Value],
    cycle: builtins.list[dict[str, Any]],
    errors: dict[str, str],
) -> builtins.list[_Value]:
    """The contractor's parameters against the approval's validated cycle (QMS-09): every
    validated parameter is reported, a limit left empty takes the validated one, and a looser
    limit (a lower minimum, a higher maximum) is refused."""
    by_name = {p.name.lower(): p for p in parameters}
    checked = {p.name.lower(): p for p in parameters}
    for limit in cycle:
        name = str(limit["name"])
        key = f"parameters.{name}"
        if key in errors:
            continue  # the value itself is wrong already: that is the message to read
        found = by_name.get(name.lower())
        lower = None if limit.get("lower") is None else Decimal(limit["lower"])
        upper = None if limit.get("upper") is None else Decimal(limit["upper"])
        if found is None:
            errors[key] = f"{name} is a parameter of the validated cycle; report it with its value."
            continue
        if lower is not None and found.lower is not None and found.lower < lower:
            errors[key] = (
                f"{name}: the lower limit {found.lower} is below the validated cycle's "
                f"{lower}; a run cannot loosen the validated cycle."
            )
            continue
        if upper is not None and found.upper is not None and found.upper > upper:
            errors[key] = (
                f"{name}: the upper limit {found.upper} is above the validated cycle's "
                f"{upper}; a run cannot loosen the validated cycle."
            )
            continue
        new_lower = found.lower if found.lower is not None else lower
        new_upper = found.upper if found.upper is not None else upper
        verdict = found.verdict
        if found.numeric is not None:
            inside = (new_lower is None or found.numeric >= new_lower) and (
                new_upper is None or found.numeric <= new_upper
            )
            verdict = "pass" if inside else "fail"
        checked[name.lower()] = replace(found, lower=new_lower, upper=new_upper, verdict=verdict)
    return [checked[p.name.lower()] for p in parameters]


def _judged_by_us(value: _Value, ours: dict[str, Any]) -> _Value:
    """The value's verdict against our limit of that name, if we have one (COA-05)."""
    limit = ours.get(value.name.lower())
    if limit is None:
        return value
    lower = None if limit.get("lower") is None else Decimal(limit["lower"])
    upper = None if limit.get("upper") is None else Decimal(limit["upper"])
    if lower is None and upper is None:
        return value
    if value.numeric is None or (limit.get("unit") and value.unit != limit["unit"]):
        verdict = "fail"
    else:
        inside = (lower is None or value.numeric >= lower) and (
            upper is None or value.numeric <= upper
        )
        verdict = "pass" if inside else "fail"
    return replace(value, our_lower=lower, our_upper=upper, verdict=verdict)


def _value_content(value: ProcessRunValue) -> dict[str, Any]:
    return {
        "code": value.name,
        "value": value.value_text,
        "unit": value.unit,
        "lower_limit": value.lower_limit,
        "upper_limit": value.upper_limit,
        "our_lower_limit": value.our_lower_limit,
        "our_upper_limit": value.our_upper_limit,
        "verdict": value.verdict,
    }


def run_content(run: ProcessRun) -> dict[str, Any]:
    """The data of a run version: everything the contractor declared and our verdicts."""
    certificate = run.certificate
    return {
        "organization_id": run.organization_id,
        "contractor": run.organization.name,
        "process_kind": run.process_kind,
        "approval": {
            "id": run.approval_id,
            "agreement_reference": run.approval.agreement_reference,
        },
        "run_number": run.run_number,
        "cycle_id": run.cycle_id,
        "started_on": run.started_on,
        "ended_on": run.ended_on,
        "certificate_document": (
            {"id": certificate.id, "sha256": certificate.sha256} if certificate else None
        ),
        "verdict": run.verdict,
        "parameters": [_value_content(v) for v in run.parameters],
        "results": [_value_content(v) for v in run.results],
        "inputs": [
            {"lot_number": lot.lot_number, "quantity": lot.quantity, "unit": lot.unit}
            for lot in run.inputs
        ],
        "outputs": [
            {
                "lot_number": lot.lot_number,
                "quantity": lot.quantity,
                "unit": lot.unit,
                "same_identity": lot.same_identity,
                "from": [s for s in lot.sources.split(",") if s],
            }
            for lot in run.outputs
        ],
    }


def approval_content(approval: ProcessApproval) -> dict[str, Any]:
    return {
        "organization_id": approval.organization_id,
        "organization": approval.organization.name,
        "process_kind": approval.process_kind,
        "agreement_reference": approval.agreement_reference,
        "scope": approval.scope,
        "valid_from": approval.valid_from,
        "valid_until": approval.valid_until,
        "revalidation_due": approval.revalidation_due,
        "validated_cycle": approval.validated_cycle,
    }


def _require_supplier_quality(actor: Actor) -> None:
    """Approving processes and changing an approval is our supplier quality team's."""
    actor.require("suppliers.approve")
    if not actor.is_internal:
        raise PermissionDenied("Only our own supplier quality team approves processes.")


def _check_seen(approval: ProcessApproval, expected_version: int) -> None:
    """Refuse a change made on a stale page: the approval changed since it was read."""
    if approval.version != expected_version:
        raise Conflict(
            f"The approval changed while you were looking at it (now version "
            f"{approval.version}, you saw {expected_version}); look again."
        )


class ProcessService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper
        self.flow = SigningFlow(services, RUN_RECORD, "run", TRANSITIONS, PAST, run_content)

    # -- approvals (QMS-07) -------------------------------------------------------------------

    async def approvals(self, actor: Actor) -> builtins.list[ProcessApproval]:
        """Approvals the actor may see: all for our people, its own for a contractor."""
        actor.require("parts.read")
        query = select(ProcessApproval).order_by(ProcessApproval.id.desc())
        query = actor.visible(query, ProcessApproval.organization_id)
        return list((await self.session.scalars(query)).unique())

    async def approvable_organizations(self, actor: Actor) -> builtins.list[Organization]:
        """External organizations an approval can be recorded for (our people only)."""
        actor.require("parts.read")
        if not actor.is_internal:
            return []
        return list(
            await self.session.scalars(
                select(Organization)
                .where(Organization.kind != "internal")
                .order_by(Organization.name)
            )
        )

    async def approval(self, actor: Actor, approval_id: int) -> ProcessApproval:
        query = select(ProcessApproval).where(ProcessApproval.id == approval_id)
        query = actor.visible(query, ProcessApproval.organization_id)
        found = await self.session.scalar(query)
        if found is None:
            raise NotFound("No such process approval.")
        return found

    async def approve_process(self, actor: Actor, data: ApprovalInput) -> ProcessApproval:
        """Record that an organization may perform a kind of process for us (a quality
        agreement in force). Buyers and QA approvers only."""
        _require_supplier_quality(actor)
        errors: dict[str, str] = {}
        organization = await self.session.get(Organization, data.organization_id)
        if organization is None:
            errors["organization_id"] = "No such organization."
        elif organization.is_internal:
            errors["organization_id"] = "Our own company needs no approval for a process."
        kind = _process_kind(data.process_kind, errors)
        reference = data.agreement_reference.strip()
        if not reference:
            errors["agreement_reference"] = "Name the quality agreement (its document number)."
        elif len(reference) > 80:
            errors["agreement_reference"] = "The reference is longer than 80 characters."
        valid_from = parse_date(data.valid_from, "valid_from", errors)
        valid_until = None
        if data.valid_until not in (None, ""):
            valid_until = parse_date(data.valid_until, "valid_until", errors)
        if valid_from and valid_until and valid_until < valid_from:
            errors["valid_until"] = "The approval cannot end before it starts."
        revalidation_due = None
        if data.revalidation_due not in (None, ""):
            revalidation_due = parse_date(data.revalidation_due, "revalidation_due", errors)
        if valid_from and revalidation_due and revalidation_due < valid_from:
            errors["revalidation_due"] = (
                "The revalidation cannot fall due before the approval starts."
            )
        cycle = _validated_cycle(data.validated_cycle, errors)
        if errors:
            raise ValidationFailed(errors)
        assert organization is not None and valid_from is not None
        approval = ProcessApproval(
            organization_id=organization.id,
            organization=organization,
            process_kind=kind,
            agreement_reference=reference,
            scope=data.scope.strip(),
            valid_from=valid_from,
            valid_until=valid_until,
            revalidation_due=revalidation_due,
            validated_cycle=cycle,
            status="active",
            version=1,
        )
        self.session.add(approval)
        await self.session.flush()
        await self.keeper.write_version(
            APPROVAL_RECORD,
            approval.id,
            status="active",
            action="create",
            data=approval_content(approval),
        )
        await self.keeper.commit()
        return approval

    async def set_approval_status(
        self, actor: Actor, approval_id: int, status: str, reason: str, expected_version: int
    ) -> ProcessApproval:
        """Suspend, withdraw or reinstate an approval, with a reason (a new version)."""
        _require_supplier_quality(actor)
        approval = await self.approval(actor, approval_id)
        errors: dict[str, str] = {}
        if status not in APPROVAL_STATUSES:
            errors["status"] = "Choose active, suspended or withdrawn."
        if not reason.strip():
            errors["reason"] = "Say why the approval changes."
        if errors:
            raise ValidationFailed(errors)
        _check_seen(approval, expected_version)
        if approval.status == "withdrawn":
            raise Conflict("A withdrawn approval stays withdrawn; record a new one.")
        if approval.status == status:
            raise Conflict(f"The approval is already {status}.")
        approval.status = status
        row = await self.keeper.write_version(
            APPROVAL_RECORD,
            approval.id,
            status=status,
            action="status",
            data=approval_content(approval),
            reason=reason.strip(),
        )
        approval.version = row.version
        await self.keeper.commit()
        return approval

    async def set_revalidation_due(
        self,
        actor: Actor,
        approval_id: int,
        due: str | dt.date | None,
        reason: str,
        expected_version: int,
    ) -> ProcessApproval:
        """Record the date the contractor's process validation falls due (QMS-09): after a
        revalidation, a later date; on learning it lapsed, the real one. A new version with
        a reason. Runs that ended after the date then block the release of their lots."""
        _require_supplier_quality(actor)
        approval = await self.approval(actor, approval_id)
        errors: dict[str, str] = {}
        day = None
        if due not in (None, ""):
            day = parse_date(due, "revalidation_due", errors)
        if not reason.strip():
            errors["reason"] = "Say why the revalidation date changes."
        if errors:
            raise ValidationFailed(errors)
        _check_seen(approval, expected_version)
        approval.revalidation_due = day
        row = await self.keeper.write_version(
            APPROVAL_RECORD,
            approval.id,
            status=approval.status,
            action="revise",
            data=approval_content(approval),
            reason=reason.strip(),
        )
        approval.version = row.version
        await self.keeper.commit()
        return approval

    async def _approval_for(
        self, organization_id: int, kind: str, started: dt.date, ended: dt.date
    ) -> ProcessApproval:
        """The active approval covering the whole run, or a refusal that says exactly why."""
        organization = await self.session.get(Organization, organization_id)
        name = organization.name if organization else "Your organization"
        approvals = list(
            (
                await self.session.scalars(
                    select(ProcessApproval)
                    .where(
                        ProcessApproval.organization_id == organization_id,
                        ProcessApproval.process_kind == kind,
                    )
                    .order_by(ProcessApproval.valid_from.desc(), ProcessApproval.id.desc())
                )
            ).unique()
        )
        today = utc_now().date()
        for approval in approvals:
            if approval.status == "active" and approval.covers(started) and approval.covers(ended):
                if approval.validation_lapsed(today) or approval.validation_lapsed(ended):
                    assert approval.revalidation_due is not None
                    raise ValidationFailed(
                        {
                            "process_kind": (
                                f"{name}'s process validation for {kind} under "
                                f"{approval.agreement_reference} lapsed on "
                                f"{approval.revalidation_due.isoformat()}; {kind} runs are "
                                "refused until the process is revalidated and our supplier "
                                "quality team records the new date (QMS-09)."
                            )
                        }
                    )
                return approval
        if not approvals:
            problem = (
                f"{name} has no approval (quality agreement) for {kind} with us, so we cannot "
                f"accept {kind} runs from you (QMS-07). Ask our supplier quality team."
            )
        elif not any(a.status == "active" for a in approvals):
            latest = approvals[0]
            problem = (
                f"{name}'s approval for {kind} ({latest.agreement_reference}) is "
                f"{latest.status}; {kind} runs are refused until it is active again (QMS-07)."
            )
        else:
            latest = next(a for a in approvals if a.status == "active")
            until = latest.valid_until.isoformat() if latest.valid_until else "open end"
            problem = (
                f"{name}'s approval for {kind} ({latest.agreement_reference}) is valid from "
                f"{latest.valid_from.isoformat()} to {until}; a run from {started.isoformat()} "
                f"to {ended.isoformat()} is outside it (QMS-07)."
            )
        raise ValidationFailed({"process_kind": problem})

    # -- runs ---------------------------------------------------------------------------------

    async def submit(self, actor: Actor, submission: RunSubmission) -> ProcessRun:
        """Validate and record a run as a draft. Every problem is reported at once, per field;
        nothing is written unless all of it is valid and the contractor is approved."""
        actor.require("lots.submit")
        if actor.is_internal or actor.organization_id is None:
            raise PermissionDenied("Only the contractor's people and systems submit runs.")
        organization_id = actor.organization_id
        errors: dict[str, str] = {}
        kind = _process_kind(submission.process_kind, errors)
        run_number = submission.run_number.strip()
        if not run_number:
            errors["run_number"] = "The run (load) number is required."
        elif len(run_number) > 80:
            errors["run_number"] = "The run number is longer than 80 characters."
        elif await self.session.scalar(
            select(ProcessRun.id).where(
                ProcessRun.organization_id == organization_id,
                ProcessRun.run_number == run_number,
            )
        ):
            errors["run_number"] = f"Run {run_number} was already submitted."
        cycle_id = (submission.cycle_id or "").strip() or None
        if cycle_id and len(cycle_id) > 80:
            errors["cycle_id"] = "The cycle id is longer than 80 characters."
        started = parse_date(submission.started_on, "started_on", errors)
        ended = parse_date(submission.ended_on, "ended_on", errors)
        if started and ended and ended < started:
            errors["ended_on"] = "The run cannot end before it started."
        if ended and ended > utc_now().date():
            errors["ended_on"] = "The run's end date is in the future."
        certificate: Document | None = None
        if submission.certificate_document_id is not None:
            try:
                certificate = await self.s.attachments.get(
                    actor, submission.certificate_document_id
                )
            except NotFound:
                errors["certificate"] = "The release certificate document was not found."
        parameters = _values(submission.parameters, "parameters", errors)
        results = _values(submission.results, "results", errors)
        inputs = await self._inputs(submission.inputs, errors)
        outputs = await self._outputs(submission.outputs, inputs, errors)
        # QMS-07 is checked last, so that the contractor also sees every other problem, and
        # only on dates that parsed; either way nothing is written.
        approval = None
        if kind in PROCESS_KINDS and started and ended and "ended_on" not in errors:
            try:
                approval = await self._approval_for(organization_id, kind, started, ended)
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if approval is not None:
            parameters = _within_validated_cycle(parameters, approval.validated_cycle, errors)
        if errors:
            raise ValidationFailed(errors)
        assert approval is not None and started is not None and ended is not None
        # COA-05: where the parts of the lots in the run require this process, their values
        # are judged against our limits, whatever the contractor declared.
        ours = await self.s.release.required_limits(
            {lot.part_id for lot, _ in inputs.values()}, kind
        )
        parameters = [_judged_by_us(v, ours) for v in parameters]
        results = [_judged_by_us(v, ours) for v in results]
        verdict = (
            "nonconforming"
            if any(v.verdict == "fail" for v in (*parameters, *results))
            else "conforming"
        )
        run = ProcessRun(
            organization_id=organization_id,
            approval_id=approval.id,
            approval=approval,
            process_kind=kind,
            run_number=run_number,
            cycle_id=cycle_id,
            started_on=started,
            ended_on=ended,
            certificate_document_id=certificate.id if certificate else None,
            certificate=certificate,
            status="draft",
            verdict=verdict,
            version=1,
            created_by_kind=actor.kind,
            created_by_id=actor.id,
            organization=await self.session.get(Organization, organization_id),
        )
        self.session.add(run)
        await self.session.flush()
        for position, (value_kind, value) in enumerate(
            [("parameter", v) for v in parameters] + [("result", v) for v in results]
        ):
            self.session.add(
                ProcessRunValue(
                    run_id=run.id,
                    kind=value_kind,
                    position=position,
                    name=value.name,
                    value_text=value.text,
                    value_numeric=value.numeric,
                    unit=value.unit,
                    lower_limit=value.lower,
                    upper_limit=value.upper,
                    our_lower_limit=value.our_lower,
                    our_upper_limit=value.our_upper,
                    verdict=value.verdict,
                )
            )
        position = 0
        for lot, quantity in inputs.values():
            self.session.add(
                ProcessRunLot(
                    run_id=run.id,
                    role="input",
                    position=position,
                    lot_number=lot.lot_number,
                    lot_id=lot.id,
                    quantity=quantity,
                    unit=lot.unit,
                    same_identity=False,
                    sources="",
                )
            )
            position += 1
        for output in outputs:
            self.session.add(
                ProcessRunLot(
                    run_id=run.id,
                    role="output",
                    position=position,
                    lot_number=output.lot_number,
                    lot_id=inputs[output.lot_number][0].id if output.same_identity else None,
                    quantity=output.quantity,
                    unit=output.unit,
                    same_identity=output.same_identity,
                    sources=",".join(output.sources),
                )
            )
            position += 1
        await self.session.flush()
        await self.session.refresh(run, ["values", "lots"])
        await self.keeper.write_version(
            RUN_RECORD, run.id, status="draft", action="create", data=run_content(run)
        )
        await self.keeper.commit()
        return run

    async def _inputs(
        self, lines: builtins.list[LotLine], errors: dict[str, str]
    ) -> dict[str, tuple[InternalLot, Decimal]]:
        """Our lots that went out, by lot number. The same answer for a lot that does not exist
        as for any other problem with it would hide nothing useful: the contractor has the
        lot numbers from our shipping papers."""
        found: dict[str, tuple[InternalLot, Decimal]] = {}
        if not lines:
            errors["inputs"] = "Name at least one of our lots that went into the run."
            return found
        if len(lines) > MAX_LOTS:
            errors["inputs"] = f"At most {MAX_LOTS} input lots per run."
            return found
        for index, line in enumerate(lines):
            number = line.lot_number.strip()
            key = f"inputs.{number or index}"
            if not number:
                errors[key] = "Each input lot needs its lot number."
                continue
            if number in found:
                errors[key] = f"Lot {number} is listed twice as an input."
                continue
            lot = await self.session.scalar(
                select(InternalLot).where(InternalLot.lot_number == number)
            )
            if lot is None:
                errors[key] = (
                    f"We have no lot {number}; give the lot number exactly as on our "
                    "shipping papers."
                )
                continue
            refused = await self.s.gate.refusals(
                Movement.PROCESS_OUT, internal_lots=[(key, lot)], external=True
            )
            if refused:
                errors[key] = refused[0].message
                continue
            try:
                quantity = parse_quantity(line.quantity)
            except ValueError as exc:
                errors[key] = f"Lot {number}: {exc}"
                continue
            unit = (line.unit or "").strip()
            if unit and unit != lot.unit:
                errors[key] = f"Lot {number} is counted in {lot.unit}, not {unit}."
                continue
            if quantity > lot.quantity:
                errors[key] = f"Lot {number} holds {lot.quantity} {lot.unit}, less than {quantity}."
                continue
            found[number] = (lot, quantity)
        return found

    async def _outputs(
        self,
        lines: builtins.list[LotLine],
        inputs: dict[str, tuple[InternalLot, Decimal]],
        errors: dict[str, str],
    ) -> builtins.list[_Output]:
        if not lines:
            errors["outputs"] = (
                "Name the lots that came back: an input lot number (returned as itself) or a "
                "new lot number."
            )
            return []
        if len(lines) > MAX_LOTS:
            errors["outputs"] = f"At most {MAX_LOTS} output lots per run."
            return []
        checked: builtins.list[_Output] = []
        seen: set[str] = set()
        for index, line in enumerate(lines):
            number = line.lot_number.strip()
            key = f"outputs.{number or index}"
            if not number:
                errors[key] = "Each output lot needs a lot number."
                continue
            if len(number) > 80:
                errors[key] = "The lot number is longer than 80 characters."
                continue
            if number in seen:
                errors[key] = f"Lot {number} is listed twice as an output."
                continue
            seen.add(number)
            try:
                quantity = parse_quantity(line.quantity)
            except ValueError as exc:
                errors[key] = f"Lot {number}: {exc}"
                continue
            sources = tuple(s.strip() for s in line.sources if s.strip())
            if number in inputs:
                if sources and sources != (number,):
                    errors[key] = (
                        f"Lot {number} comes back as itself; it cannot also take in other lots. "
                        "Give the blend a new lot number."
                    )
                    continue
                lot = inputs[number][0]
                checked.append(_Output(number, quantity, lot.unit, True, ()))
                continue
            if not sources:
                sources = tuple(n for n in inputs)
                if not sources:
                    continue  # no valid input lot: its error is reported under inputs
            unknown = [s for s in sources if s not in inputs]
            if unknown:
                errors[key] = (
                    f"Lot {number} is said to come from {', '.join(unknown)}, which is not an "
                    "input of this run."
                )
                continue
            if (
                await self.session.scalar(
                    select(InternalLot.id).where(InternalLot.lot_number == number)
                )
                is not None
            ):
                # Naming an existing lot as what came out would join two histories, and could
                # close a loop in the genealogy (a lot made from itself).
                errors[key] = (
                    f"Lot {number} already exists and was not an input of this run; an output "
                    "is either an input lot returned as itself or a new lot number."
                )
                continue
            source_lots = [inputs[s][0] for s in sources]
            if len({lot.part_id for lot in source_lots}) > 1:
                errors[key] = (
                    f"Lot {number} is said to come from lots of different parts; list each "
                    "new lot with the input lots of its one part."
                )
                continue
            units = {lot.unit for lot in source_lots}
            unit = (line.unit or "").strip() or source_lots[0].unit
            if unit not in units:
                errors[key] = (
                    f"Lot {number}: the unit {unit} is not the unit of its input lots "
                    f"({', '.join(sorted(units))})."
                )
                continue
            checked.append(_Output(number, quantity, unit, False, sources))
        return checked

    async def get(self, actor: Actor, run_id: int) -> ProcessRun:
        """The run if the actor may see it (scoped in the query); otherwise NotFound."""
        actor.require("lots.read")
        query = select(ProcessRun).where(ProcessRun.id == run_id)
        query = actor.visible(query, ProcessRun.organization_id)
        run = await self.session.scalar(query)
        if run is None:
            raise NotFound("No such process run.")
        return run

    async def detail(self, actor: Actor, run_id: int) -> RunDetail:
        run = await self.get(actor, run_id)
        return RunDetail(run, *await self.flow.history(run.id))

    async def list(
        self, actor: Actor, status: str | None = None, limit: int = 200
    ) -> builtins.list[ProcessRun]:
        actor.require("lots.read")
        query = select(ProcessRun).order_by(ProcessRun.created_at.desc(), ProcessRun.id.desc())
        query = actor.visible(query, ProcessRun.organization_id)
        if status:
            query = query.where(ProcessRun.status == status)
        return list((await self.session.scalars(query.limit(limit))).unique())

    async def review_queue(self, actor: Actor) -> builtins.list[ProcessRun]:
        actor.require("lots.review")
        if not actor.is_internal:
            return []
        return await self.list(actor, status="submitted")

    async def sign(
        self, actor: Actor, run_id: int, credentials: SigningCredentials, expected_version: int
    ) -> ProcessRun:
        """The contractor's signer signs the draft ("submitted as accurate"): the run is
        submitted and posted to the genealogy in the same unit of work."""
        require_signing_person(actor)
        actor.require("lots.sign")
        if actor.is_internal:
            raise PermissionDenied("The contractor signs its own run record.")
        run = await self._for_transition(actor, run_id, "sign", expected_version)
        # The approval may have been suspended or withdrawn while the draft waited.
        await self._approval_for(
            run.organization_id, run.process_kind, run.started_on, run.ended_on
        )
        await self.flow.sign(actor, run, credentials, "sign", SUBMITTED_AS_ACCURATE)
        await self._post(run)
        return await self.flow.move(run, "submitted")

    async def _post(self, run: ProcessRun) -> None:
        """Write the run into the genealogy: new output lots (in quarantine) with ``process``
        edges from the lots they came from; a lot returned as itself goes to quarantine until
        QA accepts the run (like a received lot, QMS-06)."""
        inputs = {lot.lot_number: lot for lot in run.inputs}
        reason = f"back from {run.process_kind} run {run.run_number}; waits for QA's acceptance"
        for output in run.outputs:
            if output.same_identity:
                lot = inputs[output.lot_number].lot
                assert lot is not None
                if lot.status == "released":
                    await self.s.inventory.set_status(lot, "quarantine", reason)
                continue
            sources = [inputs[n] for n in output.sources.split(",") if n]
            first = sources[0].lot
            assert first is not None
            created = await self.s.inventory.create_lot(
                output.lot_number,
                first.part,
                first.kind,
                output.quantity,
                output.unit,
                "quarantine",
                "process",
            )
            output.lot_id, output.lot = created.id, created
            target = await node_id(self.session, "internal_lot", created.id)
            for source in sources:
                assert source.lot_id is not None
                self.session.add(
                    TraceEdge(
                        source_id=await node_id(self.session, "internal_lot", source.lot_id),
                        source_kind="internal_lot",
                        target_id=target,
                        target_kind="internal_lot",
                        kind="process",
                        event_type=RUN_RECORD,
                        event_id=run.id,
                        quantity=source.quantity,
                        unit=source.unit,
                    )
                )
        run.posted_at = utc_now()
        await self.session.flush()

    async def decide(
        self,
        actor: Actor,
        run_id: int,
        decision: str,
        credentials: SigningCredentials,
        comment: str,
        expected_version: int,
    ) -> ProcessRun:
        """QA accepts or rejects a submitted run with an e-signature. Acceptance releases the
        lots that came back; rejection rejects them."""
        actor.require("lots.approve")
        if actor.kind != "user" or actor.id is None or not actor.is_internal:
            raise PermissionDenied("Only a named QA approver can decide on a run.")
        if decision not in ("accept", "reject"):
            raise ValidationFailed({"decision": "Choose accept or reject."})
        run = await self._for_transition(actor, run_id, decision, expected_version)
        comment = (comment or "").strip()
        if decision == "reject" and not comment:
            raise ValidationFailed({"comment": "Say why the run is rejected."})
        if decision == "accept" and run.verdict != "conforming" and not comment:
            raise ValidationFailed(
                {
                    "comment": "A value of this run is outside its limits (ours where we set "
                    "them, otherwise the contractor's); accepting it needs a justification."
                }
            )
        if decision == "accept":
            # QMS-10: what came back is accepted only if nothing it came from is held.
            await self.s.gate.check(
                Movement.PROCESS_IN,
                internal_lots=[
                    (f"inputs.{line.lot_number}", line.lot) for line in run.inputs if line.lot
                ]
                + [(f"outputs.{line.lot_number}", line.lot) for line in run.outputs if line.lot],
            )
        meaning = "approved" if decision == "accept" else "rejected"
        await self.flow.sign(actor, run, credentials, "decide", meaning, comment)
        run.decided_at = utc_now()
        new_lot_status = "released" if decision == "accept" else "rejected"
        decided = TRANSITIONS[("submitted", decision)]
        for output in run.outputs:
            # A finished lot is released only by QA's device history record review
            # (trace_core.release), never by the acceptance of one of its processes.
            if output.lot is not None and output.lot.kind == "finished":
                continue
            if output.lot is not None and output.lot.status == "quarantine":
                await self.s.inventory.set_status(
                    output.lot,
                    new_lot_status,
                    f"{run.process_kind} run {run.run_number} {decided}",
                )
        return await self.flow.move(
            run, TRANSITIONS[(run.status, decision)], reason=comment or None
        )

    async def void(
        self, actor: Actor, run_id: int, reason: str, expected_version: int
    ) -> ProcessRun:
        """Void a draft with a reason. A submitted run is posted genealogy and stays; nothing
        is ever deleted (DI-04)."""
        actor.require("lots.submit")
        if actor.is_internal:
            raise PermissionDenied("The contractor voids its own drafts.")
        run = await self._for_transition(actor, run_id, "void", expected_version)
        if not (reason or "").strip():
            raise ValidationFailed({"reason": "Say why the run is voided."})
        run.status = "voided"
        row = await self.keeper.write_version(
            RUN_RECORD,
            run.id,
            status="voided",
            action="void",
            data=run_content(run),
            reason=reason.strip(),
        )
        run.version = row.version
        await self.keeper.commit()
        return run

    async def _for_transition(
        self, actor: Actor, run_id: int, action: str, expected_version: int
    ) -> ProcessRun:
        return self.flow.allowed(await self.get(actor, run_id), action, expected_version)

    async def runs_of_lot(self, actor: Actor, lot_id: int) -> builtins.list[ProcessRun]:
        """Every run a lot of ours went through or came out of (lot → run), internal only."""
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        ids = select(ProcessRunLot.run_id).where(ProcessRunLot.lot_id == lot_id)
        return list(
            (
                await self.session.scalars(
                    select(ProcessRun).where(ProcessRun.id.in_(ids)).order_by(ProcessRun.id)
                )
            ).unique()
        )
