"""Lots our staff type from a supplier's paper CoA wait for a second person's verification
before they count (A11-03): the state machine, separation of duties, and what is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from documents.pdf import make_pdf
from trace_core.db import utc_now
from trace_core.demo import DEMO_PASSWORD
from trace_core.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    PermissionDenied,
    ValidationFailed,
)
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.lots.models import SupplierLot
from trace_core.lots.service import (
    ENTRY_VERIFIED_MEANING,
    UNVERIFIED_ENTRY,
    LotSubmission,
    ResultInput,
)
from trace_core.receipts.service import ReceiptInput
from trace_core.records.models import RecordVersion, Signature
from trace_core.services import Runtime, Services, provide_services

GOOD = {"MFI": "10.1", "MOIST": "0.03", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
QA = SigningCredentials(DEMO_PASSWORD, "qa@traceport.example")
ANNA = SigningCredentials(DEMO_PASSWORD, "anna@acme-polymers.example")


async def person(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


async def organization_id(runtime: Runtime, name: str) -> int:
    async with provide_services(runtime, Actor.system()) as s:
        return (await s.identity.organization_by_name(name)).id


def submission(lot_number: str, document_id: int | None, **changes: Any) -> LotSubmission:
    fields: dict[str, Any] = {
        "part_number": "RES-100",
        "lot_number": lot_number,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": utc_now().date() - dt.timedelta(days=3),
        "expires_on": utc_now().date() + dt.timedelta(days=700),
        "coa_document_id": document_id,
        "results": [ResultInput(k, v) for k, v in GOOD.items()],
    }
    fields.update(changes)
    return LotSubmission(**fields)


async def typed_lot(runtime: Runtime, typist: Actor, lot_number: str = "PAPER-1") -> SupplierLot:
    acme = await organization_id(runtime, "Acme Polymers")
    async with provide_services(runtime, typist) as s:
        scan = await s.attachments.upload_pdf(
            typist, "paper-coa.pdf", make_pdf("CoA", [lot_number]), commit=False
        )
        return await s.staff_entry.enter(typist, acme, submission(lot_number, scan.id))


async def counts(runtime: Runtime) -> tuple[int, int, int]:
    async with runtime.sessions() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(SupplierLot)) or 0),
            int(await session.scalar(select(func.count()).select_from(RecordVersion)) or 0),
            int(await session.scalar(select(func.count()).select_from(Signature)) or 0),
        )


@pytest.mark.req("A11-03")
async def test_typed_lot_waits_for_a_second_person_then_follows_the_usual_path(
    runtime: Runtime,
) -> None:
    ops = await person(runtime, "ops@traceport.example")
    qa = await person(runtime, "qa@traceport.example")
    lot = await typed_lot(runtime, ops)
    assert (lot.status, lot.entered_by_staff, lot.version) == ("needs_verification", True, 1)
    assert lot.organization_id == await organization_id(runtime, "Acme Polymers")
    assert lot.created_by_id == ops.id
    async with provide_services(runtime, qa) as s:
        assert [w.id for w in await s.staff_entry.waiting(qa)] == [lot.id]
        assert lot.id not in [q.id for q in await s.lots.review_queue(qa)]
        version = await s.keeper.latest_version("supplier_lot", lot.id)
        assert version is not None and version.content["entered_by_staff"] is True
    async with provide_services(runtime, qa) as s:
        verified = await s.staff_entry.verify(qa, lot.id, QA, 1, "Matches the scan.")
        assert (verified.status, verified.version) == ("submitted", 2)
    async with provide_services(runtime, qa) as s:
        detail = await s.lots.detail(qa, lot.id)
        assert [(x.meaning, x.printed_name) for x in detail.signatures] == [
            (ENTRY_VERIFIED_MEANING, "Quinn Avery")
        ]
        assert lot.id in [q.id for q in await s.lots.review_queue(qa)]
        # Checking the typing is not taking part in the content: the verifier may decide.
        approved = await s.lots.decide(qa, lot.id, "approve", QA, "", 2)
        assert approved.status == "approved"


@pytest.mark.req("A11-03")
async def test_the_typist_cannot_verify_their_own_typing(runtime: Runtime) -> None:
    qa = await person(runtime, "qa@traceport.example")
    lot = await typed_lot(runtime, qa)
    before = await counts(runtime)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(PermissionDenied, match="a different person must verify"):
            await s.staff_entry.verify(qa, lot.id, QA, 1)
    assert await counts(runtime) == before
    async with provide_services(runtime, qa) as s:
        assert (await s.lots.get(qa, lot.id)).status == "needs_verification"


@pytest.mark.req("A11-03")
async def test_a_wrong_password_leaves_the_lot_unverified(runtime: Runtime) -> None:
    ops = await person(runtime, "ops@traceport.example")
    qa = await person(runtime, "qa@traceport.example")
    lot = await typed_lot(runtime, ops)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(AuthenticationFailed):
            await s.staff_entry.verify(qa, lot.id, SigningCredentials("wrong", QA.user_id), 1)
    async with provide_services(runtime, qa) as s:
        lot = await s.lots.get(qa, lot.id)
        assert (lot.status, lot.version) == ("needs_verification", 1)
        assert await s.keeper.signatures("supplier_lot", lot.id) == []


Step = Callable[[Services, Actor, int], Awaitable[Any]]


async def _approve(s: Services, a: Actor, lot_id: int) -> Any:
    return await s.lots.decide(a, lot_id, "approve", QA, "ok", 1)


async def _reject(s: Services, a: Actor, lot_id: int) -> Any:
    return await s.lots.decide(a, lot_id, "reject", QA, "no", 1)


async def _sign(s: Services, a: Actor, lot_id: int) -> Any:
    return await s.lots.sign_submission(a, lot_id, ANNA, 1)


async def _revise(s: Services, a: Actor, lot_id: int) -> Any:
    lot = await s.lots.get(a, lot_id)
    return await s.lots.revise(
        a, lot_id, submission(lot.lot_number, lot.coa_document_id, quantity="26"), "typo", 1
    )


async def _receive(s: Services, a: Actor, lot_id: int) -> Any:
    return await s.receipts.post(a, ReceiptInput(lot_id, "25"))


async def _supplier_void(s: Services, a: Actor, lot_id: int) -> Any:
    return await s.lots.void(a, lot_id, "not ours", 1)


@pytest.mark.req("A11-03")
@pytest.mark.parametrize(
    ("who", "step", "refusal", "message"),
    [
        ("qa@traceport.example", _approve, Conflict, UNVERIFIED_ENTRY),
        ("qa@traceport.example", _reject, Conflict, UNVERIFIED_ENTRY),
        ("anna@acme-polymers.example", _sign, Conflict, "needs_verification cannot be signed"),
        ("anna@acme-polymers.example", _revise, Conflict, "needs_verification cannot be revised"),
        ("ops@traceport.example", _receive, Conflict, "only submitted or approved"),
        ("anna@acme-polymers.example", _supplier_void, PermissionDenied, "only our staff void"),
    ],
)
async def test_an_unverified_lot_cannot_be_used(
    runtime: Runtime, who: str, step: Step, refusal: type[DomainError], message: str
) -> None:
    typist = await person(runtime, "qa@traceport.example")
    lot = await typed_lot(runtime, typist)
    actor = await person(runtime, who)
    before = await counts(runtime)
    async with provide_services(runtime, actor) as s:
        with pytest.raises(refusal) as err:
            await step(s, actor, lot.id)
    assert message in err.value.message
    assert await counts(runtime) == before


@pytest.mark.req("A11-03")
async def test_verify_is_refused_from_every_other_state(runtime: Runtime) -> None:
    ops = await person(runtime, "ops@traceport.example")
    qa = await person(runtime, "qa@traceport.example")
    lot = await typed_lot(runtime, ops)
    async with provide_services(runtime, qa) as s:
        await s.staff_entry.verify(qa, lot.id, QA, 1)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(Conflict, match="submitted cannot be verified"):
            await s.staff_entry.verify(qa, lot.id, QA, 2)
        await s.lots.void(qa, lot.id, "entered twice", 2)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(Conflict, match="voided cannot be verified"):
            await s.staff_entry.verify(qa, lot.id, QA, 3)


@pytest.mark.req("A11-03")
async def test_an_unverified_entry_can_be_voided_by_our_qa(runtime: Runtime) -> None:
    ops = await person(runtime, "ops@traceport.example")
    qa = await person(runtime, "qa@traceport.example")
    lot = await typed_lot(runtime, ops)
    async with provide_services(runtime, qa) as s:
        voided = await s.lots.void(qa, lot.id, "Typed the wrong lot number.", 1)
        assert voided.status == "voided"


@pytest.mark.parametrize(
    "email",
    ["anna@acme-polymers.example", "admin@traceport.example"],
)
async def test_only_staff_with_the_permission_enter_for_a_supplier(
    runtime: Runtime, email: str
) -> None:
    actor = await person(runtime, email)
    acme = await organization_id(runtime, "Acme Polymers")
    async with provide_services(runtime, actor) as s:
        with pytest.raises(PermissionDenied):
            await s.staff_entry.enter(actor, acme, submission("PAPER-X", None))


async def test_a_machine_client_cannot_verify(runtime: Runtime) -> None:
    ops = await person(runtime, "ops@traceport.example")
    lot = await typed_lot(runtime, ops)
    machine = Actor(
        "client",
        99,
        "erp",
        ops.organization_id,
        "internal",
        "api",
        frozenset({"lots.verify_entry"}),
    )
    async with provide_services(runtime, machine) as s:
        with pytest.raises(PermissionDenied, match="named person"):
            await s.staff_entry.verify(machine, lot.id, QA, 1)


@pytest.mark.parametrize(
    ("supplier", "changes", "field"),
    [
        (None, {}, "supplier"),
        ("Traceport Medical", {}, "supplier"),
        ("SteriPro", {}, "part_number"),  # not approved to supply the resin
        ("Acme Polymers", {"quantity": "25,5"}, "quantity"),
        ("Acme Polymers", {"coa_document_id": None}, "coa_document"),
        (
            "Acme Polymers",
            {"results": [ResultInput("MOIST", "-1")]},
            "results.MOIST",
        ),
    ],
)
async def test_bad_staff_entries_are_refused_per_field_and_write_nothing(
    runtime: Runtime, supplier: str | None, changes: dict[str, Any], field: str
) -> None:
    ops = await person(runtime, "ops@traceport.example")
    org = await organization_id(runtime, supplier) if supplier else None
    before = await counts(runtime)
    async with provide_services(runtime, ops) as s:
        with pytest.raises(ValidationFailed) as err:
            await s.staff_entry.enter(ops, org, submission("PAPER-BAD", None, **changes))
    assert field in err.value.errors
    assert await counts(runtime) == before


async def test_a_typed_lot_number_already_submitted_by_the_supplier_is_refused(
    runtime: Runtime,
) -> None:
    ops = await person(runtime, "ops@traceport.example")
    await typed_lot(runtime, ops, "PAPER-DUP")
    with pytest.raises(ValidationFailed) as err:
        await typed_lot(runtime, ops, "PAPER-DUP")
    assert "already submitted" in err.value.errors["lot_number"]


@pytest.mark.req("A11-03")
async def test_a_suppliers_own_lot_has_nothing_to_verify(runtime: Runtime) -> None:
    anna = await person(runtime, "anna@acme-polymers.example")
    qa = await person(runtime, "qa@traceport.example")
    async with provide_services(runtime, anna) as s:
        doc = await s.attachments.upload_pdf(anna, "coa.pdf", make_pdf("CoA", ["OWN-1"]))
        lot = await s.lots.submit(anna, submission("OWN-1", doc.id))
        assert (lot.status, lot.entered_by_staff) == ("draft", False)
    async with provide_services(runtime, qa) as s:
        with pytest.raises(Conflict, match="draft cannot be verified"):
            await s.staff_entry.verify(qa, lot.id, QA, 1)
