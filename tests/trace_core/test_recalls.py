"""Recall from a suspect supplier lot (QMS-14) and the supplied-by / supplied-to report
(MDR-01), on the demo plant: AP-24-0815 → IL-RES-0001 → WO-1001 → FG-LOT-0001 →
SN-DEMO-0001..0010, of which 0001..0005 went to St. Mary's on SH-0001 and 0008..0010, packed
in a case on a pallet, on SH-0002."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import String, select

from trace_core.db import among_ids
from trace_core.demo import DEMO_CASE_SSCC, DEMO_PALLET_SSCC
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.recalls.service import (
    compact_scope,
    consignee_csv,
    listed_scope,
    recall_epcis,
    recall_pdf,
    recall_scope,
)
from trace_core.records.keys import ServerSigningKey
from trace_core.records.models import AuditEvent
from trace_core.records.verify import verify_records
from trace_core.services import Runtime, provide_services
from trace_core.shipments.service import ShipmentInput
from trace_core.trace.models import TraceEdge, TraceNode

from .test_slice_services import QA, user

ST_MARYS = "St. Mary's Hospital, Central Sterile Supply"


@pytest.mark.req("QMS-14")
async def test_scope_of_a_suspect_supplier_lot(runtime: Runtime) -> None:
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        scope = await s.recalls.preview(qa, "AP-24-0815")
    assert scope["counts"] == {
        "internal_lots": 2,
        "serials": 10,
        "serials_in_stock": 2,
        "serials_shipped": 8,
        "shipments": 2,
        "consignees": 1,
    }
    assert scope["consignees"] == [
        {"name": ST_MARYS, "address": "12 Harbour Road, Cork T12 XY34, Ireland"}
    ]
    lots = {lot["lot_number"]: lot for lot in scope["lots"]}
    # 25 kg received from the suspect lot, 2.5 kg of it consumed into the finished lot
    assert lots["IL-RES-0001"]["from_suspect_material"] == {"kg": "25"}
    assert lots["FG-LOT-0001"]["from_suspect_material"] == {"kg": "2.5"}
    # Every serial once, in the group of what it shares with others: lot, part, GTIN,
    # status and the shipment that carried it.
    groups = [
        ({k: v for k, v in g.items() if k != "serials"}, g["serials"])
        for g in scope["serial_groups"]
    ]
    fg = {"lot_number": "FG-LOT-0001", "part_number": "FG-1000", "gtin": "00614141000012"}
    assert groups == [
        ({**fg, "status": "in_stock", "shipment": None}, ["SN-DEMO-0006", "SN-DEMO-0007"]),
        (
            {**fg, "status": "shipped", "shipment": "SH-0001"},
            [f"SN-DEMO-{i:04d}" for i in range(1, 6)],
        ),
        # Shipped by the pallet's SSCC: the serials are in scope, shipped on SH-0002.
        (
            {**fg, "status": "shipped", "shipment": "SH-0002"},
            ["SN-DEMO-0008", "SN-DEMO-0009", "SN-DEMO-0010"],
        ),
    ]
    # A shipment counts serials only (not the case and pallet it carried them in).
    assert {s["shipment"]: s["serial_count"] for s in scope["shipments"]} == {
        "SH-0001": 5,
        "SH-0002": 3,
    }
    listed = listed_scope(scope)
    shipped = [s["serial"] for s in listed["serials"] if s["shipment"] == "SH-0001"]
    assert shipped == [f"SN-DEMO-{i:04d}" for i in range(1, 6)]
    on_pallet = [s["serial"] for s in listed["serials"] if s["shipment"] == "SH-0002"]
    assert on_pallet == ["SN-DEMO-0008", "SN-DEMO-0009", "SN-DEMO-0010"]
    shipments = {s["shipment"]: s["serials"] for s in listed["shipments"]}
    assert shipments["SH-0002"] == on_pallet
    assert len(listed["serials"]) == 10 and listed["serials"][0] == {
        "serial": "SN-DEMO-0001",
        **fg,
        "status": "shipped",
        "shipment": "SH-0001",
    }


@pytest.mark.req("QMS-14")
async def test_the_recall_scope_from_the_scope_statement_equals_the_full_trace_s(
    runtime: Runtime,
) -> None:
    """Previews and openings read the scope and the serials in two statements, never a node
    per serial; the content equals ``recall_scope`` of the full forward trace, from any kind
    of identifier: supplier lot, internal lot, finished lot, a serial, a pallet's SSCC."""
    qa = await user(runtime, "qa@traceport.example")
    identifiers = (
        "AP-24-0815",
        "SP-24-0117",
        "IL-RES-0001",
        "FG-LOT-0001",
        "SN-DEMO-0009",
        DEMO_PALLET_SSCC,
        DEMO_CASE_SSCC,
    )
    async with provide_services(runtime, qa) as s:
        for identifier in identifiers:
            preview = await s.recalls.preview(qa, identifier)
            assert preview == recall_scope(await s.trace.forward(qa, identifier)), identifier
            assert preview["suspect"], identifier
        wide = await s.recalls.preview(qa, "AP-24-0815")
        assert wide["counts"]["serials"] == 10 and wide["serial_groups"][0]["gtin"]
        assert sum(len(g["serials"]) for g in wide["serial_groups"]) == 10


@pytest.mark.req("QMS-14")
async def test_serials_that_went_into_a_lot_count_as_suspect_material_in_it(
    runtime: Runtime,
) -> None:
    """A serial can go into another lot with a quantity (a device used as a component): the
    recall statement finds those edges from the lots' side and keeps only the serials in
    scope. Written as a posting writes it, on a lot that also takes a serial not in scope."""
    qa = await user(runtime, "qa@traceport.example")
    ops = Actor.system("cli")
    async with provide_services(runtime, ops) as s:
        for order, lot, serial in (
            ("WO-KIT-1", "FG-KIT-1", "SN-KIT-1"),
            ("WO-OUT-1", "FG-OUT-1", "SN-OUT-1"),
        ):
            await s.production.post(
                ops,
                WorkOrderInputData(
                    order, "FG-1000", lot, [ConsumedLot("IL-RES-0001", "1")], [serial]
                ),
            )
        await s.keeper.commit()
    async with provide_services(runtime, ops) as s:
        nodes = dict((await s.session.execute(select(TraceNode.identifier, TraceNode.id))).all())
        # SN-OUT-1 is not downstream of FG-LOT-0001: its piece does not count.
        for serial in ("SN-DEMO-0006", "SN-DEMO-0007", "SN-OUT-1"):
            s.session.add(
                TraceEdge(
                    source_id=nodes[serial],
                    target_id=nodes["FG-KIT-1"],
                    source_kind="serial",
                    target_kind="internal_lot",
                    kind="consumption",
                    event_type="work_order",
                    event_id=0,
                    quantity=Decimal("1"),
                    unit="pcs",
                )
            )
        await s.session.commit()
    async with provide_services(runtime, qa) as s:
        preview = await s.recalls.preview(qa, "FG-LOT-0001")
        assert preview == recall_scope(await s.trace.forward(qa, "FG-LOT-0001"))
    kit = next(lot for lot in preview["lots"] if lot["lot_number"] == "FG-KIT-1")
    assert kit["from_suspect_material"] == {"pcs": "2"}
    in_scope = {x for g in preview["serial_groups"] for x in g["serials"]}
    assert "SN-KIT-1" in in_scope and "SN-OUT-1" not in in_scope


@pytest.mark.req("QMS-14")
@pytest.mark.req("QMS-10")
async def test_opening_a_recall_is_signed_marks_lots_and_holds_stock(
    runtime: Runtime, signing_key: ServerSigningKey
) -> None:
    qa = await user(runtime, "qa@traceport.example")
    ops = await user(runtime, "ops@traceport.example")
    anna = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed, match="Say why"):
            await s.recalls.open(qa, "AP-24-0815", " ", QA)
        with pytest.raises(AuthenticationFailed):
            await s.recalls.open(qa, "AP-24-0815", "particles", replace(QA, password="nope"))
    for outsider in (ops, anna):
        async with provide_services(runtime, outsider) as s:
            with pytest.raises(PermissionDenied):
                await s.recalls.open(outsider, "AP-24-0815", "particles", QA)
    async with provide_services(runtime, qa) as s:
        assert await s.recalls.all(qa) == []
        recall = await s.recalls.open(qa, "AP-24-0815", "black particles in resin", QA)
        assert recall.number == "RC-000001"
    async with provide_services(runtime, qa) as s:
        statuses = dict(
            (await s.session.execute(select(InternalLot.lot_number, InternalLot.status))).all()
        )
        assert statuses["IL-RES-0001"] == statuses["FG-LOT-0001"] == "recalled"
        serials = dict((await s.session.execute(select(Serial.serial, Serial.status))).all())
        assert serials["SN-DEMO-0001"] == "shipped" and serials["SN-DEMO-0006"] == "on_hold"
        view = await s.records.record(qa, "recall", recall.id)
        assert [(x.meaning, x.printed_name, x.valid) for x in view.signatures] == [
            ("approved", "Quinn Avery", True)
        ]
        resin_id = await s.session.scalar(
            select(InternalLot.id).where(InternalLot.lot_number == "IL-RES-0001")
        )
        lot_view = await s.records.record(qa, "internal_lot", resin_id or 0)
        assert (lot_view.current.reason or "").startswith("recall RC-000001")
        # Both lots' versions were written together: each chained to its own previous one,
        # each with its own audit event, and the record layer verifies whole.
        for lot_number in ("IL-RES-0001", "FG-LOT-0001"):
            lot_id = await s.session.scalar(
                select(InternalLot.id).where(InternalLot.lot_number == lot_number)
            )
            versions = (await s.records.record(qa, "internal_lot", lot_id or 0)).versions
            before, after = versions[-2], versions[-1]
            assert (after.status, after.version) == ("recalled", before.version + 1)
            assert after.prev_sha256 == before.content_sha256
            events = await s.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.record_type == "internal_lot",
                    AuditEvent.record_id == lot_id,
                    AuditEvent.version == after.version,
                )
            )
            assert [(e.action, e.new_values) for e in events] == [
                ("status", {"status": "recalled"})
            ]
        report = await verify_records(s.session, [signing_key.public_pem])
        assert report.ok, report.summary_lines()
        rows = list(csv.DictReader(io.StringIO(consignee_csv(recall))))
        assert [r["serial"] for r in rows] == [
            f"SN-DEMO-{i:04d}" for i in (1, 2, 3, 4, 5, 8, 9, 10)
        ]
        assert {r["consignee"] for r in rows} == {ST_MARYS}
        event = recall_epcis(recall)["epcisBody"]["eventList"][0]
        assert event["disposition"] == "recalled" and len(event["epcList"]) == 10
        assert event["epcList"][0].startswith("https://id.gs1.org/01/00614141000012/21/SN-DEMO-")
        pdf = recall_pdf(recall, "Quinn Avery", [x.as_dict() for x in view.signatures])
        assert pdf.startswith(b"%PDF")
    # held stock can be neither shipped nor consumed
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed, match="on hold"):
            await s.shipments.ship(
                ops, ShipmentInput("SH-X", "Someone", "Street 1", ["SN-DEMO-0006"])
            )
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed, match="recalled"):
            await s.production.post(
                ops,
                WorkOrderInputData(
                    "WO-X", "FG-1000", "FG-LOT-X", [ConsumedLot("IL-RES-0001", "1")], ["SN-X-1"]
                ),
            )


@pytest.mark.req("QMS-14")
async def test_a_supplier_reports_a_suspect_lot_and_qa_opens_the_recall(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    sam = await user(runtime, "sam@steripro.example")
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, anna) as s:
        lot_id = (await s.trace.resolve(anna, "AP-24-0815"))[0].ref_id
        with pytest.raises(ValidationFailed):
            await s.recalls.report_suspect(anna, lot_id, "")
        report = await s.recalls.report_suspect(anna, lot_id, "Wrong additive batch used")
    async with provide_services(runtime, sam) as s:
        from trace_core.errors import NotFound

        with pytest.raises(NotFound):
            await s.recalls.report_suspect(sam, lot_id, "not mine")
    async with provide_services(runtime, qa) as s:
        reports = await s.recalls.open_reports(qa)
        assert [(r.id, lot.lot_number) for r, lot in reports] == [(report.id, "AP-24-0815")]
        recall = await s.recalls.open(qa, "AP-24-0815", "supplier report", QA, report.id)
        assert recall.suspect_report_id == report.id
    async with provide_services(runtime, qa) as s:
        assert await s.recalls.open_reports(qa) == []
        with pytest.raises(Conflict, match="already handled"):
            await s.recalls.open(qa, "AP-24-0815", "again", QA, report.id)


@pytest.mark.req("MDR-01")
async def test_supplied_by_and_supplied_to(runtime: Runtime) -> None:
    qa = await user(runtime, "qa@traceport.example")
    anna = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, qa) as s:
        report = await s.recalls.supplied_report(qa, "SN-DEMO-0002")
    assert [(r["supplier"], r["supplier_lot"]) for r in report["supplied_by"]] == [
        ("Acme Polymers", "AP-24-0815"),
        ("SteriPro", "SP-24-0117"),
    ]
    assert [(s["shipment"], s["consignee_name"]) for s in report["supplied_to"]] == [
        ("SH-0001", ST_MARYS)
    ]
    async with provide_services(runtime, qa) as s:
        in_stock = await s.recalls.supplied_report(qa, "SN-DEMO-0007")
    assert in_stock["supplied_to"] == [] and len(in_stock["supplied_by"]) == 2
    async with provide_services(runtime, anna) as s:
        with pytest.raises(PermissionDenied):
            await s.recalls.supplied_report(anna, "SN-DEMO-0002")


@pytest.mark.req("QMS-14")
async def test_a_wide_recall_selects_lots_and_serials_beyond_the_parameter_limit(
    runtime: Runtime,
) -> None:
    """Opening a recall selects its lots and in-stock serials by number. A plant-wide recall
    names more of them than asyncpg may bind as separate parameters (32,767): one array on
    PostgreSQL, chunks of ``SQLITE_CHUNK`` on SQLite, both finding exactly the rows that
    exist."""
    wanted = [f"SN-NONE-{i:06d}" for i in range(40_000)] + ["SN-DEMO-0006", "SN-DEMO-0007"]
    async with runtime.sessions() as session:
        dialect = session.get_bind().dialect.name
        found: list[str] = []
        for condition in among_ids(dialect, Serial.serial, wanted, String):
            found += await session.scalars(select(Serial.serial).where(condition))
    assert sorted(found) == ["SN-DEMO-0006", "SN-DEMO-0007"]


@pytest.mark.req("QMS-14")
async def test_a_scope_kept_one_entry_per_serial_reads_the_same_as_serial_groups(
    runtime: Runtime,
) -> None:
    """Recalls opened before serial groups kept one entry per serial and each shipment's
    serials as a list; their records stay as signed. The two shapes convert into each other
    without loss, so every reader (page, CSV, PDF, EPCIS, API) reads both alike."""
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        scope = await s.recalls.preview(qa, "AP-24-0815")
    old = listed_scope(scope)
    assert "serial_groups" not in old and compact_scope(old) == scope
    assert listed_scope(old) is old and compact_scope(scope) is scope
    # A shipment's list in an old record may name the shipping units it carried: only
    # serials are counted.
    with_unit = {**old, "shipments": [dict(x) for x in old["shipments"]]}
    with_unit["shipments"][1]["serials"] = [DEMO_PALLET_SSCC, *old["shipments"][1]["serials"]]
    assert compact_scope(with_unit)["shipments"] == scope["shipments"]
