"""Recall follow-through (QMS-14): field actions per consignee, each update a version with its
audit event; closing is a QA approver's signed decision, refused while consignees have not
acknowledged unless justified; a closed recall is read-only. Recall EPCIS events carry their
CBV 2.0 hash ids (EPC-04)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from trace_core.epcis.document import check
from trace_core.epcis.event_hash import event_hash
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.recalls.models import FieldAction, Recall
from trace_core.recalls.service import FieldActionInput, recall_epcis
from trace_core.records.models import AuditEvent, RecordVersion, Signature
from trace_core.services import Runtime, provide_services

from .test_slice_services import QA, user

pytestmark = pytest.mark.req("QMS-14")
#: What becomes of each lot the demo recall of AP-24-0815 holds (closing must say).
DISPOSE = {"AP-24-0815": "return", "IL-RES-0001": "scrap", "FG-LOT-0001": "scrap"}


async def open_recall(runtime: Runtime) -> Recall:
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        return await s.recalls.open(qa, "AP-24-0815", "black particles in resin", QA)


def minutes_from_now(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


async def written(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {
            t.__tablename__: int(await session.scalar(select(func.count()).select_from(t)) or 0)
            for t in (FieldAction, RecordVersion, AuditEvent, Signature)
        }


@pytest.mark.req("P11-05")
@pytest.mark.req("P11-06")
async def test_field_actions_are_versioned_and_closing_is_signed(runtime: Runtime) -> None:
    recall = await open_recall(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        views = await s.recalls.field_actions(qa, recall)
        assert [(v.name, v.serials, v.status) for v in views] == [
            ("St. Mary's Hospital, Central Sterile Supply", 8, "not notified")
        ]
        notified = minutes_from_now(1)
        first = await s.recalls.record_field_action(
            qa, recall.id, 0, FieldActionInput(notified_at=notified, note="letter sent")
        )
    async with provide_services(runtime, qa) as s:
        # Closing while the consignee has not acknowledged: refused, nothing written.
        before = await written(runtime)
        with pytest.raises(Conflict, match="1 consignee\\(s\\) have not acknowledged"):
            await s.recalls.close(qa, recall.id, "all units back", QA)
        assert await written(runtime) == before
        await s.recalls.record_field_action(
            qa,
            recall.id,
            0,
            FieldActionInput(
                notified_at=notified,
                acknowledged_at=minutes_from_now(2),
                quantity_returned="6",
                quantity_destroyed="2",
                note="acknowledged by phone",
            ),
        )
        versions = await s.keeper.versions("recall_field_action", first.id)
        assert [(v.version, v.action, v.status) for v in versions] == [
            (1, "create", "notified"),
            (2, "update", "acknowledged"),
        ]
        assert versions[0].content["quantity_returned"] == 0  # the old value stays readable
        assert versions[1].content["quantity_returned"] == 6
        closed = await s.recalls.close(
            qa, recall.id, "all units returned or destroyed", QA, dispositions=DISPOSE
        )
        assert closed.status == "closed" and closed.closing_justification is None
        version = await s.keeper.latest_version("recall", recall.id)
        assert version is not None and version.status == "closed" and version.action == "close"
        assert version.content["closing"]["unacknowledged"] == []
        assert version.content["closing"]["field_actions"][0]["quantity_destroyed"] == 2
        signatures = await s.keeper.signatures("recall", recall.id)
        assert [(sig.meaning, sig.version) for sig in signatures] == [
            ("approved", 1),
            ("approved", version.version),
        ]
        assert signatures[-1].comment == "all units returned or destroyed"
        # Closed: read-only.
        before = await written(runtime)
        with pytest.raises(Conflict, match="is closed; its field actions are read-only"):
            await s.recalls.record_field_action(
                qa, recall.id, 0, FieldActionInput(notified_at=notified, note="late")
            )
        with pytest.raises(Conflict, match="already closed"):
            await s.recalls.close(qa, recall.id, "again", QA)
        assert await written(runtime) == before


async def test_closing_without_acknowledgements_needs_and_records_a_justification(
    runtime: Runtime,
) -> None:
    recall = await open_recall(runtime)
    qa = await user(runtime, "qa@traceport.example")
    async with provide_services(runtime, qa) as s:
        closed = await s.recalls.close(
            qa,
            recall.id,
            "advisory completed",
            QA,
            justification="consignee closed down; the notified body agreed",
            dispositions=DISPOSE,
        )
        assert closed.closing_justification == "consignee closed down; the notified body agreed"
        version = await s.keeper.latest_version("recall", recall.id)
        assert version is not None
        assert version.content["closing"]["unacknowledged"] == [
            "St. Mary's Hospital, Central Sterile Supply"
        ]
        assert version.content["closing"]["justification"].startswith("consignee closed down")


@pytest.mark.req("P11-09")
@pytest.mark.req("P11-20")
async def test_closing_and_field_action_refusals(runtime: Runtime) -> None:
    recall = await open_recall(runtime)
    qa = await user(runtime, "qa@traceport.example")
    ops = await user(runtime, "ops@traceport.example")
    anna = await user(runtime, "anna@acme-polymers.example")
    before = await written(runtime)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed, match="Say why the recall can be closed"):
            await s.recalls.close(qa, recall.id, " ", QA, justification="x")
        with pytest.raises(AuthenticationFailed):
            await s.recalls.close(
                qa,
                recall.id,
                "done",
                replace(QA, password="wrong"),
                justification="x",
                dispositions=DISPOSE,
            )
        with pytest.raises(NotFound):
            await s.recalls.record_field_action(qa, recall.id, 5, FieldActionInput())
        with pytest.raises(NotFound):
            await s.recalls.close(qa, 9999, "done", QA)
    for outsider in (ops, anna):
        async with provide_services(runtime, outsider) as s:
            with pytest.raises(PermissionDenied):
                await s.recalls.close(outsider, recall.id, "done", QA, justification="x")
            with pytest.raises(PermissionDenied):
                await s.recalls.record_field_action(
                    outsider, recall.id, 0, FieldActionInput(notified_at=minutes_from_now(0))
                )
    after = await written(runtime)
    # A failed signature is audited in its own transaction; nothing else was written.
    assert {k: v for k, v in after.items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"
    }
    async with provide_services(runtime, qa) as s:
        status = await s.session.scalar(select(Recall.status).where(Recall.id == recall.id))
    assert status == "open"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (FieldActionInput(notified_at="yesterday"), "notified_at", "is not a date and time"),
        (FieldActionInput(notified_at="2000-01-01T10:00"), "notified_at", "before the recall"),
        (FieldActionInput(notified_at=minutes_from_now(600)), "notified_at", "in the future"),
        (
            FieldActionInput(acknowledged_at=minutes_from_now(0)),
            "notified_at",
            "before the acknowledgement",
        ),
        (
            FieldActionInput(notified_at=minutes_from_now(2), acknowledged_at=minutes_from_now(0)),
            "acknowledged_at",
            "cannot come before the notification",
        ),
        (FieldActionInput(quantity_returned="-1"), "quantity_returned", "not a whole number"),
        (FieldActionInput(quantity_destroyed="2.5"), "quantity_destroyed", "not a whole number"),
        (
            FieldActionInput(quantity_returned="5", quantity_destroyed="4"),
            "quantity_returned",
            "more than the 8 units",
        ),
    ],
)
async def test_bad_field_action_input_is_refused_by_field(
    runtime: Runtime, data: FieldActionInput, field: str, message: str
) -> None:
    recall = await open_recall(runtime)
    qa = await user(runtime, "qa@traceport.example")
    before = await written(runtime)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed) as refused:
            await s.recalls.record_field_action(qa, recall.id, 0, data)
    assert message in refused.value.errors[field], refused.value.errors
    assert await written(runtime) == before


async def test_an_unchanged_field_action_is_not_a_new_version(runtime: Runtime) -> None:
    recall = await open_recall(runtime)
    qa = await user(runtime, "qa@traceport.example")
    data = FieldActionInput(notified_at=minutes_from_now(0), note="sent")
    async with provide_services(runtime, qa) as s:
        await s.recalls.record_field_action(qa, recall.id, 0, data)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(ValidationFailed, match="Nothing changed"):
            await s.recalls.record_field_action(qa, recall.id, 0, data)


@pytest.mark.req("EPC-04")
@pytest.mark.req("EPC-01")
async def test_recall_epcis_event_carries_its_cbv_hash_id(runtime: Runtime) -> None:
    recall = await open_recall(runtime)
    document = recall_epcis(recall)
    (event,) = document["epcisBody"]["eventList"]
    without_id = {k: v for k, v in event.items() if k != "eventID"}
    assert event["eventID"] == event_hash(without_id)
    assert event["eventID"].startswith("ni:///sha-256;") and event["eventID"].endswith(
        "?ver=CBV2.0"
    )
    assert check(document) is None  # schema, CBV vocabulary and identifiers
