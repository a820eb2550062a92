"""Supplier pages: the dashboard, submitting a lot with its CoA and results, signing it."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import (
    expected_version,
    form_errors,
    form_fields,
    signing_credentials,
    text,
    uploaded_pdf,
)
from portal.record_steps import record_page, take_step
from trace_core.db import plain_decimal
from trace_core.errors import AuthenticationFailed, ValidationFailed
from trace_core.lots.models import SupplierLot
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.records.service import SIGNATURE_MEANINGS
from trace_core.services import Services


@get("/supplier", include_in_schema=False)
async def dashboard(services: Services) -> Template:
    actor = services.actor
    return Template(
        "supplier/dashboard.html",
        context={
            "parts": await services.parts.parts_for(actor),
            "lots": await services.lots.list(actor),
        },
    )


@get("/supplier/lots/new", include_in_schema=False)
async def new_lot(services: Services, part: str | None = None) -> Template:
    return await _form(services, {"part_number": part or ""}, {}, 200)


async def _form(
    services: Services,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int,
    revising: SupplierLot | None = None,
) -> Template:
    parts = await services.parts.parts_for(services.actor)
    chosen = next((p for p in parts if p[0].number == values.get("part_number")), None)
    if chosen is None and len(parts) == 1:
        chosen = parts[0]
    return Template(
        "supplier/lot_form.html",
        status_code=status,
        context={
            "parts": parts,
            "chosen": chosen,
            "values": values,
            "errors": errors,
            "max_mb": services.limits.max_upload_bytes // (1024 * 1024),
            "revising": revising,
        },
    )


def _submission(
    fields: dict[str, Any], values: dict[str, str], document_id: int | None
) -> LotSubmission:
    results = [
        ResultInput(key[len("result_") :], value, text(fields, f"unit_{key[7:]}") or None)
        for key, value in values.items()
        if key.startswith("result_")
    ]
    return LotSubmission(
        part_number=text(fields, "part_number"),
        lot_number=text(fields, "lot_number"),
        quantity=text(fields, "quantity"),
        unit=text(fields, "unit"),
        manufactured_on=text(fields, "manufactured_on"),
        expires_on=text(fields, "expires_on") or None,
        coa_document_id=document_id,
        results=results,
    )


@post("/supplier/lots", include_in_schema=False)
async def submit_lot(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    try:
        document_id = await uploaded_pdf(services, fields, "coa")
        lot = await services.lots.submit(services.actor, _submission(fields, values, document_id))
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _form(services, values, form_errors(exc, "coa_document"), 422)
    return Redirect(f"/supplier/lots/{lot.id}", status_code=303)


def _current_values(lot: SupplierLot) -> dict[str, str]:
    values = {
        "part_number": lot.part.number,
        "lot_number": lot.lot_number,
        "quantity": str(plain_decimal(lot.quantity)),
        "unit": lot.unit,
        "manufactured_on": lot.manufactured_on.isoformat(),
        "expires_on": lot.expires_on.isoformat() if lot.expires_on else "",
    }
    for result in lot.results:
        values[f"result_{result.characteristic.code}"] = result.value_text
        values[f"unit_{result.characteristic.code}"] = result.unit or ""
    return values


@get("/supplier/lots/{lot_id:int}/revise", include_in_schema=False)
async def revise_form(services: Services, lot_id: int) -> Template:
    lot = await services.lots.get(services.actor, lot_id)
    return await _form(services, _current_values(lot), {}, 200, revising=lot)


@post("/supplier/lots/{lot_id:int}/revise", include_in_schema=False)
async def revise_lot(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    lot = await services.lots.get(services.actor, lot_id)
    try:
        document_id = await uploaded_pdf(services, fields, "coa") or lot.coa_document_id
        await services.lots.revise(
            services.actor,
            lot_id,
            _submission(fields, values, document_id),
            text(fields, "reason"),
            expected_version(fields),
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        lot = await services.lots.get(services.actor, lot_id)
        return await _form(services, values, form_errors(exc, "coa_document"), 422, revising=lot)
    return Redirect(f"/supplier/lots/{lot_id}", status_code=303)


@post("/supplier/lots/{lot_id:int}/void", include_in_schema=False)
async def void_lot(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.lots.void(
            services.actor, lot_id, text(fields, "reason"), expected_version(fields)
        ),
        f"/supplier/lots/{lot_id}",
        partial(_lot_page, services, lot_id),
        refusals=(ValidationFailed,),
    )


@get("/supplier/lots/{lot_id:int}", include_in_schema=False)
async def lot_page(services: Services, lot_id: int) -> Template:
    return await _lot_page(services, lot_id, None, 200)


async def _lot_page(services: Services, lot_id: int, error: str | None, status: int) -> Template:
    detail = await services.lots.detail(services.actor, lot_id)
    return await record_page(
        services,
        "supplier/lot.html",
        status,
        error,
        {
            "detail": detail,
            "lot": detail.lot,
            "can_sign": services.actor.can("lots.sign") and detail.lot.status == "draft",
            "late_entry_limit": services.limits.late_entry_days,
            "can_revise": services.actor.can("lots.submit")
            and detail.lot.status in ("draft", "submitted"),
            "meanings": SIGNATURE_MEANINGS,
            "suspect_reports": await services.recalls.reports_for(services.actor, lot_id),
            # A held lot shows QA's notice only, never our hold or recall record.
            "hold_notices": await services.holds.supplier_notices(detail.lot),
        },
    )


@post("/supplier/lots/{lot_id:int}/sign", include_in_schema=False)
async def sign_lot(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.lots.sign_submission(
            services.actor, lot_id, signing_credentials(fields), expected_version(fields)
        ),
        f"/supplier/lots/{lot_id}",
        partial(_lot_page, services, lot_id),
        refusals=(AuthenticationFailed, ValidationFailed),
    )


@post("/supplier/lots/{lot_id:int}/suspect", include_in_schema=False)
async def report_suspect(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    """The supplier tells our QA that one of their lots is suspect (QMS-14)."""
    fields = await form_fields(request)
    return await take_step(
        services,
        services.recalls.report_suspect(services.actor, lot_id, text(fields, "description")),
        f"/supplier/lots/{lot_id}",
        partial(_lot_page, services, lot_id),
        refusals=(ValidationFailed,),
    )
