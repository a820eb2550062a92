"""The machine API for goods receipts and their incoming inspection (internal clients: an ERP
posting receipts with scope ``receipts:write``, reading them with ``lots:read``).

The rules are the receipt service's (trace_core.receipts); a refusal is a JSON ``ErrorOut``
naming the field: 422 for input that cannot be used (quantity, unit, results), 409 for a
receipt the supplier lot does not allow (its status, the approved supplier list, more than
declared) or an inspection step its state does not allow. Nothing is written on a refusal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Response, get, post

from portal.api.responses import BEARER, error_responses
from portal.api.schemas import (
    ErrorOut,
    InspectionOut,
    InspectionResultOut,
    InspectionResultsIn,
    ReceiptIn,
    ReceiptLimitOut,
    ReceiptOut,
    RefusalOut,
)
from trace_core.errors import Conflict, ValidationFailed
from trace_core.gates import MaterialRefused
from trace_core.receipts.inspection import ResultEntry
from trace_core.receipts.models import Receipt, ReceiptInspection
from trace_core.receipts.service import ReceiptInput, ReceiptRefused
from trace_core.services import Services

_COMMON = {
    "_400": "The body is not JSON of the documented shape (a field of the wrong type, an "
    "unknown field).",
    "_401": "No or an expired bearer token.",
    "_403": "The token lacks the scope (receipts:write to post, lots:read to read) or the "
    "client is not one of ours.",
}


def _plain(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def inspection_out(inspection: ReceiptInspection) -> InspectionOut:
    return InspectionOut(
        id=inspection.id,
        status=inspection.status,
        version=inspection.version,
        results=[
            InspectionResultOut(
                code=r.code,
                name=r.name,
                criterion=r.criterion,
                value=r.value,
                unit=r.unit,
                sample_size=r.sample_size,
                sampled=r.sampled,
                verdict=r.verdict,
                explanation=r.explanation,
            )
            for r in inspection.results
        ],
        released_at=inspection.released_at,
    )


async def receipt_out(services: Services, receipt: Receipt) -> ReceiptOut:
    inspection = (await services.inspections.for_receipts([receipt.id])).get(receipt.id)
    lot = receipt.supplier_lot
    return ReceiptOut(
        id=receipt.id,
        number=receipt.number,
        supplier_lot_id=lot.id,
        supplier_lot_number=lot.lot_number,
        supplier=lot.organization.name,
        part_number=lot.part.number,
        internal_lot_number=receipt.internal_lot.lot_number,
        internal_lot_status=receipt.internal_lot.status,
        quantity=_plain(receipt.quantity),
        unit=receipt.unit,
        quantity_received=_plain(receipt.quantity_received or receipt.quantity),
        unit_received=receipt.unit_received or receipt.unit,
        received_at=receipt.received_at,
        certificate_status=receipt.certificate_status,
        inspection=inspection_out(inspection) if inspection else None,
    )


def refusal(exc: ValidationFailed | Conflict, field: str | None = None) -> Response[ErrorOut]:
    """The JSON answer to a refused receipt or inspection step, naming the field."""
    if isinstance(exc, ValidationFailed):
        return Response(
            ErrorOut(type(exc).__name__, exc.message, dict(exc.errors)), status_code=422
        )
    limit = None
    if isinstance(exc, ReceiptRefused):
        field = exc.field
        if "declared" in exc.values:
            v = exc.values
            limit = ReceiptLimitOut(
                declared=str(v["declared"]),
                received_before=str(v["received"]),
                tolerance_pct=str(v["tolerance"]),
                maximum=str(v["maximum"]),
                remaining=str(v["remaining"]),
                unit=str(v["unit"]),
            )
    if isinstance(exc, MaterialRefused):
        # The material gate (a held, recalled or unreceivable supplier lot): its own fields
        # and the records that block, as every other channel answers them.
        return Response(
            ErrorOut(
                type(exc).__name__,
                exc.message,
                dict(exc.errors),
                refusals=[RefusalOut(**r.as_dict()) for r in exc.refusals],
            ),
            status_code=409,
        )
    fields = {field: exc.message} if field else None
    return Response(ErrorOut(type(exc).__name__, exc.message, fields, limit=limit), status_code=409)


@post(
    "/api/v1/receipts",
    tags=["receipts"],
    security=BEARER,
    status_code=201,
    summary="Post a goods receipt of a supplier lot (internal clients, scope receipts:write)",
    description="The quantity may be in another unit than the supplier lot's; it is converted "
    "exactly and, with what was received before, may not exceed the lot's declared quantity "
    "plus the part's over-receipt tolerance. A part with an incoming inspection plan is "
    "received into quarantine with a pending inspection.",
    responses=error_responses(
        **_COMMON,
        _404="The supplier lot is not visible to the client.",
        _409="The receipt is refused by the supplier lot: its status (not submitted or "
        "approved), the approved supplier list, an internal lot number already used, or an "
        "over-receipt (`fields.quantity`, with `limit`). `fields` names the field.",
        _422="`fields` names each unusable input: `supplier_lot_id` (no such lot), "
        "`quantity` (not a positive exact decimal), `unit` (unknown or not convertible into "
        "the lot's unit).",
    ),
)
async def post_receipt(services: Services, data: ReceiptIn) -> Response[Any]:
    try:
        receipt = await services.receipts.post(
            services.actor,
            ReceiptInput(data.supplier_lot_id, data.quantity, data.internal_lot_number, data.unit),
        )
    except ValidationFailed as exc:
        return refusal(exc)
    except Conflict as exc:
        await services.keeper.rollback()
        field = "internal_lot_number" if "already exists" in exc.message else "supplier_lot_id"
        return refusal(exc, field)
    return Response(await receipt_out(services, receipt), status_code=201)


@get(
    "/api/v1/receipts/{receipt_id:int}",
    tags=["receipts"],
    security=BEARER,
    summary="A goods receipt with its internal lot's status and incoming inspection",
    responses=error_responses(**_COMMON, _404="No such receipt, or not visible to the client."),
)
async def get_receipt(services: Services, receipt_id: int) -> ReceiptOut:
    return await receipt_out(services, await services.receipts.get(services.actor, receipt_id))


@post(
    "/api/v1/receipts/{receipt_id:int}/inspection-results",
    tags=["receipts"],
    security=BEARER,
    status_code=200,
    summary="Enter the incoming inspection results of a receipt (scope receipts:write)",
    description="One result per characteristic of the part's inspection plan; each is judged "
    "against the plan. Any failure fails the inspection and rejects the internal lot. The "
    "release that follows a pass is QA's signed step in the portal (machines do not sign).",
    responses=error_responses(
        **_COMMON,
        _404="No such receipt, or the receipt has no incoming inspection.",
        _409="The inspection already has results, or changed since `expected_version` "
        "(`fields.expected_version`).",
        _422="`fields` names each problem: `value_<CODE>`, `sampled_<CODE>` (fewer than the "
        "plan's sample size), `results` (a code the plan does not have, or given twice).",
    ),
)
async def post_inspection_results(
    services: Services, receipt_id: int, data: InspectionResultsIn
) -> Response[Any]:
    inspection = await services.inspections.of_receipt(services.actor, receipt_id, "receipts.post")
    entries = [ResultEntry(r.code, r.value, str(r.sampled), r.unit) for r in data.results]
    try:
        done = await services.inspections.record_results(
            services.actor, inspection.id, entries, data.expected_version
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return refusal(exc)
    except Conflict as exc:
        await services.keeper.rollback()
        return refusal(exc, "expected_version")
    return Response(inspection_out(done), status_code=200)


ROUTES = [post_receipt, get_receipt, post_inspection_results]
