"""Recall / suspect lot (QMS-14) and the supplied-by / supplied-to report (MDR-01).

A recall starts from any identifier the trace understands (supplier lot, internal lot, serial,
a scanned UDI). Its scope is the forward trace: the lots made from the suspect material, with
how much of it went into each where the postings recorded quantities, the serials, the
shipments and the consignees with their addresses. Opening a recall is a signed decision of a
QA approver: the lots in scope are set to ``recalled`` (each a new version with the recall as
reason), serials still in stock go on hold so they can be neither consumed nor shipped, and the
scope is kept as the recall record's first version. Exports: consignee CSV, a PDF letter-ready
summary, and an EPCIS 2.0 document with disposition ``recalled``.
"""

from __future__ import annotations

import builtins
import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, func, select, update

from trace_core.db import among_ids, utc_now
from trace_core.epcis.event_hash import event_hash
from trace_core.epcis.identifiers import private_uri
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.inventory.models import InternalLot, Serial
from trace_core.lots.models import SupplierLot
from trace_core.recalls.models import FieldAction, Recall, SuspectReport
from trace_core.records.canonical import plain
from trace_core.trace.models import TraceNode
from trace_core.trace.scope import SerialLot, TraceScope
from trace_core.trace.service import NodeView, TraceResult, collector_paused

if TYPE_CHECKING:
    from trace_core.identity.service import SigningCredentials
    from trace_core.services import Services

RECALL_MEANING = "approved"
#: A declared time may be this far ahead of the server's clock (clock skew), no more.
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class FieldActionInput:
    """One consignee's field action as the coordinator records it: the full new state (an
    empty time or quantity means not yet / none)."""

    notified_at: str = ""
    acknowledged_at: str = ""
    quantity_returned: str = ""
    quantity_destroyed: str = ""
    note: str = ""


@dataclass(frozen=True)
class FieldActionView:
    """A consignee of a recall with its field action so far (``action`` is None before the
    first update)."""

    index: int
    name: str
    address: str
    serials: int
    action: FieldAction | None

    @property
    def acknowledged(self) -> bool:
        return self.action is not None and self.action.acknowledged_at is not None

    @property
    def status(self) -> str:
        if self.action is None or self.action.notified_at is None:
            return "not notified"
        return "acknowledged" if self.acknowledged else "notified"


def recall_scope(result: TraceResult) -> dict[str, Any]:
    """What a forward trace puts in scope, as plain data (the recall record's content): the
    definition, from a full trace. Recalls compute the same with ``scope_for_recall``, which
    the tests hold equal to this."""
    # Quantities: how much in-scope material each lot received or consumed, where the posting
    # recorded it (a forward walk only follows edges out of in-scope nodes).
    received: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for edge in result.edges:
        if edge.quantity is not None and edge.unit:
            received[edge.target][edge.unit] += edge.quantity
    shipped_in: dict[int, int] = {}
    for edge in result.edges:
        # A shipment edge from a serial: that serial left on that shipment. Shipping units
        # (a pallet shipped by its SSCC) have shipment edges too; each serial in them has
        # its own. A serial leaves on one shipment; were there ever two, the one with the
        # highest node id counts (as in the recall statement).
        if edge.kind == "shipment" and result.nodes[edge.source].kind == "serial":
            shipped_in[edge.source] = max(edge.target, shipped_in.get(edge.source, 0))
    carried: dict[int, int] = defaultdict(int)
    for shipment_id in shipped_in.values():
        carried[shipment_id] += 1
    lots, serials, shipments = [], [], []
    for node in sorted(result.nodes.values(), key=lambda n: (n.kind, n.identifier)):
        details = node.details
        if node.kind == "internal_lot":
            lots.append(_lot_entry(node, received))
        elif node.kind == "serial":
            shipment = result.nodes.get(shipped_in.get(node.id, -1))
            serials.append(
                (
                    node.identifier,
                    details.get("lot_number"),
                    details.get("part_number"),
                    details.get("gtin"),
                    details.get("status"),
                    shipment.identifier if shipment else None,
                )
            )
        elif node.kind == "shipment":
            shipments.append(_shipment_entry(node, carried))
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for serial, *shared in serials:
        groups[tuple(shared)].append(serial)
    roots = [result.nodes[r] for r in result.roots if r in result.nodes]
    return _scope_content(roots, lots, groups, shipments)


def _lot_entry(node: NodeView, received: dict[int, dict[str, Decimal]]) -> dict[str, Any]:
    """An internal lot of the recall, with how much suspect material went into it."""
    details = node.details
    return {
        "lot_number": node.identifier,
        "part_number": details.get("part_number"),
        "kind": details.get("lot_kind"),
        "status": details.get("status"),
        "quantity": details.get("quantity"),
        "unit": details.get("unit"),
        "from_suspect_material": dict(sorted(received[node.id].items())),
    }


def _shipment_entry(node: NodeView, carried: dict[int, int]) -> dict[str, Any]:
    """A shipment of the recall, with its consignee and how many serials in scope it
    carried (which ones: the serial groups that name it)."""
    details = node.details
    return {
        "shipment": node.identifier,
        "consignee_name": details.get("consignee_name"),
        "consignee_address": details.get("consignee_address"),
        "shipped_at": details.get("shipped_at"),
        "serial_count": carried[node.id],
    }


#: What a serial group of a recall has in common: every serial in it came from the same lot
#: (part, GTIN), has the same status and left on the same shipment (None: not shipped).
GROUP_FIELDS = ("lot_number", "part_number", "gtin", "status", "shipment")
#: A serial's own entry, as recalls before serial groups kept it and the API answers it.
SERIAL_FIELDS = ("serial", "part_number", "gtin", "lot_number", "status", "shipment")


def _scope_content(
    roots: Sequence[NodeView],
    lots: list[dict[str, Any]],
    groups: dict[tuple[Any, ...], list[str]],
    shipments: list[dict[str, Any]],
) -> dict[str, Any]:
    """The recall's content. The serials (128,249 at the plant's widest lot) are kept in
    **serial groups**: every serial named once, in the group of what it shares with the
    others (lot, part, GTIN, status, shipment), not as an object of six fields each — the
    record holds every serial and every fact about it, at a seventh of the values to
    normalise, hash and store (docs/RECALL.md). ``listed_scope`` gives back one entry per
    serial."""
    consignees = sorted(
        {(s["consignee_name"], s["consignee_address"]) for s in shipments},
        key=lambda pair: (str(pair[0]), str(pair[1])),
    )
    # (lot_number, part_number, gtin, status, shipment): status 3, shipment 4
    sizes = [(shared, len(members)) for shared, members in groups.items()]
    scope: dict[str, Any] = plain(
        {
            "suspect": [{"kind": n.kind, "identifier": n.identifier} for n in roots],
            "counts": {
                "internal_lots": len(lots),
                "serials": sum(n for _shared, n in sizes),
                "serials_in_stock": sum(n for shared, n in sizes if shared[3] == "in_stock"),
                "serials_shipped": sum(n for shared, n in sizes if shared[4]),
                "shipments": len(shipments),
                "consignees": len(consignees),
            },
            "lots": lots,
            "serial_groups": [dict(zip(GROUP_FIELDS, shared, strict=True)) for shared in groups],
            "shipments": shipments,
            "consignees": [{"name": n, "address": a} for n, a in consignees],
        }
    )
    # The serials are texts already: added as they are, not walked value by value by
    # ``plain``; checked, not assumed.
    if not all(_texts(shared) for shared in groups) or not all(
        _texts(members) for members in groups.values()
    ):
        raise TypeError("a serial's recall entry holds a value that is not text")
    for entry, members in zip(scope["serial_groups"], groups.values(), strict=True):
        entry["serials"] = sorted(members)
    scope["serial_groups"].sort(key=_group_order)
    return scope


def _group_order(group: dict[str, Any]) -> tuple[tuple[bool, str], ...]:
    return tuple((group[f] is not None, group[f] or "") for f in GROUP_FIELDS)


def _texts(values: Iterable[Any]) -> bool:
    return all(value is None or type(value) is str for value in values)


def scope_for_recall(scope: TraceScope) -> dict[str, Any]:
    """``recall_scope`` computed from the forward scope asked for with its serials (lots,
    shipments, the edges between them and the serials in groups, from one statement): the
    same content, without building anything per serial."""
    received: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for link in (*scope.links, *scope.serial_links):
        if link.quantity is not None and link.unit:
            received[link.target][link.unit] += link.quantity
    nodes = scope.nodes
    no_lot = SerialLot(None, None, None)
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    carried: dict[int, int] = defaultdict(int)
    for group in scope.serial_groups:
        lot = scope.serial_lots.get(group.lot, no_lot) if group.lot is not None else no_lot
        shipment = nodes[group.shipment].identifier if group.shipment is not None else None
        shared = (lot.lot_number, lot.part_number, lot.gtin, group.status, shipment)
        groups[shared] += group.serials
        if group.shipment is not None:
            carried[group.shipment] += len(group.serials)
    lots, shipments = [], []
    for node in sorted(nodes.values(), key=lambda n: (n.kind, n.identifier)):
        if node.kind == "internal_lot":
            lots.append(_lot_entry(node, received))
        elif node.kind == "shipment":
            shipments.append(_shipment_entry(node, carried))
    return _scope_content([nodes[r] for r in scope.roots if r in nodes], lots, groups, shipments)


# -- reading a recall's scope --------------------------------------------------------------
# Recalls opened before serial groups kept one entry per serial under "serials" and each
# shipment's serials as a list; their records stay as signed. Everything that reads a scope
# goes through these two, so both shapes read the same.


def compact_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """``scope`` with its serials in serial groups and each shipment's ``serial_count`` (a
    scope of either shape; one already in groups is returned as it is)."""
    if "serial_groups" in scope:
        return scope
    entries = scope.get("serials") or []
    serials = {entry.get("serial") for entry in entries}
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for entry in entries:
        groups[tuple(entry.get(f) for f in GROUP_FIELDS)].append(entry["serial"])
    compact = {k: v for k, v in scope.items() if k != "serials"}
    compact["serial_groups"] = sorted(
        (
            {**dict(zip(GROUP_FIELDS, shared, strict=True)), "serials": sorted(members)}
            for shared, members in groups.items()
        ),
        key=_group_order,
    )
    # A shipment's list may also have named the shipping units (SSCC) it carried: only
    # serials count.
    compact["shipments"] = [
        {
            **{k: v for k, v in shipment.items() if k != "serials"},
            "serial_count": len(serials.intersection(shipment.get("serials") or [])),
        }
        for shipment in scope.get("shipments") or []
    ]
    return compact


def listed_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """``scope`` with one entry per serial under ``serials`` (``SERIAL_FIELDS``, in serial
    order) and each shipment's serials listed: the shape the API and the supplied-to report
    answer. A scope already in that shape is returned as it is."""
    if "serial_groups" not in scope:
        return scope
    carried = shipment_serials(scope)
    listed = {k: v for k, v in scope.items() if k != "serial_groups"}
    listed["serials"] = sorted(
        (
            {"serial": serial, **{f: group[f] for f in GROUP_FIELDS}}
            for group in scope["serial_groups"]
            for serial in group["serials"]
        ),
        key=lambda entry: str(entry["serial"]),
    )
    listed["shipments"] = [
        {
            **{k: v for k, v in shipment.items() if k != "serial_count"},
            "serials": [serial for serial, _group in carried.get(shipment["shipment"], [])],
        }
        for shipment in scope["shipments"]
    ]
    return listed


def shipment_serials(scope: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each shipment's serials in scope, in serial order, each with its group (lot, part,
    GTIN, status)."""
    carried: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for group in compact_scope(scope)["serial_groups"]:
        if group["shipment"]:
            carried[group["shipment"]] += [(serial, group) for serial in group["serials"]]
    for members in carried.values():
        members.sort(key=lambda pair: pair[0])
    return carried


@dataclass(frozen=True)
class ScopePage:
    """What the recall pages show of a scope: the scope in serial groups, each consignee
    with how many serials it received, each lot with how many serials in scope it made."""

    scope: dict[str, Any]
    consignees: list[dict[str, Any]]
    serials_per_lot: dict[str, int]


def scope_page(scope: dict[str, Any]) -> ScopePage:
    compact = compact_scope(scope)
    units = units_per_consignee(compact)
    per_lot: dict[str, int] = defaultdict(int)
    for group in compact["serial_groups"]:
        per_lot[group["lot_number"]] += len(group["serials"])
    consignees = [{**c, "serials": units[(c["name"], c["address"])]} for c in compact["consignees"]]
    return ScopePage(compact, consignees, dict(per_lot))


def units_per_consignee(scope: dict[str, Any]) -> dict[tuple[str, str], int]:
    """How many serials of the scope went to each consignee (name, address)."""
    units: dict[tuple[str, str], int] = defaultdict(int)
    for shipment in compact_scope(scope)["shipments"]:
        key = (shipment["consignee_name"], shipment["consignee_address"])
        units[key] += shipment["serial_count"]
    return units


class RecallService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session

    def _require_internal(self, actor: Actor) -> None:
        actor.require("trace.read")
        if not actor.is_internal:
            raise PermissionDenied("Recalls are managed by our own QA.")

    async def preview(self, actor: Actor, identifier: str) -> dict[str, Any]:
        """The scope a recall from ``identifier`` would have now (nothing is written)."""
        self._require_internal(actor)
        return await self._scope(actor, identifier)

    async def _scope(self, actor: Actor, identifier: str) -> dict[str, Any]:
        """The recall's content: the forward scope with its serials (one statement, one
        walk), never a node object per serial."""
        with collector_paused():
            scope = await self.s.trace.scope(actor, identifier, "forward", serials=True)
            return scope_for_recall(scope)

    async def open(
        self,
        actor: Actor,
        identifier: str,
        reason: str,
        credentials: SigningCredentials,
        suspect_report_id: int | None = None,
        supplier_notice: str = "",
    ) -> Recall:
        """Open a recall: a QA approver's signed decision that sets the scope's lots to
        recalled, puts stock on hold and holds the supplier lots in scope as recalled
        (``supplier_notice``: what their suppliers are shown on those lots)."""
        self._require_internal(actor)
        actor.require("lots.approve")
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a named QA approver opens a recall.")
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed({"reason": "Say why the lot is recalled."})
        report = None
        if suspect_report_id is not None:
            report = await self.session.get(SuspectReport, suspect_report_id)
            if report is None:
                raise NotFound("No such suspect-lot report.")
            if report.status != "open":
                raise Conflict("This suspect-lot report was already handled.")
        with collector_paused():
            traced = await self.s.trace.scope(actor, identifier, "forward", serials=True)
            scope = scope_for_recall(traced)
        # The supplier lots in scope (the suspect one, and any an EPCIS event put downstream)
        # are held too: they can no longer be received, nor anything made from them move.
        supplier_nodes = [n.id for n in traced.nodes.values() if n.kind == "supplier_lot"]
        supplier_lot_ids = (
            [
                int(ref)
                for ref in await self.session.scalars(
                    select(TraceNode.ref_id).where(TraceNode.id.in_(supplier_nodes))
                )
            ]
            if supplier_nodes
            else []
        )
        if report is not None:
            supplier_lot_ids.append(report.supplier_lot_id)
        signer = await self.s.identity.reauthenticate(actor, credentials, "open a recall")
        count = await self.session.scalar(select(func.count()).select_from(Recall)) or 0
        recall = Recall(
            number=f"RC-{count + 1:06d}",
            identifier=identifier.strip(),
            reason=reason,
            status="open",
            opened_by_id=actor.id,
            opened_at=utc_now(),
            scope=scope,
            suspect_report_id=report.id if report else None,
        )
        self.session.add(recall)
        await self.session.flush()
        version = await self.s.keeper.write_version(
            "recall",
            recall.id,
            status="open",
            action="create",
            data={
                "number": recall.number,
                "identifier": recall.identifier,
                "reason": reason,
                **scope,
            },
        )
        await self.s.keeper.sign(version, signer, RECALL_MEANING, reason)
        why = f"recall {recall.number}: {reason}"
        # By row id, an array on PostgreSQL: a wide recall holds more lots and serials than
        # one statement may bind as separate parameters (asyncpg: 32,767).
        dialect = self.session.get_bind().dialect.name
        lot_numbers = [lot["lot_number"] for lot in scope["lots"]]
        lots: builtins.list[InternalLot] = []
        for condition in among_ids(dialect, InternalLot.lot_number, lot_numbers, String):
            lots += await self.session.scalars(
                select(InternalLot).where(condition).order_by(InternalLot.lot_number)
            )
        await self.s.inventory.set_statuses(lots, "recalled", why)
        serial_numbers = [
            serial
            for group in scope["serial_groups"]
            if group["status"] == "in_stock"
            for serial in group["serials"]
        ]
        for condition in among_ids(dialect, Serial.serial, serial_numbers, String):
            await self.session.execute(
                update(Serial)
                .where(condition, Serial.status == "in_stock")
                .values(status="on_hold")
            )
        if serial_numbers:
            self.s.keeper.audit(
                "stock_on_hold",
                "recall",
                recall.id,
                new={"serials": serial_numbers},
                reason=why,
            )
        await self.s.holds.place_for_recall(actor, recall, supplier_lot_ids, why, supplier_notice)
        if report is not None:
            report.status = "recall opened"
            self.s.keeper.audit(
                "suspect_report_handled",
                "suspect_report",
                report.id,
                new={"status": report.status, "recall": recall.number},
            )
        await self.s.keeper.commit()
        return recall

    # -- field actions and closing (QMS-14 follow-through) ---------------------------------
    async def field_actions(self, actor: Actor, recall: Recall) -> builtins.list[FieldActionView]:
        """Every consignee of the recall's scope with its field action so far."""
        self._require_internal(actor)
        rows = {
            row.consignee_index: row
            for row in await self.session.scalars(
                select(FieldAction).where(FieldAction.recall_id == recall.id)
            )
        }
        units = units_per_consignee(recall.scope)
        return [
            FieldActionView(
                index, c["name"], c["address"], units[(c["name"], c["address"])], rows.get(index)
            )
            for index, c in enumerate(recall.scope.get("consignees") or [])
        ]

    async def record_field_action(
        self, actor: Actor, recall_id: int, index: int, data: FieldActionInput
    ) -> FieldAction:
        """Record what happened at one consignee: a new version of its field-action record
        each time (the first update creates it)."""
        self._require_internal(actor)
        actor.require("lots.review")
        recall = await self.get(actor, recall_id)
        if recall.status != "open":
            raise Conflict(f"Recall {recall.number} is closed; its field actions are read-only.")
        consignees = recall.scope.get("consignees") or []
        if not 0 <= index < len(consignees):
            raise NotFound(f"Recall {recall.number} has no consignee {index}.")
        consignee = consignees[index]
        errors: dict[str, str] = {}
        now = utc_now()
        notified = _declared_time(data.notified_at, "notified_at", recall.opened_at, now, errors)
        acknowledged = _declared_time(
            data.acknowledged_at, "acknowledged_at", recall.opened_at, now, errors
        )
        if acknowledged and not notified and "notified_at" not in errors:
            errors["notified_at"] = (
                "Record when the consignee was notified before the acknowledgement."
            )
        if acknowledged and notified and acknowledged < notified:
            errors["acknowledged_at"] = "The acknowledgement cannot come before the notification."
        returned = _count(data.quantity_returned, "quantity_returned", errors)
        destroyed = _count(data.quantity_destroyed, "quantity_destroyed", errors)
        shipped = units_per_consignee(recall.scope)[(consignee["name"], consignee["address"])]
        counted = "quantity_returned" not in errors and "quantity_destroyed" not in errors
        if shipped and counted and returned + destroyed > shipped:
            errors["quantity_returned"] = (
                f"{returned} returned and {destroyed} destroyed is more than the {shipped} "
                "units this consignee received."
            )
        note = data.note.strip() or None
        if errors:
            raise ValidationFailed(errors)
        row = await self.session.scalar(
            select(FieldAction).where(
                FieldAction.recall_id == recall.id, FieldAction.consignee_index == index
            )
        )
        created = row is None
        if row is None:
            row = FieldAction(
                recall_id=recall.id,
                consignee_index=index,
                consignee_name=consignee["name"],
                consignee_address=consignee["address"],
            )
            self.session.add(row)
        new = (notified, acknowledged, returned, destroyed, note)
        old = (
            row.notified_at,
            row.acknowledged_at,
            row.quantity_returned,
            row.quantity_destroyed,
            row.note,
        )
        if not created and new == old:
            raise ValidationFailed({"note": "Nothing changed; the field action is as recorded."})
        row.notified_at, row.acknowledged_at = notified, acknowledged
        row.quantity_returned, row.quantity_destroyed, row.note = returned, destroyed, note
        row.updated_at = now
        await self.session.flush()
        view = FieldActionView(index, row.consignee_name, row.consignee_address, shipped, row)
        await self.s.keeper.write_version(
            "recall_field_action",
            row.id,
            status=view.status.replace(" ", "_"),
            action="create" if created else "update",
            reason=None if created else f"field action of recall {recall.number} updated",
            data={
                "recall": recall.number,
                "consignee_name": row.consignee_name,
                "consignee_address": row.consignee_address,
                "notified_at": notified,
                "acknowledged_at": acknowledged,
                "quantity_returned": returned,
                "quantity_destroyed": destroyed,
                "note": note,
            },
        )
        await self.s.keeper.commit()
        return row

    async def close(
        self,
        actor: Actor,
        recall_id: int,
        reason: str,
        credentials: SigningCredentials,
        justification: str = "",
        dispositions: dict[str, str] | None = None,
    ) -> Recall:
        """Close a recall: a QA approver's signed decision (meaning *approved*) with a reason.
        Refused while a consignee has not acknowledged the field action, unless the closer
        justifies closing anyway (the justification and who was missing are recorded)."""
        self._require_internal(actor)
        actor.require("lots.approve")
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a named QA approver closes a recall.")
        recall = await self.get(actor, recall_id)
        if recall.status != "open":
            raise Conflict(f"Recall {recall.number} is already {recall.status}.")
        reason = (reason or "").strip()
        justification = (justification or "").strip()
        if not reason:
            raise ValidationFailed({"reason": "Say why the recall can be closed."})
        views = await self.field_actions(actor, recall)
        missing = [v.name for v in views if not v.acknowledged]
        if missing and not justification:
            raise Conflict(
                f"{len(missing)} consignee(s) have not acknowledged the field action: "
                + "; ".join(missing)
                + ". Record their acknowledgements, or give a justification for closing anyway."
            )
        # What becomes of each lot the recall holds: every one decided, before signing.
        dispositions = dispositions or {}
        await self.s.holds.check_dispositions(recall, dispositions)
        signer = await self.s.identity.reauthenticate(actor, credentials, "close a recall")
        decided = await self.s.holds.end_for_recall(actor, recall, dispositions, reason)
        recall.status = "closed"
        recall.closed_at = utc_now()
        recall.closed_by_id = actor.id
        recall.closing_reason = reason
        recall.closing_justification = justification or None
        latest = await self.s.keeper.latest_version("recall", recall.id)
        previous = dict(latest.content) if latest else {}
        version = await self.s.keeper.write_version(
            "recall",
            recall.id,
            status="closed",
            action="close",
            reason=reason,
            data={
                **previous,
                "closing": {
                    "reason": reason,
                    "dispositions": decided,
                    "justification": justification or None,
                    "unacknowledged": missing,
                    "field_actions": [
                        {
                            "consignee_name": v.name,
                            "status": v.status,
                            "notified_at": v.action.notified_at if v.action else None,
                            "acknowledged_at": v.action.acknowledged_at if v.action else None,
                            "quantity_returned": v.action.quantity_returned if v.action else 0,
                            "quantity_destroyed": v.action.quantity_destroyed if v.action else 0,
                        }
                        for v in views
                    ],
                },
            },
        )
        await self.s.keeper.sign(version, signer, RECALL_MEANING, reason)
        await self.s.keeper.commit()
        return recall

    async def get(self, actor: Actor, recall_id: int) -> Recall:
        self._require_internal(actor)
        recall = await self.session.get(Recall, recall_id)
        if recall is None:
            raise NotFound("No such recall.")
        return recall

    async def all(self, actor: Actor) -> builtins.list[Recall]:
        self._require_internal(actor)
        return list(await self.session.scalars(select(Recall).order_by(Recall.id.desc())))

    # -- suppliers report suspect lots ----------------------------------------------------
    async def report_suspect(self, actor: Actor, lot_id: int, description: str) -> SuspectReport:
        """A supplier tells us one of their lots is suspect; QA sees it on the recall page."""
        lot = await self.s.lots.get(actor, lot_id)
        if actor.is_internal:
            raise PermissionDenied("Suppliers report their own suspect lots; QA opens recalls.")
        actor.require("lots.submit")
        description = (description or "").strip()
        if not description:
            raise ValidationFailed({"description": "Describe what is wrong with the lot."})
        report = SuspectReport(
            organization_id=lot.organization_id,
            supplier_lot_id=lot.id,
            reported_by_kind=actor.kind,
            reported_by_id=actor.id,
            description=description,
            status="open",
        )
        self.session.add(report)
        await self.session.flush()
        await self.s.keeper.write_version(
            "suspect_report",
            report.id,
            status="open",
            action="create",
            data={
                "organization_id": lot.organization_id,
                "supplier_lot": {"id": lot.id, "lot_number": lot.lot_number},
                "description": description,
            },
        )
        await self.s.keeper.commit()
        return report

    async def open_reports(self, actor: Actor) -> builtins.list[tuple[SuspectReport, SupplierLot]]:
        self._require_internal(actor)
        rows = await self.session.execute(
            select(SuspectReport, SupplierLot)
            .join(SupplierLot, SupplierLot.id == SuspectReport.supplier_lot_id)
            .where(SuspectReport.status == "open")
            .order_by(SuspectReport.id)
        )
        return [(r, lot) for r, lot in rows.all()]

    async def reports_for(self, actor: Actor, lot_id: int) -> builtins.list[SuspectReport]:
        lot = await self.s.lots.get(actor, lot_id)
        return list(
            await self.session.scalars(
                select(SuspectReport)
                .where(SuspectReport.supplier_lot_id == lot.id)
                .order_by(SuspectReport.id)
            )
        )

    # -- MDR-01 -----------------------------------------------------------------------------
    async def supplied_report(self, actor: Actor, identifier: str) -> dict[str, Any]:
        """Supplied-by (every supplier lot and supplier upstream) and supplied-to (every
        consignee downstream) for one lot or serial."""
        self._require_internal(actor)
        backward = await self.s.trace.backward(actor, identifier)
        forward = await self.s.trace.forward(actor, identifier)
        supplied_by = sorted(
            (
                {
                    "supplier": n.details.get("supplier"),
                    "supplier_lot": n.identifier,
                    "part_number": n.details.get("part_number"),
                    "part_name": n.details.get("part_name"),
                    "status": n.details.get("status"),
                    "coa_sha256": (n.details.get("coa") or {}).get("sha256"),
                }
                for n in backward.nodes.values()
                if n.kind == "supplier_lot"
            ),
            key=lambda r: (str(r["supplier"]), r["supplier_lot"]),
        )
        scope = listed_scope(recall_scope(forward))
        report: dict[str, Any] = plain(
            {
                "identifier": identifier.strip(),
                "generated_at": utc_now(),
                "supplied_by": supplied_by,
                "supplied_to": scope["shipments"],
                "consignees": scope["consignees"],
            }
        )
        return report


def _declared_time(
    text: str, name: str, opened: dt.datetime, now: dt.datetime, errors: dict[str, str]
) -> dt.datetime | None:
    """A time the coordinator declares: ISO 8601, UTC unless it gives an offset (a date alone
    is midnight UTC); not before the recall was opened, not in the future."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        errors[name] = f"{value!r} is not a date and time (YYYY-MM-DD HH:MM, UTC)."
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    if moment > now + _CLOCK_SKEW:
        errors[name] = f"{value} is in the future."
    elif moment < opened.replace(second=0, microsecond=0):
        errors[name] = f"{value} is before the recall was opened ({opened:%Y-%m-%d %H:%M} UTC)."
    return moment


def _count(text: str, name: str, errors: dict[str, str]) -> int:
    value = (text or "").strip()
    if not value:
        return 0
    if not value.isdigit():
        errors[name] = f"{value!r} is not a whole number of units (0 or more)."
        return 0
    return int(value)


def consignee_csv(recall: Recall) -> str:
    """One row per shipped serial: what a field-action letter run needs."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["recall", "shipment", "shipped_at", "consignee", "address", "serial", "part", "lot"]
    )
    carried = shipment_serials(recall.scope)
    for shipment in recall.scope["shipments"]:
        for serial, group in carried.get(shipment["shipment"]) or [("", {})]:
            writer.writerow(
                [
                    recall.number,
                    shipment["shipment"],
                    shipment["shipped_at"],
                    shipment["consignee_name"],
                    shipment["consignee_address"],
                    serial,
                    group.get("part_number", ""),
                    group.get("lot_number", ""),
                ]
            )
    return out.getvalue()


def recall_pdf(
    recall: Recall,
    opened_by: str,
    signatures: list[dict[str, Any]],
    field_actions: Sequence[FieldActionView] = (),
    versions: Sequence[tuple[int, str, str, dt.datetime, str | None]] = (),
    closed_by: str | None = None,
) -> bytes:
    """The recall as a printable record: opening, signatures, scope, what happened at each
    consignee (field actions), the closing, and the record's version history (``versions``:
    number, status, author, time, reason), so a printout says whether it was changed."""
    from documents.pdf import make_pdf

    def when(moment: dt.datetime | None) -> str:
        return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"

    scope = recall.scope
    carried = shipment_serials(scope)
    lines = [
        f"Recall {recall.number} - status {recall.status}",
        f"Suspect identifier: {recall.identifier}",
        f"Reason: {recall.reason}",
        f"Opened {recall.opened_at:%Y-%m-%d %H:%M:%S} UTC by {opened_by}",
    ]
    if len(versions) > 1:
        lines.append(f"REVISED: this record has {len(versions)} versions (history below).")
    lines += [
        "",
        "Signatures:",
        *(
            f"  {s['printed_name']} - {s['signed_at']} UTC - {s['meaning']}"
            + ("" if s["valid"] else " - INVALID")
            for s in signatures
        ),
        "",
        "Scope: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in scope["counts"].items()),
        "",
        "Consignees:",
        *(f"  {c['name']} - {c['address']}".replace("\n", ", ") for c in scope["consignees"]),
        "",
        "Field actions (units received / returned / destroyed):",
    ]
    for view in field_actions:
        action = view.action
        lines.append(
            f"  {view.name}: {view.status}; notified {when(action.notified_at if action else None)}"
            f"; acknowledged {when(action.acknowledged_at if action else None)}; "
            f"{view.serials} / {action.quantity_returned if action else 0} / "
            f"{action.quantity_destroyed if action else 0}"
            + (f"; note: {action.note}" if action and action.note else "")
        )
    if not field_actions:
        lines.append("  none recorded")
    if recall.status == "closed":
        lines += [
            "",
            f"Closed {when(recall.closed_at)} by {closed_by or '-'}: {recall.closing_reason}",
        ]
        if recall.closing_justification:
            lines.append(f"  Closed without every acknowledgement: {recall.closing_justification}")
    lines += [
        "",
        "Lots (status at opening; quantity of suspect material where recorded):",
        *(
            f"  {lot['lot_number']} {lot['part_number']} {lot['status']} "
            + ", ".join(f"{v} {u}" for u, v in lot["from_suspect_material"].items())
            for lot in scope["lots"]
        ),
        "",
        "Shipments:",
        *(
            f"  {s['shipment']} to {s['consignee_name']}: "
            + ", ".join(serial for serial, _group in carried.get(s["shipment"], []))
            for s in scope["shipments"]
        ),
    ]
    if versions:
        lines += ["", "Record history:"]
        lines += [
            f"  v{number} {status} - {author} - {when(at)}" + (f" - {reason}" if reason else "")
            for number, status, author, at, reason in versions
        ]
    return make_pdf(f"Recall {recall.number}", lines)


def recall_epcis(recall: Recall) -> dict[str, Any]:
    """An EPCIS 2.0 document: one ObjectEvent observing every item in scope as recalled."""
    epcs, classes = [], []
    for serial in listed_scope(recall.scope)["serials"]:
        if serial.get("gtin"):
            epcs.append(f"https://id.gs1.org/01/{serial['gtin']}/21/{serial['serial']}")
        else:
            epcs.append(f"urn:traceport:serial:{serial['serial']}")
    for lot in recall.scope["lots"]:
        classes.append({"epcClass": f"urn:traceport:lot:{lot['lot_number']}"})
    when = recall.opened_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": when,
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "quantityList": classes,
        "action": "OBSERVE",
        "bizStep": "holding",
        "disposition": "recalled",
        "bizTransactionList": [
            {
                "type": "urn:traceport:btt:recall",
                "bizTransaction": private_uri("recall", recall.number),
            }
        ],
    }
    # EPC-04: the event's id is its CBV 2.0 hash, so a receiver that captures the document
    # twice, or gets it again in another spelling, recognises the same event.
    event["eventID"] = event_hash(event)
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": when,
        "epcisBody": {"eventList": [event]},
    }
