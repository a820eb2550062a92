"""Supplier lot submissions: validation against the part and *our* specification, verdicts,
the supplier's signature, and QA's decision with its own signature.

States: draft → submitted → approved | rejected. A lot entered by a person starts as a draft
and is submitted by signing it; a lot posted by a machine client is submitted at once,
because machines cannot sign (DI-01) — the review page says so. A lot our staff typed from a
supplier's paper CoA starts in needs_verification and is submitted only when a second person
has verified it (``trace_core/lots/staff_entry.py``, A11-03).
"""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.attachments.models import Document
from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials
from trace_core.lots.models import LotResult, SupplierLot
from trace_core.parts.evaluation import InputRefused, ResultTypeError, evaluate
from trace_core.parts.models import Part, Specification
from trace_core.quantities import parse_quantity
from trace_core.records.models import RecordVersion
from trace_core.records.service import SignatureView
from trace_core.records.signing import SUBMITTED_AS_ACCURATE, SigningFlow, require_signing_person
from trace_core.trace.models import TraceNode

if TYPE_CHECKING:
    from trace_core.services import Services

#: Legal transitions; anything else is refused with 409 and changes nothing (P11-08).
TRANSITIONS = {
    ("draft", "sign"): "submitted",
    ("draft", "revise"): "draft",
    ("submitted", "revise"): "submitted",
    ("draft", "void"): "voided",
    ("submitted", "void"): "voided",
    ("submitted", "approve"): "approved",
    ("submitted", "reject"): "rejected",
    # A lot our staff typed from a paper CoA (A11-03): a second person verifies it, or it is
    # voided; nothing else — it cannot be signed, revised, approved or received before.
    ("needs_verification", "verify"): "submitted",
    ("needs_verification", "void"): "voided",
}

#: What a refused step is called in its message.
PAST = {
    "sign": "signed",
    "approve": "approved",
    "reject": "rejected",
    "revise": "revised",
    "void": "voided",
    "verify": "verified",
}

#: The meaning QA signs after reviewing a revised lot's audit trail (A11-06).
AUDIT_REVIEW_MEANING = "audit trail reviewed"
#: The meaning a second person signs after checking what our staff typed from a paper CoA
#: against the scanned PDF (A11-03).
ENTRY_VERIFIED_MEANING = "verified against the source document"
#: Why a lot our staff typed cannot be decided on yet.
UNVERIFIED_ENTRY = (
    "Our staff typed this lot from a paper certificate: a second person must verify the typed "
    "values against the PDF before it can be approved or rejected."
)


@dataclass(frozen=True)
class ResultInput:
    code: str
    value: str
    unit: str | None = None


@dataclass(frozen=True)
class LotSubmission:
    part_number: str
    lot_number: str
    quantity: str
    unit: str
    manufactured_on: str | dt.date
    expires_on: str | dt.date | None
    coa_document_id: int | None
    results: list[ResultInput] = field(default_factory=list)


@dataclass(frozen=True)
class _Validated:
    part: Part
    spec: Specification
    lot_number: str
    quantity: Decimal
    unit: str
    made: dt.date
    expires: dt.date | None
    document: Document
    verdicts: list[Any]
    overall: str
    late_entry_days: int | None


@dataclass
class LotDetail:
    lot: SupplierLot
    signatures: list[SignatureView]
    versions: list[RecordVersion]

    @property
    def revised(self) -> bool:
        return any(v.action == "revise" for v in self.versions)

    @property
    def audit_trail_reviewed(self) -> bool:
        """A valid "audit trail reviewed" signature covers the current data."""
        return any(
            s.meaning == AUDIT_REVIEW_MEANING and s.valid and s.covers_current
            for s in self.signatures
        )

    @property
    def needs_audit_review(self) -> bool:
        """Release of a lot revised after first entry waits for a signed audit-trail review
        (A11-06)."""
        return self.revised and not self.audit_trail_reviewed


def _parse_date(
    value: str | dt.date | None, field_name: str, errors: dict[str, str], required: bool
) -> dt.date | None:
    if value is None or value == "":
        if required:
            errors[field_name] = "A date is required (YYYY-MM-DD)."
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        errors[field_name] = f"'{value}' is not a date; write it as YYYY-MM-DD."
        return None


def late_entry_days(made: dt.date, entered_on: dt.date, allowed_days: int) -> int | None:
    """How many days after its manufacture/test date a CoA was entered, when that is more than
    ``allowed_days`` (a late entry, DI-02: accepted and flagged); None when it is timely."""
    days = (entered_on - made).days
    return days if days > allowed_days else None


def lot_content(lot: SupplierLot) -> dict[str, Any]:
    """The data of a lot version: everything the supplier declared and our verdicts."""
    return {
        "organization_id": lot.organization_id,
        "part_number": lot.part.number,
        "specification": {"id": lot.specification_id, "revision": lot.specification.revision},
        "lot_number": lot.lot_number,
        "quantity": lot.quantity,
        "unit": lot.unit,
        "manufactured_on": lot.manufactured_on,
        "expires_on": lot.expires_on,
        "coa_document": {"id": lot.coa_document_id, "sha256": lot.coa_document.sha256},
        "verdict": lot.verdict,
        "late_entry_days": lot.late_entry_days,
        "entered_by_staff": lot.entered_by_staff,
        "results": [
            {
                "code": r.characteristic.code,
                "value": r.value_text,
                "unit": r.unit,
                "value_in_our_unit": r.value_numeric,
                "verdict": r.verdict,
                "criterion": r.characteristic.criterion(),
            }
            for r in lot.results
        ],
    }


class LotService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper
        self.flow = SigningFlow(
            services,
            "supplier_lot",
            "lot",
            TRANSITIONS,
            PAST,
            lot_content,
            look_again="review it again",
        )

    async def submit(self, actor: Actor, submission: LotSubmission) -> SupplierLot:
        """Validate and record a lot with its CoA results. Every problem is reported at once,
        per field; nothing is written unless all of it is valid."""
        actor.require("lots.submit")
        if actor.is_internal or actor.organization_id is None:
            raise PermissionDenied("Only a supplier's users and clients submit supplier lots.")
        valid = await self._validate(actor, submission, None)
        status = "draft" if actor.kind == "user" else "submitted"
        return await self._record(actor, valid, actor.organization_id, status)

    async def _record(
        self,
        actor: Actor,
        valid: _Validated,
        organization_id: int,
        status: str,
        entered_by_staff: bool = False,
    ) -> SupplierLot:
        """Write a validated new lot of ``organization_id`` with its results, its genealogy
        node and its first version, and commit (the supplier's own submission, or our staff's
        entry of a paper CoA)."""
        part, spec, verdicts = valid.part, valid.spec, valid.verdicts
        lot = SupplierLot(
            organization_id=organization_id,
            part_id=part.id,
            specification_id=spec.id,
            lot_number=valid.lot_number,
            quantity=valid.quantity,
            unit=valid.unit,
            manufactured_on=valid.made,
            expires_on=valid.expires,
            coa_document_id=valid.document.id,
            status=status,
            verdict=valid.overall,
            late_entry_days=valid.late_entry_days,
            version=1,
            created_by_kind=actor.kind,
            created_by_id=actor.id,
            entered_by_staff=entered_by_staff,
            part=part,
            specification=spec,
            coa_document=valid.document,
        )
        self.session.add(lot)
        await self.session.flush()
        await self._store_results(lot, verdicts)
        self.session.add(
            TraceNode(
                kind="supplier_lot",
                ref_id=lot.id,
                identifier=valid.lot_number,
                organization_id=lot.organization_id,
                part_id=part.id,
            )
        )
        await self.keeper.write_version(
            "supplier_lot", lot.id, status=status, action="create", data=lot_content(lot)
        )
        await self.keeper.commit()
        return lot

    async def _store_results(self, lot: SupplierLot, verdicts: builtins.list[Any]) -> None:
        for position, (characteristic, item, verdict) in enumerate(verdicts):
            self.session.add(
                LotResult(
                    lot_id=lot.id,
                    characteristic_id=characteristic.id,
                    position=position,
                    value_text=item.value.strip(),
                    value_numeric=verdict.value_numeric,
                    unit=(item.unit or characteristic.unit or None),
                    verdict=verdict.verdict,
                    explanation=verdict.explanation,
                    characteristic=characteristic,
                )
            )
        await self.session.flush()
        await self.session.refresh(lot, ["results"])

    async def _validate(
        self,
        actor: Actor,
        submission: LotSubmission,
        existing: SupplierLot | None,
        organization_id: int | None = None,
    ) -> _Validated:
        """Check a submission (or the new content of a revision) against the part and our
        specification; raise every problem at once. ``organization_id`` is the supplier the
        lot belongs to when our staff type it on the supplier's behalf (the actor's own
        organization otherwise)."""
        errors: dict[str, str] = {}
        supplier_id = organization_id if organization_id is not None else actor.organization_id
        part_spec = None
        try:
            part_spec = await self.s.parts.part_for(actor, submission.part_number.strip())
        except NotFound as exc:
            errors["part_number"] = exc.message
        if (
            part_spec is not None
            and supplier_id != actor.organization_id
            and not await self.s.parts.is_approved_supplier(supplier_id or 0, part_spec[0].id)
        ):
            errors["part_number"] = "This supplier is not approved to supply this part."
            part_spec = None
        lot_number = submission.lot_number.strip()
        if not lot_number:
            errors["lot_number"] = "The lot number is required."
        elif len(lot_number) > 80:
            errors["lot_number"] = "The lot number is longer than 80 characters."
        try:
            quantity = parse_quantity(submission.quantity)
        except ValueError as exc:
            errors["quantity"] = str(exc)
            quantity = Decimal(0)
        unit = (submission.unit or "").strip()
        if not unit:
            errors["unit"] = "The unit is required."
        elif len(unit) > 20:
            errors["unit"] = "The unit is longer than 20 characters."
        made = _parse_date(submission.manufactured_on, "manufactured_on", errors, True)
        expires = _parse_date(submission.expires_on, "expires_on", errors, False)
        today = utc_now().date()
        if made and made > today:
            errors["manufactured_on"] = "The manufacture date is in the future."
        if made and expires and expires <= made:
            errors["expires_on"] = "The expiry date must be after the manufacture date."
        document = None
        if submission.coa_document_id is None:
            errors["coa_document"] = "Attach the Certificate of Analysis as a PDF."
        else:
            try:
                document = await self.s.attachments.get(actor, submission.coa_document_id)
            except NotFound:
                errors["coa_document"] = "The CoA document was not found."

        verdicts = []
        if part_spec is not None:
            part, spec = part_spec
            if spec is None:
                errors["part_number"] = "This part has no effective specification yet."
            else:
                given: dict[str, ResultInput] = {}
                for entry in submission.results:
                    code = entry.code.strip()
                    if code in given:
                        errors[f"results.{code}"] = f"'{code}' is given more than once."
                    elif len(entry.value.strip()) > 200 or len((entry.unit or "").strip()) > 20:
                        errors[f"results.{code}"] = "The value (200) or unit (20) is too long."
                    given[code] = entry
                known = {c.code for c in spec.characteristics}
                for code in sorted(set(given) - known):
                    errors[f"results.{code}"] = (
                        f"'{code}' is not a characteristic of specification {part.number} "
                        f"rev {spec.revision}."
                    )
                for characteristic in spec.characteristics:
                    item = given.get(characteristic.code)
                    if f"results.{characteristic.code}" in errors:
                        continue
                    if item is None or not item.value.strip():
                        if characteristic.required:
                            errors[f"results.{characteristic.code}"] = (
                                f"A result for {characteristic.name} is required."
                            )
                        continue
                    try:
                        verdict = evaluate(characteristic, item.value, item.unit)
                    except InputRefused as exc:
                        # A broken input rule (the number rule, a physical bound) is refused
                        # with its fixed message, never judged; the key names the field.
                        errors[f"results.{characteristic.code}"] = str(exc)
                        continue
                    except ResultTypeError as exc:
                        errors[f"results.{characteristic.code}"] = f"{characteristic.name}: {exc}."
                        continue
                    verdicts.append((characteristic, item, verdict))
            if lot_number and not errors.get("part_number"):
                duplicate = await self.session.scalar(
                    select(SupplierLot.id).where(
                        SupplierLot.organization_id == supplier_id,
                        SupplierLot.part_id == part.id,
                        SupplierLot.lot_number == lot_number,
                    )
                )
                if duplicate is not None and (existing is None or duplicate != existing.id):
                    errors["lot_number"] = (
                        f"Lot {lot_number} of part {part.number} was already submitted."
                    )
        if errors:
            raise ValidationFailed(errors)
        assert part_spec is not None and part_spec[1] is not None and document is not None
        assert made is not None
        part, spec = part_spec
        assert spec is not None
        overall = (
            "conforming" if all(v.verdict == "pass" for _, _, v in verdicts) else ("nonconforming")
        )
        # Contemporaneity (DI-02) is judged against the first submission: a correction does not
        # make old data contemporaneous, nor does it make a timely entry late.
        entered_on = existing.created_at.date() if existing is not None else today
        return _Validated(
            part,
            spec,
            lot_number,
            quantity,
            unit,
            made,
            expires,
            document,
            verdicts,
            overall,
            late_entry_days(made, entered_on, self.s.limits.late_entry_days),
        )

    async def get(self, actor: Actor, lot_id: int) -> SupplierLot:
        """The lot if the actor may see it (scoped in the query); otherwise NotFound."""
        actor.require("lots.read")
        query = select(SupplierLot).where(SupplierLot.id == lot_id)
        query = actor.visible(query, SupplierLot.organization_id)
        lot = await self.session.scalar(query)
        if lot is None:
            raise NotFound("No such lot.")
        return lot

    async def detail(self, actor: Actor, lot_id: int) -> LotDetail:
        lot = await self.get(actor, lot_id)
        return LotDetail(lot, *await self.flow.history(lot.id))

    async def list(
        self, actor: Actor, status: str | None = None, limit: int = 200
    ) -> builtins.list[SupplierLot]:
        actor.require("lots.read")
        query = select(SupplierLot).order_by(SupplierLot.created_at.desc(), SupplierLot.id.desc())
        query = actor.visible(query, SupplierLot.organization_id)
        if status:
            query = query.where(SupplierLot.status == status)
        return list((await self.session.scalars(query.limit(limit))).unique())

    async def review_queue(self, actor: Actor) -> builtins.list[SupplierLot]:
        actor.require("lots.review")
        return await self.list(actor, status="submitted")

    async def sign_submission(
        self,
        actor: Actor,
        lot_id: int,
        credentials: SigningCredentials,
        expected_version: int,
    ) -> SupplierLot:
        """The supplier's signer signs the draft ("submitted as accurate"), which submits it."""
        require_signing_person(actor)
        actor.require("lots.sign")
        lot = await self._for_transition(actor, lot_id, "sign", expected_version)
        await self.flow.sign(actor, lot, credentials, "sign", SUBMITTED_AS_ACCURATE)
        return await self.flow.move(lot, "submitted")

    async def decide(
        self,
        actor: Actor,
        lot_id: int,
        decision: str,
        credentials: SigningCredentials,
        comment: str,
        expected_version: int,
    ) -> SupplierLot:
        """QA approves or rejects a submitted lot with an e-signature."""
        actor.require("lots.approve")
        if actor.kind != "user" or actor.id is None or not actor.is_internal:
            raise PermissionDenied("Only a named QA approver can decide on a lot.")
        if decision not in ("approve", "reject"):
            raise ValidationFailed({"decision": "Choose approve or reject."})
        if (await self.get(actor, lot_id)).status == "needs_verification":
            raise Conflict(UNVERIFIED_ENTRY)
        lot = await self._for_transition(actor, lot_id, decision, expected_version)
        comment = (comment or "").strip()
        if decision == "reject" and not comment:
            raise ValidationFailed({"comment": "Say why the lot is rejected."})
        if decision == "approve" and lot.verdict != "conforming" and not comment:
            raise ValidationFailed(
                {
                    "comment": "The lot is out of our specification; approving "
                    "it needs a justification."
                }
            )
        if decision == "approve" and (await self.detail(actor, lot.id)).needs_audit_review:
            raise Conflict(
                "This lot was revised after first entry: review its audit trail and sign the "
                "review before approving it."
            )
        signers = {s.id for s in await self._signer_ids(lot.id)}
        if lot.created_by_id == actor.id or actor.id in signers:
            raise PermissionDenied("You took part in this submission and cannot decide on it.")
        meaning = "approved" if decision == "approve" else "rejected"
        await self.flow.sign(actor, lot, credentials, "decide", meaning, comment)
        lot.decided_at = utc_now()
        new_status = TRANSITIONS[(lot.status, decision)]
        await self.s.receipts.on_supplier_lot_decided(lot, new_status)
        return await self.flow.move(lot, new_status, reason=comment or None)

    async def revise(
        self,
        actor: Actor,
        lot_id: int,
        submission: LotSubmission,
        reason: str,
        expected_version: int,
    ) -> SupplierLot:
        """Correct a draft or submitted lot: a new version with a mandatory reason; every
        earlier version stays readable (P11-06, A11-06). The part and lot number identify the
        lot and cannot change. A person's revision of a submitted lot returns it to draft: the
        supplier's signature covered the earlier data and must be given again."""
        actor.require("lots.submit")
        lot = await self._for_transition(actor, lot_id, "revise", expected_version)
        if actor.is_internal:
            raise PermissionDenied("Only the supplier corrects what the supplier declared.")
        reason = (reason or "").strip()
        errors: dict[str, str] = {}
        if not reason:
            errors["reason"] = "Say why the lot is revised; a revision without a reason is refused."
        if submission.part_number.strip() != lot.part.number:
            errors["part_number"] = "The part identifies the lot and cannot be revised."
        if submission.lot_number.strip() != lot.lot_number:
            errors["lot_number"] = (
                "The lot number identifies the lot and cannot be revised; void this lot and "
                "submit the right one."
            )
        if errors:
            raise ValidationFailed(errors)
        valid = await self._validate(actor, submission, lot)
        before = lot_content(lot)
        lot.quantity, lot.unit = valid.quantity, valid.unit
        lot.manufactured_on, lot.expires_on = valid.made, valid.expires
        lot.coa_document_id, lot.coa_document = valid.document.id, valid.document
        lot.specification_id, lot.specification = valid.spec.id, valid.spec
        lot.verdict = valid.overall
        lot.late_entry_days = valid.late_entry_days
        for result in list(lot.results):
            await self.session.delete(result)
        await self.session.flush()
        await self._store_results(lot, valid.verdicts)
        after = lot_content(lot)
        if after == before:
            await self.keeper.rollback()
            raise ValidationFailed({"reason": "Nothing was changed; there is nothing to revise."})
        if lot.status == "submitted" and actor.kind == "user":
            lot.status = "draft"
        row = await self.keeper.write_version(
            "supplier_lot", lot.id, status=lot.status, action="revise", data=after, reason=reason
        )
        lot.version = row.version
        await self.keeper.commit()
        return lot

    async def void(
        self, actor: Actor, lot_id: int, reason: str, expected_version: int
    ) -> SupplierLot:
        """Void a draft or submitted lot with a reason. Nothing is deleted: the voided lot, its
        versions and signatures stay retrievable (DI-04)."""
        if actor.is_internal:
            actor.require("lots.approve")
        else:
            actor.require("lots.submit")
        lot = await self._for_transition(actor, lot_id, "void", expected_version)
        if lot.entered_by_staff and not actor.is_internal:
            raise PermissionDenied(
                "Our staff entered this lot from your paper certificate; only our staff void it."
            )
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed({"reason": "Say why the lot is voided."})
        lot.status = "voided"
        row = await self.keeper.write_version(
            "supplier_lot",
            lot.id,
            status="voided",
            action="void",
            data=lot_content(lot),
            reason=reason,
        )
        lot.version = row.version
        await self.keeper.commit()
        return lot

    async def sign_audit_review(
        self,
        actor: Actor,
        lot_id: int,
        credentials: SigningCredentials,
        expected_version: int,
        comment: str = "",
    ) -> SupplierLot:
        """QA signs that it reviewed the lot's audit trail ("audit trail reviewed")."""
        if actor.kind != "user" or actor.id is None or not actor.is_internal:
            raise PermissionDenied("Only a named QA person reviews an audit trail.")
        actor.require("lots.review")
        lot = await self.get(actor, lot_id)
        if lot.version != expected_version:
            raise Conflict(
                f"The lot changed while you were looking at it (now version "
                f"{lot.version}, you saw {expected_version}); review it again."
            )
        signer = await self.s.identity.reauthenticate(
            actor, credentials, f"audit trail review of lot {lot.id}"
        )
        version = await self.keeper.latest_version("supplier_lot", lot.id)
        assert version is not None
        await self.keeper.sign(version, signer, AUDIT_REVIEW_MEANING, comment.strip() or None)
        await self.keeper.commit()
        return lot

    async def _for_transition(
        self, actor: Actor, lot_id: int, action: str, expected_version: int
    ) -> SupplierLot:
        return self.flow.allowed(await self.get(actor, lot_id), action, expected_version)

    async def _signer_ids(self, lot_id: int) -> builtins.list[Any]:
        from trace_core.records.models import Signature

        result = await self.session.execute(
            # Those who took part in the submission; reviewing the audit trail is not that.
            # Verifying staff's typing against the PDF is not taking part in the content
            # either: the verifier may still decide (the typist may not: created_by_id).
            select(Signature.signer_id.label("id")).where(
                Signature.record_type == "supplier_lot",
                Signature.record_id == lot_id,
                Signature.meaning.not_in((AUDIT_REVIEW_MEANING, ENTRY_VERIFIED_MEANING)),
            )
        )
        return list(result.all())
