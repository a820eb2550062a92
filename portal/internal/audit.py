"""The audit-trail review page for QA and auditors: filter by record, person, action and
date, page through the events, sign a review of what the filter selects, ask for a signed
checkpoint of the chain head."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, signing_credentials, text
from trace_core.errors import AuthenticationFailed, ValidationFailed
from trace_core.records.audit_trail import AuditFilter, parse_filter
from trace_core.records.registry import RECORD_TYPES
from trace_core.services import Services

PAGE = 100
_FILTER_FIELDS = ("record_type", "record_id", "actor", "action", "since", "until")


@get("/internal/audit", include_in_schema=False)
async def audit_page(request: Request[Any, Any, Any], services: Services) -> Template:
    query = {k: request.query_params.get(k) or "" for k in (*_FILTER_FIELDS, "before")}
    try:
        audit_filter = parse_filter(*(query[k] for k in _FILTER_FIELDS))
    except ValidationFailed as exc:
        return await _page(services, AuditFilter(), query, None, exc.message, 422)
    before = int(query["before"]) if query["before"].isdigit() else None
    return await _page(services, audit_filter, query, before, None, 200)


async def _page(
    services: Services,
    audit_filter: AuditFilter,
    query: dict[str, str],
    before: int | None,
    error: str | None,
    status: int,
) -> Template:
    actor = services.actor
    trail = services.audit_trail
    events = await trail.events(actor, audit_filter, PAGE, before)
    return Template(
        "internal/audit.html",
        status_code=status,
        context={
            "events": events,
            "total": await trail.count(actor, audit_filter),
            "query": query,
            "filter": audit_filter,
            "actions": await trail.actions(actor),
            "record_types": sorted(RECORD_TYPES),
            "reviews": await trail.reviews(actor),
            "next_before": events[-1].seq if len(events) == PAGE else None,
            "error": error,
            "can_review": actor.can("audit.review") and actor.kind == "user",
            "signing": await services.identity.signing_requirements(actor),
        },
    )


@post("/internal/audit/review", include_in_schema=False)
async def sign_review(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    query = {k: text(fields, k) for k in _FILTER_FIELDS}
    query["before"] = ""
    try:
        audit_filter = parse_filter(*(query[k] for k in _FILTER_FIELDS))
    except ValidationFailed as exc:
        return await _page(services, AuditFilter(), query, None, exc.message, 422)
    try:
        review = await services.audit_trail.sign_review(
            services.actor, audit_filter, signing_credentials(fields), text(fields, "comment")
        )
    except (AuthenticationFailed, ValidationFailed) as exc:
        return await _page(services, audit_filter, query, None, exc.message, 422)
    return Redirect(f"/records/audit_review/{review.id}", status_code=303)


@post("/internal/audit/checkpoint", include_in_schema=False)
async def checkpoint(services: Services) -> Redirect:
    """Sign the chain head now (any auditor may ask; it only adds a signature)."""
    await services.audit_trail.checkpoint(services.actor)
    return Redirect("/internal/audit", status_code=303)
