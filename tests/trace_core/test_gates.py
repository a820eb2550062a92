"""The material gate (QMS-10): one rule table, every status x every movement, asked by every
service before it writes; holds on supplier lots, internal lots and serial ranges as signed,
versioned steps (P11-08); recalls that hold their supplier lots and a closing that decides
each lot (QMS-14). Every refusal names the rule and the blocking record and writes nothing."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.release_helpers import IMPLANT_CONSIGNEE
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.gates import MaterialRefused, Movement
from trace_core.gates.holds import HOLD_TRANSITIONS, HoldInput
from trace_core.gates.models import MaterialHold
from trace_core.gates.rules import (
    INTERNAL_LOT_ALLOWS,
    SERIAL_ALLOWS,
    internal_lot_allows,
    serial_allows,
    supplier_lot_allows,
)
from trace_core.identity.actor import Actor
from trace_core.inventory.models import INTERNAL_LOT_STATUSES, InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.packing.models import ShippingUnit
from trace_core.packing.service import PackInput
from trace_core.production.models import WorkOrder
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.receipts.models import Receipt
from trace_core.receipts.service import ReceiptInput
from trace_core.records.models import RecordVersion, Signature
from trace_core.services import Runtime, provide_services
from trace_core.shipments.models import Shipment
from trace_core.shipments.service import ShipmentInput
from trace_core.trace.models import TraceEdge

from .test_slice_services import QA, user

pytestmark = pytest.mark.req("QMS-10")

OPS = "ops@traceport.example"
QA_EMAIL = "qa@traceport.example"
ST_MARYS = ("St. Mary's Hospital, Central Sterile Supply", "12 Harbour Road, Cork")
WRITTEN = (
    Receipt,
    InternalLot,
    WorkOrder,
    Serial,
    Shipment,
    ShippingUnit,
    TraceEdge,
    MaterialHold,
    RecordVersion,
    Signature,
)
#: The expected table, written out: status -> the movements it lets pass.
EXPECTED_LOT = {
    "released": {"consume", "process_out", "process_in", "pack", "ship"},
    "quarantine": {"process_out", "process_in"},
    "rejected": set(),
    "on_hold": set(),
    "recalled": set(),
}


async def counts(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {
            t.__tablename__: int(await session.scalar(select(func.count()).select_from(t)) or 0)
            for t in WRITTEN
        }


async def set_lot_status(runtime: Runtime, lot_number: str, status: str) -> None:
    async with runtime.sessions() as session:
        await session.execute(
            update(InternalLot).where(InternalLot.lot_number == lot_number).values(status=status)
        )
        await session.commit()


async def set_supplier_lot(runtime: Runtime, lot_number: str, **values: Any) -> int:
    async with runtime.sessions() as session:
        if values:
            await session.execute(
                update(SupplierLot).where(SupplierLot.lot_number == lot_number).values(**values)
            )
            await session.commit()
        return int(
            await session.scalar(select(SupplierLot.id).where(SupplierLot.lot_number == lot_number))
            or 0
        )


async def lot_status(runtime: Runtime, lot_number: str) -> str:
    async with runtime.sessions() as session:
        return str(
            await session.scalar(
                select(InternalLot.status).where(InternalLot.lot_number == lot_number)
            )
        )


async def supplier_hold(runtime: Runtime, lot_number: str) -> str | None:
    async with runtime.sessions() as session:
        return await session.scalar(
            select(SupplierLot.hold_status).where(SupplierLot.lot_number == lot_number)
        )


async def serial_status(runtime: Runtime, serial: str) -> str:
    async with runtime.sessions() as session:
        return str(await session.scalar(select(Serial.status).where(Serial.serial == serial)))


def work_order(number: str, lot: str = "IL-RES-0001") -> WorkOrderInputData:
    return WorkOrderInputData(number, "FG-1000", f"FG-{number}", [ConsumedLot(lot, "1")], [number])


async def consume(runtime: Runtime, number: str, lot: str = "IL-RES-0001") -> WorkOrder:
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        return await s.production.post(ops, work_order(number, lot))


async def receive(runtime: Runtime, lot_id: int) -> Receipt:
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        return await s.receipts.post(ops, ReceiptInput(lot_id, "1"))


async def lot_id_of(runtime: Runtime, lot_number: str) -> int:
    return await set_supplier_lot(runtime, lot_number)


# -- the table ------------------------------------------------------------------------------


@pytest.mark.req("P11-08")
@pytest.mark.parametrize("status", INTERNAL_LOT_STATUSES)
@pytest.mark.parametrize("movement", list(Movement))
def test_the_rule_table_for_every_lot_status_and_movement(status: str, movement: Movement) -> None:
    assert set(INTERNAL_LOT_ALLOWS) == set(INTERNAL_LOT_STATUSES)
    assert internal_lot_allows(status, movement) == (movement.value in EXPECTED_LOT[status])


@pytest.mark.req("P11-08")
@pytest.mark.parametrize("movement", list(Movement))
def test_the_rule_table_for_serials_and_supplier_lots(movement: Movement) -> None:
    assert set(SERIAL_ALLOWS) == {"in_stock", "on_hold", "shipped"}
    assert serial_allows("in_stock", movement) == (movement in {"pack", "ship", "consume"})
    assert not serial_allows("on_hold", movement) and not serial_allows("shipped", movement)
    for status in ("draft", "submitted", "approved", "rejected", "voided"):
        receivable = status in ("submitted", "approved") and movement is Movement.RECEIVE
        assert supplier_lot_allows(status, None, movement) == receivable
        for hold in ("on_hold", "recalled", "scrapped", "returned"):
            assert not supplier_lot_allows(status, hold, movement)
    assert not serial_allows("unknown", movement) and not internal_lot_allows("x", movement)


# -- every status through every service -----------------------------------------------------


@pytest.mark.parametrize("status", INTERNAL_LOT_STATUSES)
async def test_consuming_a_lot_in_each_status(runtime: Runtime, status: str) -> None:
    await set_lot_status(runtime, "IL-RES-0001", status)
    if status == "released":
        order = await consume(runtime, "WO-GATE-1")
        assert order.number == "WO-GATE-1"
        return
    before = await counts(runtime)
    with pytest.raises(ValidationFailed) as refused:
        await consume(runtime, "WO-GATE-1")
    said = status.replace("_", " ")
    said = f"in {said}" if status == "quarantine" else said
    assert refused.value.errors["inputs.0"].startswith(f"IL-RES-0001 is {said}")
    assert "cannot be consumed" in refused.value.errors["inputs.0"]
    assert await counts(runtime) == before


@pytest.mark.parametrize("status", INTERNAL_LOT_STATUSES)
async def test_packing_and_shipping_serials_of_a_lot_in_each_status(
    runtime: Runtime, status: str
) -> None:
    await set_lot_status(runtime, "FG-LOT-0001", status)
    ops = await user(runtime, OPS)
    before = await counts(runtime)
    async with provide_services(runtime, ops) as s:
        if status == "released":
            await s.packing.pack(ops, PackInput("", "case", ["SN-DEMO-0007"]))
            await s.shipments.ship(
                ops, ShipmentInput("SH-GATE", *ST_MARYS, ["SN-DEMO-0006"], **IMPLANT_CONSIGNEE)
            )
            return
        with pytest.raises(ValidationFailed) as packed:
            await s.packing.pack(ops, PackInput("", "case", ["SN-DEMO-0007"]))
        with pytest.raises(ValidationFailed) as shipped:
            await s.shipments.ship(
                ops, ShipmentInput("SH-GATE", *ST_MARYS, ["SN-DEMO-0006"], **IMPLANT_CONSIGNEE)
            )
    said = status.replace("_", " ")
    assert packed.value.errors["serials"] == (
        f"SN-DEMO-0007 belongs to lot FG-LOT-0001, which is {said}; it cannot be packed."
    )
    assert shipped.value.errors["serials"] == (
        f"SN-DEMO-0006 belongs to lot FG-LOT-0001, which is {said}; it cannot be shipped."
    )
    assert await counts(runtime) == before


@pytest.mark.parametrize(
    ("lot_number", "status", "hold", "allowed"),
    [
        ("AP-24-0816", "submitted", None, True),
        ("AP-24-0815", "approved", None, True),
        ("AP-24-0817", "draft", None, False),
        ("AP-24-0816", "rejected", None, False),
        ("AP-24-0816", "voided", None, False),
        ("AP-24-0815", "approved", "on_hold", False),
        ("AP-24-0815", "approved", "recalled", False),
        ("AP-24-0815", "approved", "returned", False),
        ("AP-24-0816", "submitted", "scrapped", False),
    ],
)
async def test_receiving_a_supplier_lot_in_each_status_and_hold(
    runtime: Runtime, lot_number: str, status: str, hold: str | None, allowed: bool
) -> None:
    # The declared quantity is raised so that the receipt cap (tests/trace_core/test_receipts.py)
    # is not what answers here: the demo has received all of AP-24-0815 already.
    lot_id = await set_supplier_lot(
        runtime, lot_number, status=status, hold_status=hold, quantity=Decimal(1000)
    )
    if allowed:
        receipt = await receive(runtime, lot_id)
        expected = "released" if status == "approved" else "quarantine"
        assert receipt.internal_lot.status == expected
        return
    before = await counts(runtime)
    with pytest.raises(MaterialRefused) as refused:
        await receive(runtime, lot_id)
    assert isinstance(refused.value, Conflict)
    assert list(refused.value.errors) == ["supplier_lot_id"]
    (refusal,) = refused.value.refusals
    assert refusal.record == lot_number
    if hold is None:
        assert refusal.rule == "supplier_lot_status"
        assert refused.value.message == (
            f"Supplier lot {lot_number} is {status}; only submitted or approved lots can be "
            "received."
        )
    else:
        assert refusal.rule.startswith("supplier_lot_")
        assert "cannot be received" in refused.value.message
    assert await counts(runtime) == before


# -- recalls reach the supplier lot (issue 13, reproduction 1) ------------------------------


@pytest.mark.req("QMS-14")
async def test_a_recalled_supplier_lot_cannot_be_received_again(runtime: Runtime) -> None:
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        recall = await s.recalls.open(
            qa, "AP-24-0815", "black particles", QA, supplier_notice="Quarantine your stock."
        )
    assert await supplier_hold(runtime, "AP-24-0815") == "recalled"
    lot_id = await lot_id_of(runtime, "AP-24-0815")
    before = await counts(runtime)
    with pytest.raises(MaterialRefused) as refused:
        await receive(runtime, lot_id)
    assert refused.value.message == (
        f"Supplier lot AP-24-0815 is under recall {recall.number}; it cannot be received."
    )
    assert await counts(runtime) == before
    # The hold is its own record: placed by the recall, versioned, shown to QA.
    async with provide_services(runtime, qa) as s:
        (hold,) = await s.holds.active(qa, supplier_lot_id=lot_id)
        assert (hold.hold_kind, hold.recall_id, hold.status) == ("recall", recall.id, "active")
        versions = await s.keeper.versions("material_hold", hold.id)
        assert [(v.version, v.status, v.action) for v in versions] == [(1, "active", "create")]
        # A hold placed by a recall is not released by hand.
        with pytest.raises(Conflict, match=f"placed by recall {recall.number}"):
            await s.holds.release_supplier_lot(qa, lot_id, "looks fine", QA)
    # The supplier sees its lot held and QA's notice, nothing of our recall.
    anna = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, anna) as s:
        detail = await s.lots.detail(anna, lot_id)
        assert detail.lot.hold_status == "recalled"
        assert await s.holds.supplier_notices(detail.lot) == ["Quarantine your stock."]
        with pytest.raises(NotFound):
            await s.holds.active(anna, supplier_lot_id=lot_id)


@pytest.mark.req("QMS-14")
async def test_accepting_a_suspect_report_holds_the_reported_lot(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    lot_id = await lot_id_of(runtime, "AP-24-0816")
    async with provide_services(runtime, anna) as s:
        report = await s.recalls.report_suspect(anna, lot_id, "wrong resin grade")
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        await s.recalls.open(qa, "AP-24-0816", "supplier report", QA, report.id)
    assert await supplier_hold(runtime, "AP-24-0816") == "recalled"
    with pytest.raises(MaterialRefused, match="is under recall RC-000001"):
        await receive(runtime, lot_id)


# -- the gate looks upstream ----------------------------------------------------------------


async def test_a_hold_on_a_supplier_lot_stops_everything_made_from_it(runtime: Runtime) -> None:
    qa = await user(runtime, QA_EMAIL)
    lot_id = await lot_id_of(runtime, "AP-24-0815")
    async with provide_services(runtime, qa) as s:
        hold = await s.holds.hold_supplier_lot(
            qa, lot_id, HoldInput("MFI drift reported", "Please hold further shipments."), QA
        )
    # From the material_hold series (trace_core/numbering.py): a sequence on PostgreSQL, so the
    # number is read, not assumed (a sequence does not roll back with earlier tests).
    assert re.fullmatch(r"MH-\d{6}", hold.number)
    mh = hold.number
    assert await lot_status(runtime, "IL-RES-0001") == "released"  # its own status is unchanged
    before = await counts(runtime)
    with pytest.raises(ValidationFailed) as consumed:
        await consume(runtime, "WO-UP-1")
    assert consumed.value.errors["inputs.0"] == (
        f"IL-RES-0001 comes from AP-24-0815, which is on hold ({mh}); it cannot be consumed."
    )
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        # Two steps down: the finished lot made from the received resin.
        with pytest.raises(ValidationFailed) as shipped:
            await s.shipments.ship(
                ops, ShipmentInput("SH-UP", *ST_MARYS, ["SN-DEMO-0006"], **IMPLANT_CONSIGNEE)
            )
    assert shipped.value.errors["serials"] == (
        f"SN-DEMO-0006 comes from AP-24-0815, which is on hold ({mh}); it cannot be shipped."
    )
    # QA's release of a lot made from it (a finished lot's release) asks the gate too.
    async with provide_services(runtime, qa) as s:
        finished = await s.session.scalar(
            select(InternalLot).where(InternalLot.lot_number == "FG-LOT-0001")
        )
        assert finished is not None
        with pytest.raises(MaterialRefused) as release:
            await s.gate.check_release("lot", finished)
    assert release.value.errors == {
        "lot": f"FG-LOT-0001 comes from AP-24-0815, which is on hold ({mh}); it cannot be "
        "released for use."
    }
    assert await counts(runtime) == before
    async with provide_services(runtime, qa) as s:
        released = await s.holds.release_supplier_lot(qa, lot_id, "MFI retested in spec", QA)
        assert released.status == "released"
        signatures = await s.keeper.signatures("material_hold", hold.id)
        assert [(x.meaning, x.version, x.printed_name) for x in signatures] == [
            ("placed on hold", 1, "Quinn Avery"),
            ("released from hold", 2, "Quinn Avery"),
        ]
    assert await supplier_hold(runtime, "AP-24-0815") is None
    assert (await consume(runtime, "WO-UP-1")).number == "WO-UP-1"


# -- QA's holds: a signed state machine (P11-08) --------------------------------------------


@pytest.mark.req("P11-08")
async def test_internal_lot_and_serial_range_holds_and_their_release(runtime: Runtime) -> None:
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        lot_id = await s.holds.internal_lot_id(qa, "IL-STE-0001", "material.hold")
        lot_hold = await s.holds.hold_internal_lot(qa, lot_id, HoldInput("label mix-up"), QA)
        range_hold = await s.holds.hold_serials(
            qa, "SN-DEMO-0006", "SN-DEMO-0007", HoldInput("visual defect"), QA
        )
    assert await lot_status(runtime, "IL-STE-0001") == "on_hold"
    assert range_hold.serials == ["SN-DEMO-0006", "SN-DEMO-0007"]
    assert await serial_status(runtime, "SN-DEMO-0006") == "on_hold"
    before = await counts(runtime)
    with pytest.raises(ValidationFailed, match="IL-STE-0001 is on hold; it cannot be consumed"):
        await consume(runtime, "WO-H-1", "IL-STE-0001")
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed, match="SN-DEMO-0006 is on hold; it cannot be"):
            await s.shipments.ship(
                ops, ShipmentInput("SH-H", *ST_MARYS, ["SN-DEMO-0006"], **IMPLANT_CONSIGNEE)
            )
    assert await counts(runtime) == before
    async with provide_services(runtime, qa) as s:
        await s.holds.release_internal_lot(qa, lot_id, "labels checked", QA)
        await s.holds.release(qa, range_hold.id, "reworked", QA)
        versions = await s.keeper.versions("material_hold", lot_hold.id)
        assert [(v.status, v.action, v.reason) for v in versions] == [
            ("active", "create", None),
            ("released", "release", "labels checked"),
        ]
    assert await lot_status(runtime, "IL-STE-0001") == "released"
    assert await serial_status(runtime, "SN-DEMO-0007") == "in_stock"


@pytest.mark.req("P11-08")
@pytest.mark.req("P11-20")
async def test_illegal_hold_steps_are_refused_and_write_nothing(runtime: Runtime) -> None:
    qa = await user(runtime, QA_EMAIL)
    ops = await user(runtime, OPS)
    anna = await user(runtime, "anna@acme-polymers.example")
    lot_id = await lot_id_of(runtime, "AP-24-0815")
    async with provide_services(runtime, qa) as s:
        held = await s.holds.hold_supplier_lot(qa, lot_id, HoldInput("check"), QA)
        await s.holds.release(qa, held.id, "checked", QA)
    await set_lot_status(runtime, "IL-STE-0001", "recalled")
    internal = await lot_id_of(runtime, "AP-24-0816")
    # Every legal step of the hold's state machine, and nothing else.
    assert HOLD_TRANSITIONS == {
        ("active", "release"): "released",
        ("active", "scrap"): "scrapped",
        ("active", "return"): "returned",
    }
    async with provide_services(runtime, qa) as s:
        il_ste = await s.holds.internal_lot_id(qa, "IL-STE-0001", "material.hold")
    before = await counts(runtime)
    cases: list[tuple[Actor, Any, type[Exception], str]] = [
        (qa, lambda s: s.holds.release(qa, held.id, "again", QA), Conflict, "is released"),
        (
            qa,
            lambda s: s.holds.release_supplier_lot(qa, lot_id, "x", QA),
            Conflict,
            "no active hold",
        ),
        (
            qa,
            lambda s: s.holds.hold_internal_lot(qa, il_ste, HoldInput("x"), QA),
            Conflict,
            "IL-STE-0001 is recalled",
        ),
        (
            qa,
            lambda s: s.holds.hold_supplier_lot(qa, lot_id, HoldInput(" "), QA),
            ValidationFailed,
            "Give the reason",
        ),
        (
            qa,
            lambda s: s.holds.hold_supplier_lot(qa, lot_id, HoldInput("x")),
            PermissionDenied,
            "A person signs",
        ),
        (
            qa,
            lambda s: s.holds.hold_supplier_lot(
                qa, lot_id, HoldInput("x"), replace(QA, password="wrong")
            ),
            AuthenticationFailed,
            "",
        ),
        (
            qa,
            lambda s: s.holds.hold_serials(qa, "SN-DEMO-0007", "SN-DEMO-0006", HoldInput("x"), QA),
            ValidationFailed,
            "comes before",
        ),
        (
            qa,
            lambda s: s.holds.hold_serials(qa, "SN-DEMO-0001", "SN-NOPE", HoldInput("x"), QA),
            ValidationFailed,
            "There is no serial SN-NOPE",
        ),
        (
            qa,
            lambda s: s.holds.hold_serials(qa, "SN-DEMO-0001", "SN-DEMO-0002", HoldInput("x"), QA),
            Conflict,
            "is in stock",
        ),
        (
            ops,
            lambda s: s.holds.hold_supplier_lot(ops, internal, HoldInput("x"), QA),
            PermissionDenied,
            "material.hold",
        ),
        (anna, lambda s: s.holds.hold_supplier_lot(anna, lot_id, HoldInput("x")), NotFound, ""),
        (qa, lambda s: s.holds.hold_supplier_lot(qa, 999_999, HoldInput("x"), QA), NotFound, ""),
    ]
    for actor, step, error, words in cases:
        async with provide_services(runtime, actor) as s:
            with pytest.raises(error, match=words or None):
                await step(s)
    assert await counts(runtime) == before


# -- closing a recall decides each lot ------------------------------------------------------


@pytest.mark.req("QMS-14")
@pytest.mark.req("P11-08")
async def test_closing_a_recall_says_what_becomes_of_each_lot(runtime: Runtime) -> None:
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        recall = await s.recalls.open(qa, "AP-24-0815", "particles", QA)
        assert await s.holds.recall_lots(recall) == [
            ("AP-24-0815", "supplier_lot"),
            ("FG-LOT-0001", "internal_lot"),
            ("IL-RES-0001", "internal_lot"),
        ]
    before = await counts(runtime)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed) as undecided:
            await s.recalls.close(
                qa,
                recall.id,
                "done",
                QA,
                justification="consignee closed",
                dispositions={"AP-24-0815": "burn", "IL-NOPE": "scrap"},
            )
    assert undecided.value.errors == {
        "disposition.AP-24-0815": "Choose release, scrap or return.",
        "disposition.FG-LOT-0001": (
            "Say what becomes of FG-LOT-0001: released again, scrapped or returned."
        ),
        "disposition.IL-RES-0001": (
            "Say what becomes of IL-RES-0001: released again, scrapped or returned."
        ),
        "disposition.IL-NOPE": "IL-NOPE is not a lot this recall holds.",
    }
    assert await counts(runtime) == before
    async with provide_services(runtime, qa) as s:
        await s.recalls.close(
            qa,
            recall.id,
            "supplier took the resin back",
            QA,
            justification="consignee closed",
            dispositions={"AP-24-0815": "return", "IL-RES-0001": "scrap", "FG-LOT-0001": "release"},
        )
        version = await s.keeper.latest_version("recall", recall.id)
        assert version is not None
        assert version.content["closing"]["dispositions"] == [
            {"lot": "AP-24-0815", "kind": "supplier_lot", "disposition": "return"},
            {"lot": "FG-LOT-0001", "kind": "internal_lot", "disposition": "release"},
            {"lot": "IL-RES-0001", "kind": "internal_lot", "disposition": "scrap"},
        ]
        (hold,) = await s.holds.all(qa)
        assert hold.status == "returned"
    assert await supplier_hold(runtime, "AP-24-0815") == "returned"
    assert await lot_status(runtime, "IL-RES-0001") == "rejected"
    assert await lot_status(runtime, "FG-LOT-0001") == "released"
    with pytest.raises(MaterialRefused, match=rf"AP-24-0815 was returned \({hold.number}\)"):
        await receive(runtime, await lot_id_of(runtime, "AP-24-0815"))
    # What QA released again moves again: a returned supplier lot does not stop it.
    ops = await user(runtime, OPS)
    await set_serials_in_stock(runtime, ["SN-DEMO-0006"])
    async with provide_services(runtime, ops) as s:
        await s.shipments.ship(
            ops, ShipmentInput("SH-AFTER", *ST_MARYS, ["SN-DEMO-0006"], **IMPLANT_CONSIGNEE)
        )


async def set_serials_in_stock(runtime: Runtime, serials: list[str]) -> None:
    async with runtime.sessions() as session:
        await session.execute(
            update(Serial).where(Serial.serial.in_(serials)).values(status="in_stock")
        )
        await session.commit()


async def test_every_refusal_is_a_phrase_the_portal_can_translate(runtime: Runtime) -> None:
    await set_lot_status(runtime, "IL-RES-0001", "quarantine")
    with pytest.raises(ValidationFailed) as refused:
        await consume(runtime, "WO-T-1")
    message = refused.value.errors["inputs.0"]
    fake = {
        "{record} is in quarantine; it cannot be {verb} until QA releases it.": "[{record}|{verb}]"
    }
    assert message.localized(lambda text: fake.get(text, text.upper())) == "[IL-RES-0001|CONSUMED]"  # type: ignore[attr-defined]


# -- outsourced processing: out at the run's submission, in at QA's acceptance --------------


async def test_process_runs_ask_the_gate_out_and_in(runtime: Runtime) -> None:
    from trace_core.identity.service import SigningCredentials

    from .test_processes import SAM, run, sign, submit

    sam = await user(runtime, SAM)
    await set_lot_status(runtime, "IL-RES-0001", "on_hold")
    before = await counts(runtime)
    with pytest.raises(ValidationFailed) as out:
        await submit(runtime, sam, run())
    # The contractor is told the lot is not released, nothing of our holds.
    assert out.value.errors["inputs.IL-RES-0001"] == (
        "Lot IL-RES-0001 is not released by the customer's QA; it cannot be sent out for "
        "processing."
    )
    assert await counts(runtime) == before
    await set_lot_status(runtime, "IL-RES-0001", "released")
    draft = await submit(runtime, sam, run())
    signed = await sign(runtime, sam, draft.id, draft.version)
    # Before QA accepts, the resin's supplier lot is recalled: the run cannot be accepted.
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        await s.recalls.open(qa, "AP-24-0815", "particles", QA)
    before = await counts(runtime)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(MaterialRefused) as back:
            await s.processes.decide(
                qa,
                draft.id,
                "accept",
                SigningCredentials(QA.password, QA_EMAIL),
                "",
                signed.version,
            )
    assert back.value.errors["inputs.IL-RES-0001"] == (
        "IL-RES-0001 is recalled; it cannot be accepted back from processing (only released "
        "material moves)."
    )
    assert await counts(runtime) == before
