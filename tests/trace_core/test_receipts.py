"""Goods receipts against what was shipped, receipt numbers, and incoming inspection (QMS-06,
QMS-10), on both backends through the services.

The demo gives: AP-24-0815 (RES-100, 25 kg, all received), AP-24-0816 (RES-100, 25 kg,
submitted, none received), AP-24-0901 (RES-200, 20 kg, CoA approved, 10 kg received as
IL-RES2-0001 with a pending inspection; RES-200 has a 2 % tolerance and an inspection plan).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import row_counts
from trace_core.demo import DEMO_PASSWORD
from trace_core.errors import AuthenticationFailed, Conflict, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.inventory.models import InternalLot
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part
from trace_core.receipts.inspection import PlanItemInput, ResultEntry
from trace_core.receipts.models import Receipt, ReceiptInspection
from trace_core.receipts.service import ReceiptInput, ReceiptRefused
from trace_core.records.models import AuditEvent
from trace_core.services import Runtime, provide_services
from trace_core.units import UnitError, convert_quantity

OPS, QA_EMAIL = "ops@traceport.example", "qa@traceport.example"
QA = SigningCredentials(DEMO_PASSWORD, QA_EMAIL)
#: Tables a refused receipt or inspection step must leave as they were.
TABLES = (
    "receipts",
    "internal_lots",
    "trace_edges",
    "trace_nodes",
    "receipt_inspections",
    "inspection_results",
    "record_versions",
    "audit_events",
    "signatures",
)
PASS = [ResultEntry("APPEAR", "pass", "5"), ResultEntry("MOIST", "0.03", "3", "%")]
FAIL = [ResultEntry("APPEAR", "pass", "5"), ResultEntry("MOIST", "0.09", "3", "%")]


async def person(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


async def lot_id(runtime: Runtime, lot_number: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(SupplierLot.id).where(SupplierLot.lot_number == lot_number)
        )
        assert found is not None
        return found


async def receive(
    runtime: Runtime, lot_number: str, quantity: str, unit: str | None = None
) -> Receipt:
    ops = await person(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        return await s.receipts.post(
            ops, ReceiptInput(await lot_id(runtime, lot_number), quantity, None, unit)
        )


async def inspection_of(runtime: Runtime, receipt_id: int) -> ReceiptInspection:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(ReceiptInspection).where(ReceiptInspection.receipt_id == receipt_id)
        )
        assert found is not None
        return found


async def demo_inspection(runtime: Runtime) -> ReceiptInspection:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(ReceiptInspection)
            .join(Receipt, Receipt.id == ReceiptInspection.receipt_id)
            .join(InternalLot, InternalLot.id == Receipt.internal_lot_id)
            .where(InternalLot.lot_number == "IL-RES2-0001")
        )
        assert found is not None
        return found


async def record(runtime: Runtime, inspection_id: int, entries: list[ResultEntry]) -> str:
    ops = await person(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        current = await s.inspections.get(ops, inspection_id)
        done = await s.inspections.record_results(ops, inspection_id, entries, current.version)
        return done.status


async def release(runtime: Runtime, inspection_id: int) -> str:
    qa = await person(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        current = await s.inspections.get(qa, inspection_id)
        done = await s.inspections.release(qa, inspection_id, QA, "checked", current.version)
        return done.status


async def lot_status(runtime: Runtime, lot_number: str) -> str:
    async with runtime.sessions() as session:
        status = await session.scalar(
            select(InternalLot.status).where(InternalLot.lot_number == lot_number)
        )
        assert status is not None
        return status


# -- units --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit", "into", "expected"),
    [
        ("1500", "g", "kg", "1.5"),
        ("2", "t", "kg", "2000"),
        ("3", "kg", "g", "3000"),
        ("250", "ml", "l", "0.25"),
        ("5", "load", "load", "5"),
        ("5", "KG", "kg", "5"),
        ("12", "pieces", "pcs", "12"),
        ("0.5", "kg", "kg", "0.5"),
    ],
)
def test_units_convert_exactly(quantity: str, unit: str, into: str, expected: str) -> None:
    assert convert_quantity(Decimal(quantity), unit, into) == Decimal(expected)


@pytest.mark.parametrize(
    ("unit", "into", "reason"),
    [
        ("l", "kg", "incompatible"),
        ("pcs", "kg", "incompatible"),
        ("kg", "load", "incompatible"),
        ("load", "kg", "unknown"),
        ("bucket", "kg", "unknown"),
        ("", "kg", "missing"),
        ("mg", "t", "inexact"),
    ],
)
def test_units_refuse_what_cannot_be_converted(unit: str, into: str, reason: str) -> None:
    with pytest.raises(UnitError) as err:
        convert_quantity(Decimal(1), unit, into)
    assert err.value.reason == reason


# -- receipts against what was shipped ---------------------------------------------------------


@pytest.mark.req("QMS-06")
async def test_a_lot_received_in_full_cannot_be_received_again(runtime: Runtime) -> None:
    """The issue's reproduction: a lot declared as 25 kg and received as 25 kg took another
    25 kg without a word. Now not a gram more."""
    before = await row_counts(runtime, TABLES)
    with pytest.raises(ReceiptRefused) as err:
        await receive(runtime, "AP-24-0815", "0.000001")
    assert err.value.field == "quantity"
    message = err.value.message
    assert "AP-24-0815" in message and "RES-100" in message
    assert "declared as 25 kg" in message and "25 kg were received before" in message
    assert "at most 0 kg now" in message
    assert await row_counts(runtime, TABLES) == before


@pytest.mark.req("QMS-06")
@pytest.mark.parametrize(
    ("steps", "refused_at"),
    [
        # (quantity, unit) in order; refused_at: index of the first refused step (None: all fit)
        ([("25", None)], None),
        ([("25.000001", None)], 0),
        ([("10", None), ("15", None)], None),
        ([("10", None), ("15", None), ("0.000001", None)], 2),
        ([("12500", "g"), ("12.5", "kg")], None),
        ([("12500", "g"), ("12500.001", "g")], 1),
        ([("0.025", "t")], None),
        ([("0.026", "t")], 0),
    ],
)
async def test_partial_receipts_add_up_to_the_declared_quantity(
    runtime: Runtime, steps: list[tuple[str, str | None]], refused_at: int | None
) -> None:
    """AP-24-0816 was declared as 25 kg and RES-100 has no tolerance."""
    for index, (quantity, unit) in enumerate(steps):
        if index == refused_at:
            before = await row_counts(runtime, TABLES)
            with pytest.raises(ReceiptRefused):
                await receive(runtime, "AP-24-0816", quantity, unit)
            assert await row_counts(runtime, TABLES) == before
            return
        receipt = await receive(runtime, "AP-24-0816", quantity, unit)
        assert receipt.unit == "kg"
        assert receipt.quantity_received == Decimal(quantity)
        assert receipt.unit_received == (unit or "kg")
    assert refused_at is None


@pytest.mark.req("QMS-06")
@pytest.mark.parametrize(
    ("quantity", "unit", "allowed"),
    [("10.4", None, True), ("10.41", None, False), ("10400", "g", True), ("10401", "g", False)],
)
async def test_the_parts_tolerance_allows_a_little_more_and_no_more(
    runtime: Runtime, quantity: str, unit: str | None, allowed: bool
) -> None:
    """AP-24-0901: 20 kg declared, 10 kg received, RES-200's tolerance 2 % → 10.4 kg more."""
    if allowed:
        receipt = await receive(runtime, "AP-24-0901", quantity, unit)
        assert receipt.quantity == Decimal("10.4")
        return
    with pytest.raises(ReceiptRefused) as err:
        await receive(runtime, "AP-24-0901", quantity, unit)
    assert "tolerance of 2 %" in err.value.message
    assert "at most 20.4 kg may be received in all" in err.value.message
    assert "at most 10.4 kg now" in err.value.message


@pytest.mark.parametrize(
    ("quantity", "unit", "field"),
    [
        ("", None, "quantity"),
        ("ten", None, "quantity"),
        ("-1", None, "quantity"),
        ("1", "l", "unit"),
        ("1", "bucket", "unit"),
        ("1", "  ", "unit"),
        ("0.0000001", "t", "quantity"),
        ("0.1", "mg", "unit"),
    ],
)
async def test_unusable_quantities_and_units_are_refused_naming_the_field(
    runtime: Runtime, quantity: str, unit: str | None, field: str
) -> None:
    before = await row_counts(runtime, TABLES)
    with pytest.raises(ValidationFailed) as err:
        await receive(runtime, "AP-24-0816", quantity, unit)
    assert field in err.value.errors, err.value.errors
    assert await row_counts(runtime, TABLES) == before


async def test_a_tolerance_is_0_to_100_percent(runtime: Runtime) -> None:
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        part = await s.session.scalar(select(Part).where(Part.number == "RES-100"))
        assert part is not None and part.over_receipt_tolerance_pct == 0
        for bad in ("-1", "101", "x", "NaN"):
            with pytest.raises(ValidationFailed):
                await s.receipts.set_tolerance(system, part, bad)
        ops = await person(runtime, OPS)
        with pytest.raises(PermissionDenied):
            await s.receipts.set_tolerance(ops, part, "5")


# -- receipt numbers ---------------------------------------------------------------------------


async def test_receipt_numbers_come_from_the_sequence_not_from_counting(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        existing = list(await session.scalars(select(Receipt.number)))
    assert {"GR-000001", "GR-000002", "GR-000003"} <= set(existing)
    first = await receive(runtime, "AP-24-0816", "1")
    second = await receive(runtime, "AP-24-0816", "1")
    numbers = [first.number, second.number]
    assert all(n.startswith("GR-") and len(n) == 9 for n in numbers)
    assert int(second.number[3:]) > int(first.number[3:]) > max(int(n[3:]) for n in existing)
    assert first.internal_lot.lot_number == f"IL-{first.number[3:]}"


# -- incoming inspection -----------------------------------------------------------------------


@pytest.mark.req("QMS-06")
async def test_a_receipt_of_an_inspected_part_waits_for_the_inspections_release(
    runtime: Runtime,
) -> None:
    """AP-24-0901's CoA is approved, yet its receipt is quarantined until the inspection is
    passed and released by QA with a signature."""
    receipt = await receive(runtime, "AP-24-0901", "5")
    assert receipt.internal_lot.status == "quarantine"
    inspection = await inspection_of(runtime, receipt.id)
    assert (inspection.status, inspection.version) == ("pending", 1)
    assert await record(runtime, inspection.id, PASS) == "passed"
    assert await lot_status(runtime, receipt.internal_lot.lot_number) == "quarantine"
    assert await release(runtime, inspection.id) == "released"
    assert await lot_status(runtime, receipt.internal_lot.lot_number) == "released"
    qa = await person(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        detail = await s.inspections.detail(qa, inspection.id)
        assert [(v.version, v.status) for v in detail.versions] == [
            (1, "pending"),
            (2, "passed"),
            (3, "released"),
        ]
        assert [(x.printed_name, x.meaning, x.version) for x in detail.signatures] == [
            ("Quinn Avery", "released", 2)
        ]
        assert [(r.code, r.verdict) for r in detail.inspection.results] == [
            ("APPEAR", "pass"),
            ("MOIST", "pass"),
        ]


@pytest.mark.req("QMS-06")
@pytest.mark.req("QMS-10")
async def test_a_failed_inspection_rejects_the_lot_and_calls_the_hook(runtime: Runtime) -> None:
    inspection = await demo_inspection(runtime)
    assert await record(runtime, inspection.id, FAIL) == "failed"
    assert await lot_status(runtime, "IL-RES2-0001") == "rejected"
    async with runtime.sessions() as session:
        events = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "inspection_failed",
                    AuditEvent.record_type == "receipt_inspection",
                    AuditEvent.record_id == inspection.id,
                )
            )
        )
    assert len(events) == 1
    assert events[0].new_values is not None
    assert events[0].new_values["failed"][0]["code"] == "MOIST"


@pytest.mark.req("QMS-06")
async def test_approving_the_coa_does_not_release_a_lot_awaiting_inspection(
    runtime: Runtime,
) -> None:
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        part = await s.session.scalar(select(Part).where(Part.number == "RES-100"))
        assert part is not None
        await s.inspections.set_plan(
            system, part, [PlanItemInput("APPEAR", "Pellets", "pass_fail", 2)]
        )
        await s.keeper.commit()
    receipt = await receive(runtime, "AP-24-0816", "5")
    internal = receipt.internal_lot.lot_number
    assert receipt.internal_lot.status == "quarantine"
    qa = await person(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        lot = await s.lots.get(qa, await lot_id(runtime, "AP-24-0816"))
        await s.lots.decide(qa, lot.id, "approve", QA, "MFI justified", lot.version)
    assert await lot_status(runtime, internal) == "quarantine"
    inspection = await inspection_of(runtime, receipt.id)
    assert await record(runtime, inspection.id, [ResultEntry("APPEAR", "pass", "2")]) == "passed"
    assert await release(runtime, inspection.id) == "released"
    assert await lot_status(runtime, internal) == "released"


@pytest.mark.req("QMS-06")
async def test_a_released_inspection_waits_for_the_coa(runtime: Runtime) -> None:
    """Inspected first, CoA approved later: the approval releases the lot."""
    system = Actor.system()
    async with provide_services(runtime, system) as s:
        part = await s.session.scalar(select(Part).where(Part.number == "RES-100"))
        assert part is not None
        await s.inspections.set_plan(
            system, part, [PlanItemInput("APPEAR", "Pellets", "pass_fail", 2)]
        )
        await s.keeper.commit()
    receipt = await receive(runtime, "AP-24-0816", "5")
    inspection = await inspection_of(runtime, receipt.id)
    await record(runtime, inspection.id, [ResultEntry("APPEAR", "pass", "2")])
    assert await release(runtime, inspection.id) == "released"
    internal = receipt.internal_lot.lot_number
    assert await lot_status(runtime, internal) == "quarantine"
    qa = await person(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        lot = await s.lots.get(qa, await lot_id(runtime, "AP-24-0816"))
        await s.lots.decide(qa, lot.id, "approve", QA, "MFI justified", lot.version)
    assert await lot_status(runtime, internal) == "released"


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([ResultEntry("APPEAR", "pass", "5")], "value_MOIST"),
        ([ResultEntry("APPEAR", "pass", "4"), PASS[1]], "sampled_APPEAR"),
        ([ResultEntry("APPEAR", "pass", "x"), PASS[1]], "sampled_APPEAR"),
        ([ResultEntry("APPEAR", "maybe", "5"), PASS[1]], "value_APPEAR"),
        ([PASS[0], ResultEntry("MOIST", "dry", "3")], "value_MOIST"),
        ([PASS[0], ResultEntry("MOIST", "0.03", "3", "litre")], "value_MOIST"),
        ([*PASS, ResultEntry("XYZ", "1", "1")], "results"),
        ([*PASS, PASS[0]], "results"),
    ],
)
async def test_unusable_results_are_refused_naming_the_field(
    runtime: Runtime, entries: list[ResultEntry], field: str
) -> None:
    inspection = await demo_inspection(runtime)
    before = await row_counts(runtime, TABLES)
    with pytest.raises(ValidationFailed) as err:
        await record(runtime, inspection.id, entries)
    assert field in err.value.errors, err.value.errors
    assert await row_counts(runtime, TABLES) == before
    assert (await demo_inspection(runtime)).status == "pending"


async def _inspection_in(runtime: Runtime, state: str) -> int:
    """A fresh inspection (a new receipt of AP-24-0901) brought to ``state`` the legal way."""
    receipt = await receive(runtime, "AP-24-0901", "1")
    inspection = await inspection_of(runtime, receipt.id)
    if state in ("passed", "released"):
        await record(runtime, inspection.id, PASS)
    if state == "failed":
        await record(runtime, inspection.id, FAIL)
    if state == "released":
        await release(runtime, inspection.id)
    return inspection.id


@pytest.mark.req("QMS-06")
@pytest.mark.parametrize(
    ("state", "action"),
    [
        (state, action)
        for state in ("pending", "passed", "failed", "released")
        for action in ("record", "release")
        if (state, action) not in {("pending", "record"), ("passed", "release")}
    ],
)
async def test_illegal_inspection_steps_are_refused_and_change_nothing(
    runtime: Runtime, state: str, action: str
) -> None:
    inspection_id = await _inspection_in(runtime, state)
    before = await row_counts(runtime, TABLES)
    with pytest.raises(Conflict, match=f"inspection that is {state} cannot be"):
        if action == "record":
            await record(runtime, inspection_id, PASS)
        else:
            await release(runtime, inspection_id)
    assert await row_counts(runtime, TABLES) == before


async def test_release_needs_qa_a_person_and_the_version_seen(runtime: Runtime) -> None:
    inspection = await demo_inspection(runtime)
    await record(runtime, inspection.id, PASS)
    ops = await person(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(PermissionDenied):
            await s.inspections.release(ops, inspection.id, QA, "", 2)
    qa = await person(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(Conflict, match="changed while you were looking"):
            await s.inspections.release(qa, inspection.id, QA, "", 1)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(AuthenticationFailed):
            await s.inspections.release(
                qa, inspection.id, SigningCredentials("wrong-password", QA_EMAIL), "", 2
            )
    assert (await demo_inspection(runtime)).status == "passed"


async def test_whoever_entered_the_results_cannot_release_them(runtime: Runtime) -> None:
    qa = await person(runtime, QA_EMAIL)
    # A QA approver who may also post receipts (a small site's goods-in).
    both = Actor(
        qa.kind,
        qa.id,
        qa.name,
        qa.organization_id,
        qa.organization_kind,
        qa.channel,
        qa.permissions | {"receipts.post"},
        qa.session_id,
    )
    inspection = await demo_inspection(runtime)
    async with provide_services(runtime, both) as s:
        await s.inspections.record_results(both, inspection.id, PASS, 1)
    async with provide_services(runtime, both) as s:
        with pytest.raises(PermissionDenied, match="another person releases it"):
            await s.inspections.release(both, inspection.id, QA, "", 2)


async def test_a_rejected_lot_is_not_released_by_its_inspection(runtime: Runtime) -> None:
    """The CoA was rejected after goods-in passed the inspection: the release is refused,
    naming the lot."""
    inspection = await demo_inspection(runtime)
    await record(runtime, inspection.id, PASS)
    async with provide_services(runtime, Actor.system()) as s:
        lot = await s.inventory.lot_by_number(Actor.system(), "IL-RES2-0001")
        await s.inventory.set_status(lot, "rejected", "test: CoA withdrawn")
        await s.keeper.commit()
    with pytest.raises(ReceiptRefused, match="internal lot IL-RES2-0001 is rejected"):
        await release(runtime, inspection.id)


async def test_results_are_append_only(runtime: Runtime, backend: str) -> None:
    inspection = await demo_inspection(runtime)
    await record(runtime, inspection.id, PASS)
    async with runtime.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(ReceiptInspection))
        assert count
        with pytest.raises(DBAPIError):
            await session.execute(text("UPDATE inspection_results SET value = 'x'"))
