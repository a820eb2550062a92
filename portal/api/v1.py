"""The JSON API v1 for machine clients (bearer tokens). Every route is scoped to the
client's organization by the services it calls."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter

from portal.api.responses import BEARER, error_responses
from portal.api.schemas import (
    CertificateIn,
    CertificateOut,
    CoverageOut,
    DocumentOut,
    HoldIn,
    HoldOut,
    HoldReleaseIn,
    LotIn,
    LotOut,
    LotRevisionIn,
    PackIn,
    PackingEventOut,
    PartOut,
    ProcessRunIn,
    ProcessRunOut,
    SerialHoldIn,
    ShipmentIn,
    ShippingUnitOut,
    SuspectIn,
    UnpackIn,
    VoidIn,
    certificate_out,
    coverage_out,
    document_out,
    event_out,
    hold_out,
    lot_out,
    part_out,
    process_run_out,
    version_out,
)
from trace_core.certificates.service import CertificateInput
from trace_core.errors import ValidationFailed
from trace_core.gates.holds import HoldInput
from trace_core.gates.models import MaterialHold
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.packing.models import ShippingUnit
from trace_core.packing.service import PackInput
from trace_core.processes.service import LotLine, MeasuredValue, RunSubmission
from trace_core.recalls.service import listed_scope, recall_epcis
from trace_core.records.audit_trail import parse_filter
from trace_core.records.canonical import plain
from trace_core.services import Services
from trace_core.shipments.service import ShipmentInput
from trace_core.trace.service import BUNDLE_PAGE
from trace_core.trace.statements import Direction

#: What every lot input is held to (docs/LOTS.md), stated in the OpenAPI description.
LOT_INPUT_RULES = (
    "Numbers (quantity, result values) are strings of digits with a full stop as the decimal "
    "mark (`12.5`); a comma, spaces, exponents (`1e3`), units (`12.5 %`), `NaN` and `Infinity` "
    "are refused with 422 naming the field, because `1,300` could mean 1.3 or 1300. A result "
    "outside the characteristic's physical bounds (`physical_min`/`physical_max` in the part's "
    "specification) is refused with 422 as an input error, never judged. A CoA whose "
    "manufacture/test date lies more than the late-entry setting (30 days by default) before "
    "its submission is accepted and flagged: `late_entry_days` in the answer."
)


@get(
    "/api/v1/parts",
    tags=["parts"],
    security=BEARER,
    summary="Parts you may supply, with our effective specification",
)
async def list_parts(services: Services) -> list[PartOut]:
    return [part_out(p, s) for p, s in await services.parts.parts_for(services.actor)]


@post(
    "/api/v1/documents",
    tags=["documents"],
    security=BEARER,
    status_code=201,
    summary="Upload a PDF (multipart field `file`)",
)
async def upload_document(
    services: Services,
    data: Annotated[dict[str, UploadFile], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> DocumentOut:
    upload = data.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationFailed({"file": "Send the PDF as multipart form field 'file'."})
    document = await services.attachments.upload_pdf(
        services.actor, upload.filename or "document.pdf", await upload.read()
    )
    return document_out(document, with_text=True)


@get(
    "/api/v1/documents/{document_id:int}",
    tags=["documents"],
    security=BEARER,
    summary="A document's record, with the text extracted from it",
)
async def get_document(services: Services, document_id: int) -> DocumentOut:
    return document_out(await services.attachments.get(services.actor, document_id), True)


@get(
    "/api/v1/documents/{document_id:int}/content",
    tags=["documents"],
    security=BEARER,
    summary="The document's bytes as received (SHA-256 verified on read)",
    media_type="application/pdf",
)
async def get_document_content(services: Services, document_id: int) -> Response[bytes]:
    document, content = await services.attachments.read(services.actor, document_id)
    return Response(
        content, media_type=document.content_type, headers={"x-content-sha256": document.sha256}
    )


@post(
    "/api/v1/lots",
    tags=["lots"],
    security=BEARER,
    status_code=201,
    summary="Submit a lot with its CoA document and structured results",
    description=LOT_INPUT_RULES,
)
async def submit_lot(services: Services, data: LotIn) -> LotOut:
    lot = await services.lots.submit(
        services.actor,
        LotSubmission(
            data.part_number,
            data.lot_number,
            data.quantity,
            data.unit,
            data.manufactured_on,
            data.expires_on,
            data.coa_document_id,
            [ResultInput(r.code, r.value, r.unit) for r in data.results],
        ),
    )
    return lot_out(await services.lots.detail(services.actor, lot.id))


@get("/api/v1/lots", tags=["lots"], security=BEARER, summary="Your lots, newest first")
async def list_lots(services: Services, status: str | None = None) -> list[LotOut]:
    lots = await services.lots.list(services.actor, status)
    return [lot_out(await services.lots.detail(services.actor, lot.id)) for lot in lots[:100]]


@get(
    "/api/v1/lots/{lot_id:int}",
    tags=["lots"],
    security=BEARER,
    summary="A lot with our verdicts and its signatures",
)
async def get_lot(services: Services, lot_id: int) -> LotOut:
    return lot_out(await services.lots.detail(services.actor, lot_id))


@post(
    "/api/v1/lots/{lot_id:int}/revisions",
    tags=["lots"],
    security=BEARER,
    status_code=201,
    summary="Revise a draft or submitted lot: a new version with a mandatory reason",
    description=LOT_INPUT_RULES,
)
async def revise_lot(services: Services, lot_id: int, data: LotRevisionIn) -> LotOut:
    lot = await services.lots.get(services.actor, lot_id)
    await services.lots.revise(
        services.actor,
        lot_id,
        LotSubmission(
            lot.part.number,
            lot.lot_number,
            data.quantity,
            data.unit,
            data.manufactured_on,
            data.expires_on,
            data.coa_document_id or lot.coa_document_id,
            [ResultInput(r.code, r.value, r.unit) for r in data.results],
        ),
        data.reason,
        data.expected_version,
    )
    return lot_out(await services.lots.detail(services.actor, lot_id))


@post(
    "/api/v1/lots/{lot_id:int}/void",
    tags=["lots"],
    security=BEARER,
    status_code=200,
    summary="Void a draft or submitted lot with a reason (nothing is deleted)",
)
async def void_lot(services: Services, lot_id: int, data: VoidIn) -> LotOut:
    await services.lots.void(services.actor, lot_id, data.reason, data.expected_version)
    return lot_out(await services.lots.detail(services.actor, lot_id))


@get(
    "/api/v1/records/{record_type:str}/{record_id:int}",
    tags=["records"],
    security=BEARER,
    summary="Any record: one version (`version`, default current), its changes, signatures",
)
async def get_record(
    services: Services, record_type: str, record_id: int, version: int | None = None
) -> dict[str, Any]:
    view = await services.records.record(services.actor, record_type, record_id)
    shown = view.version(version)
    result: dict[str, Any] = plain(
        {
            "record_type": record_type,
            "record_id": record_id,
            "title": view.title,
            "current_version": view.current.version,
            "revised_after_first_entry": view.revised,
            "voided": view.voided,
            "version": version_out(shown),
            "changes": [
                {"field": c.field, "old": c.old, "new": c.new} for c in view.changes(shown.version)
            ],
            "signatures": [sig.as_dict() for sig in view.signatures],
            "versions": [
                {
                    "version": v.version,
                    "status": v.status,
                    "action": v.action,
                    "reason": v.reason,
                    "author": v.author_name,
                    "channel": v.channel,
                    "created_at": v.created_at,
                    "content_sha256": v.content_sha256,
                }
                for v in view.versions
            ],
        }
    )
    return result


@get(
    "/api/v1/records/{record_type:str}/{record_id:int}/export",
    tags=["records"],
    security=BEARER,
    summary="Accurate copy: JSON bundle with every version, audit event, signature and key",
)
async def export_record(services: Services, record_type: str, record_id: int) -> dict[str, Any]:
    from trace_core.records.export import export_bundle

    bundle: dict[str, Any] = plain(
        await export_bundle(services, services.actor, record_type, record_id)
    )
    return bundle


@get(
    "/api/v1/records/{record_type:str}/{record_id:int}/export.pdf",
    tags=["records"],
    security=BEARER,
    summary="Accurate copy as a readable PDF, with the attached CoA pages appended",
    media_type="application/pdf",
)
async def export_record_pdf(
    services: Services, record_type: str, record_id: int
) -> Response[bytes]:
    from trace_core.records.export import export_pdf

    return Response(
        await export_pdf(services, services.actor, record_type, record_id),
        media_type="application/pdf",
    )


@get(
    "/api/v1/audit/events",
    tags=["audit"],
    security=BEARER,
    summary="Audit events, newest first (internal clients with scope audit:read)",
)
async def audit_events(
    services: Services,
    record_type: str | None = None,
    record_id: int | None = None,
    actor_name: Annotated[str | None, QueryParameter(name="actor")] = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    audit_filter = parse_filter(record_type, record_id, actor_name, action, since, until)
    events = await services.audit_trail.events(services.actor, audit_filter, limit, before_seq)
    result: dict[str, Any] = plain(
        {
            "events": [event_out(e) for e in events],
            "next_before_seq": events[-1].seq if events and len(events) == limit else None,
        }
    )
    return result


@post(
    "/api/v1/lots/{lot_id:int}/suspect",
    tags=["recalls"],
    security=BEARER,
    status_code=201,
    summary="Report one of your lots as suspect (our QA is told; body: {description})",
)
async def report_suspect_lot(services: Services, lot_id: int, data: SuspectIn) -> dict[str, Any]:
    report = await services.recalls.report_suspect(services.actor, lot_id, data.description)
    return {"id": report.id, "status": report.status, "supplier_lot_id": lot_id}


@get(
    "/api/v1/recalls/{recall_id:int}",
    tags=["recalls"],
    security=BEARER,
    summary="A recall with its scope as opened (internal clients)",
)
async def get_recall(services: Services, recall_id: int) -> dict[str, Any]:
    recall = await services.recalls.get(services.actor, recall_id)
    view = await services.records.record(services.actor, "recall", recall.id)
    result: dict[str, Any] = plain(
        {
            "number": recall.number,
            "identifier": recall.identifier,
            "reason": recall.reason,
            "status": recall.status,
            "opened_at": recall.opened_at,
            "closed_at": recall.closed_at,
            "closing_reason": recall.closing_reason,
            "closing_justification": recall.closing_justification,
            "field_actions": [
                {
                    "consignee_name": f.name,
                    "consignee_address": f.address,
                    "units_received": f.serials,
                    "status": f.status,
                    "notified_at": f.action.notified_at if f.action else None,
                    "acknowledged_at": f.action.acknowledged_at if f.action else None,
                    "quantity_returned": f.action.quantity_returned if f.action else 0,
                    "quantity_destroyed": f.action.quantity_destroyed if f.action else 0,
                    "note": f.action.note if f.action else None,
                }
                for f in await services.recalls.field_actions(services.actor, recall)
            ],
            # The API's contract: one entry per serial, each shipment's serials listed
            # (the record keeps them in serial groups since they were introduced).
            "scope": listed_scope(recall.scope),
            "signatures": [sig.as_dict() for sig in view.signatures],
            "epcis": recall_epcis(recall),
        }
    )
    return result


@get(
    "/api/v1/reports/supplied",
    tags=["recalls"],
    security=BEARER,
    summary="Supplied-by / supplied-to report for a lot or serial (query parameter `id`)",
)
async def supplied_report(services: Services, id: str) -> dict[str, Any]:
    return await services.recalls.supplied_report(services.actor, id)


@get(
    "/api/v1/trace/backward",
    tags=["trace"],
    security=BEARER,
    summary="Backward trace of an identifier (query parameter `id`)",
)
async def trace_backward(services: Services, id: str) -> dict[str, Any]:
    return (await services.trace.backward(services.actor, id)).as_dict()


@get(
    "/api/v1/trace/forward",
    tags=["trace"],
    security=BEARER,
    summary="Forward trace of an identifier (query parameter `id`)",
)
async def trace_forward(services: Services, id: str) -> dict[str, Any]:
    return (await services.trace.forward(services.actor, id)).as_dict()


@get(
    "/api/v1/trace/scope",
    tags=["trace"],
    security=BEARER,
    summary="Scope of a trace: every lot and shipment reached, serials counted per lot",
    description=(
        "What a recall asks first, however wide the lot: `counts` of every kind reached, the "
        "`nodes` that are not serials (and the roots) with their evidence, the `links` between "
        "them with quantities, `serial_bundles` (how many serials in scope each node made), "
        "`lots` with how much of the traced material went into each, and `consignees`. "
        "Open a bundle with `/api/v1/trace/nodes/{node_id}/serials`."
    ),
)
async def trace_scope(services: Services, id: str, direction: str = "forward") -> dict[str, Any]:
    if direction not in ("backward", "forward"):
        raise ValidationFailed({"direction": "Use backward or forward."})
    way: Direction = "forward" if direction == "forward" else "backward"
    return (await services.trace.scope(services.actor, id, way)).as_dict()


@get(
    "/api/v1/trace/nodes/{node_id:int}/serials",
    tags=["trace"],
    security=BEARER,
    summary="A page of the serials that follow a trace node (a bundle of a scope, opened)",
)
async def trace_bundle(
    services: Services,
    node_id: int,
    direction: str = "forward",
    offset: int = 0,
    limit: int = BUNDLE_PAGE,
) -> dict[str, Any]:
    if direction not in ("backward", "forward"):
        raise ValidationFailed({"direction": "Use backward or forward."})
    way: Direction = "forward" if direction == "forward" else "backward"
    return await services.trace.bundle(services.actor, node_id, way, offset, limit)


@post(
    "/api/v1/process-runs",
    tags=["process runs"],
    security=BEARER,
    status_code=201,
    summary="Record an outsourced process run over our lots (a draft; a person signs it)",
)
async def submit_process_run(services: Services, data: ProcessRunIn) -> ProcessRunOut:
    def values(items: list[Any]) -> list[MeasuredValue]:
        return [MeasuredValue(v.name, v.value, v.unit, v.lower_limit, v.upper_limit) for v in items]

    def lots(items: list[Any]) -> list[LotLine]:
        return [LotLine(x.lot_number, x.quantity, x.unit, tuple(x.sources)) for x in items]

    run = await services.processes.submit(
        services.actor,
        RunSubmission(
            data.process_kind,
            data.run_number,
            data.cycle_id,
            data.started_on,
            data.ended_on,
            data.certificate_document_id,
            values(data.parameters),
            values(data.results),
            lots(data.inputs),
            lots(data.outputs),
        ),
    )
    return process_run_out(await services.processes.detail(services.actor, run.id))


@get(
    "/api/v1/process-runs",
    tags=["process runs"],
    security=BEARER,
    summary="Process runs, newest first (a contractor's client: its own)",
)
async def list_process_runs(services: Services, status: str | None = None) -> list[ProcessRunOut]:
    runs = await services.processes.list(services.actor, status, limit=100)
    return [process_run_out(await services.processes.detail(services.actor, r.id)) for r in runs]


@get(
    "/api/v1/process-runs/{run_id:int}",
    tags=["process runs"],
    security=BEARER,
    summary="A process run with its parameters, results, lots and signatures",
)
async def get_process_run(services: Services, run_id: int) -> ProcessRunOut:
    return process_run_out(await services.processes.detail(services.actor, run_id))


@post(
    "/api/v1/certificates",
    tags=["certificates"],
    security=BEARER,
    status_code=201,
    summary="Record a certificate of yours with its PDF and scope (a draft; a person signs it)",
)
async def submit_certificate(services: Services, data: CertificateIn) -> CertificateOut:
    made = await services.certificates.submit(
        services.actor,
        CertificateInput(
            data.standard,
            data.certificate_number,
            data.issuer,
            data.sites,
            data.valid_from,
            data.valid_until,
            data.document_id,
            data.product_scope,
            data.part_numbers,
            data.part_kinds,
        ),
    )
    return certificate_out(await services.certificates.detail(services.actor, made.id))


@get(
    "/api/v1/certificates",
    tags=["certificates"],
    security=BEARER,
    summary="Supplier certificates, soonest to end first (a supplier's client: its own)",
)
async def list_certificates(services: Services, status: str | None = None) -> list[CertificateOut]:
    found = await services.certificates.list(services.actor, status, limit=200)
    return [
        certificate_out(await services.certificates.detail(services.actor, c.id)) for c in found
    ]


@get(
    "/api/v1/certificates/coverage",
    tags=["certificates"],
    security=BEARER,
    summary="Was a part from a supplier covered by an accepted certificate on a day?",
    description=(
        "`supplier` (name; a supplier's client asks about itself and may leave it out), "
        "`part` (our part number), `date` (YYYY-MM-DD, any day). Judged with what we know "
        "now: covered, lapsed, not_covered or none, with the certificate it rests on."
    ),
)
async def certificate_coverage(
    services: Services, part: str = "", date: str = "", supplier: str | None = None
) -> CoverageOut:
    organization, coverage = await services.certificates.check(services.actor, supplier, part, date)
    return coverage_out(organization.name, part, coverage)


@get(
    "/api/v1/certificates/{certificate_id:int}",
    tags=["certificates"],
    security=BEARER,
    summary="A certificate with its scope, validity, PDF and signatures",
)
async def get_certificate(services: Services, certificate_id: int) -> CertificateOut:
    return certificate_out(await services.certificates.detail(services.actor, certificate_id))


async def shipping_unit_out(services: Services, unit: ShippingUnit) -> ShippingUnitOut:
    contents = await services.packing.contents(unit)
    history = [
        PackingEventOut(
            action=event.action,
            biz_step="packing" if event.action == "ADD" else "unpacking",
            serials=list(event.serials),
            units=list(event.units),
            reason=event.reason,
            by=event.actor_name,
            posted_at=event.posted_at,
            epcis_event_id=event_id,
        )
        for event, event_id in await services.packing.history_with_event_ids(unit)
    ]
    return ShippingUnitOut(
        id=unit.id,
        sscc=unit.sscc,
        level=unit.level,
        status=unit.status,
        allocated=unit.allocated,
        packed_by=unit.packed_by,
        packed_at=unit.packed_at,
        closed_at=unit.closed_at,
        shipped_at=unit.shipped_at,
        on_pallet=await services.packing.parent_sscc(unit),
        shipment=await services.packing.shipment_number(unit),
        serials=[s.serial for s in contents.serials],
        units=[u.sscc for u in contents.units],
        history=history,
    )


@get(
    "/api/v1/shipping-units",
    tags=["packing"],
    security=BEARER,
    summary="Our shipping units (cases, pallets), newest first; `status` filters",
)
async def list_shipping_units(
    services: Services, status: str | None = None
) -> list[ShippingUnitOut]:
    units = await services.packing.units(services.actor, status)
    return [await shipping_unit_out(services, u) for u in units]


@post(
    "/api/v1/shipping-units",
    tags=["packing"],
    security=BEARER,
    status_code=201,
    summary="Pack serials into a case or cases onto a pallet (EPCIS AggregationEvent ADD)",
)
async def pack_shipping_unit(services: Services, data: PackIn) -> ShippingUnitOut:
    unit = await services.packing.pack(
        services.actor, PackInput(data.sscc, data.level, data.serials, data.units)
    )
    return await shipping_unit_out(services, unit)


@get(
    "/api/v1/shipping-units/{sscc:str}",
    tags=["packing"],
    security=BEARER,
    summary="A shipping unit by its SSCC (18 digits, `(00)…` or Digital Link, URL-encoded)",
)
async def get_shipping_unit(services: Services, sscc: str) -> ShippingUnitOut:
    return await shipping_unit_out(services, await services.packing.get(services.actor, sscc))


@post(
    "/api/v1/shipping-units/{sscc:str}/unpack",
    tags=["packing"],
    security=BEARER,
    status_code=200,
    summary="Take serials or cases out of a unit, with a reason (EPCIS AggregationEvent DELETE)",
)
async def unpack_shipping_unit(services: Services, sscc: str, data: UnpackIn) -> ShippingUnitOut:
    unit = await services.packing.unpack(
        services.actor, sscc, data.serials, data.units, data.reason, data.everything
    )
    return await shipping_unit_out(services, unit)


@post(
    "/api/v1/shipping-units/{sscc:str}/close",
    tags=["packing"],
    security=BEARER,
    status_code=200,
    summary="Close a packed unit: ready to ship, takes nothing more",
)
async def close_shipping_unit(services: Services, sscc: str) -> ShippingUnitOut:
    unit = await services.packing.close(services.actor, sscc)
    return await shipping_unit_out(services, unit)


@post(
    "/api/v1/shipments",
    tags=["packing"],
    security=BEARER,
    status_code=201,
    summary="Ship serials and closed shipping units (SSCCs) to a consignee",
)
async def post_shipment(services: Services, data: ShipmentIn) -> dict[str, Any]:
    shipment = await services.shipments.ship(
        services.actor,
        ShipmentInput(
            data.number,
            data.consignee_name,
            data.consignee_address,
            data.serials,
            data.units,
            consignee_contact=data.consignee_contact,
            consignee_phone=data.consignee_phone,
        ),
    )
    return {"id": shipment.id, "number": shipment.number, "status": shipment.status}


@get("/healthz", tags=["operations"], summary="Database and object store reachable")
async def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    from sqlalchemy import text as sql

    runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        async with runtime.sessions() as session:
            await session.execute(sql("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await runtime.store.check()
        checks["object_store"] = "ok"
    except Exception as exc:
        checks["object_store"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return Response(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )


# -- material holds (docs/GATES.md; trace_core/gates/holds.py) ------------------------------
# Supplier lots by their id (as every /api/v1/lots route); our internal lots by their lot
# number, which is what our ERP and MES know them by. A machine's hold and release are
# versioned and audited under the client's name; people sign theirs on the pages.

_HOLD_ERRORS = error_responses(
    _400="The body is not JSON of the documented shape (an unknown or mistyped field)",
    _401="No or an expired bearer token",
    _403="The client lacks the scope holds:write, or is not one of our own systems",
    _404="No such lot or hold (or not one of ours)",
    _409="Illegal step: already held, not active, held by a recall",
    _422="A field is missing or wrong (named in fields)",
)


async def _hold_answer(services: Services, hold: MaterialHold) -> HoldOut:
    recalls = await services.holds.recall_numbers([hold])
    target = await services.holds.target(hold)
    return hold_out(hold, target, recalls.get(hold.recall_id or 0))


@post(
    "/api/v1/lots/{lot_id:int}/hold",
    tags=["holds"],
    security=BEARER,
    status_code=201,
    summary="Put a supplier lot on hold (internal clients; it can no longer be received)",
    responses=_HOLD_ERRORS,
)
async def hold_supplier_lot(services: Services, lot_id: int, data: HoldIn) -> HoldOut:
    hold = await services.holds.hold_supplier_lot(
        services.actor, lot_id, HoldInput(data.reason, data.supplier_notice)
    )
    return await _hold_answer(services, hold)


@post(
    "/api/v1/lots/{lot_id:int}/release",
    tags=["holds"],
    security=BEARER,
    status_code=200,
    summary="Release a supplier lot from QA's hold (a recall's hold ends with the recall)",
    responses=_HOLD_ERRORS,
)
async def release_supplier_lot(services: Services, lot_id: int, data: HoldReleaseIn) -> HoldOut:
    hold = await services.holds.release_supplier_lot(services.actor, lot_id, data.reason)
    return await _hold_answer(services, hold)


@post(
    "/api/v1/internal-lots/{lot_number:str}/hold",
    tags=["holds"],
    security=BEARER,
    status_code=201,
    summary="Put one of our internal lots on hold, by its lot number (internal clients)",
    responses=_HOLD_ERRORS,
)
async def hold_internal_lot(services: Services, lot_number: str, data: HoldIn) -> HoldOut:
    lot_id = await services.holds.internal_lot_id(services.actor, lot_number, "material.hold")
    hold = await services.holds.hold_internal_lot(services.actor, lot_id, HoldInput(data.reason))
    return await _hold_answer(services, hold)


@post(
    "/api/v1/internal-lots/{lot_number:str}/release",
    tags=["holds"],
    security=BEARER,
    status_code=200,
    summary="Release one of our internal lots from hold: it gets its previous status back",
    responses=_HOLD_ERRORS,
)
async def release_internal_lot(services: Services, lot_number: str, data: HoldReleaseIn) -> HoldOut:
    lot_id = await services.holds.internal_lot_id(services.actor, lot_number, "material.release")
    hold = await services.holds.release_internal_lot(services.actor, lot_id, data.reason)
    return await _hold_answer(services, hold)


@post(
    "/api/v1/serial-holds",
    tags=["holds"],
    security=BEARER,
    status_code=201,
    summary="Put a range of serials of one lot on hold (those in stock)",
    responses=_HOLD_ERRORS,
)
async def hold_serial_range(services: Services, data: SerialHoldIn) -> HoldOut:
    hold = await services.holds.hold_serials(
        services.actor, data.serial_first, data.serial_last, HoldInput(data.reason)
    )
    return await _hold_answer(services, hold)


@get(
    "/api/v1/holds/{hold_id:int}",
    tags=["holds"],
    security=BEARER,
    summary="A material hold (internal clients)",
    responses={status: _HOLD_ERRORS[status] for status in (401, 403, 404)},
)
async def get_hold(services: Services, hold_id: int) -> HoldOut:
    return await _hold_answer(services, await services.holds.get(services.actor, hold_id))


@post(
    "/api/v1/holds/{hold_id:int}/release",
    tags=["holds"],
    security=BEARER,
    status_code=200,
    summary="Release any hold QA placed by hand (a serial range, a lot)",
    responses=_HOLD_ERRORS,
)
async def release_hold(services: Services, hold_id: int, data: HoldReleaseIn) -> HoldOut:
    hold = await services.holds.release(services.actor, hold_id, data.reason)
    return await _hold_answer(services, hold)


HOLD_ROUTES = [
    hold_supplier_lot,
    release_supplier_lot,
    hold_internal_lot,
    release_internal_lot,
    hold_serial_range,
    get_hold,
    release_hold,
]


ROUTES = [
    list_parts,
    upload_document,
    get_document,
    get_document_content,
    submit_lot,
    list_lots,
    get_lot,
    revise_lot,
    void_lot,
    get_record,
    export_record,
    export_record_pdf,
    audit_events,
    report_suspect_lot,
    get_recall,
    supplied_report,
    trace_backward,
    trace_forward,
    trace_scope,
    trace_bundle,
    submit_process_run,
    list_process_runs,
    get_process_run,
    submit_certificate,
    list_certificates,
    certificate_coverage,
    get_certificate,
    list_shipping_units,
    pack_shipping_unit,
    get_shipping_unit,
    unpack_shipping_unit,
    close_shipping_unit,
    post_shipment,
    healthz,
    *HOLD_ROUTES,
]
