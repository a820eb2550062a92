"""The trace page: one identifier in, the backward family tree or the forward scope out.

Backward traces are small (a device's ancestry) and shown whole. Forward traces of a raw lot
reach a hundred thousand serials, so the page shows the scope (``TraceService.scope``): every
lot and shipment, the serials bundled per lot and listed a page at a time on demand.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.response import Response, Template

from trace_core.errors import NotFound, ValidationFailed
from trace_core.services import Services
from trace_core.trace.scope import SCOPE_LISTS, scope_csv
from trace_core.trace.service import BUNDLE_PAGE


@get("/internal/trace", include_in_schema=False)
async def trace_page(
    request: Request[Any, Any, Any], services: Services, q: str = "", direction: str = "backward"
) -> Template:
    direction = direction if direction in ("backward", "forward") else "backward"
    result, scope, error = None, None, None
    if q.strip():
        try:
            if direction == "backward":
                result = await services.trace.backward(services.actor, q)
            else:
                scope = await services.trace.scope(services.actor, q, "forward")
        except (NotFound, ValidationFailed) as exc:
            error = exc.message
    partial = "internal/_trace_scope.html" if scope else "internal/_trace_result.html"
    template = partial if request.headers.get("hx-request") else "internal/trace.html"
    return Template(
        template,
        context={
            "q": q,
            "direction": direction,
            "result": result,
            "scope": scope,
            "error": error,
            "partial": partial,
        },
    )


@get("/internal/trace/serials", include_in_schema=False)
async def trace_serials(
    services: Services, node: int, direction: str = "forward", offset: int = 0
) -> Template:
    """One page of a bundle of serials (htmx fragment)."""
    if direction not in ("backward", "forward"):
        raise ValidationException("direction is backward or forward")
    page = await services.trace.bundle(
        services.actor,
        node,
        "forward" if direction == "forward" else "backward",
        offset,
        BUNDLE_PAGE,
    )
    return Template("internal/_trace_serials.html", context={"page": page})


@get("/internal/trace/scope.csv", include_in_schema=False)
async def trace_scope_csv(
    services: Services, q: str, direction: str = "forward", list: str = "consignees"
) -> Response[str]:
    """The scope's lots or consignees, all of them, as CSV."""
    if direction not in ("backward", "forward") or list not in SCOPE_LISTS:
        raise ValidationException(f"direction is backward or forward; list is one of {SCOPE_LISTS}")
    scope = await services.trace.scope(
        services.actor, q, "forward" if direction == "forward" else "backward"
    )
    return Response(
        scope_csv(scope, list),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="trace-{direction}-{list}.csv"'},
    )


ROUTES = [trace_page, trace_serials, trace_scope_csv]
