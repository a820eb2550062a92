"""Incoming inspection at goods-in (QMS-06): a part may carry an inspection plan — the
characteristics goods-in checks on every delivery, each with our criterion and a sample
size. A receipt of such a part stays in quarantine, even when the supplier's CoA is already
approved, until its inspection is passed and released by QA with a signature.

The inspection of a receipt is a regulated record (``receipt_inspection``): versions, audit
events and signatures through the record layer, and a state machine

    pending --record--> passed | failed        (judged against the plan, not by the inspector)
    passed  --release--> released              (QA, e-signature "released", another person)

A failed inspection rejects the internal lot at once and calls ``on_inspection_failed``, the
hook where the nonconformance record will be opened (a later issue). A released inspection
releases the internal lot when the supplier lot's CoA is approved; otherwise the lot waits in
quarantine for that approval (``ReceiptService.on_supplier_lot_decided``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.db import utc_now
from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials
from trace_core.parts.evaluation import ResultTypeError, evaluate
from trace_core.parts.models import CHARACTERISTIC_KINDS, Part
from trace_core.quantities import check_storable
from trace_core.receipts.models import (
    InspectionPlanItem,
    InspectionResult,
    Receipt,
    ReceiptInspection,
)
from trace_core.receipts.service import ReceiptRefused
from trace_core.records.models import RecordVersion
from trace_core.records.service import SignatureView
from trace_core.records.signing import SigningFlow, require_signing_person

if TYPE_CHECKING:
    from trace_core.services import Services

RECORD = "receipt_inspection"
#: Legal steps; anything else is refused with 409 and changes nothing. ``record`` ends in
#: ``passed`` or ``failed`` as the results are judged.
TRANSITIONS = {
    ("pending", "record"): "passed",
    ("passed", "release"): "released",
}
PAST = {"record": "given results", "release": "released"}
#: The largest sample a plan may ask for (a goods-in check, not a production run).
MAX_SAMPLE = 10_000

RELEASE_NEEDS_QUARANTINE = (
    "Inspection of receipt %(receipt)s cannot be released: internal lot %(lot)s is "
    "%(status)s, and only a lot in quarantine is released."
)


@dataclass(frozen=True)
class ResultEntry:
    """One characteristic as goods-in found it."""

    code: str
    value: str
    sampled: str
    unit: str | None = None


@dataclass(frozen=True)
class PlanItemInput:
    code: str
    name: str
    kind: str
    sample_size: int
    unit: str | None = None
    lower_limit: str | None = None
    upper_limit: str | None = None
    expected_text: str | None = None
    method: str | None = None


@dataclass
class InspectionDetail:
    inspection: ReceiptInspection
    plan: list[InspectionPlanItem]
    signatures: list[SignatureView]
    versions: list[RecordVersion]


def inspection_content(inspection: ReceiptInspection) -> dict[str, Any]:
    receipt = inspection.receipt
    return {
        "receipt_number": receipt.number,
        "internal_lot_number": receipt.internal_lot.lot_number,
        "supplier_lot_number": receipt.supplier_lot.lot_number,
        "part_number": inspection.part.number,
        "results": [
            {
                "code": r.code,
                "name": r.name,
                "criterion": r.criterion,
                "value": r.value,
                "unit": r.unit,
                "sample_size": r.sample_size,
                "sampled": r.sampled,
                "verdict": r.verdict,
                "explanation": r.explanation,
            }
            for r in inspection.results
        ],
        "results_by_id": inspection.results_by_id,
        "results_at": inspection.results_at,
        "released_at": inspection.released_at,
    }


class InspectionService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper
        self.flow = SigningFlow(
            services, RECORD, "goods-in inspection", TRANSITIONS, PAST, inspection_content
        )

    # -- the plan ---------------------------------------------------------------------------

    async def plan(self, part_id: int) -> list[InspectionPlanItem]:
        """The part's current inspection plan (empty: receipts need no inspection)."""
        return list(
            await self.session.scalars(
                select(InspectionPlanItem)
                .where(
                    InspectionPlanItem.part_id == part_id, InspectionPlanItem.retired_at.is_(None)
                )
                .order_by(InspectionPlanItem.position, InspectionPlanItem.id)
            )
        )

    async def set_plan(self, actor: Actor, part: Part, items: list[PlanItemInput]) -> None:
        """Replace the part's inspection plan (QA). The old items are retired, not deleted;
        the plan as set is a new version of the part's ``inspection_plan`` record."""
        actor.require("suppliers.approve")
        errors: dict[str, str] = {}
        codes: set[str] = set()
        rows: list[InspectionPlanItem] = []
        for position, item in enumerate(items):
            code = item.code.strip()
            if not code or code in codes:
                errors[f"code_{position}"] = "Each characteristic needs its own code."
            codes.add(code)
            if item.kind not in CHARACTERISTIC_KINDS:
                errors[f"kind_{position}"] = "Choose numeric, text or pass/fail."
            if not 1 <= item.sample_size <= MAX_SAMPLE:
                errors[f"sample_size_{position}"] = "The sample size must be 1 to 10000."
            limits = []
            for name, value in (
                ("lower_limit", item.lower_limit),
                ("upper_limit", item.upper_limit),
            ):
                try:
                    limit = None if value in (None, "") else _decimal(str(value))
                except ValueError:
                    errors[f"{name}_{position}"] = "A limit must be a number."
                    limit = None
                limits.append(limit)
            rows.append(
                InspectionPlanItem(
                    part_id=part.id,
                    position=position,
                    code=code,
                    name=item.name.strip() or code,
                    kind=item.kind,
                    unit=item.unit,
                    lower_limit=limits[0],
                    upper_limit=limits[1],
                    expected_text=item.expected_text,
                    method=item.method,
                    sample_size=item.sample_size,
                )
            )
        if errors:
            raise ValidationFailed(errors)
        now = utc_now()
        for old in await self.plan(part.id):
            old.retired_at = now
        self.session.add_all(rows)
        await self.session.flush()
        await self.keeper.write_version(
            "inspection_plan",
            part.id,
            status="effective" if rows else "none",
            action="revise"
            if await self.keeper.latest_version("inspection_plan", part.id)
            else "create",
            reason="inspection plan set",
            data={
                "part_number": part.number,
                "items": [
                    {
                        "code": r.code,
                        "name": r.name,
                        "kind": r.kind,
                        "criterion": r.as_characteristic().criterion(),
                        "sample_size": r.sample_size,
                        "method": r.method,
                    }
                    for r in rows
                ],
            },
        )

    # -- the inspection of a receipt --------------------------------------------------------

    async def open(self, receipt: Receipt) -> ReceiptInspection:
        """The pending inspection of a receipt just posted (in the receipt's transaction)."""
        inspection = ReceiptInspection(
            receipt_id=receipt.id,
            receipt=receipt,
            part_id=receipt.internal_lot.part_id,
            part=receipt.internal_lot.part,
            status="pending",
            results=[],
        )
        self.session.add(inspection)
        await self.session.flush()
        row = await self.keeper.write_version(
            RECORD,
            inspection.id,
            status="pending",
            action="create",
            data=inspection_content(inspection),
        )
        inspection.version = row.version
        return inspection

    async def clears(self, receipt: Receipt) -> bool:
        """Whether the receipt's inspection lets its lot out of quarantine: none was needed,
        or it is released."""
        status = await self.session.scalar(
            select(ReceiptInspection.status).where(ReceiptInspection.receipt_id == receipt.id)
        )
        return status is None or status == "released"

    async def for_receipts(self, receipt_ids: list[int]) -> dict[int, ReceiptInspection]:
        if not receipt_ids:
            return {}
        found = await self.session.scalars(
            select(ReceiptInspection).where(ReceiptInspection.receipt_id.in_(receipt_ids))
        )
        return {i.receipt_id: i for i in found.unique()}

    async def get(self, actor: Actor, inspection_id: int) -> ReceiptInspection:
        actor.require("lots.read")
        inspection = (
            await self.session.get(ReceiptInspection, inspection_id) if actor.is_internal else None
        )
        if inspection is None:
            raise NotFound("No such inspection.")
        return inspection

    async def of_receipt(
        self, actor: Actor, receipt_id: int, permission: str = "lots.read"
    ) -> ReceiptInspection:
        """The inspection of a receipt, for an actor holding ``permission`` (reading it, or
        entering its results)."""
        actor.require(permission)
        found = (await self.for_receipts([receipt_id])).get(receipt_id)
        if found is None or not actor.is_internal:
            raise NotFound("This receipt has no incoming inspection.")
        return found

    async def detail(self, actor: Actor, inspection_id: int) -> InspectionDetail:
        inspection = await self.get(actor, inspection_id)
        return InspectionDetail(
            inspection, await self.plan(inspection.part_id), *await self.flow.history(inspection.id)
        )

    async def record_results(
        self,
        actor: Actor,
        inspection_id: int,
        entries: list[ResultEntry],
        expected_version: int,
    ) -> ReceiptInspection:
        """Goods-in enters what it found, one entry per plan characteristic, with how many
        units it inspected. Each value is judged against the plan (never by the person typing
        it); any failure fails the inspection and rejects the internal lot."""
        actor.require("receipts.post")
        inspection = self.flow.allowed(
            await self.get(actor, inspection_id), "record", expected_version
        )
        plan = await self.plan(inspection.part_id)
        by_code: dict[str, ResultEntry] = {}
        errors: dict[str, str] = {}
        known = {item.code for item in plan}
        for entry in entries:
            code = entry.code.strip()
            if code not in known:
                errors["results"] = "A result names a characteristic the plan does not have."
            elif code in by_code:
                errors["results"] = "A characteristic was given twice."
            by_code[code] = entry
        results: list[InspectionResult] = []
        for item in plan:
            given = by_code.get(item.code)
            if given is None or not given.value.strip():
                errors[f"value_{item.code}"] = "Enter the value found."
                continue
            entry = given
            sampled = (entry.sampled or "").strip()
            if not sampled.isdigit() or int(sampled) > MAX_SAMPLE:
                errors[f"sampled_{item.code}"] = "Enter how many units were inspected."
                continue
            if int(sampled) < item.sample_size:
                errors[f"sampled_{item.code}"] = "Inspect at least the plan's sample size."
                continue
            characteristic = item.as_characteristic()
            try:
                verdict = evaluate(characteristic, entry.value, entry.unit)
            except ResultTypeError as exc:
                errors[f"value_{item.code}"] = str(exc)
                continue
            if len(entry.value.strip()) > 200:
                errors[f"value_{item.code}"] = "Use at most 200 characters."
                continue
            results.append(
                InspectionResult(
                    inspection_id=inspection.id,
                    plan_item_id=item.id,
                    position=item.position,
                    code=item.code,
                    name=item.name,
                    criterion=characteristic.criterion()[:200],
                    value=entry.value.strip(),
                    unit=entry.unit or item.unit,
                    value_numeric=verdict.value_numeric,
                    sample_size=item.sample_size,
                    sampled=int(sampled),
                    verdict=verdict.verdict,
                    explanation=verdict.explanation,
                )
            )
        if not plan:
            errors["results"] = "The part has no inspection plan to judge results against."
        if errors:
            raise ValidationFailed(errors)
        self.session.add_all(results)
        await self.session.flush()
        inspection.results = results
        inspection.results_by_id = actor.id if actor.kind == "user" else None
        inspection.results_at = utc_now()
        failed = [r for r in results if r.verdict == "fail"]
        lot = inspection.receipt.internal_lot
        if failed:
            if lot.status == "quarantine":
                await self.s.inventory.set_status(
                    lot, "rejected", f"incoming inspection of {inspection.receipt.number} failed"
                )
            await self.on_inspection_failed(inspection, failed)
        return await self.flow.move(inspection, "failed" if failed else "passed")

    async def on_inspection_failed(
        self, inspection: ReceiptInspection, failed: list[InspectionResult]
    ) -> None:
        """The hook for a failed incoming inspection: where the nonconformance record will be
        opened (a later issue). Today it writes the audit event that QA finds in the trail."""
        self.keeper.audit(
            "inspection_failed",
            RECORD,
            inspection.id,
            new={
                "receipt_number": inspection.receipt.number,
                "internal_lot_number": inspection.receipt.internal_lot.lot_number,
                "failed": [{"code": r.code, "explanation": r.explanation} for r in failed],
            },
        )

    async def release(
        self,
        actor: Actor,
        inspection_id: int,
        credentials: SigningCredentials,
        comment: str,
        expected_version: int,
    ) -> ReceiptInspection:
        """QA releases a passed inspection with its signature ("released"). The person who
        entered the results cannot release them. The internal lot is released when the
        supplier lot's CoA is approved; otherwise it waits for that approval."""
        actor.require("lots.approve")
        require_signing_person(actor)
        if not actor.is_internal:
            raise PermissionDenied("Only a named QA approver of ours releases an inspection.")
        inspection = self.flow.allowed(
            await self.get(actor, inspection_id), "release", expected_version
        )
        if inspection.results_by_id is not None and inspection.results_by_id == actor.id:
            raise PermissionDenied(
                "You entered the results of this inspection; another person releases it."
            )
        receipt = inspection.receipt
        lot = receipt.internal_lot
        if lot.status != "quarantine":
            raise ReceiptRefused(
                RELEASE_NEEDS_QUARANTINE,
                "inspection",
                receipt=receipt.number,
                lot=lot.lot_number,
                status=lot.status,
            )
        comment = (comment or "").strip()
        await self.flow.sign(actor, inspection, credentials, "release", "released", comment or None)
        inspection.released_at = utc_now()
        if receipt.supplier_lot.status == "approved":
            await self.s.inventory.set_status(
                lot, "released", f"incoming inspection of {receipt.number} released"
            )
        return await self.flow.move(inspection, "released", reason=comment or None)


def _decimal(value: str) -> Decimal:
    """A plan limit as an exact, storable number; ValueError otherwise."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(value) from None
    if not number.is_finite():
        raise ValueError(value)
    check_storable(number)
    return number
