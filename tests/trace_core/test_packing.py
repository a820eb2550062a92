"""Packing postings (genealogy: serials → case → pallet, EPCIS AggregationEvent): SSCCs typed,
scanned or allocated; every refusal precise and writing nothing; unpacking as a posting of its
own; shipping a unit ships its contents; the trace runs through the units both ways.

Demo data: SN-DEMO-0008..0010 are in case 006141410000000012 on pallet 006141410000000029,
shipped on SH-0002; SN-DEMO-0006 and 0007 are in stock and loose."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from tests.release_helpers import IMPLANT_CONSIGNEE
from trace_core.demo import DEMO_CASE_SSCC, DEMO_PALLET_SSCC, DEMO_SSCC_RANGE
from trace_core.epcis.event_hash import event_hash
from trace_core.epcis.export import packing_event
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.inventory.models import Serial
from trace_core.packing.models import PackingEvent, ShippingUnit, ShippingUnitItem
from trace_core.packing.service import PackInput, describe_shipping_units
from trace_core.packing.sscc import SsccProblem, SsccRange, read_sscc
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime, provide_services
from trace_core.shipments.models import Shipment, ShipmentItem
from trace_core.shipments.service import ShipmentInput
from trace_core.trace.models import EndedTraceEdge, TraceEdge, TraceNode

from .test_slice_services import QA, user

OPS = "ops@traceport.example"
ST_MARYS = ("St. Mary's Hospital, Central Sterile Supply", "12 Harbour Road, Cork")


def to_st_marys(*args: Any, **kwargs: Any) -> ShipmentInput:
    """A shipment to St. Mary's with the contact an implant shipment needs (QMS-12)."""
    return ShipmentInput(*args, **kwargs, **IMPLANT_CONSIGNEE)


TABLES = (
    ShippingUnit,
    ShippingUnitItem,
    PackingEvent,
    TraceNode,
    TraceEdge,
    RecordVersion,
    AuditEvent,
    Shipment,
    ShipmentItem,
)


async def counts(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {
            t.__tablename__: int(await session.scalar(select(func.count()).select_from(t)) or 0)
            for t in TABLES
        }


async def serial_status(runtime: Runtime, serial: str) -> str:
    async with runtime.sessions() as session:
        return str(await session.scalar(select(Serial.status).where(Serial.serial == serial)))


async def pack(runtime: Runtime, actor: Actor, data: PackInput) -> ShippingUnit:
    async with provide_services(runtime, actor) as s:
        return await s.packing.pack(actor, data)


async def close(runtime: Runtime, actor: Actor, sscc: str) -> ShippingUnit:
    async with provide_services(runtime, actor) as s:
        return await s.packing.close(actor, sscc)


def test_sscc_reading_and_allocation() -> None:
    ours = SsccRange("0614141", 3)
    assert ours.make(1) == "306141410000000013"
    assert ours.reference_of(ours.make(42)) == 42 and ours.owns("006141419999999996")
    sscc = ours.make(7)
    for spelling in (
        sscc,
        f"(00){sscc}",
        f"00{sscc}",
        f"]C100{sscc}",
        f"https://id.gs1.org/00/{sscc}",
    ):
        assert read_sscc(spelling) == sscc
    with pytest.raises(SsccProblem, match="check digit is 0, expected 7"):
        read_sscc("106141411234567890")
    with pytest.raises(SsccProblem, match="is not an SSCC"):
        read_sscc("(01)00614141000012")
    with pytest.raises(SsccProblem, match="an SSCC has 18 digits; '12345' has 5"):
        read_sscc("12345")
    with pytest.raises(ValueError, match="6 to 12 digits"):
        SsccRange("12AB")
    with pytest.raises(SsccProblem, match="used up"):
        SsccRange("061414100000", 0).make(100_000)


@pytest.mark.req("QMS-11")
@pytest.mark.req("UDI-01")
async def test_demo_pallet_traces_forward_and_backward_from_any_spelling(
    runtime: Runtime,
) -> None:
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        for spelling in (
            DEMO_PALLET_SSCC,
            f"(00){DEMO_PALLET_SSCC}",
            f"https://id.gs1.org/00/{DEMO_PALLET_SSCC}",
        ):
            forward = await s.trace.forward(qa, spelling)
            kinds = {(n.kind, n.identifier) for n in forward.nodes.values()}
            assert ("shipment", "SH-0002") in kinds, spelling
            assert [c["shipment"] for c in forward.consignees()] == ["SH-0002"]
        backward = await s.trace.backward(qa, DEMO_PALLET_SSCC)
        found = {(n.kind, n.identifier) for n in backward.nodes.values()}
        assert ("shipping_unit", DEMO_CASE_SSCC) in found
        assert {f"SN-DEMO-{i:04d}" for i in (8, 9, 10)} <= {i for k, i in found if k == "serial"}
        assert ("supplier_lot", "AP-24-0815") in found
        case_forward = await s.trace.forward(qa, f"(00){DEMO_CASE_SSCC}")
        assert ("shipping_unit", DEMO_PALLET_SSCC) in {
            (n.kind, n.identifier) for n in case_forward.nodes.values()
        }
        serial_forward = await s.trace.forward(qa, "SN-DEMO-0009")
        packing = [e for e in serial_forward.edges if e.kind == "packing"]
        assert len(packing) == 2  # serial → case → pallet
        # The recall scope sees the packed serials as shipped on SH-0002.
        scope = await s.recalls.preview(qa, "FG-LOT-0001")
        shipped = {
            serial: group["shipment"]
            for group in scope["serial_groups"]
            for serial in group["serials"]
        }
        assert shipped["SN-DEMO-0008"] == shipped["SN-DEMO-0010"] == "SH-0002"
        units = await s.packing.units(qa)
        evidence = await describe_shipping_units(s.session, [u.id for u in units])
    pallet = next(e for e in evidence.values() if e["sscc"] == DEMO_PALLET_SSCC)
    assert pallet["level"] == "pallet" and pallet["status"] == "shipped"
    assert pallet["shipment"] == "SH-0002" and pallet["cases"] == 1 and pallet["serials"] == 0
    case = next(e for e in evidence.values() if e["sscc"] == DEMO_CASE_SSCC)
    assert case["on_pallet"] == DEMO_PALLET_SSCC and case["serials"] == 3
    assert case["record"]["type"] == "shipping_unit"


@pytest.mark.req("P11-05")
@pytest.mark.req("QMS-11")
async def test_allocated_sscc_pack_close_pallet_and_ship(runtime: Runtime) -> None:
    ops = await user(runtime, OPS)
    before = await counts(runtime)
    case = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    # The next number of our range after the demo's two units, check digit computed.
    assert case.sscc == DEMO_SSCC_RANGE.make(3) and case.allocated
    case = await pack(runtime, ops, PackInput(f"(00){case.sscc}", "", ["SN-DEMO-0007"]))
    after = await counts(runtime)
    assert after["packing_events"] == before["packing_events"] + 2
    assert after["trace_edges"] == before["trace_edges"] + 2
    async with provide_services(runtime, ops) as s:
        versions = await s.keeper.versions("shipping_unit", case.id)
        assert [(v.version, v.action, v.status) for v in versions] == [
            (1, "create", "open"),
            (2, "pack", "open"),
        ]
        assert versions[-1].content["serials"] == ["SN-DEMO-0006", "SN-DEMO-0007"]
        audit = list(
            await s.session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.record_type == "shipping_unit", AuditEvent.record_id == case.id
                )
            )
        )
        assert audit == ["create", "pack"]
    await close(runtime, ops, case.sscc)
    pallet = await pack(runtime, ops, PackInput("", "pallet", units=[case.sscc]))
    assert pallet.sscc == DEMO_SSCC_RANGE.make(4)
    await close(runtime, ops, pallet.sscc)
    async with provide_services(runtime, ops) as s:
        shipment = await s.shipments.ship(
            ops, to_st_marys("SH-PACK-1", *ST_MARYS, [], units=[pallet.sscc])
        )
        version = await s.keeper.latest_version("shipment", shipment.id)
        assert version is not None and version.content["units"] == [pallet.sscc]
        assert sorted(version.content["serials"]) == ["SN-DEMO-0006", "SN-DEMO-0007"]
    assert await serial_status(runtime, "SN-DEMO-0006") == "shipped"
    async with runtime.sessions() as session:
        statuses = dict(
            (
                await session.execute(
                    select(ShippingUnit.sscc, ShippingUnit.status).where(
                        ShippingUnit.sscc.in_([case.sscc, pallet.sscc])
                    )
                )
            ).all()
        )
    assert statuses == {case.sscc: "shipped", pallet.sscc: "shipped"}
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        forward = await s.trace.forward(qa, "SN-DEMO-0006")
        assert "SH-PACK-1" in {n.identifier for n in forward.nodes.values()}
        with pytest.raises(Conflict, match="only an open unit takes more"):
            await s.packing.pack(ops, PackInput(case.sscc, "", ["SN-DEMO-0001"]))
        with pytest.raises(Conflict, match="was shipped on SH-PACK-1"):
            await s.packing.unpack(ops, case.sscc, ["SN-DEMO-0006"], [], "mistake")


@pytest.mark.req("UDI-01")
@pytest.mark.req("A11-02")
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (PackInput("106141411234567890", "case", ["SN-DEMO-0006"]), "sscc", "expected 7"),
        (PackInput("(00)106141411234567890", "case", ["SN-DEMO-0006"]), "sscc", "expected 7"),
        (PackInput("(01)00614141000012", "case", ["SN-DEMO-0006"]), "sscc", "is not an SSCC"),
        (PackInput("12345", "case", ["SN-DEMO-0006"]), "sscc", "18 digits"),
        (
            PackInput(SsccRange("0614142").make(1), "case", ["SN-DEMO-0006"]),
            "sscc",
            "does not carry our GS1 company prefix 0614141",
        ),
        (PackInput("", "crate", ["SN-DEMO-0006"]), "level", "Choose case or pallet"),
        (PackInput("", "case", []), "serials", "Scan at least one serial"),
        (PackInput("", "case", ["SN-NOPE"]), "serials", "SN-NOPE does not exist"),
        (PackInput("", "case", ["SN-DEMO-0001"]), "serials", "SN-DEMO-0001 is shipped"),
        (
            PackInput("", "case", ["SN-DEMO-0008"]),
            "serials",
            "SN-DEMO-0008 is shipped",
        ),
        (
            PackInput("", "case", ["SN-DEMO-0006"], [DEMO_CASE_SSCC]),
            "units",
            "Only a pallet takes cases",
        ),
        (PackInput("", "pallet", units=[DEMO_PALLET_SSCC]), "units", "only cases go onto"),
        (PackInput("", "pallet", units=[DEMO_CASE_SSCC]), "units", "was shipped"),
        (
            PackInput("", "pallet", units=[SsccRange("0614141").make(99)]),
            "units",
            "no shipping unit has SSCC",
        ),
        (PackInput(DEMO_CASE_SSCC, "pallet", ["SN-DEMO-0006"]), None, "is shipped"),
    ],
)
async def test_bad_packings_are_refused_precisely_and_write_nothing(
    runtime: Runtime, data: PackInput, field: str | None, message: str
) -> None:
    ops = await user(runtime, OPS)
    before = await counts(runtime)
    with pytest.raises((ValidationFailed, Conflict)) as raised:
        await pack(runtime, ops, data)
    if field is not None:
        assert isinstance(raised.value, ValidationFailed)
        assert message in raised.value.errors[field], raised.value.errors
    else:
        assert message in raised.value.message
    assert await counts(runtime) == before


@pytest.mark.req("QMS-10")
@pytest.mark.req("QMS-14")
async def test_held_and_already_packed_serials_cannot_be_packed_or_shipped(
    runtime: Runtime,
) -> None:
    ops = await user(runtime, OPS)
    case = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    with pytest.raises(ValidationFailed) as twice:
        await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    assert twice.value.errors["serials"] == f"SN-DEMO-0006 is already packed in {case.sscc}."
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as loose:
            await s.shipments.ship(ops, to_st_marys("SH-L", *ST_MARYS, ["SN-DEMO-0006"]))
        assert "is packed in" in loose.value.errors["serials"]
        assert "ship the unit or unpack it first" in loose.value.errors["serials"]
        with pytest.raises(ValidationFailed) as still_open:
            await s.shipments.ship(ops, to_st_marys("SH-O", *ST_MARYS, [], units=[case.sscc]))
        assert "is still open; close it before shipping" in still_open.value.errors["units"]
    await close(runtime, ops, case.sscc)
    # A recall puts the packed (still in stock) serial on hold, and the unit cannot ship.
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        await s.recalls.open(qa, "FG-LOT-0001", "particles", QA)
    assert await serial_status(runtime, "SN-DEMO-0006") == "on_hold"
    before = await counts(runtime)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as held:
            await s.shipments.ship(ops, to_st_marys("SH-H", *ST_MARYS, [], units=[case.sscc]))
    assert f"SN-DEMO-0006 (in {case.sscc}) is on hold" in held.value.errors["serials"]
    with pytest.raises(ValidationFailed) as held_pack:
        await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0007"]))
    assert (
        held_pack.value.errors["serials"] == ("SN-DEMO-0007 is on hold; it cannot be packed.")
        or "recalled" in held_pack.value.errors["serials"]
    )
    assert await counts(runtime) == before


@pytest.mark.req("QMS-11")
@pytest.mark.req("P11-05")
async def test_unpacking_is_a_posting_with_a_reason_and_unlinks_the_trace(
    runtime: Runtime,
) -> None:
    ops = await user(runtime, OPS)
    case = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006", "SN-DEMO-0007"]))
    await close(runtime, ops, case.sscc)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as no_reason:
            await s.packing.unpack(ops, case.sscc, ["SN-DEMO-0006"], [], " ")
        assert no_reason.value.errors["reason"] == "Say why the unit is unpacked."
        with pytest.raises(ValidationFailed) as absent:
            await s.packing.unpack(ops, case.sscc, ["SN-DEMO-0001"], [], "wrong")
        assert absent.value.errors["serials"] == f"Not in {case.sscc}: SN-DEMO-0001."
        with pytest.raises(ValidationFailed) as unknown:
            await s.packing.unpack(ops, DEMO_SSCC_RANGE.make(500), ["SN-DEMO-0006"], [], "x")
        assert "No shipping unit has SSCC" in unknown.value.errors["sscc"]
        with pytest.raises(ValidationFailed) as invalid:
            await s.packing.unpack(ops, "(00)106141411234567890", ["SN-DEMO-0006"], [], "x")
        assert "check digit" in invalid.value.errors["sscc"]
        unit = await s.packing.unpack(ops, case.sscc, ["SN-DEMO-0006"], [], "wrong serial packed")
        assert unit.status == "open"  # the seal is broken
        contents = await s.packing.contents(unit)
        assert [x.serial for x in contents.serials] == ["SN-DEMO-0007"]
        history = await s.packing.history(unit)
        assert [(e.action, e.serials, e.reason) for e in history] == [
            ("ADD", ["SN-DEMO-0006", "SN-DEMO-0007"], None),
            ("DELETE", ["SN-DEMO-0006"], "wrong serial packed"),
        ]
        versions = await s.keeper.versions("shipping_unit", unit.id)
        assert [(v.action, v.status, v.reason) for v in versions] == [
            ("create", "open", None),
            ("close", "closed", None),
            ("unpack", "open", "wrong serial packed"),
        ]
        unlinked = await s.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "genealogy_unlinked", AuditEvent.record_id == unit.id
            )
        )
        assert unlinked is not None and unlinked.new_values["serials"] == ["SN-DEMO-0006"]
        # The ended edge is kept whole, with the unpacking that ended it and why.
        ended = (await s.session.scalars(select(EndedTraceEdge))).all()
        assert [e.id for e in ended] == unlinked.new_values["trace_edges_ended"]
        assert len(ended) == 1
        edge = ended[0]
        assert (edge.kind, edge.source_kind, edge.target_kind) == (
            "packing",
            "serial",
            "shipping_unit",
        )
        assert (edge.event_type, edge.ended_by_type) == ("packing", "packing")
        assert edge.ended_by_id == history[1].id and edge.reason == "wrong serial packed"
        assert edge.ended_at >= edge.created_at
        assert await s.session.get(TraceEdge, edge.id) is None
        forward = await s.trace.forward(ops, "SN-DEMO-0006")
        assert case.sscc not in {n.identifier for n in forward.nodes.values()}
        backward = await s.trace.backward(ops, case.sscc)
        assert {n.identifier for n in backward.nodes.values() if n.kind == "serial"} == {
            "SN-DEMO-0007"
        }
    # Free to be packed again, elsewhere.
    again = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    assert again.sscc != case.sscc


@pytest.mark.req("P11-05")
async def test_ended_edges_cannot_be_changed_or_deleted(runtime: Runtime) -> None:
    """The database itself refuses to rewrite the history of the genealogy."""
    ops = await user(runtime, OPS)
    case = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    async with provide_services(runtime, ops) as s:
        await s.packing.unpack(ops, case.sscc, ["SN-DEMO-0006"], [], "wrong case")
    for statement in (
        update(EndedTraceEdge).values(reason="nothing happened"),
        delete(EndedTraceEdge),
    ):
        async with runtime.sessions() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(statement)
            await session.rollback()
    async with runtime.sessions() as session:
        reasons = (await session.scalars(select(EndedTraceEdge.reason))).all()
    assert reasons == ["wrong case"]


async def test_shipping_units_refusals(runtime: Runtime) -> None:
    ops = await user(runtime, OPS)
    case = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    await close(runtime, ops, case.sscc)
    pallet = await pack(runtime, ops, PackInput("", "pallet", units=[case.sscc]))
    with pytest.raises(ValidationFailed) as on_pallet:
        await pack(runtime, ops, PackInput("", "pallet", units=[case.sscc]))
    assert f"already on pallet {pallet.sscc}" in on_pallet.value.errors["units"]
    await close(runtime, ops, pallet.sscc)
    before = await counts(runtime)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as inner:
            await s.shipments.ship(ops, to_st_marys("SH-I", *ST_MARYS, [], units=[case.sscc]))
        assert f"is on pallet {pallet.sscc}; ship the pallet" in inner.value.errors["units"]
        with pytest.raises(ValidationFailed) as shipped:
            await s.shipments.ship(
                ops, to_st_marys("SH-S", *ST_MARYS, [], units=[DEMO_PALLET_SSCC])
            )
        assert "was already shipped on SH-0002" in shipped.value.errors["units"]
        with pytest.raises(ValidationFailed) as nothing:
            await s.shipments.ship(ops, to_st_marys("SH-N", *ST_MARYS, []))
        assert "serial number or shipping unit" in nothing.value.errors["serials"]
        with pytest.raises(Conflict, match="only an open unit closes"):
            await s.packing.close(ops, pallet.sscc)
    assert await counts(runtime) == before
    supplier = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, supplier) as s:
        with pytest.raises(Exception) as refused:
            await s.packing.pack(supplier, PackInput("", "case", ["SN-DEMO-0007"]))
        assert type(refused.value).__name__ in ("PermissionDenied", "NotFound")
        with pytest.raises(NotFound):
            await s.packing.get(supplier, DEMO_CASE_SSCC)
        with pytest.raises(PermissionDenied):
            await s.packing.units(supplier)


async def test_one_serial_in_one_open_unit_even_without_the_service(runtime: Runtime) -> None:
    """The partial unique index holds against two concurrent packings the checks missed."""
    from sqlalchemy.exc import IntegrityError

    ops = await user(runtime, OPS)
    case = await pack(runtime, ops, PackInput("", "case", ["SN-DEMO-0006"]))
    async with runtime.sessions() as session:
        item = await session.scalar(
            select(ShippingUnitItem).where(ShippingUnitItem.unit_id == case.id)
        )
        assert item is not None
        session.add(
            ShippingUnitItem(
                unit_id=case.id, serial_id=item.serial_id, packed_by_id=item.packed_by_id
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()


@pytest.mark.req("EPC-04")
async def test_packing_postings_have_event_hash_ids(runtime: Runtime) -> None:
    ops = await user(runtime, OPS)
    async with provide_services(runtime, ops) as s:
        unit = await s.packing.get(ops, DEMO_CASE_SSCC)
        ((event, event_id),) = await s.packing.history_with_event_ids(unit)
        serials = list(
            (
                await s.session.scalars(
                    select(Serial).where(Serial.serial.in_(event.serials)).order_by(Serial.serial)
                )
            ).unique()
        )
        exported: dict[str, Any] = packing_event(event, unit.sscc, serials)
    assert exported["type"] == "AggregationEvent" and exported["action"] == "ADD"
    assert exported["bizStep"] == "packing"
    assert exported["parentID"] == f"https://id.gs1.org/00/{DEMO_CASE_SSCC}"
    assert exported["childEPCs"] == [
        f"https://id.gs1.org/01/00614141000012/21/SN-DEMO-{i:04d}" for i in (8, 9, 10)
    ]
    assert event_id == event_hash(exported) and event_id.startswith("ni:///sha-256;")
