"""EPCIS capture and query, the unit of work behind ``/epcis``.

A capture is one transaction: the document is read and checked whole (``document.parse``),
every event gets its CBV 2.0 hash, events already stored are skipped (a repeated capture is
idempotent), the new ones are stored with their identifier index and posted to the genealogy,
the cycle check runs, the capture becomes an ``epcis_capture`` record version with its audit
event, the document's bytes go to the object store, and ``keeper.commit()`` ends it. Any
refusal before the commit leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, or_, select, text

from trace_core.db import utc_now
from trace_core.epcis.document import CaptureDocument, parse
from trace_core.epcis.errors import EpcisRejected, Fault
from trace_core.epcis.event_hash import event_hash
from trace_core.epcis.export import (
    EPCIS_CONTEXT_URL,
    event_time,
    packing_event,
    process_run_event,
    receipt_event,
    shipment_event,
    work_order_event,
)
from trace_core.epcis.genealogy import (
    EDGE_EVENT_TYPE,
    GateRejected,
    GenealogyWriter,
    Receiving,
    cycle_fault,
    find_cycle,
)
from trace_core.epcis.identifiers import index_form
from trace_core.epcis.models import EpcisCapture, EpcisEvent, EpcisEventIdentifier
from trace_core.epcis.query import MATCH_ROLES, EventQuery, Match, make_token, parse_query
from trace_core.epcis.vocabulary import BIZ_STEP, expand_curie, prefixes_in, standard_uri
from trace_core.errors import DomainError, NotFound
from trace_core.gates import MaterialRefused
from trace_core.identity.actor import Actor
from trace_core.inventory.models import Serial
from trace_core.lots.models import SupplierLot
from trace_core.packing.models import PackingEvent, ShippingUnit
from trace_core.processes.models import ProcessRun
from trace_core.production.models import WorkOrder
from trace_core.receipts.models import Receipt
from trace_core.receipts.service import ReceiptInput
from trace_core.shipments.models import Shipment
from trace_core.trace.models import TraceEdge, TraceNode

if TYPE_CHECKING:
    from trace_core.services import Services

RECORD_TYPE = "epcis_capture"
_ROLES = {
    "epcList": "epc",
    "childEPCs": "child",
    "inputEPCList": "input",
    "outputEPCList": "output",
    "quantityList": "class",
    "childQuantityList": "child_class",
    "inputQuantityList": "input_class",
    "outputQuantityList": "output_class",
}
#: UN/ECE Recommendation 20 codes a receiving event may count a supplier lot in.
UNIT_CODES = {"KGM": "kg", "GRM": "g", "LTR": "l", "MTR": "m", "H87": "pcs", "EA": "pcs"}
# Any constants work; each only has to be the same for every process.
_EXPORT_LOCK_KEY = 7_419_627_710_534
_CAPTURE_LOCK_KEY = 7_419_627_710_535


@dataclass(frozen=True)
class CaptureResult:
    capture_id: int
    #: The hash id of every event, in document order (stored now or before).
    event_ids: list[str]
    stored: int
    duplicates: int
    error_declarations: int


@dataclass(frozen=True)
class QueryPage:
    document: dict[str, Any]
    next_page_token: str | None


@dataclass(frozen=True)
class _Planned:
    pointer: str
    event: dict[str, Any]
    hash: str
    dedup_key: str
    declaration: bool


class EpcisService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    # -- capture ----------------------------------------------------------------------------

    async def capture(self, actor: Actor, raw: bytes) -> CaptureResult:
        """Capture a document (EPC-02): our systems and suppliers' clients with the scope
        ``events:write``; a supplier's client only about its own lots (``GenealogyWriter``)."""
        actor.require("events.capture")
        limits = self.s.limits
        doc = parse(raw, limits.epcis_max_document_bytes, limits.epcis_max_events)
        planned = [self._plan(doc, where, event) for where, event in doc.events]
        # Two captures naming the same new event or object must not both insert it.
        await self._lock(_CAPTURE_LOCK_KEY)
        known = await self._stored_keys([p.dedup_key for p in planned])
        new: list[_Planned] = []
        for item in planned:
            if item.dedup_key not in known:
                known.add(item.dedup_key)
                new.append(item)
        sha256 = hashlib.sha256(raw).hexdigest()
        capture = EpcisCapture(
            received_at=utc_now(),
            document_sha256=sha256,
            document_bytes=len(raw),
            event_count=len(planned),
            stored_count=len(new),
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            channel=actor.channel,
            organization_id=actor.organization_id,
        )
        self.session.add(capture)
        await self.session.flush()
        rows = [self._row(item, doc, capture, actor) for item in new]
        self.session.add_all(rows)
        await self.session.flush()
        writer = GenealogyWriter(self.session, actor)
        await writer.prefetch((i.event for i in new if not i.declaration), doc.prefixes)
        index: list[dict[str, Any]] = []
        for row, item in zip(rows, new, strict=True):
            index += _identifiers(row.id, item.event)
            if not item.declaration:
                await writer.post(row.id, item.event, item.pointer, doc.prefixes)
        if index:
            await self.session.execute(insert(EpcisEventIdentifier), index)
        # QMS-10 / A11-02: the material gate, before anything the events move is written.
        await writer.check_gate(self.s.gate)
        await self._receive(actor, writer.receivings)
        await writer.write_edges()
        if new:
            pointers = {r.id: i.pointer for r, i in zip(rows, new, strict=True)}
            await self._refuse_cycles(capture.id, pointers)
        declarations = sum(1 for item in planned if item.declaration)
        await self.keeper.write_version(
            RECORD_TYPE,
            capture.id,
            status="captured",
            action="create",
            data={
                "document_sha256": sha256,
                "document_bytes": len(raw),
                "events": len(planned),
                "stored": len(new),
                "duplicates": len(planned) - len(new),
                "error_declarations": declarations,
                # The ids themselves are in epcis_events (capture_id); the record pins them.
                "event_ids_sha256": hashlib.sha256(
                    "\n".join(p.hash for p in planned).encode()
                ).hexdigest(),
                "stored_event_ids_sha256": hashlib.sha256(
                    "\n".join(p.hash for p in new).encode()
                ).hexdigest(),
            },
        )
        # The bytes as received (DESIGN invariant 5), stored last: a refusal stores nothing.
        await self.s.store.put(raw)
        await self.keeper.commit()
        return CaptureResult(
            capture.id,
            [p.hash for p in planned],
            len(new),
            len(planned) - len(new),
            declarations,
        )

    async def _receive(self, actor: Actor, receivings: Sequence[Receiving]) -> None:
        """Each supplier lot a receiving event names becomes a goods receipt exactly as the
        receipts page makes it (``ReceiptService.post``: the gate, the approved supplier list,
        quarantine until QA approves the lot, the certificate check), in this capture's unit
        of work. Only our own systems receive; a refusal rejects the whole document."""
        for item in receivings:
            where = item.member.pointer
            if not actor.is_internal:
                raise EpcisRejected(
                    Fault(where, "only the customer's own systems capture receiving events")
                )
            lot = await self.session.get(SupplierLot, item.supplier_lot_id)
            assert lot is not None
            if item.member.quantity is None:
                raise EpcisRejected(
                    Fault(
                        where,
                        f"the receiving of supplier lot {lot.lot_number} needs its quantity "
                        "(a quantityList entry with quantity and uom)",
                    )
                )
            uom = item.member.unit
            if uom and uom != lot.unit and UNIT_CODES.get(uom) != lot.unit:
                raise EpcisRejected(
                    Fault(
                        where, f"supplier lot {lot.lot_number} is counted in {lot.unit}, not {uom}"
                    )
                )
            try:
                await self.s.receipts.post(
                    actor, ReceiptInput(lot.id, str(item.member.quantity)), commit=False
                )
            except MaterialRefused as exc:
                raise GateRejected([replace(r, field=where) for r in exc.refusals]) from exc
            except DomainError as exc:
                raise EpcisRejected(Fault(where, exc.message)) from exc

    async def _stored_keys(self, keys: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            known.update(
                await self.session.scalars(
                    select(EpcisEvent.dedup_key).where(EpcisEvent.dedup_key.in_(chunk))
                )
            )
        return known

    async def _lock(self, key: int) -> None:
        """A transaction-scoped lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
        serialises writers."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    @staticmethod
    def _plan(doc: CaptureDocument, where: str, event: dict[str, Any]) -> _Planned:
        hashed = event_hash(event, doc.prefixes, doc.ignore)
        declaration = event.get("errorDeclaration")
        if declaration is None:
            return _Planned(where, event, hashed, hashed, False)
        # A declaration shares its event's hash; its own row is keyed by what it declares.
        declared = json.dumps([hashed, declaration], sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(declared.encode()).hexdigest()
        return _Planned(where, event, hashed, f"declaration:{digest}", True)

    @staticmethod
    def _row(
        item: _Planned, doc: CaptureDocument, capture: EpcisCapture, actor: Actor
    ) -> EpcisEvent:
        event = item.event
        stored = dict(event)
        if "@context" not in stored and "@context" in doc.document:
            stored = {"@context": doc.document["@context"], **stored}
        prefixes = prefixes_in(event.get("@context"), doc.prefixes)
        step = event.get("bizStep")
        if isinstance(step, str):
            step = standard_uri(BIZ_STEP, expand_curie(step, prefixes)) or expand_curie(
                step, prefixes
            )
        given = event.get("eventID")
        return EpcisEvent(
            event_hash=item.hash,
            dedup_key=item.dedup_key,
            given_event_id=given[:500] if isinstance(given, str) else None,
            event_type=str(event["type"])[:100],
            is_error_declaration=item.declaration,
            event_time=_utc(event["eventTime"]),
            record_time=capture.received_at,
            biz_step=step[:500] if isinstance(step, str) else None,
            action=event.get("action"),
            document=stored,
            capture_id=capture.id,
            source="capture",
            source_id=None,
            organization_id=actor.organization_id,
        )

    async def _refuse_cycles(self, capture_id: int, pointers: Mapping[int, str]) -> None:
        events = select(EpcisEvent.id).where(EpcisEvent.capture_id == capture_id)
        origin = await find_cycle(self.session, events)
        if origin is None:
            return
        identifier = await self.session.scalar(
            select(TraceNode.identifier).where(TraceNode.id == origin)
        )
        culprit = await self.session.scalar(
            select(TraceEdge.event_id)
            .where(
                TraceEdge.event_type == EDGE_EVENT_TYPE,
                TraceEdge.event_id.in_(events),
                or_(TraceEdge.source_id == origin, TraceEdge.target_id == origin),
            )
            .order_by(TraceEdge.event_id)
            .limit(1)
        )
        raise cycle_fault(pointers.get(int(culprit or 0), ""), identifier or str(origin))

    # -- internal postings as events --------------------------------------------------------

    async def export_postings(self) -> int:
        """Write the EPCIS event of every receipt, work order and shipment not exported yet
        (once each, immutable like any event); returns how many. Runs before each query."""
        pending = await self._pending()
        if not pending:
            return 0
        # Two concurrent queries must not export the same posting twice.
        await self._lock(_EXPORT_LOCK_KEY)
        pending = await self._pending()
        count = 0
        for source, ids in pending.items():
            for posting_id in ids:
                event, organization = await self._posting_event(source, posting_id)
                row = EpcisEvent(
                    event_hash=event_hash(event),
                    dedup_key=f"{source}:{posting_id}",
                    given_event_id=None,
                    event_type=event["type"],
                    is_error_declaration=False,
                    event_time=_utc(event["eventTime"]),
                    record_time=utc_now(),
                    # Our own steps (process runs) are URIs of our vocabulary, stored as such.
                    biz_step=standard_uri(BIZ_STEP, event["bizStep"]) or event["bizStep"],
                    action=event.get("action"),
                    document=event,
                    capture_id=None,
                    source=source,
                    source_id=posting_id,
                    organization_id=organization,
                )
                self.session.add(row)
                await self.session.flush()
                if index := _identifiers(row.id, event):
                    await self.session.execute(insert(EpcisEventIdentifier), index)
                count += 1
        await self.session.flush()
        await self.session.commit()
        return count

    async def _pending(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for source, table in (
            ("receipt", Receipt),
            ("work_order", WorkOrder),
            ("shipment", Shipment),
            ("packing", PackingEvent),
        ):
            done = select(EpcisEvent.source_id).where(EpcisEvent.source == source)
            ids = list(
                await self.session.scalars(
                    select(table.id).where(table.id.not_in(done)).order_by(table.id)
                )
            )
            if ids:
                found[source] = ids
        # A process run is a posting once its contractor signed it (drafts are not).
        done = select(EpcisEvent.source_id).where(EpcisEvent.source == "process_run")
        runs = list(
            await self.session.scalars(
                select(ProcessRun.id)
                .where(ProcessRun.posted_at.is_not(None), ProcessRun.id.not_in(done))
                .order_by(ProcessRun.id)
            )
        )
        if runs:
            found["process_run"] = runs
        return found

    async def _posting_event(
        self, source: str, posting_id: int
    ) -> tuple[dict[str, Any], int | None]:
        if source == "receipt":
            receipt = await self.session.get(Receipt, posting_id)
            assert receipt is not None
            # The supplier may read our receipts of its lots.
            return receipt_event(receipt), receipt.supplier_lot.organization_id
        if source == "process_run":
            run = await self.session.get(ProcessRun, posting_id)
            assert run is not None
            # The contractor may read our record of its runs, as a supplier our receipts.
            return process_run_event(run), run.organization_id
        if source == "work_order":
            order = await self.session.get(WorkOrder, posting_id)
            assert order is not None
            serials = list(
                await self.session.scalars(
                    select(Serial).where(Serial.lot_id == order.output_lot_id).order_by(Serial.id)
                )
            )
            return work_order_event(order, serials), None
        if source == "packing":
            packing = await self.session.get(PackingEvent, posting_id)
            assert packing is not None
            unit = await self.session.get(ShippingUnit, packing.unit_id)
            assert unit is not None
            serials = list(
                (
                    await self.session.scalars(
                        select(Serial)
                        .where(Serial.serial.in_(packing.serials))
                        .order_by(Serial.serial)
                    )
                ).unique()
            )
            return packing_event(packing, unit.sscc, serials), None
        shipment = await self.session.get(Shipment, posting_id)
        assert shipment is not None
        # The top units it carried (cases on a shipped pallet travel inside the pallet).
        units = list(
            await self.session.scalars(
                select(ShippingUnit.sscc)
                .where(ShippingUnit.shipment_id == shipment.id, ShippingUnit.parent_id.is_(None))
                .order_by(ShippingUnit.sscc)
            )
        )
        return shipment_event(shipment, units), None

    # -- query ------------------------------------------------------------------------------

    async def query(self, actor: Actor, params: Mapping[str, Sequence[str]]) -> QueryPage:
        """The standard event query; an external client sees only events of its own
        organization (those it captured, our receipts of its lots)."""
        actor.require("trace.read")
        query = parse_query(params)
        await self.export_postings()
        statement = actor.visible(select(EpcisEvent), EpcisEvent.organization_id)
        statement = _filtered(statement, query)
        if query.after is not None:
            moment, row_id = query.after
            statement = statement.where(
                or_(
                    EpcisEvent.event_time > moment,
                    and_(EpcisEvent.event_time == moment, EpcisEvent.id > row_id),
                )
            )
        rows = list(
            await self.session.scalars(
                statement.order_by(EpcisEvent.event_time, EpcisEvent.id).limit(query.per_page + 1)
            )
        )
        token = None
        if len(rows) > query.per_page:
            rows = rows[: query.per_page]
            token = make_token(rows[-1].event_time, rows[-1].id, query.digest)
        return QueryPage(query_document([render(r) for r in rows]), token)

    async def event(self, actor: Actor, digest: str) -> dict[str, Any]:
        """One event by the hex digest of its hash id, with the error declarations made about
        it (shown here, never written into it)."""
        actor.require("trace.read")
        await self.export_postings()
        wanted = f"ni:///sha-256;{digest.lower()}?ver=CBV2.0"
        statement = select(EpcisEvent).where(EpcisEvent.event_hash == wanted)
        if not actor.is_internal:
            statement = statement.where(EpcisEvent.organization_id == actor.organization_id)
        rows = list(await self.session.scalars(statement.order_by(EpcisEvent.id)))
        events = [r for r in rows if not r.is_error_declaration]
        if not rows:
            raise NotFound("No such EPCIS event.")
        main = events[0] if events else None
        return {
            "eventID": wanted,
            "event": render(main) if main else None,
            "captureID": main.capture_id if main else None,
            "source": main.source if main else None,
            "errorDeclarations": [render(r) for r in rows if r.is_error_declaration],
        }


def _filtered(statement: Any, query: EventQuery) -> Any:
    if query.event_types:
        statement = statement.where(EpcisEvent.event_type.in_(query.event_types))
    if query.biz_steps:
        statement = statement.where(EpcisEvent.biz_step.in_(query.biz_steps))
    if query.actions:
        statement = statement.where(EpcisEvent.action.in_(query.actions))
    columns = {"eventTime": EpcisEvent.event_time, "recordTime": EpcisEvent.record_time}
    for name, moment in query.times.items():
        column = columns[name[3:]]
        statement = statement.where(column >= moment if name.startswith("GE_") else column < moment)
    for name, matches in query.matches.items():
        found = select(EpcisEventIdentifier.event_row_id).where(
            EpcisEventIdentifier.role.in_(MATCH_ROLES[name]),
            or_(*(_uri_matches(m) for m in matches)),
        )
        statement = statement.where(EpcisEvent.id.in_(found))
    return statement


def _uri_matches(match: Match) -> Any:
    exact = EpcisEventIdentifier.uri == match.uri
    if not match.prefix:
        return exact
    escaped = match.uri.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(exact, EpcisEventIdentifier.uri.like(escaped + "/%", escape="\\"))


def _identifiers(row_id: int, event: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], None] = {}
    for name, role in _ROLES.items():
        for item in event.get(name) or []:
            value = item.get("epcClass") if isinstance(item, dict) else item
            if isinstance(value, str):
                found[(role, index_form(value)[:500])] = None
    if isinstance(event.get("parentID"), str):
        found[("parent", index_form(event["parentID"])[:500])] = None
    return [{"event_row_id": row_id, "role": r, "uri": u} for r, u in found]


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.strip().upper()).astimezone(dt.UTC)


def render(row: EpcisEvent) -> dict[str, Any]:
    """A stored event as the query answers it: as received, plus its ``eventID`` (the sender's,
    else the hash) and ``recordTime`` (when Traceport stored it)."""
    event = dict(row.document)
    event.setdefault("eventID", row.given_event_id or row.event_hash)
    event["recordTime"] = event_time(row.record_time)
    return event


def query_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": [EPCIS_CONTEXT_URL],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": event_time(utc_now()),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": events},
            }
        },
    }
