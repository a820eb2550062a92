"""Finished-device release (issue 13): a work order's lot starts in quarantine; QA releases it
with an e-signature after the device history record review, refused while anything blocks —
upstream holds, a required process without an accepted run within our limits, a run under
lapsed validation, missing UDI data. Both backends, real services, row counts on refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import row_counts
from tests.release_helpers import (
    GOOD_PARAMETERS,
    IMPLANT_CONSIGNEE,
    QA,
    UDI_DATES,
    release_finished_lot,
    sterilize,
    user,
)
from trace_core.errors import Conflict, PermissionDenied, ValidationFailed
from trace_core.gates.holds import HoldInput
from trace_core.identity.actor import Actor
from trace_core.packing.service import PackInput
from trace_core.processes.models import ProcessApproval
from trace_core.processes.service import LotLine, MeasuredValue, RunSubmission
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.release import dhr
from trace_core.release.service import TRANSITIONS
from trace_core.services import Runtime, provide_services
from trace_core.shipments.service import ShipmentInput

OPS = "ops@traceport.example"
TABLES = (
    "finished_lot_releases",
    "record_versions",
    "audit_events",
    "signatures",
    "internal_lots",
    "shipments",
    "process_runs",
)
TODAY = dt.datetime.now(dt.UTC).date()


async def make_lot(
    runtime: Runtime, number: str, *, part: str = "FG-1000", dates: bool = True, n: int = 2
) -> int:
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        order = await s.production.post(
            ops,
            WorkOrderInputData(
                f"WO-{number}",
                part,
                number,
                [ConsumedLot("IL-RES-0001", "0.1")],
                [f"SN-{number}-{i}" for i in range(n)],
                **(UDI_DATES if dates else {}),
            ),
        )
        return order.output_lot_id


async def blockers(runtime: Runtime, lot_id: int) -> list[dhr.Blocker]:
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        return (await s.release.history(qa, lot_id)).blockers


async def release(runtime: Runtime, lot_id: int, decision: str = "release", **kw: Any) -> Any:
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        history = await s.release.history(qa, lot_id)
        return await s.release.decide(
            qa,
            lot_id,
            decision,
            QA,
            kw.get("comment", "DHR reviewed."),
            kw.get("version", history.release.version),
        )


@pytest.mark.req("QMS-10")
async def test_work_order_lot_starts_in_quarantine_and_cannot_ship(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-1")
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        lot = await s.inventory.lot_by_number(ops, "FG-R-1")
        assert lot.status == "quarantine"
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        record = (await s.release.history(qa, lot_id)).release
        versions = await s.keeper.versions("finished_lot_release", record.id)
        assert [(v.version, v.status) for v in versions] == [(1, "quarantine")]
    before = await row_counts(runtime, TABLES)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.shipments.ship(
                ops,
                ShipmentInput(
                    "SH-R-1", "Clinic", "1 Road, Town", ["SN-FG-R-1-0"], **IMPLANT_CONSIGNEE
                ),
            )
    assert "FG-R-1, which is quarantine" in err.value.errors["serials"]
    assert await row_counts(runtime, TABLES) == before


@pytest.mark.req("COA-05")
async def test_release_refused_without_accepted_sterilization_names_rule_and_lot(
    runtime: Runtime,
) -> None:
    lot_id = await make_lot(runtime, "FG-LOT-0002")
    found = await blockers(runtime, lot_id)
    assert [b.message for b in found] == [
        "FG-LOT-0002 needs gamma sterilization; no accepted run covers it."
    ]
    before = await row_counts(runtime, TABLES)
    with pytest.raises(ValidationFailed) as err:
        await release(runtime, lot_id)
    assert err.value.errors == {
        "required_processes": "FG-LOT-0002 needs gamma sterilization; no accepted run covers it."
    }
    assert await row_counts(runtime, TABLES) == before


@pytest.mark.req("COA-05")
async def test_submitted_but_not_accepted_run_blocks(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-3")
    await sterilize(runtime, "FG-R-3", "2", accept=False)
    assert [b.message for b in await blockers(runtime, lot_id)] == [
        "FG-R-3 needs gamma sterilization; run RUN-FG-R-3 covers it but is submitted, not accepted."
    ]


@pytest.mark.req("COA-05")
async def test_run_judged_against_our_limits_not_the_contractors(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-4")
    # The contractor types its own minimum of 20 kGy; 22 passes that, not our 25.
    run_id = await sterilize(
        runtime,
        "FG-R-4",
        "2",
        results=[
            MeasuredValue("Dosimetry minimum", "22", "kGy", "20"),
            MeasuredValue("Biological indicator", "negative"),
        ],
        comment="Accepted on paper; the release step must still judge it.",
    )
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        run = await s.processes.get(qa, run_id)
        assert run.verdict == "nonconforming"
        dose = next(v for v in run.results if v.name == "Dosimetry minimum")
        assert (dose.verdict, dose.lower_limit, dose.our_lower_limit) == ("fail", 20, 25)
    assert [b.message for b in await blockers(runtime, lot_id)] == [
        "Run RUN-FG-R-4: Dosimetry minimum 22 kGy is outside our limit ≥ 25 kGy for gamma "
        "sterilization (COA-05)."
    ]


@pytest.mark.req("QMS-16")
async def test_missing_udi_dates_block_a_gtin_part(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-5", dates=False)
    await sterilize(runtime, "FG-R-5", "2")
    messages = [b.message for b in await blockers(runtime, lot_id)]
    assert messages == [
        "FG-R-5 is FG-1000 with GTIN 00614141000012: its UDI needs the date of manufacture "
        "(QMS-16).",
        "FG-R-5 is FG-1000 with GTIN 00614141000012: its UDI needs the expiry date (QMS-16).",
    ]


@pytest.mark.req("QMS-16")
async def test_releasable_lot_shows_its_udi(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-6")
    await sterilize(runtime, "FG-R-6", "2")
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        history = await s.release.history(qa, lot_id)
    assert history.blockers == []
    made = UDI_DATES["manufactured_on"].strftime("%y%m%d")
    expires = UDI_DATES["expires_on"].strftime("%y%m%d")
    assert history.udi.hri == f"(01)00614141000012(11){made}(17){expires}(10)FG-R-6(21)SN-FG-R-6-0"
    assert history.udi.digital_link is not None
    assert "/01/00614141000012/10/FG-R-6/21/SN-FG-R-6-0" in history.udi.digital_link
    assert {n["identifier"] for n in history.upstream} >= {"IL-RES-0001", "AP-24-0815"}


@pytest.mark.req("QMS-10")
async def test_upstream_hold_blocks(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-7")
    await sterilize(runtime, "FG-R-7", "2")
    async with provide_services(runtime, Actor.system()) as s:
        resin = await s.inventory.lot_by_number(Actor.system(), "IL-RES-0001")
        await s.inventory.set_status(resin, "on_hold", "test: suspect resin")
        await s.keeper.commit()
    assert [b.message for b in await blockers(runtime, lot_id)] == [
        "FG-R-7 cannot be released: upstream internal lot IL-RES-0001 is on hold (QMS-10)."
    ]


@pytest.mark.req("QMS-10")
async def test_a_held_supplier_lot_upstream_blocks_the_release(runtime: Runtime) -> None:
    """A supplier lot held by QA (the material gate's hold, not a status of the trace's
    nodes) blocks the release of every finished lot made from it, and its release frees it."""
    lot_id = await make_lot(runtime, "FG-R-8")
    await sterilize(runtime, "FG-R-8", "2")
    async with provide_services(runtime, Actor.system()) as s:
        resin = await s.lots.list(Actor.system())
        (ap0815,) = [lot for lot in resin if lot.lot_number == "AP-24-0815"]
        hold = await s.holds.hold_supplier_lot(
            Actor.system(), ap0815.id, HoldInput("test: black particles reported")
        )
    assert [b.message for b in await blockers(runtime, lot_id)] == [
        f"FG-R-8 cannot be released: upstream supplier lot AP-24-0815 is on hold ({hold.number}) "
        "(QMS-10)."
    ]
    async with provide_services(runtime, Actor.system()) as s:
        await s.holds.release(Actor.system(), hold.id, "test: particles were dust")
    assert await blockers(runtime, lot_id) == []


def test_upstream_blockers_table() -> None:
    rows = [
        ({"kind": "internal_lot", "identifier": "A", "status": s}, s != "released")
        for s in ("released", "quarantine", "on_hold", "recalled", "rejected")
    ] + [
        ({"kind": "supplier_lot", "identifier": "B", "status": s, "supplier": "X"}, blocks)
        for s, blocks in (("approved", False), ("submitted", False), ("rejected", True))
    ]
    for node, blocks in rows:
        assert bool(dhr.upstream_blockers("FG", [node])) is blocks, node


@pytest.mark.req("QMS-09")
async def test_lapsed_validation_blocks_release_and_new_runs(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-8")
    await sterilize(runtime, "FG-R-8", "2")
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        approval = await s.session.scalar(
            select(ProcessApproval).where(ProcessApproval.agreement_reference == "QAG-2026-014")
        )
        assert approval is not None
        await s.processes.set_revalidation_due(
            qa,
            approval.id,
            TODAY - dt.timedelta(days=5),
            "Dose audit overdue since the 5th.",
            approval.version,
        )
    (blocker,) = await blockers(runtime, lot_id)
    assert blocker.requirement == "QMS-09"
    assert "lapsed on" in blocker.message and "RUN-FG-R-8" in blocker.message
    sam = await user(runtime, "sam@steripro.example")
    before = await row_counts(runtime, TABLES)
    async with provide_services(runtime, sam) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.processes.submit(sam, _run("RUN-LAPSED", "FG-R-8"))
    assert "process validation for sterilization" in err.value.errors["process_kind"]
    assert "QMS-09" in err.value.errors["process_kind"]
    assert await row_counts(runtime, TABLES) == before


def _run(number: str, lot: str, parameters: list[MeasuredValue] | None = None) -> RunSubmission:
    return RunSubmission(
        "sterilization",
        number,
        None,
        TODAY - dt.timedelta(days=2),
        TODAY - dt.timedelta(days=1),
        None,
        parameters=parameters if parameters is not None else list(GOOD_PARAMETERS),
        results=[MeasuredValue("Biological indicator", "negative")],
        inputs=[LotLine(lot, "2", "pcs")],
        outputs=[LotLine(lot, "2", "pcs")],
    )


@pytest.mark.req("QMS-09")
@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ([MeasuredValue("Exposure", "400", "min")], "is a parameter of the validated cycle"),
        ([MeasuredValue("Target dose", "30", "kGy", "20", "45")], "below the validated"),
        ([MeasuredValue("Target dose", "30", "kGy", "25", "50")], "above the validated"),
    ],
)
async def test_contractor_cannot_loosen_the_validated_cycle(
    runtime: Runtime, parameters: list[MeasuredValue], problem: str
) -> None:
    await make_lot(runtime, "FG-R-9")
    sam = await user(runtime, "sam@steripro.example")
    before = await row_counts(runtime, TABLES)
    async with provide_services(runtime, sam) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.processes.submit(sam, _run("RUN-LOOSE", "FG-R-9", parameters))
    assert problem in err.value.errors["parameters.Target dose"]
    assert await row_counts(runtime, TABLES) == before


async def test_empty_limits_take_the_validated_cycle(runtime: Runtime) -> None:
    await make_lot(runtime, "FG-R-10")
    sam = await user(runtime, "sam@steripro.example")
    async with provide_services(runtime, sam) as s:
        run = await s.processes.submit(
            sam, _run("RUN-PREFILL", "FG-R-10", [MeasuredValue("Target dose", "46", "kGy")])
        )
        dose = run.parameters[0]
        assert (dose.lower_limit, dose.upper_limit, dose.verdict) == (25, 45, "fail")


@pytest.mark.req("P11-08")
async def test_release_signs_released_and_moves_the_lot(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-11")
    await release_finished_lot(runtime, "FG-R-11")
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        history = await s.release.history(qa, lot_id)
        assert (history.release.status, history.lot.status) == ("released", "released")
        signatures = await s.keeper.signatures("finished_lot_release", history.release.id)
        assert [(x.meaning, x.printed_name, x.valid) for x in signatures] == [
            ("released", "Quinn Avery", True)
        ]


@pytest.mark.req("P11-08")
@pytest.mark.parametrize(
    ("first", "then"),
    [("release", "release"), ("release", "reject"), ("reject", "release"), ("reject", "reject")],
)
async def test_illegal_release_transitions_conflict(
    runtime: Runtime, first: str, then: str
) -> None:
    number = f"FG-T-{first[:3]}-{then[:3]}"  # serials stay within AI (21)'s 20 characters
    lot_id = await make_lot(runtime, number)
    if first == "release":
        await release_finished_lot(runtime, number)
    else:
        await release(runtime, lot_id, "reject", comment="Damaged packaging.")
    assert (TRANSITIONS.get((TRANSITIONS[("quarantine", first)], then))) is None
    before = await row_counts(runtime, TABLES)
    with pytest.raises(Conflict, match="cannot be"):
        await release(runtime, lot_id, then, comment="again")
    assert await row_counts(runtime, TABLES) == before


async def test_stale_version_and_reject_without_reason_refused(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-12")
    before = await row_counts(runtime, TABLES)
    with pytest.raises(Conflict, match="changed while you were looking"):
        await release(runtime, lot_id, "reject", comment="x", version=7)
    with pytest.raises(ValidationFailed) as err:
        await release(runtime, lot_id, "reject", comment=" ")
    assert "Say why" in err.value.errors["comment"]
    assert await row_counts(runtime, TABLES) == before
    await release(runtime, lot_id, "reject", comment="Damaged packaging.")
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        assert (await s.inventory.lot_by_number(ops, "FG-R-12")).status == "rejected"


async def test_only_a_named_qa_approver_releases(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG-R-13")
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(PermissionDenied):
            await s.release.decide(ops, lot_id, "release", QA, "", 1)
    async with provide_services(runtime, Actor.system()) as s:
        with pytest.raises(PermissionDenied, match="named person"):
            await s.release.decide(Actor.system(), lot_id, "release", QA, "", 1)


@pytest.mark.req("QMS-12")
async def test_implantable_shipment_needs_contact_phone_and_full_address(
    runtime: Runtime,
) -> None:
    await make_lot(runtime, "FG-R-14")
    await release_finished_lot(runtime, "FG-R-14")
    ops = await user(runtime, OPS)
    before = await row_counts(runtime, TABLES)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.shipments.ship(
                ops, ShipmentInput("SH-IMP-1", "Clinic", "1 Road", ["SN-FG-R-14-0"])
            )
    assert set(err.value.errors) == {"consignee_address", "consignee_contact", "consignee_phone"}
    assert "implantable" in err.value.errors["consignee_contact"]
    assert await row_counts(runtime, TABLES) == before
    async with provide_services(runtime, ops) as s:
        shipment = await s.shipments.ship(
            ops,
            ShipmentInput(
                "SH-IMP-2",
                "Clinic",
                "1 Road\nCork T12, Ireland",
                ["SN-FG-R-14-0"],
                **IMPLANT_CONSIGNEE,
            ),
        )
        (version,) = await s.keeper.versions("shipment", shipment.id)
        assert version.content["consignee_contact"] == "Dr. Test Contact"
        assert version.content["consignee_phone"] == "+353 21 555 0100"


@pytest.mark.req("QMS-12")
async def test_non_implantable_ships_with_name_and_address_only(runtime: Runtime) -> None:
    async with provide_services(runtime, Actor.system()) as s:
        await s.parts.create_part("FG-2000", "Instrument tray", kind="finished", unit="pcs")
        await s.keeper.commit()
    lot_id = await make_lot(runtime, "FG-R-15", part="FG-2000", dates=False)
    assert await blockers(runtime, lot_id) == []  # no GTIN, no required process
    await release(runtime, lot_id)
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        await s.shipments.ship(ops, ShipmentInput("SH-TRAY", "Clinic", "1 Road", ["SN-FG-R-15-0"]))


def test_blocker_templates_are_in_the_vocabulary() -> None:
    from portal.vocabulary import RELEASE_BLOCKERS

    assert set(dhr.BLOCKER_TEMPLATES) == set(RELEASE_BLOCKERS)


@pytest.mark.req("QMS-10")
async def test_packing_an_unreleased_finished_lot_is_refused(runtime: Runtime) -> None:
    await make_lot(runtime, "FG-R-16")
    ops = await user(runtime, OPS)
    before = await row_counts(runtime, (*TABLES, "shipping_units", "packing_events"))
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.packing.pack(ops, PackInput("", "case", ["SN-FG-R-16-0"]))
    assert "FG-R-16, which is quarantine" in err.value.errors["serials"]
    assert await row_counts(runtime, (*TABLES, "shipping_units", "packing_events")) == before


@pytest.mark.req("QMS-16")
async def test_a_lot_number_gs1_cannot_encode_blocks(runtime: Runtime) -> None:
    lot_id = await make_lot(runtime, "FG R 17")
    await sterilize(runtime, "FG R 17", "2")
    (blocker,) = await blockers(runtime, lot_id)
    assert blocker.field == "udi" and blocker.template == dhr.UDI_INVALID
    assert blocker.message.startswith("FG R 17: the UDI cannot be encoded in GS1: ")
