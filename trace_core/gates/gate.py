"""The material gate: the one place that decides whether material may move (QMS-10).

Every path that moves material — the pages and the JSON API through the services, EPCIS
capture, the CLI, and anything added later — calls :meth:`MaterialGate.check` (or
:meth:`MaterialGate.refusals`, to report the refusals with its other input errors) before it
writes. The gate reads the statuses of what is named and looks **upstream**: an internal lot
made (at any depth) from a supplier lot that is on hold or under recall is stopped even if
its own status says released, and the refusal names the supplier lot and the recall. The
rules themselves are the table in ``rules.py``; ``docs/GATES.md`` explains them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.gates.models import MaterialHold
from trace_core.gates.rules import (
    LOT_EXTERNAL,
    LOT_QUARANTINE,
    LOT_STATUS,
    RELEASE_VERB,
    SERIAL_LOT,
    SERIAL_STATUS,
    SUPPLIER_LOT_DISPOSED,
    SUPPLIER_LOT_HELD,
    SUPPLIER_LOT_HELD_EXTERNAL,
    SUPPLIER_LOT_RECALLED,
    SUPPLIER_LOT_STATUS,
    UPSTREAM_HELD,
    UPSTREAM_HOLD_STATUSES,
    UPSTREAM_RECALLED,
    VERB,
    MaterialRefused,
    Movement,
    Refusal,
    internal_lot_allows,
    serial_allows,
)
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.recalls.models import Recall
from trace_core.trace.models import TraceEdge, TraceNode


@dataclass(frozen=True)
class HeldSource:
    """A supplier lot on hold or under recall, and the record that holds it."""

    supplier_lot_id: int
    lot_number: str
    hold_status: str
    #: The hold's number (``MH-…``), and the recall's (``RC-…``) when a recall placed it.
    hold: str
    recall: str | None


class MaterialGate:
    """Asks the rule table about the material one posting names. One instance per unit of
    work (``Services.gate``); it only reads."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def check(
        self,
        movement: Movement,
        *,
        supplier_lots: Iterable[tuple[str, SupplierLot]] = (),
        internal_lots: Iterable[tuple[str, InternalLot]] = (),
        serials: Iterable[tuple[str, Serial]] = (),
        external: bool = False,
    ) -> None:
        """Raise :class:`MaterialRefused` (409, each refusal under its input field) unless
        every item may make ``movement``. Each item comes with the input field that named it
        (``"inputs.0"``, ``"serials"``, ``"supplier_lot_id"``, an EPCIS pointer)."""
        found = await self.refusals(
            movement,
            supplier_lots=supplier_lots,
            internal_lots=internal_lots,
            serials=serials,
            external=external,
        )
        if found:
            raise MaterialRefused(found)

    async def refusals(
        self,
        movement: Movement,
        *,
        supplier_lots: Iterable[tuple[str, SupplierLot]] = (),
        internal_lots: Iterable[tuple[str, InternalLot]] = (),
        serials: Iterable[tuple[str, Serial]] = (),
        external: bool = False,
        labels: Mapping[int, str] | None = None,
    ) -> list[Refusal]:
        """Every refusal for the items (empty: all may move). ``external``: the message is
        for a supplier's or contractor's people, who are never shown our holds or recalls."""
        verb = VERB[movement]
        found: list[Refusal] = []
        for where, supplier_lot in supplier_lots:
            found += await self._supplier_lot(where, supplier_lot, movement, verb, external)
        lots = list(internal_lots)
        serial_items = list(serials)
        upstream = await self.held_upstream(
            {lot.id for _, lot in lots} | {serial.lot_id for _, serial in serial_items}
        )
        for where, lot in lots:
            refusal = _lot_refusal(where, lot, movement, verb, upstream)
            if refusal is not None and external:
                # Suppliers and contractors never read our statuses, holds or recalls.
                params = {"record": lot.lot_number, "verb": verb}
                refusal = Refusal(where, lot.lot_number, refusal.rule, LOT_EXTERNAL, params)
            if refusal is not None:
                found.append(refusal)
        for where, serial in serial_items:
            name = (labels or {}).get(serial.id, serial.serial)
            if not serial_allows(serial.status, movement):
                found.append(
                    Refusal(
                        where,
                        serial.serial,
                        "serial_status",
                        SERIAL_STATUS,
                        {"record": name, "status": _said(serial.status), "verb": verb},
                    )
                )
                continue
            lot = serial.lot
            refusal = _lot_refusal(where, lot, movement, verb, upstream)
            if refusal is not None and refusal.rule == "lot_status":
                refusal = Refusal(
                    where,
                    lot.lot_number,
                    "serial_lot_status",
                    SERIAL_LOT,
                    {
                        "record": name,
                        "lot": lot.lot_number,
                        "status": _said(lot.status),
                        "verb": verb,
                    },
                )
            elif refusal is not None:
                refusal = Refusal(
                    where,
                    refusal.record,
                    refusal.rule,
                    refusal.template,
                    {**refusal.params, "record": name},
                )
            if refusal is not None:
                found.append(refusal)
        return found

    async def check_release(self, field: str, lot: InternalLot) -> None:
        """Before QA releases an internal lot (a finished lot's release, a quarantine ending):
        refuse (``MaterialRefused``) when anything it comes from is on hold or under recall.
        Its own status is the releasing step's business, not the gate's."""
        sources = (await self.held_upstream([lot.id])).get(lot.id)
        if sources:
            raise MaterialRefused([_upstream_refusal(field, lot.lot_number, sources, RELEASE_VERB)])

    async def movable(self, movement: Movement, lots: Sequence[InternalLot]) -> list[InternalLot]:
        """The lots that may make ``movement`` now (what a form offers), in their order."""
        refused = {
            r.field
            for r in await self.refusals(
                movement, internal_lots=[(str(lot.id), lot) for lot in lots]
            )
        }
        return [lot for lot in lots if str(lot.id) not in refused]

    async def _supplier_lot(
        self, where: str, lot: SupplierLot, movement: Movement, verb: str, external: bool
    ) -> list[Refusal]:
        if lot.hold_status is not None:
            held = (await self.holds_of([lot.id])).get(lot.id)
            hold = held.hold if held else lot.hold_status
            if external:
                template, params = SUPPLIER_LOT_HELD_EXTERNAL, {"record": lot.lot_number}
            elif lot.hold_status not in UPSTREAM_HOLD_STATUSES:
                template = SUPPLIER_LOT_DISPOSED
                params = {
                    "record": lot.lot_number,
                    "status": _said(lot.hold_status),
                    "hold": await self._last_hold(lot.id),
                }
            elif held is not None and held.recall is not None:
                template = SUPPLIER_LOT_RECALLED
                params = {"record": lot.lot_number, "recall": held.recall}
            else:
                template, params = SUPPLIER_LOT_HELD, {"record": lot.lot_number, "hold": hold}
            rule = {
                "recalled": "supplier_lot_recalled",
                "on_hold": "supplier_lot_held",
            }.get(lot.hold_status, "supplier_lot_disposed")
            return [Refusal(where, lot.lot_number, rule, template, {**params, "verb": verb})]
        if movement is Movement.RECEIVE and lot.status not in ("submitted", "approved"):
            return [
                Refusal(
                    where,
                    lot.lot_number,
                    "supplier_lot_status",
                    SUPPLIER_LOT_STATUS,
                    {"record": lot.lot_number, "status": _said(lot.status)},
                )
            ]
        # Otherwise a supplier lot only moves by being received; named in another movement
        # (an EPCIS event), its review status says nothing about our stock: only its hold.
        return []

    async def _last_hold(self, supplier_lot_id: int) -> str:
        number = await self.session.scalar(
            select(MaterialHold.number)
            .where(MaterialHold.supplier_lot_id == supplier_lot_id)
            .order_by(MaterialHold.id.desc())
            .limit(1)
        )
        return str(number or "")

    async def held_upstream(self, lot_ids: Iterable[int]) -> dict[int, list[HeldSource]]:
        """For each internal lot, the held or recalled supplier lots it comes from at any
        depth: one recursive query backward over the genealogy from all of them."""
        ids = sorted(set(lot_ids))
        if not ids:
            return {}
        start = (
            select(TraceNode.ref_id.label("start"), TraceNode.id.label("node"))
            .where(TraceNode.kind == "internal_lot", TraceNode.ref_id.in_(ids))
            .cte("upstream", recursive=True)
        )
        step = select(start.c.start, TraceEdge.source_id).join(
            TraceEdge, TraceEdge.target_id == start.c.node
        )
        walk = start.union(step)
        rows = (
            await self.session.execute(
                select(walk.c.start, SupplierLot.id)
                .join(TraceNode, TraceNode.id == walk.c.node)
                .join(SupplierLot, SupplierLot.id == TraceNode.ref_id)
                .where(
                    TraceNode.kind == "supplier_lot",
                    SupplierLot.hold_status.in_(UPSTREAM_HOLD_STATUSES),
                )
            )
        ).all()
        if not rows:
            return {}
        holds = await self.holds_of({int(lot) for _, lot in rows})
        found: dict[int, list[HeldSource]] = {}
        for lot_id, supplier_lot_id in rows:
            held = holds.get(int(supplier_lot_id))
            if held is not None:
                found.setdefault(int(lot_id), []).append(held)
        for sources in found.values():
            sources.sort(key=lambda h: (h.recall is None, h.lot_number))
        return found

    async def holds_of(self, supplier_lot_ids: Iterable[int]) -> dict[int, HeldSource]:
        """The active hold of each held supplier lot (a recall's first, else the newest)."""
        ids = sorted(set(supplier_lot_ids))
        if not ids:
            return {}
        rows = (
            await self.session.execute(
                select(SupplierLot, MaterialHold, Recall.number)
                .join(
                    MaterialHold,
                    (MaterialHold.supplier_lot_id == SupplierLot.id)
                    & (MaterialHold.status == "active"),
                    isouter=True,
                )
                .join(Recall, Recall.id == MaterialHold.recall_id, isouter=True)
                .where(SupplierLot.id.in_(ids), SupplierLot.hold_status.is_not(None))
                .order_by(SupplierLot.id, MaterialHold.recall_id.is_(None), MaterialHold.id.desc())
            )
        ).all()
        found: dict[int, HeldSource] = {}
        for lot, hold, recall in rows:
            if lot.id in found:
                continue
            found[lot.id] = HeldSource(
                lot.id,
                lot.lot_number,
                lot.hold_status or "on_hold",
                hold.number if hold is not None else lot.hold_status or "on_hold",
                recall,
            )
        return found


def _said(status: str) -> str:
    return status.replace("_", " ")


def _lot_refusal(
    where: str,
    lot: InternalLot,
    movement: Movement,
    verb: str,
    upstream: dict[int, list[HeldSource]],
) -> Refusal | None:
    if not internal_lot_allows(lot.status, movement):
        template = LOT_QUARANTINE if lot.status == "quarantine" else LOT_STATUS
        return Refusal(
            where,
            lot.lot_number,
            "lot_status",
            template,
            {"record": lot.lot_number, "status": _said(lot.status), "verb": verb},
        )
    sources: Sequence[HeldSource] = upstream.get(lot.id, ())
    if not sources:
        return None
    return _upstream_refusal(where, lot.lot_number, sources, verb)


def _upstream_refusal(
    where: str, lot_number: str, sources: Sequence[HeldSource], verb: str
) -> Refusal:
    source = sources[0]
    if source.recall is not None:
        return Refusal(
            where,
            source.lot_number,
            "upstream_recalled",
            UPSTREAM_RECALLED,
            {
                "record": lot_number,
                "source": source.lot_number,
                "recall": source.recall,
                "verb": verb,
            },
        )
    return Refusal(
        where,
        source.lot_number,
        "upstream_held",
        UPSTREAM_HELD,
        {"record": lot_number, "source": source.lot_number, "hold": source.hold, "verb": verb},
    )
