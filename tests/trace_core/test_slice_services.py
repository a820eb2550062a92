"""The thin slice through the services: lot → signature → QA decision → receipt → work order
→ shipment → trace, with versions, audit events and signatures checked along the way."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from documents.pdf import make_pdf
from tests.release_helpers import IMPLANT_CONSIGNEE, UDI_DATES, release_finished_lot
from trace_core.demo import DEMO_PASSWORD
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.receipts.service import ReceiptInput
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime, provide_services
from trace_core.shipments.service import ShipmentInput

ANNA = SigningCredentials(DEMO_PASSWORD, "anna@acme-polymers.example")
QA = SigningCredentials(DEMO_PASSWORD, "qa@traceport.example")
GOOD = {"MFI": "10.1", "MOIST": "0.03", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}


async def user(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


async def new_lot(
    runtime: Runtime, actor: Actor, lot_number: str, results: dict[str, str], **overrides: object
) -> int:
    async with provide_services(runtime, actor) as s:
        doc = await s.attachments.upload_pdf(actor, "coa.pdf", make_pdf("CoA", [lot_number]))
        fields = {
            "part_number": "RES-100",
            "lot_number": lot_number,
            "quantity": "5",
            "unit": "kg",
            "manufactured_on": dt.date(2026, 10, 1),
            "expires_on": dt.date(2028, 10, 1),
            "coa_document_id": doc.id,
            "results": [ResultInput(k, v) for k, v in results.items()],
        }
        fields.update(overrides)
        lot = await s.lots.submit(actor, LotSubmission(**fields))  # type: ignore[arg-type]
        return lot.id


async def test_full_slice_records_versions_audit_and_signatures(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    qa = await user(runtime, "qa@traceport.example")
    ops = await user(runtime, "ops@traceport.example")
    lot_id = await new_lot(runtime, anna, "T-SLICE-1", GOOD)
    async with provide_services(runtime, anna) as s:
        lot = await s.lots.sign_submission(anna, lot_id, ANNA, 1)
        assert (lot.status, lot.version) == ("submitted", 2)
    async with provide_services(runtime, qa) as s:
        lot = await s.lots.decide(qa, lot_id, "approve", QA, "ok", 2)
        assert lot.status == "approved"
        detail = await s.lots.detail(qa, lot_id)
        assert [(v.version, v.status) for v in detail.versions] == [
            (1, "draft"),
            (2, "submitted"),
            (3, "approved"),
        ]
        assert [(x.printed_name, x.meaning, x.version, x.valid) for x in detail.signatures] == [
            ("Anna Schmidt", "submitted as accurate", 1, True),
            ("Quinn Avery", "approved", 2, True),
        ]
        # status-only changes since: both signatures still cover the current data
        assert all(x.covers_current for x in detail.signatures)
    async with provide_services(runtime, ops) as s:
        receipt = await s.receipts.post(ops, ReceiptInput(lot_id, "5", "IL-T-1"))
        assert receipt.internal_lot.status == "released"
    async with provide_services(runtime, ops) as s:
        await s.production.post(
            ops,
            WorkOrderInputData(
                "WO-T-1",
                "FG-1000",
                "FG-T-1",
                [ConsumedLot("IL-T-1", "1.5")],
                ["SN-T-1", "SN-T-2"],
                **UDI_DATES,
            ),
        )
    await release_finished_lot(runtime, "FG-T-1")
    async with provide_services(runtime, ops) as s:
        await s.shipments.ship(
            ops,
            ShipmentInput("SH-T-1", "Clinic", "1 Road, Town", ["SN-T-1"], **IMPLANT_CONSIGNEE),
        )
    async with provide_services(runtime, qa) as s:
        back = await s.trace.backward(qa, "SN-T-1")
        kinds = {(n.kind, n.identifier) for n in back.nodes.values()}
        assert kinds == {
            ("serial", "SN-T-1"),
            ("internal_lot", "FG-T-1"),
            ("internal_lot", "IL-T-1"),
            ("supplier_lot", "T-SLICE-1"),
        }
        named = {n.id: n.identifier for n in back.nodes.values()}
        assert sorted((named[e.source], named[e.target], e.kind) for e in back.edges) == [
            ("FG-T-1", "SN-T-1", "production"),
            ("IL-T-1", "FG-T-1", "consumption"),
            ("T-SLICE-1", "IL-T-1", "receipt"),
        ]

        def path(entry: dict[str, object]) -> list[str]:
            children = entry.get("children") or []
            assert isinstance(children, list)
            return [named[entry["node"]], *(path(children[0]) if children else [])]  # type: ignore[index]

        assert path(back.tree()[0]) == ["SN-T-1", "FG-T-1", "IL-T-1", "T-SLICE-1"]
        supplier = next(n for n in back.nodes.values() if n.kind == "supplier_lot")
        assert supplier.details["supplier"] == "Acme Polymers"
        assert len(supplier.details["coa"]["sha256"]) == 64
        assert len(supplier.details["signatures"]) == 2
        forward = await s.trace.forward(qa, "T-SLICE-1")
        assert forward.consignees() == [
            {"shipment": "SH-T-1", "name": "Clinic", "address": "1 Road, Town"}
        ]
        assert forward.counts() == {
            "supplier_lot": 1,
            "internal_lot": 2,
            "serial": 2,
            "shipment": 1,
        }
        assert len(forward.edges) == 5  # receipt, consumption, 2 × production, shipment
        actions = [
            a
            for (a,) in (
                await s.session.execute(
                    select(AuditEvent.action)
                    .where(AuditEvent.record_type == "supplier_lot", AuditEvent.record_id == lot_id)
                    .order_by(AuditEvent.seq)
                )
            ).all()
        ]
        assert actions == ["create", "sign", "status", "sign", "status"]


async def test_verdicts_use_our_spec_and_out_of_spec_needs_justification(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    qa = await user(runtime, "qa@traceport.example")
    # 13 is within a supplier's own 8–14 but outside our 8–12 (COA-02)
    lot_id = await new_lot(runtime, anna, "T-OOS", {**GOOD, "MFI": "13"})
    async with provide_services(runtime, anna) as s:
        lot = await s.lots.get(anna, lot_id)
        assert lot.verdict == "nonconforming"
        mfi = next(r for r in lot.results if r.characteristic.code == "MFI")
        assert (mfi.verdict, mfi.explanation) == ("fail", "13 g/10min is above our maximum 12")
        await s.lots.sign_submission(anna, lot_id, ANNA, 1)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.lots.decide(qa, lot_id, "approve", QA, "", 2)
        assert "justification" in err.value.errors["comment"]
    async with provide_services(runtime, qa) as s:
        assert (await s.lots.get(qa, lot_id)).status == "submitted"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("part_number", "NOPE-1", "not one you may supply"),
        ("quantity", "abc", "This is not a number"),
        ("quantity", "-1", "greater than zero"),
        ("manufactured_on", "2026-13-01", "is not a date"),
        ("expires_on", dt.date(2026, 9, 1), "after the manufacture date"),
        ("coa_document_id", None, "Attach the Certificate of Analysis"),
    ],
)
async def test_bad_lot_input_is_refused_per_field_and_writes_nothing(
    runtime: Runtime, field: str, value: object, message: str
) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    async with provide_services(runtime, anna) as s:
        before = await s.session.scalar(select(func.count()).select_from(RecordVersion))
    with pytest.raises(ValidationFailed) as err:
        await new_lot(runtime, anna, "T-BAD", GOOD, **{field: value})
    key = "coa_document" if field == "coa_document_id" else field
    assert message in err.value.errors[key]
    async with provide_services(runtime, anna) as s:
        after = await s.session.scalar(select(func.count()).select_from(RecordVersion))
    assert after == before + 1  # only the uploaded document's own record


@pytest.mark.parametrize(
    ("results", "key", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "DENS"}, "results.DENS", "is required"),
        ({**GOOD, "MFI": "ten"}, "results.MFI", "This is not a number"),
        ({**GOOD, "CYTO": "maybe"}, "results.CYTO", "not a pass/fail result"),
        ({**GOOD, "XYZ": "1"}, "results.XYZ", "is not a characteristic"),
    ],
)
async def test_missing_or_wrongly_typed_results_are_refused(
    runtime: Runtime, results: dict[str, str], key: str, message: str
) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    with pytest.raises(ValidationFailed) as err:
        await new_lot(runtime, anna, "T-RES", results)
    assert message in err.value.errors[key]


async def test_wrong_signing_password_is_refused_counted_and_audited(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    lot_id = await new_lot(runtime, anna, "T-PW", GOOD)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(AuthenticationFailed):
            await s.lots.sign_submission(
                anna, lot_id, SigningCredentials("wrong-password", ANNA.user_id), 1
            )
    async with provide_services(runtime, anna) as s:
        lot = await s.lots.get(anna, lot_id)
        assert (lot.status, lot.version) == ("draft", 1)
        assert await s.keeper.signatures("supplier_lot", lot_id) == []
        failed = await s.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "signature_failed", AuditEvent.actor_id == anna.id)
        )
        assert failed == 1
        assert (await s.identity.user_by_email("anna@acme-polymers.example")).failed_attempts == 1


async def test_stale_version_and_illegal_transitions_are_refused(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    qa = await user(runtime, "qa@traceport.example")
    lot_id = await new_lot(runtime, anna, "T-STALE", GOOD)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(Conflict, match="draft cannot be approved"):
            await s.lots.decide(qa, lot_id, "approve", QA, "", 1)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(Conflict, match="changed while you were looking"):
            await s.lots.sign_submission(anna, lot_id, ANNA, 7)
        await s.lots.sign_submission(anna, lot_id, ANNA, 1)
    async with provide_services(runtime, anna) as s:
        with pytest.raises(Conflict, match="submitted cannot be signed"):
            await s.lots.sign_submission(anna, lot_id, ANNA, 2)


async def test_suppliers_are_isolated_and_cannot_approve(runtime: Runtime) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    sam = await user(runtime, "sam@steripro.example")
    lot_id = await new_lot(runtime, anna, "T-ISO", GOOD)
    async with provide_services(runtime, sam) as s:
        with pytest.raises(NotFound):
            await s.lots.get(sam, lot_id)
        assert lot_id not in {lot.id for lot in await s.lots.list(sam)}
        with pytest.raises(PermissionDenied):
            await s.lots.decide(
                sam,
                lot_id,
                "approve",
                SigningCredentials(DEMO_PASSWORD, "sam@steripro.example"),
                "",
                1,
            )
        with pytest.raises(NotFound):
            await s.trace.forward(sam, "T-ISO")


async def test_quarantine_until_approved_and_only_released_lots_are_consumed(
    runtime: Runtime,
) -> None:
    anna = await user(runtime, "anna@acme-polymers.example")
    qa = await user(runtime, "qa@traceport.example")
    ops = await user(runtime, "ops@traceport.example")
    lot_id = await new_lot(runtime, anna, "T-QUAR", GOOD)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(Conflict, match="only submitted or approved"):
            await s.receipts.post(ops, ReceiptInput(lot_id, "5", "IL-Q-0"))
    async with provide_services(runtime, anna) as s:
        await s.lots.sign_submission(anna, lot_id, ANNA, 1)
    async with provide_services(runtime, ops) as s:
        receipt = await s.receipts.post(ops, ReceiptInput(lot_id, "5", "IL-Q-1"))
        assert receipt.internal_lot.status == "quarantine"
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.production.post(
                ops,
                WorkOrderInputData(
                    "WO-Q", "FG-1000", "FG-Q", [ConsumedLot("IL-Q-1", "1")], ["SN-Q-1"]
                ),
            )
        assert "quarantine" in err.value.errors["inputs.0"]
    async with provide_services(runtime, qa) as s:
        await s.lots.decide(qa, lot_id, "approve", QA, "ok", 2)
    async with provide_services(runtime, ops) as s:
        assert (await s.inventory.lot_by_number(ops, "IL-Q-1")).status == "released"


async def test_shipment_requires_consignee_address_and_in_stock_serials(runtime: Runtime) -> None:
    ops = await user(runtime, "ops@traceport.example")
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.shipments.ship(
                ops, ShipmentInput("SH-X", "Clinic", " ", ["SN-DEMO-0001", "SN-NOPE"])
            )
        assert "address is required" in err.value.errors["consignee_address"]
        assert "SN-DEMO-0001 is shipped" in err.value.errors["serials"]
        assert "SN-NOPE does not exist" in err.value.errors["serials"]


async def test_history_tables_refuse_update_and_delete(runtime: Runtime, backend: str) -> None:
    async with runtime.sessions() as session:
        for statement in (
            "UPDATE audit_events SET action = 'x'",
            "DELETE FROM record_versions",
            "UPDATE signatures SET meaning = 'approved'",
        ):
            nested = await session.begin_nested()
            with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
                await session.execute(text(statement))
            await nested.rollback()


async def test_audit_chain_links_every_event(runtime: Runtime) -> None:
    async with provide_services(runtime, Actor.system()) as s:
        events = list(await s.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    from trace_core.records.service import GENESIS_HASH, audit_event_hash

    previous = GENESIS_HASH
    for event in events:
        assert event.prev_hash == previous
        assert audit_event_hash(event) == event.hash
        previous = event.hash
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.req("UDI-02")
@pytest.mark.req("UDI-06")
async def test_trace_from_a_scanned_udi_or_digital_link(runtime: Runtime) -> None:
    qa = await user(runtime, "qa@traceport.example")
    scans = (
        "]d2010061414100001210FG-LOT-0001\x1d21SN-DEMO-0001",
        "(01)00614141000012(10)FG-LOT-0001(21)SN-DEMO-0001",
        "https://id.example.com/01/00614141000012/10/FG-LOT-0001/21/SN-DEMO-0001",
    )
    async with provide_services(runtime, qa) as s:
        for scan in scans:
            roots = await s.trace.resolve(qa, scan)
            assert [(n.kind, n.identifier) for n in roots] == [("serial", "SN-DEMO-0001")], scan
        result = await s.trace.backward(qa, scans[0])
        assert "AP-24-0815" in {n.identifier for n in result.nodes.values()}
        with pytest.raises(ValidationFailed, match="scanned code is not valid"):
            await s.trace.resolve(qa, "]d2010061414100001310FG-LOT-0001")
        with pytest.raises(NotFound):
            await s.trace.resolve(qa, "(01)00614141000012(10)NO-SUCH-LOT")
