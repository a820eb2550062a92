"""Incoming inspection pages (QMS-06): a receipt's inspection with the part's plan, the form
goods-in enters its results on, and QA's signed release."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import (
    expected_version,
    form_fields,
    refused_status,
    signing_credentials,
    text,
)
from portal.internal.operations import refusal_text
from portal.record_steps import SIGNING_REFUSALS, record_page
from trace_core.errors import Conflict, ValidationFailed
from trace_core.receipts.inspection import ResultEntry
from trace_core.services import Services


async def _page(
    services: Services,
    inspection_id: int,
    error: str | None,
    status: int,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Template:
    detail = await services.inspections.detail(services.actor, inspection_id)
    receipt = detail.inspection.receipt
    return await record_page(
        services,
        "internal/inspection.html",
        status,
        error,
        {
            "detail": detail,
            "inspection": detail.inspection,
            "receipt": receipt,
            "values": values or {},
            "errors": errors or {},
        },
    )


@get("/internal/inspections/{inspection_id:int}", include_in_schema=False)
async def inspection_page(services: Services, inspection_id: int) -> Template:
    return await _page(services, inspection_id, None, 200)


@post("/internal/inspections/{inspection_id:int}/results", include_in_schema=False)
async def post_results(
    request: Request[Any, Any, Any], services: Services, inspection_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    codes = [key[len("value_") :] for key in values if key.startswith("value_")]
    entries = [
        ResultEntry(
            code,
            text(fields, f"value_{code}"),
            text(fields, f"sampled_{code}"),
            text(fields, f"unit_{code}") or None,
        )
        for code in codes
    ]
    try:
        await services.inspections.record_results(
            services.actor, inspection_id, entries, expected_version(fields)
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _page(services, inspection_id, None, 422, values, exc.errors)
    except Conflict as exc:
        await services.keeper.rollback()
        return await _page(services, inspection_id, refusal_text(exc), 409, values)
    return Redirect(f"/internal/inspections/{inspection_id}", status_code=303)


@post("/internal/inspections/{inspection_id:int}/release", include_in_schema=False)
async def release(
    request: Request[Any, Any, Any], services: Services, inspection_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    try:
        await services.inspections.release(
            services.actor,
            inspection_id,
            signing_credentials(fields),
            text(fields, "comment"),
            expected_version(fields),
        )
    except SIGNING_REFUSALS as exc:
        # As record_steps.take_step, but a rule's refusal is shown in the reader's language.
        await services.keeper.rollback()
        message = refusal_text(exc) if isinstance(exc, Conflict) else exc.message
        return await _page(services, inspection_id, message, refused_status(exc))
    return Redirect(f"/internal/inspections/{inspection_id}", status_code=303)


ROUTES = [inspection_page, post_results, release]
