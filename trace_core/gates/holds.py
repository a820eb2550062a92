"""QA's holds on material, and the holds a recall places (P11-08 state machine).

A hold covers a supplier lot, an internal lot or a range of serials. Placing one and ending
one are each a new version of the ``material_hold`` record with its audit event; a person
signs it (meanings *placed on hold* / *released from hold*, re-authenticated like every
signature), a machine client's step is versioned and audited under its own name. What a hold
does to the material:

- a supplier lot gets ``hold_status`` ``on_hold`` (``recalled`` while a recall holds it): it
  cannot be received, and the gate stops everything made from it (``gate.held_upstream``);
- an internal lot goes ``on_hold`` and gets its previous status back on release;
- the serials of the range still in stock go ``on_hold`` and back ``in_stock`` on release.

A hold placed by a recall ends only with the recall's closing, which says per lot whether it
is released again, scrapped or returned (``end_for_recall``).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.gates.models import MaterialHold
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.numbering import next_in_series
from trace_core.recalls.models import Recall

if TYPE_CHECKING:
    from trace_core.identity.models import User
    from trace_core.identity.service import SigningCredentials
    from trace_core.services import Services

RECORD_TYPE = "material_hold"
PLACED_MEANING = "placed on hold"
RELEASED_MEANING = "released from hold"
#: The legal steps of a hold; anything else is refused with 409 and changes nothing.
HOLD_TRANSITIONS = {
    ("active", "release"): "released",
    ("active", "scrap"): "scrapped",
    ("active", "return"): "returned",
}
#: What a recall's closing may decide for each lot it held.
DISPOSITIONS = ("release", "scrap", "return")
#: Internal lot statuses a hold may be placed on (the others already stop all movement).
HOLDABLE_LOT_STATUSES = ("released", "quarantine")
#: What a supplier lot's hold status stays at when a recall's closing scraps or returns it.
DISPOSED_SUPPLIER_LOT = {"scrap": "scrapped", "return": "returned"}
#: What an internal lot becomes when a recall's closing scraps or returns it.
DISPOSED_LOT_STATUS = {"scrap": "rejected", "return": "rejected"}
MAX_RANGE = 100_000


@dataclass(frozen=True)
class HoldInput:
    reason: str
    #: Shown to the supplier on its lot (supplier lot holds only); never our reason.
    supplier_notice: str = ""


class HoldService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    # -- placing ------------------------------------------------------------------------------
    async def hold_supplier_lot(
        self,
        actor: Actor,
        lot_id: int,
        data: HoldInput,
        credentials: SigningCredentials | None = None,
    ) -> MaterialHold:
        reason = self._authorize(actor, "material.hold", data.reason)
        lot = await self.session.get(SupplierLot, lot_id)
        if lot is None:
            raise NotFound("No such lot.")
        if lot.hold_status is not None:
            raise Conflict(
                f"Supplier lot {lot.lot_number} is already {lot.hold_status.replace('_', ' ')}."
            )
        signer = await self._signer(actor, credentials, "put material on hold")
        hold = await self._new(
            actor,
            "supplier_lot",
            reason,
            supplier_lot_id=lot.id,
            supplier_notice=data.supplier_notice.strip() or None,
        )
        await self._set_supplier_hold(lot, "on_hold", hold)
        await self._version(hold, "create", signer, PLACED_MEANING, reason)
        await self.keeper.commit()
        return hold

    async def hold_internal_lot(
        self,
        actor: Actor,
        lot_id: int,
        data: HoldInput,
        credentials: SigningCredentials | None = None,
    ) -> MaterialHold:
        reason = self._authorize(actor, "material.hold", data.reason)
        lot = await self.session.get(InternalLot, lot_id)
        if lot is None:
            raise NotFound("No such lot.")
        if lot.status not in HOLDABLE_LOT_STATUSES:
            raise Conflict(
                f"Lot {lot.lot_number} is {lot.status.replace('_', ' ')}; only released or "
                "quarantined lots can be put on hold."
            )
        signer = await self._signer(actor, credentials, "put material on hold")
        hold = await self._new(
            actor, "internal_lot", reason, internal_lot_id=lot.id, previous_status=lot.status
        )
        await self.s.inventory.set_status(lot, "on_hold", f"hold {hold.number}: {reason}")
        await self._version(hold, "create", signer, PLACED_MEANING, reason)
        await self.keeper.commit()
        return hold

    async def hold_serials(
        self,
        actor: Actor,
        first: str,
        last: str,
        data: HoldInput,
        credentials: SigningCredentials | None = None,
    ) -> MaterialHold:
        """Hold the serials of one lot from ``first`` to ``last`` (in serial-number order)
        that are in stock; the hold lists them."""
        reason = self._authorize(actor, "material.hold", data.reason)
        first, last = (first or "").strip(), (last or "").strip()
        errors: dict[str, str] = {}
        rows = {
            s.serial: s
            for s in (
                await self.session.scalars(select(Serial).where(Serial.serial.in_([first, last])))
            ).unique()
        }
        if not first:
            errors["serial_first"] = "Give the first serial of the range."
        elif first not in rows:
            errors["serial_first"] = f"There is no serial {first}."
        if not last:
            errors["serial_last"] = "Give the last serial of the range."
        elif last not in rows:
            errors["serial_last"] = f"There is no serial {last}."
        if not errors and rows[first].lot_id != rows[last].lot_id:
            errors["serial_last"] = (
                f"{first} and {last} belong to different lots; a range lies within one lot."
            )
        if not errors and last < first:
            errors["serial_last"] = f"{last} comes before {first}; give the range in order."
        if errors:
            raise ValidationFailed(errors)
        lot_id = rows[first].lot_id
        held = list(
            await self.session.scalars(
                select(Serial.serial)
                .where(
                    Serial.lot_id == lot_id,
                    Serial.serial >= first,
                    Serial.serial <= last,
                    Serial.status == "in_stock",
                )
                .order_by(Serial.serial)
                .limit(MAX_RANGE + 1)
            )
        )
        if not held:
            raise Conflict(f"No serial from {first} to {last} is in stock; nothing to hold.")
        if len(held) > MAX_RANGE:
            raise ValidationFailed(
                {"serial_last": f"At most {MAX_RANGE} serials per hold; split the range."}
            )
        signer = await self._signer(actor, credentials, "put material on hold")
        hold = await self._new(
            actor, "serial_range", reason, serial_first=first, serial_last=last, serials=held
        )
        await self.session.execute(
            update(Serial)
            .where(Serial.serial.in_(held), Serial.status == "in_stock")
            .values(status="on_hold")
            .execution_options(synchronize_session=False)
        )
        await self._version(hold, "create", signer, PLACED_MEANING, reason)
        await self.keeper.commit()
        return hold

    # -- releasing ----------------------------------------------------------------------------
    async def release(
        self,
        actor: Actor,
        hold_id: int,
        reason: str,
        credentials: SigningCredentials | None = None,
    ) -> MaterialHold:
        """End a hold QA placed by hand: the material gets its status back."""
        reason = self._authorize(actor, "material.release", reason)
        hold = await self.session.get(MaterialHold, hold_id)
        if hold is None:
            raise NotFound("No such hold.")
        self._step(hold, "release")
        if hold.recall_id is not None:
            recall = await self.session.get(Recall, hold.recall_id)
            raise Conflict(
                f"Hold {hold.number} was placed by recall {recall.number if recall else ''}; "
                "it ends when the recall is closed, with a disposition for the lot."
            )
        signer = await self._signer(actor, credentials, "release material from hold")
        await self._end(actor, hold, "release", reason)
        await self._version(hold, "release", signer, RELEASED_MEANING, reason)
        await self.keeper.commit()
        return hold

    async def release_supplier_lot(
        self,
        actor: Actor,
        lot_id: int,
        reason: str,
        credentials: SigningCredentials | None = None,
    ) -> MaterialHold:
        """Release the hold QA placed by hand on a supplier lot."""
        self._authorize(actor, "material.release", reason or "-")
        return await self.release(
            actor, await self._active_id(MaterialHold.supplier_lot_id, lot_id), reason, credentials
        )

    async def release_internal_lot(
        self,
        actor: Actor,
        lot_id: int,
        reason: str,
        credentials: SigningCredentials | None = None,
    ) -> MaterialHold:
        self._authorize(actor, "material.release", reason or "-")
        return await self.release(
            actor, await self._active_id(MaterialHold.internal_lot_id, lot_id), reason, credentials
        )

    # -- recalls ------------------------------------------------------------------------------
    async def place_for_recall(
        self,
        actor: Actor,
        recall: Recall,
        supplier_lot_ids: builtins.list[int],
        reason: str,
        notice: str = "",
    ) -> builtins.list[MaterialHold]:
        """Recall opening: each supplier lot in scope is held as ``recalled`` (a version of
        each hold, in the recall's unit of work; the recall's signature covers the decision)."""
        made = []
        for lot_id in sorted(set(supplier_lot_ids)):
            lot = await self.session.get(SupplierLot, lot_id)
            if lot is None:
                continue
            hold = await self._new(
                actor,
                "supplier_lot",
                reason,
                supplier_lot_id=lot.id,
                hold_kind="recall",
                recall_id=recall.id,
                supplier_notice=notice.strip()
                or (
                    f"Lot {lot.lot_number} is on hold: do not ship it to us until our QA "
                    "tells you otherwise."
                ),
            )
            await self._set_supplier_hold(lot, "recalled", hold)
            await self._version(hold, "create", None, None, reason)
            made.append(hold)
        return made

    async def end_for_recall(
        self,
        actor: Actor,
        recall: Recall,
        dispositions: dict[str, str],
        reason: str,
    ) -> builtins.list[dict[str, str]]:
        """Recall closing: what becomes of each lot the recall held (``dispositions``: lot
        number → release, scrap or return). Every held lot needs one; the answer is what the
        closing version records. No commit: the closing commits."""
        holds, lots = await self.check_dispositions(recall, dispositions)
        decided: builtins.list[dict[str, str]] = []
        for hold in holds:
            name = await self._target(hold)
            choice = dispositions[name].strip()
            await self._end(actor, hold, choice, reason)
            await self._version(hold, choice, None, None, reason)
            decided.append({"lot": name, "kind": "supplier_lot", "disposition": choice})
        for lot in lots:
            choice = dispositions[lot.lot_number].strip()
            status = DISPOSED_LOT_STATUS.get(choice, "released")
            await self.s.inventory.set_status(
                lot, status, f"recall {recall.number} closed: {choice}"
            )
            decided.append({"lot": lot.lot_number, "kind": "internal_lot", "disposition": choice})
        return decided

    async def check_dispositions(
        self, recall: Recall, dispositions: dict[str, str]
    ) -> tuple[builtins.list[MaterialHold], builtins.list[InternalLot]]:
        """Refuse (422, a field per lot) unless every lot the recall holds has a disposition
        and nothing else has one. Reads only."""
        holds = await self._recall_holds(recall)
        lots = await self._recalled_internal_lots(recall)
        wanted = [await self._target(hold) for hold in holds]
        wanted += [lot.lot_number for lot in lots]
        errors: dict[str, str] = {}
        for name in wanted:
            choice = (dispositions.get(name) or "").strip()
            if not choice:
                errors[f"disposition.{name}"] = (
                    f"Say what becomes of {name}: released again, scrapped or returned."
                )
            elif choice not in DISPOSITIONS:
                errors[f"disposition.{name}"] = "Choose release, scrap or return."
        for name, choice in dispositions.items():
            if name not in wanted and (choice or "").strip():
                errors[f"disposition.{name}"] = f"{name} is not a lot this recall holds."
        if errors:
            raise ValidationFailed(errors)
        return holds, lots

    async def _recall_holds(self, recall: Recall) -> builtins.list[MaterialHold]:
        return list(
            await self.session.scalars(
                select(MaterialHold)
                .where(MaterialHold.recall_id == recall.id, MaterialHold.status == "active")
                .order_by(MaterialHold.id)
            )
        )

    async def recall_lots(self, recall: Recall) -> builtins.list[tuple[str, str]]:
        """The lots a recall's closing must decide on: (lot number, kind)."""
        holds = await self._recall_holds(recall)
        found = [(await self._target(h), "supplier_lot") for h in holds]
        found += [
            (lot.lot_number, "internal_lot") for lot in await self._recalled_internal_lots(recall)
        ]
        return found

    async def _recalled_internal_lots(self, recall: Recall) -> builtins.list[InternalLot]:
        numbers = [lot["lot_number"] for lot in recall.scope.get("lots") or []]
        if not numbers:
            return []
        return list(
            await self.session.scalars(
                select(InternalLot)
                .where(InternalLot.lot_number.in_(numbers), InternalLot.status == "recalled")
                .order_by(InternalLot.lot_number)
            )
        )

    # -- reading ------------------------------------------------------------------------------
    async def active(
        self,
        actor: Actor,
        *,
        supplier_lot_id: int | None = None,
        internal_lot_id: int | None = None,
    ) -> builtins.list[MaterialHold]:
        """The active holds on a lot (internal actors only: our records)."""
        if not actor.is_internal:
            raise NotFound("No such lot.")
        query = select(MaterialHold).where(MaterialHold.status == "active")
        if supplier_lot_id is not None:
            query = query.where(MaterialHold.supplier_lot_id == supplier_lot_id)
        if internal_lot_id is not None:
            query = query.where(MaterialHold.internal_lot_id == internal_lot_id)
        return list(await self.session.scalars(query.order_by(MaterialHold.id)))

    async def all(self, actor: Actor, limit: int = 200) -> builtins.list[MaterialHold]:
        actor.require("lots.read")
        if not actor.is_internal:
            raise NotFound("No such hold.")
        return list(
            await self.session.scalars(
                select(MaterialHold).order_by(MaterialHold.id.desc()).limit(limit)
            )
        )

    async def recall_numbers(self, holds: builtins.list[MaterialHold]) -> dict[int, str]:
        ids = {h.recall_id for h in holds if h.recall_id is not None}
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Recall.id, Recall.number).where(Recall.id.in_(ids))
        )
        return {int(i): str(n) for i, n in rows.all()}

    async def supplier_notices(self, lot: SupplierLot) -> builtins.list[str]:
        """What the supplier is told about its held lot: QA's notices, nothing else."""
        if lot.hold_status is None:
            return []
        return [
            notice
            for notice in await self.session.scalars(
                select(MaterialHold.supplier_notice)
                .where(
                    MaterialHold.supplier_lot_id == lot.id,
                    MaterialHold.status == "active",
                    MaterialHold.supplier_notice.is_not(None),
                )
                .order_by(MaterialHold.id)
            )
            if notice
        ]

    async def get(self, actor: Actor, hold_id: int) -> MaterialHold:
        if not actor.is_internal:
            raise NotFound("No such hold.")
        actor.require("trace.read")
        hold = await self.session.get(MaterialHold, hold_id)
        if hold is None:
            raise NotFound("No such hold.")
        return hold

    async def internal_lot_id(self, actor: Actor, lot_number: str, permission: str) -> int:
        """Our internal lot by its number (what our systems know it by), for a step that
        needs ``permission`` (asked first: who may not act learns nothing of our lots)."""
        if not actor.is_internal:
            raise NotFound("No such lot.")
        actor.require(permission)
        found = await self.session.scalar(
            select(InternalLot.id).where(InternalLot.lot_number == lot_number.strip())
        )
        if found is None:
            raise NotFound(f"No internal lot {lot_number}.")
        return int(found)

    async def target(self, hold: MaterialHold) -> str:
        return await self._target(hold)

    # -- the steps ----------------------------------------------------------------------------
    def _authorize(self, actor: Actor, permission: str, reason: str) -> str:
        if not actor.is_internal:
            raise NotFound("No such lot.")
        actor.require(permission)
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed({"reason": "Give the reason for the hold or its release."})
        return reason

    async def _signer(
        self, actor: Actor, credentials: SigningCredentials | None, purpose: str
    ) -> User | None:
        """A person signs (re-authenticated); a machine client or the system acts unsigned,
        under its own name in the version and the audit trail."""
        if actor.kind != "user":
            return None
        if credentials is None:
            raise PermissionDenied("A person signs a hold and its release.")
        return await self.s.identity.reauthenticate(actor, credentials, purpose)

    @staticmethod
    def _step(hold: MaterialHold, step: str) -> str:
        new = HOLD_TRANSITIONS.get((hold.status, step))
        if new is None:
            raise Conflict(f"Hold {hold.number} is {hold.status}; it cannot be {step}d.")
        return new

    async def _new(
        self, actor: Actor, target_kind: str, reason: str, **values: object
    ) -> MaterialHold:
        # From a sequence, not count() + 1: two holds placed at once must not share a number.
        number = await next_in_series(self.session, "material_hold")
        hold = MaterialHold(
            number=f"MH-{number:06d}",
            target_kind=target_kind,
            hold_kind=str(values.pop("hold_kind", "hold")),
            reason=reason,
            status="active",
            placed_at=utc_now(),
            placed_by=actor.name,
            **values,
        )
        self.session.add(hold)
        await self.session.flush()
        return hold

    async def _end(self, actor: Actor, hold: MaterialHold, step: str, reason: str) -> None:
        hold.status = self._step(hold, step)
        hold.ended_at = utc_now()
        hold.ended_by = actor.name
        hold.end_reason = reason
        await self.session.flush()
        if hold.target_kind == "supplier_lot" and hold.supplier_lot_id is not None:
            supplier = await self.session.get(SupplierLot, hold.supplier_lot_id)
            assert supplier is not None
            # A lot the recall's closing scrapped or returned stays unreceivable for good.
            final = await self._hold_status(supplier.id) or DISPOSED_SUPPLIER_LOT.get(step)
            await self._set_supplier_hold(supplier, final, hold)
        elif hold.target_kind == "internal_lot" and hold.internal_lot_id is not None:
            lot = await self.session.get(InternalLot, hold.internal_lot_id)
            assert lot is not None
            if lot.status != "on_hold":
                raise Conflict(
                    f"Lot {lot.lot_number} is {lot.status} now, no longer on hold; its status "
                    "is not given back."
                )
            await self.s.inventory.set_status(
                lot, hold.previous_status or "quarantine", f"hold {hold.number} released: {reason}"
            )
        elif hold.serials:
            await self.session.execute(
                update(Serial)
                .where(Serial.serial.in_(hold.serials), Serial.status == "on_hold")
                .values(status="in_stock")
                .execution_options(synchronize_session=False)
            )

    async def _hold_status(self, supplier_lot_id: int) -> str | None:
        kinds = list(
            await self.session.scalars(
                select(MaterialHold.hold_kind).where(
                    MaterialHold.supplier_lot_id == supplier_lot_id,
                    MaterialHold.status == "active",
                )
            )
        )
        if "recall" in kinds:
            return "recalled"
        return "on_hold" if kinds else None

    async def _set_supplier_hold(
        self, lot: SupplierLot, status: str | None, hold: MaterialHold
    ) -> None:
        if lot.hold_status == status:
            return
        old = lot.hold_status
        lot.hold_status = status
        await self.session.flush()
        # The review record (its versions, the supplier's expected version) is not rewritten:
        # the hold is its own record; the supplier lot's trail gets the change as an event.
        self.keeper.audit(
            "hold_status",
            "supplier_lot",
            lot.id,
            old={"hold_status": old},
            new={"hold_status": status, "hold": hold.number},
            reason=hold.end_reason or hold.reason,
        )

    async def _version(
        self,
        hold: MaterialHold,
        action: str,
        signer: User | None,
        meaning: str | None,
        reason: str,
    ) -> None:
        version = await self.keeper.write_version(
            RECORD_TYPE,
            hold.id,
            status=hold.status,
            action=action,
            data=hold.content(await self._target(hold)),
            reason=None if action == "create" else reason,
        )
        if signer is not None and meaning is not None:
            await self.keeper.sign(version, signer, meaning, reason)

    async def _target(self, hold: MaterialHold) -> str:
        if hold.supplier_lot_id is not None:
            lot = await self.session.get(SupplierLot, hold.supplier_lot_id)
            return lot.lot_number if lot else str(hold.supplier_lot_id)
        if hold.internal_lot_id is not None:
            internal = await self.session.get(InternalLot, hold.internal_lot_id)
            return internal.lot_number if internal else str(hold.internal_lot_id)
        return f"{hold.serial_first}…{hold.serial_last}"

    async def _active_id(self, column: Any, lot_id: int) -> int:
        found = await self.session.scalar(
            select(MaterialHold.id)
            .where(
                column == lot_id, MaterialHold.status == "active", MaterialHold.recall_id.is_(None)
            )
            .order_by(MaterialHold.id.desc())
            .limit(1)
        )
        if found is None:
            recall = await self.session.scalar(
                select(MaterialHold.id).where(column == lot_id, MaterialHold.status == "active")
            )
            if recall is not None:
                return int(recall)  # release() explains that a recall holds it
            raise Conflict("This lot has no active hold to release.")
        return int(found)
