"""Recall pages: open reports of suspect lots, the scope preview from any identifier, the signed
opening of a recall, its exports (consignee CSV, PDF, EPCIS), and the supplied-by / supplied-to
report (MDR-01)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, signing_credentials, text
from trace_core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from trace_core.recalls.service import (
    FieldActionInput,
    consignee_csv,
    recall_epcis,
    recall_pdf,
    scope_page,
)
from trace_core.services import Services


@get("/internal/recalls", include_in_schema=False)
async def recalls_page(services: Services, id: str | None = None) -> Template:
    return await _page(services, id, None, 200)


async def _page(
    services: Services, identifier: str | None, error: str | None, status: int
) -> Template:
    actor = services.actor
    scope = None
    if identifier and not error:
        try:
            scope = await services.recalls.preview(actor, identifier)
        except (NotFound, ValidationFailed) as exc:
            error, status = exc.message, 404 if isinstance(exc, NotFound) else 422
    return Template(
        "internal/recalls.html",
        status_code=status,
        context={
            "recalls": await services.recalls.all(actor),
            "reports": await services.recalls.open_reports(actor),
            "identifier": identifier or "",
            "scope": scope,
            "page": scope_page(scope) if scope else None,
            "error": error,
            "can_open": actor.can("lots.approve"),
            "signing": await services.identity.signing_requirements(actor),
        },
    )


@post("/internal/recalls", include_in_schema=False)
async def open_recall(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    identifier = text(fields, "identifier")
    report = text(fields, "suspect_report_id")
    try:
        recall = await services.recalls.open(
            services.actor,
            identifier,
            text(fields, "reason"),
            signing_credentials(fields),
            int(report) if report.isdigit() else None,
            text(fields, "supplier_notice"),
        )
    except (AuthenticationFailed, ValidationFailed) as exc:
        page = await _page(services, identifier, None, 422)
        page.context["error"] = exc.message
        return page
    return Redirect(f"/internal/recalls/{recall.id}", status_code=303)


@get("/internal/recalls/{recall_id:int}", include_in_schema=False)
async def recall_page(services: Services, recall_id: int) -> Template:
    return await _recall(services, recall_id, {}, {}, 200)


async def _recall(
    services: Services,
    recall_id: int,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int,
) -> Template:
    actor = services.actor
    recall = await services.recalls.get(actor, recall_id)
    view = await services.records.record(actor, "recall", recall.id)
    page = scope_page(recall.scope)
    return Template(
        "internal/recall.html",
        status_code=status,
        context={
            "recall": recall,
            "scope": page.scope,
            "page": page,
            "view": view,
            "field_actions": await services.recalls.field_actions(actor, recall),
            "held_lots": await services.holds.recall_lots(recall)
            if recall.status == "open"
            else [],
            "dispositions": (view.versions[-1].content.get("closing") or {}).get(
                "dispositions", []
            ),
            "can_track": actor.can("lots.review") and recall.status == "open",
            "can_close": actor.can("lots.approve") and recall.status == "open",
            "signing": await services.identity.signing_requirements(actor),
            "values": values,
            "errors": errors,
        },
    )


@post("/internal/recalls/{recall_id:int}/field-actions/{index:int}", include_in_schema=False)
async def record_field_action(
    request: Request[Any, Any, Any], services: Services, recall_id: int, index: int
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    try:
        await services.recalls.record_field_action(
            services.actor,
            recall_id,
            index,
            FieldActionInput(
                text(fields, "notified_at"),
                text(fields, "acknowledged_at"),
                text(fields, "quantity_returned"),
                text(fields, "quantity_destroyed"),
                text(fields, "note"),
            ),
        )
    except ValidationFailed as exc:
        errors = {f"{index}.{k}": v for k, v in exc.errors.items()}
        return await _recall(services, recall_id, {"index": index, **values}, errors, 422)
    except Conflict as exc:
        return await _recall(services, recall_id, values, {"field_actions": exc.message}, 409)
    return Redirect(f"/internal/recalls/{recall_id}#field-actions", status_code=303)


@post("/internal/recalls/{recall_id:int}/close", include_in_schema=False)
async def close_recall(
    request: Request[Any, Any, Any], services: Services, recall_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    dispositions = {
        key.removeprefix("disposition."): text(fields, key)
        for key in fields
        if key.startswith("disposition.")
    }
    values = {
        k: v for k, v in fields.items() if k in ("reason", "justification") or k in dispositions
    }
    values.update({f"disposition.{k}": v for k, v in dispositions.items()})
    try:
        await services.recalls.close(
            services.actor,
            recall_id,
            text(fields, "reason"),
            signing_credentials(fields),
            text(fields, "justification"),
            dispositions,
        )
    except ValidationFailed as exc:
        return await _recall(services, recall_id, values, exc.errors, 422)
    except AuthenticationFailed as exc:
        return await _recall(services, recall_id, values, {"close": exc.message}, 422)
    except Conflict as exc:
        return await _recall(services, recall_id, values, {"close": exc.message}, 409)
    return Redirect(f"/internal/recalls/{recall_id}", status_code=303)


@get("/internal/recalls/{recall_id:int}/consignees.csv", include_in_schema=False)
async def recall_csv(services: Services, recall_id: int) -> Response[str]:
    recall = await services.recalls.get(services.actor, recall_id)
    return Response(
        consignee_csv(recall),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{recall.number}-consignees.csv"'},
    )


@get("/internal/recalls/{recall_id:int}/recall.pdf", include_in_schema=False)
async def recall_pdf_page(services: Services, recall_id: int) -> Response[bytes]:
    recall = await services.recalls.get(services.actor, recall_id)
    view = await services.records.record(services.actor, "recall", recall.id)
    closing = next((v for v in reversed(view.versions) if v.status == "closed"), None)
    field_actions = await services.recalls.field_actions(services.actor, recall)
    # Typesetting is CPU-bound: off the event loop.
    body = await asyncio.to_thread(
        recall_pdf,
        recall,
        view.versions[0].author_name,
        [s.as_dict() for s in view.signatures],
        field_actions,
        [(v.version, v.status, v.author_name, v.created_at, v.reason) for v in view.versions],
        closing.author_name if closing else None,
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{recall.number}.pdf"'},
    )


@get("/internal/recalls/{recall_id:int}/epcis.json", include_in_schema=False)
async def recall_epcis_page(services: Services, recall_id: int) -> Response[bytes]:
    recall = await services.recalls.get(services.actor, recall_id)
    return Response(
        json.dumps(recall_epcis(recall), indent=2).encode("utf-8"),
        media_type="application/ld+json",
        headers={"content-disposition": f'attachment; filename="{recall.number}-epcis.json"'},
    )


@get("/internal/reports/supplied", include_in_schema=False)
async def supplied_page(services: Services, id: str | None = None) -> Template:
    report, error, status = None, None, 200
    if id:
        try:
            report = await services.recalls.supplied_report(services.actor, id)
        except (NotFound, ValidationFailed) as exc:
            error, status = exc.message, 404 if isinstance(exc, NotFound) else 422
    return Template(
        "internal/supplied.html",
        status_code=status,
        context={"report": report, "identifier": id or "", "error": error},
    )


ROUTES = [
    recalls_page,
    open_recall,
    recall_page,
    record_field_action,
    close_recall,
    recall_csv,
    recall_pdf_page,
    recall_epcis_page,
    supplied_page,
]
