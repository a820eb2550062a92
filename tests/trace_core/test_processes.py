"""Outsourced process runs through the services, on SQLite and PostgreSQL: the approval rule
(QMS-07), the run ↔ lot links and the trace evidence (QMS-08), the state machine and every
refusal, each of which must leave nothing behind."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import person, row_counts
from trace_core.demo import DEMO_PASSWORD
from trace_core.epcis.document import parse
from trace_core.epcis.export import EPCIS_CONTEXT_URL
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials
from trace_core.inventory.models import InternalLot
from trace_core.processes.models import ProcessApproval, ProcessRun
from trace_core.processes.service import LotLine, MeasuredValue, RunSubmission
from trace_core.records.service import verified_signatures
from trace_core.services import Runtime, provide_services
from trace_core.trace.models import TraceEdge

SAM, ANNA, QA = "sam@steripro.example", "anna@acme-polymers.example", "qa@traceport.example"
TODAY = dt.datetime.now(dt.UTC).date()
#: Tables a refused request must not touch.
WATCHED = (
    "process_runs",
    "process_run_values",
    "process_run_lots",
    "record_versions",
    "audit_events",
    "signatures",
    "trace_edges",
    "internal_lots",
)


def run(**changes: Any) -> RunSubmission:
    """A valid coating-free sterilization run of 5 kg of our resin lot, returned as a new lot."""
    data: dict[str, Any] = {
        "process_kind": "sterilization",
        "run_number": "SP-RUN-T1",
        "cycle_id": "GC-1",
        "started_on": TODAY - dt.timedelta(days=2),
        "ended_on": TODAY - dt.timedelta(days=1),
        "certificate_document_id": None,
        "parameters": [MeasuredValue("Target dose", "30", "kGy", "25", "45")],
        "results": [
            MeasuredValue("Dosimetry minimum", "27.1", "kGy", "25"),
            MeasuredValue("Biological indicator", "negative"),
        ],
        "inputs": [LotLine("IL-RES-0001", "5", "kg")],
        "outputs": [LotLine("IL-RES-0001-S", "5")],
    }
    data.update(changes)
    return RunSubmission(**data)


async def submit(runtime: Runtime, actor: Actor, submission: RunSubmission) -> ProcessRun:
    async with provide_services(runtime, actor) as s:
        return await s.processes.submit(actor, submission)


async def sign(runtime: Runtime, actor: Actor, run_id: int, version: int) -> ProcessRun:
    async with provide_services(runtime, actor) as s:
        return await s.processes.sign(
            actor, run_id, SigningCredentials(DEMO_PASSWORD, SAM), version
        )


async def refused(runtime: Runtime, actor: Actor, submission: RunSubmission) -> dict[str, str]:
    before = await row_counts(runtime, WATCHED)
    with pytest.raises(ValidationFailed) as caught:
        await submit(runtime, actor, submission)
    assert await row_counts(runtime, WATCHED) == before, "a refused run wrote something"
    return caught.value.errors


# -- QMS-08: both ways, and the trace shows the run --------------------------------------------


@pytest.mark.req("QMS-08")
async def test_the_demo_sterilization_links_lot_and_run_both_ways(runtime: Runtime) -> None:
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        fg = await s.session.scalar(
            select(InternalLot).where(InternalLot.lot_number == "FG-LOT-0001")
        )
        assert fg is not None
        runs = await s.processes.runs_of_lot(system, fg.id)  # lot → run
        assert [r.run_number for r in runs] == ["SP-RUN-0417"]
        detail = await s.processes.detail(system, runs[0].id)  # run → lots
        assert [(lot.role, lot.lot_number, lot.same_identity) for lot in detail.run.lots] == [
            ("input", "FG-LOT-0001", False),
            ("output", "FG-LOT-0001", True),
        ]
        assert detail.run.status == "accepted" and fg.status == "released"
        assert [s.meaning for s in detail.signatures] == ["submitted as accurate", "approved"]
        assert all(s.valid and s.covers_current for s in detail.signatures)
        # Returned as itself: no edge at all, in particular no self-loop.
        edges = await s.session.scalar(
            select(func.count()).select_from(TraceEdge).where(TraceEdge.event_type == "process_run")
        )
        assert edges == 0
        loops = await s.session.scalar(
            select(func.count())
            .select_from(TraceEdge)
            .where(TraceEdge.source_id == TraceEdge.target_id)
        )
        assert loops == 0
        trace = await s.trace.backward(system, "SN-DEMO-0001")
    node = next(n for n in trace.nodes.values() if n.identifier == "FG-LOT-0001")
    (evidence,) = node.details["process_runs"]
    assert evidence["run_number"] == "SP-RUN-0417" and evidence["role"] == "same_identity"
    assert (
        evidence["contractor"] == "SteriPro" and evidence["agreement_reference"] == "QAG-2026-014"
    )
    assert {"name": "Target dose", "value": "30", "unit": "kGy", "verdict": "pass"}.items() <= (
        evidence["parameters"][0].items()
    )
    assert [r["name"] for r in evidence["results"]] == [
        "Dosimetry minimum",
        "Dosimetry maximum",
        "Biological indicator",
    ]
    assert [s["meaning"] for s in evidence["signatures"]] == ["submitted as accurate", "approved"]
    assert evidence["certificate"]["filename"] == "SP-RUN-0417-certificate.pdf"


@pytest.mark.req("QMS-08")
async def test_a_run_with_a_new_identity_is_posted_as_process_edges(runtime: Runtime) -> None:
    sam, qa = await person(runtime, SAM), await person(runtime, QA)
    draft = await submit(runtime, sam, run())
    assert draft.status == "draft" and draft.posted_at is None
    async with runtime.sessions() as session:  # nothing in the genealogy before the signature
        assert (
            await session.scalar(
                select(InternalLot.id).where(InternalLot.lot_number == "IL-RES-0001-S")
            )
            is None
        )
    signed = await sign(runtime, sam, draft.id, draft.version)
    assert signed.status == "submitted" and signed.posted_at is not None
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        new = await s.session.scalar(
            select(InternalLot).where(InternalLot.lot_number == "IL-RES-0001-S")
        )
        assert new is not None and new.status == "quarantine" and new.unit == "kg"
        edges = list(
            await s.session.scalars(select(TraceEdge).where(TraceEdge.event_type == "process_run"))
        )
        assert [(e.kind, e.event_id, str(e.quantity), e.unit) for e in edges] == [
            ("process", draft.id, "5", "kg")
        ]
        back = await s.trace.backward(system, "IL-RES-0001-S")
        assert {n.identifier for n in back.nodes.values()} == {
            "IL-RES-0001-S",
            "IL-RES-0001",
            "AP-24-0815",
        }
        forward = await s.trace.forward(system, "AP-24-0815")
        assert "IL-RES-0001-S" in {n.identifier for n in forward.nodes.values()}
    roles = {n.identifier: n.details.get("process_runs") for n in back.nodes.values()}
    assert roles["IL-RES-0001-S"][0]["role"] == "output"
    assert roles["IL-RES-0001"][0]["role"] == "input"
    assert roles["IL-RES-0001"][0]["run_number"] == "SP-RUN-T1"
    async with provide_services(runtime, qa) as s:
        accepted = await s.processes.decide(
            qa, draft.id, "accept", SigningCredentials(DEMO_PASSWORD, QA), "", signed.version
        )
    assert accepted.status == "accepted"
    async with provide_services(runtime, system) as s:
        new = await s.session.scalar(
            select(InternalLot).where(InternalLot.lot_number == "IL-RES-0001-S")
        )
        assert new is not None and new.status == "released"
        versions = await s.keeper.versions("process_run", draft.id)
        assert [(v.version, v.status, v.action) for v in versions] == [
            (1, "draft", "create"),
            (2, "submitted", "status"),
            (3, "accepted", "status"),
        ]
        sigs = await verified_signatures(s.session, "process_run", [draft.id])
        assert [(x.meaning, x.version, x.valid) for x in sigs[draft.id]] == [
            ("submitted as accurate", 1, True),
            ("approved", 2, True),
        ]
        # The run as an EPCIS TransformationEvent that passes every capture check (EPC-01).
        await s.epcis.export_postings()
        from trace_core.epcis.models import EpcisEvent

        row = await s.session.scalar(
            select(EpcisEvent).where(
                EpcisEvent.source == "process_run", EpcisEvent.source_id == draft.id
            )
        )
        assert row is not None and row.biz_step == "urn:traceport:bizstep:sterilizing"
    event = row.document
    assert event["type"] == "TransformationEvent"
    assert event["inputQuantityList"] == [
        {"epcClass": "urn:traceport:lot:IL-RES-0001", "quantity": 5, "uom": "KGM"}
    ]
    assert event["outputQuantityList"][0]["epcClass"] == "urn:traceport:lot:IL-RES-0001-S"
    reports = event["sensorElementList"][0]["sensorReport"]
    assert {"type": "AbsorbedDose", "value": 30000, "uom": "A95"} in reports
    doc = {
        "@context": [EPCIS_CONTEXT_URL],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [event]},
    }
    import json

    parse(json.dumps(doc).encode(), 10_000_000, 10)


# -- QMS-07: no active approval, no run --------------------------------------------------------


@pytest.mark.req("QMS-07")
async def test_a_run_from_a_contractor_without_an_approval_is_refused(runtime: Runtime) -> None:
    anna = await person(runtime, ANNA)  # Acme Polymers: a supplier, approved for no process
    errors = await refused(runtime, anna, run())
    assert errors == {
        "process_kind": "Acme Polymers has no approval (quality agreement) for sterilization "
        "with us, so we cannot accept sterilization runs from you (QMS-07). Ask our supplier "
        "quality team."
    }
    sam = await person(runtime, SAM)  # approved for sterilization, not for coating
    errors = await refused(runtime, sam, run(process_kind="coating"))
    assert "SteriPro has no approval (quality agreement) for coating" in errors["process_kind"]


@pytest.mark.req("QMS-07")
async def test_a_suspended_or_lapsed_approval_refuses_runs(runtime: Runtime) -> None:
    sam, system = await person(runtime, SAM), Actor.system()
    # A run outside the approval's validity.
    early = TODAY - dt.timedelta(days=500)
    errors = await refused(runtime, sam, run(started_on=early, ended_on=early))
    assert "QAG-2026-014" in errors["process_kind"] and "is outside it" in errors["process_kind"]
    # A draft made while approved cannot be signed once the approval is suspended.
    draft = await submit(runtime, sam, run())
    async with provide_services(runtime, system) as s:
        approval = await s.session.scalar(select(ProcessApproval))
        assert approval is not None
        await s.processes.set_approval_status(system, approval.id, "suspended", "audit finding", 1)
    before = await row_counts(runtime, WATCHED)
    with pytest.raises(ValidationFailed) as caught:
        await sign(runtime, sam, draft.id, draft.version)
    assert "(QAG-2026-014) is suspended" in caught.value.errors["process_kind"]
    assert await row_counts(runtime, WATCHED) == before
    errors = await refused(runtime, sam, run(run_number="SP-RUN-T2"))
    assert "is suspended" in errors["process_kind"]


@pytest.mark.req("QMS-07")
async def test_approvals_are_versioned_and_only_our_quality_people_grant_them(
    runtime: Runtime,
) -> None:
    from trace_core.processes.service import ApprovalInput

    system, anna = Actor.system(), await person(runtime, ANNA)
    async with provide_services(runtime, system) as s:
        acme = await s.identity.organization_by_name("Acme Polymers")
        approval = await s.processes.approve_process(
            system, ApprovalInput(acme.id, "cleaning", "QAG-9", "ultrasonic", TODAY, None)
        )
        changed = await s.processes.set_approval_status(
            system, approval.id, "withdrawn", "ended", 1
        )
        versions = await s.keeper.versions("process_approval", approval.id)
    assert changed.version == 2 and [v.status for v in versions] == ["active", "withdrawn"]
    assert versions[1].reason == "ended"
    async with provide_services(runtime, anna) as s:
        with pytest.raises(PermissionDenied):
            await s.processes.approve_process(
                anna, ApprovalInput(acme.id, "cleaning", "QAG-10", "", TODAY, None)
            )
    async with provide_services(runtime, system) as s:
        with pytest.raises(ValidationFailed) as caught:
            await s.processes.approve_process(
                system, ApprovalInput(acme.id, "plating", "", "", "2026-13-01", "2020-01-01")
            )
    assert set(caught.value.errors) == {"process_kind", "agreement_reference", "valid_from"}


# -- bad input: specific messages, nothing written -------------------------------------------


@pytest.mark.req("QMS-08")
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"parameters": [MeasuredValue("Dose", "high", "kGy", "25")]},
            "parameters.Dose",
            "Dose: 'high' is not a number, but limits were given for it.",
        ),
        (
            {"parameters": [MeasuredValue("Dose", "30", "kGy", "45", "25")]},
            "parameters.Dose",
            "Dose: the lower limit 45 is above the upper limit 25.",
        ),
        (
            {"parameters": [MeasuredValue("Dose", "30")]},
            "parameters.Dose",
            "Dose: a measured value needs its unit (e.g. kGy, °C, min).",
        ),
        (
            {
                "parameters": [
                    MeasuredValue("Dose", "30", "kGy"),
                    MeasuredValue("dose", "31", "kGy"),
                ]
            },
            "parameters.dose",
            "'dose' is given more than once.",
        ),
        ({"results": []}, "results", "Give at least one result (name, value and unit)."),
        (
            {"inputs": [LotLine("IL-NOPE-1", "1")], "outputs": [LotLine("IL-NOPE-1", "1")]},
            "inputs.IL-NOPE-1",
            "We have no lot IL-NOPE-1; give the lot number exactly as on our shipping papers.",
        ),
        (
            {"inputs": [LotLine("IL-RES-0001", "26")]},
            "inputs.IL-RES-0001",
            "Lot IL-RES-0001 holds 25 kg, less than 26.",
        ),
        (
            # An existing downstream lot named as what came back would close a loop:
            # IL-RES-0001 → FG-LOT-0001 → IL-RES-0001.
            {"outputs": [LotLine("FG-LOT-0001", "10")]},
            "outputs.FG-LOT-0001",
            "Lot FG-LOT-0001 already exists and was not an input of this run; an output is "
            "either an input lot returned as itself or a new lot number.",
        ),
        (
            {"outputs": [LotLine("IL-NEW-9", "5", None, ("IL-STE-0001",))]},
            "outputs.IL-NEW-9",
            "Lot IL-NEW-9 is said to come from IL-STE-0001, which is not an input of this run.",
        ),
        (
            {"ended_on": TODAY + dt.timedelta(days=3)},
            "ended_on",
            "The run's end date is in the future.",
        ),
        ({"process_kind": "plating"}, "process_kind", "'plating' is not a process we contract"),
    ],
)
async def test_bad_runs_are_refused_with_a_specific_message(
    runtime: Runtime, changes: dict[str, Any], field: str, message: str
) -> None:
    errors = await refused(runtime, await person(runtime, SAM), run(**changes))
    assert errors[field].startswith(message), errors


async def test_the_state_machine_refuses_stale_and_illegal_steps(runtime: Runtime) -> None:
    sam, qa = await person(runtime, SAM), await person(runtime, QA)
    draft = await submit(runtime, sam, run())
    qa_sign = SigningCredentials(DEMO_PASSWORD, QA)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(Conflict, match="draft cannot be accepted"):
            await s.processes.decide(qa, draft.id, "accept", qa_sign, "", draft.version)
    with pytest.raises(Conflict, match="now version 1, you saw 7"):
        await sign(runtime, sam, draft.id, 7)
    signed = await sign(runtime, sam, draft.id, draft.version)
    with pytest.raises(Conflict, match="submitted cannot be signed"):
        await sign(runtime, sam, draft.id, signed.version)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed, match="Say why the run is rejected"):
            await s.processes.decide(qa, draft.id, "reject", qa_sign, "", signed.version)
    async with provide_services(runtime, sam) as s:  # the contractor cannot decide
        with pytest.raises(PermissionDenied):
            await s.processes.decide(sam, draft.id, "accept", qa_sign, "", signed.version)
    async with provide_services(runtime, qa) as s:  # our QA cannot sign for the contractor
        with pytest.raises(PermissionDenied):
            await s.processes.sign(qa, draft.id, qa_sign, signed.version)
    async with provide_services(runtime, qa) as s:
        rejected = await s.processes.decide(qa, draft.id, "reject", qa_sign, "BI positive", 2)
    assert rejected.status == "rejected"
    async with runtime.sessions() as session:
        new = await session.scalar(
            select(InternalLot).where(InternalLot.lot_number == "IL-RES-0001-S")
        )
        assert new is not None and new.status == "rejected"


async def test_a_wrong_password_signs_nothing_and_posts_nothing(runtime: Runtime) -> None:
    from trace_core.errors import AuthenticationFailed

    sam = await person(runtime, SAM)
    draft = await submit(runtime, sam, run())
    async with provide_services(runtime, sam) as s:
        with pytest.raises(AuthenticationFailed):
            await s.processes.sign(
                sam, draft.id, SigningCredentials("wrong-password", SAM), draft.version
            )
    async with runtime.sessions() as session:
        assert (await session.get(ProcessRun, draft.id)).status == "draft"  # type: ignore[union-attr]
        assert (
            await session.scalar(
                select(InternalLot.id).where(InternalLot.lot_number == "IL-RES-0001-S")
            )
            is None
        )


@pytest.mark.req("P11-04")
async def test_a_contractor_sees_only_its_own_runs(runtime: Runtime) -> None:
    anna, system = await person(runtime, ANNA), Actor.system()
    async with provide_services(runtime, system) as s:
        (demo_run,) = await s.processes.list(system)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(NotFound):
            await s.processes.get(anna, demo_run.id)
        assert await s.processes.list(anna) == []
        assert await s.processes.approvals(anna) == []
        with pytest.raises(NotFound):
            await s.records.record(anna, "process_run", demo_run.id)
        # A supplier's trace of its own lot never shows another contractor's run.
        trace = await s.trace.forward(anna, "AP-24-0815")
    assert all("process_runs" not in n.details for n in trace.nodes.values())
