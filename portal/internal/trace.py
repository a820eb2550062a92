"""The trace page: one identifier in, the backward or forward family tree out."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from trace_core.errors import NotFound, ValidationFailed
from trace_core.services import Services


@get("/internal/trace", include_in_schema=False)
async def trace_page(
    request: Request[Any, Any, Any], services: Services, q: str = "", direction: str = "backward"
) -> Template:
    direction = direction if direction in ("backward", "forward") else "backward"
    result, error = None, None
    if q.strip():
        try:
            if direction == "backward":
                result = await services.trace.backward(services.actor, q)
            else:
                result = await services.trace.forward(services.actor, q)
        except (NotFound, ValidationFailed) as exc:
            error = exc.message
    template = (
        "internal/_trace_result.html"
        if request.headers.get("hx-request")
        else ("internal/trace.html")
    )
    return Template(
        template, context={"q": q, "direction": direction, "result": result, "error": error}
    )
