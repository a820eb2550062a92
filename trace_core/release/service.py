"""Finished-device release: QA reviews a finished lot's device history record and releases or
rejects it with an e-signature (21 CFR 820.80(d) / QMSR, QMS-10).

States of the release record (``finished_lot_release``): ``quarantine`` (written by the work
order with the lot) → ``released`` (signature meaning *released*; refused while
``release_blockers`` names anything) | ``rejected`` (meaning *rejected*, a reason required).
Anything else is 409 and changes nothing (P11-08). The lot's own status follows in the same
unit of work, as a version of the internal lot.

Only a named QA approver signs (``lots.approve``); machine clients never release (DI-01).
The parts' required processes (``part_required_processes``) are set here too, with our limits.
"""

from __future__ import annotations

import builtins
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.db import utc_now
from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials
from trace_core.inventory.models import InternalLot
from trace_core.parts.models import Part, PartRequiredProcess
from trace_core.processes.models import PROCESS_KINDS
from trace_core.production.models import WorkOrder
from trace_core.records.signing import SigningFlow, require_signing_person
from trace_core.release.dhr import DeviceHistory, blocker_errors, device_history
from trace_core.release.models import FinishedLotRelease

if TYPE_CHECKING:
    from trace_core.services import Services

RELEASE_RECORD = "finished_lot_release"
REQUIRED_PROCESS_RECORD = "part_required_process"

#: Legal transitions of a release record (P11-08).
TRANSITIONS = {
    ("quarantine", "release"): "released",
    ("quarantine", "reject"): "rejected",
}
PAST = {"release": "released", "reject": "rejected"}
MEANINGS = {"release": "released", "reject": "rejected"}


def release_content(release: FinishedLotRelease) -> dict[str, Any]:
    lot = release.lot
    return {
        "lot_number": lot.lot_number,
        "part_number": lot.part.number,
        "work_order_id": release.work_order_id,
        "decided_at": release.decided_at,
    }


def required_process_content(row: PartRequiredProcess) -> dict[str, Any]:
    return {
        "part_number": row.part.number,
        "process_kind": row.process_kind,
        "label": row.label,
        "limits": row.limits,
    }


class ReleaseService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper
        self.flow = SigningFlow(
            services, RELEASE_RECORD, "finished lot release", TRANSITIONS, PAST, release_content
        )

    async def open(self, lot: InternalLot, order: WorkOrder) -> FinishedLotRelease:
        """The release record of a lot a work order just made (inside the work order's unit of
        work)."""
        release = FinishedLotRelease(
            lot_id=lot.id, lot=lot, work_order_id=order.id, status="quarantine", version=1
        )
        self.session.add(release)
        await self.session.flush()
        await self.keeper.write_version(
            RELEASE_RECORD,
            release.id,
            status="quarantine",
            action="create",
            data=release_content(release),
        )
        return release

    async def lot(self, actor: Actor, lot_id: int) -> InternalLot:
        """A finished lot with a release record; NotFound for anything else or an outsider."""
        actor.require("lots.read")
        if not actor.is_internal:
            raise NotFound("No such finished lot.")
        lot = await self.session.scalar(
            select(InternalLot)
            .join(FinishedLotRelease, FinishedLotRelease.lot_id == InternalLot.id)
            .where(InternalLot.id == lot_id)
        )
        if lot is None:
            raise NotFound("No such finished lot.")
        return lot

    async def history(self, actor: Actor, lot_id: int) -> DeviceHistory:
        """The device history record review of a finished lot, with what blocks its release."""
        actor.require("trace.read")
        return await device_history(self.s, actor, await self.lot(actor, lot_id))

    async def statuses(self, lot_ids: builtins.list[int]) -> dict[int, str]:
        """Lot id → the status of its release record (for lists of work orders)."""
        if not lot_ids:
            return {}
        rows = await self.session.execute(
            select(FinishedLotRelease.lot_id, FinishedLotRelease.status).where(
                FinishedLotRelease.lot_id.in_(lot_ids)
            )
        )
        return {int(lot_id): str(status) for lot_id, status in rows.all()}

    async def awaiting(self, actor: Actor) -> builtins.list[FinishedLotRelease]:
        """Finished lots waiting in quarantine for their release, oldest first."""
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        return list(
            (
                await self.session.scalars(
                    select(FinishedLotRelease)
                    .where(FinishedLotRelease.status == "quarantine")
                    .order_by(FinishedLotRelease.id)
                    .limit(200)
                )
            ).unique()
        )

    async def decide(
        self,
        actor: Actor,
        lot_id: int,
        decision: str,
        credentials: SigningCredentials,
        comment: str,
        expected_version: int,
    ) -> FinishedLotRelease:
        """Release or reject a finished lot with QA's e-signature. A release is refused, with
        every blocker named and nothing written, while ``release_blockers`` finds any."""
        require_signing_person(actor)
        actor.require("lots.approve")
        if not actor.is_internal:
            raise PermissionDenied("Only our QA approvers release finished lots.")
        if decision not in PAST:
            raise ValidationFailed({"decision": "Choose release or reject."})
        history = await self.history(actor, lot_id)
        release = self.flow.allowed(history.release, decision, expected_version)
        comment = (comment or "").strip()
        if decision == "reject" and not comment:
            raise ValidationFailed({"comment": "Say why the lot is rejected."})
        if decision == "release" and history.blockers:
            raise ValidationFailed(
                blocker_errors(history.blockers),
                message=" ".join(b.message for b in history.blockers),
            )
        await self.flow.sign(actor, release, credentials, "decide", MEANINGS[decision], comment)
        release.decided_at = utc_now()
        status = TRANSITIONS[(release.status, decision)]
        lot = history.lot
        if lot.status == "quarantine":
            await self.s.inventory.set_status(
                lot, status, f"device history record reviewed: {PAST[decision]} by QA"
            )
        return await self.flow.move(release, status, reason=comment or None)

    # -- required processes per part (COA-05) --------------------------------------------------

    async def require_process(
        self,
        actor: Actor,
        part_number: str,
        process_kind: str,
        label: str,
        limits: builtins.list[dict[str, Any]],
    ) -> PartRequiredProcess:
        """State that every finished lot of a part needs a process, with our limits
        (``{"name", "unit", "lower", "upper"}`` each). Buyers and QA approvers only."""
        actor.require("suppliers.approve")
        if not actor.is_internal:
            raise PermissionDenied("Only our own quality team sets required processes.")
        errors: dict[str, str] = {}
        part = await self.session.scalar(select(Part).where(Part.number == part_number.strip()))
        if part is None:
            errors["part_number"] = "No such part."
        elif part.kind != "finished":
            errors["part_number"] = "Only finished parts have required processes."
        kind = process_kind.strip()
        if kind not in PROCESS_KINDS:
            errors["process_kind"] = "Choose a process we contract out."
        if not label.strip():
            errors["label"] = "Name the process as the release page shows it."
        checked: builtins.list[dict[str, Any]] = []
        for index, limit in enumerate(limits):
            name = str(limit.get("name") or "").strip()
            try:
                lower = _limit(limit.get("lower"))
                upper = _limit(limit.get("upper"))
            except InvalidOperation:
                errors[f"limits.{index}"] = "A limit is not a number."
                continue
            if not name:
                errors[f"limits.{index}"] = "Each limit names the run value it applies to."
                continue
            if lower is not None and upper is not None and lower > upper:
                errors[f"limits.{index}"] = "The lower limit is above the upper limit."
                continue
            unit = str(limit.get("unit") or "").strip() or None
            checked.append(
                {
                    "name": name,
                    "unit": unit,
                    "lower": None if lower is None else str(lower),
                    "upper": None if upper is None else str(upper),
                }
            )
        if part is not None and not errors:
            taken = await self.session.scalar(
                select(PartRequiredProcess.id).where(
                    PartRequiredProcess.part_id == part.id,
                    PartRequiredProcess.process_kind == kind,
                )
            )
            if taken:
                errors["process_kind"] = "The part already requires this process."
        if errors:
            raise ValidationFailed(errors)
        assert part is not None
        row = PartRequiredProcess(
            part_id=part.id, part=part, process_kind=kind, label=label.strip(), limits=checked
        )
        self.session.add(row)
        await self.session.flush()
        await self.keeper.write_version(
            REQUIRED_PROCESS_RECORD,
            row.id,
            status="effective",
            action="create",
            data=required_process_content(row),
        )
        await self.keeper.commit()
        return row

    async def required_limits(self, part_ids: set[int], process_kind: str) -> dict[str, Any]:
        """Our limits by value name (lower case) for a process over lots of these parts: the
        strictest where several parts name the same value."""
        if not part_ids:
            return {}
        rows = await self.session.scalars(
            select(PartRequiredProcess).where(
                PartRequiredProcess.part_id.in_(part_ids),
                PartRequiredProcess.process_kind == process_kind,
            )
        )
        found: dict[str, dict[str, Any]] = {}
        for row in rows.unique():
            for limit in row.limits:
                key = str(limit["name"]).lower()
                seen = found.setdefault(key, dict(limit))
                for bound, stricter in (("lower", max), ("upper", min)):
                    values = [v for v in (seen.get(bound), limit.get(bound)) if v is not None]
                    seen[bound] = str(stricter(Decimal(v) for v in values)) if values else None
        return found


def _limit(value: Any) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    number = Decimal(str(value).strip())
    if not number.is_finite():
        raise InvalidOperation
    return number
