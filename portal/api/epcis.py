"""EPCIS 2.0 over HTTP (``docs/EPCIS.md``): capture a JSON-LD document, the standard event
query, one event with its error declarations. Bearer tokens, like ``/api/v1``; every answer is
scoped by the service to the client's organization."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import QueryParameter

from portal.api.responses import BEARER
from trace_core.errors import NotFound, TooLarge
from trace_core.services import Services

JSON_LD = "application/ld+json"
_HEX64 = frozenset("0123456789abcdefABCDEF")


class CaptureOut(msgspec.Struct, rename="camel"):
    """What a capture stored: ``event_ids`` are the CBV 2.0 hash ids of every event of the
    document, in order, whether stored now or already known."""

    capture_id: int
    event_ids: list[str]
    stored: int
    duplicates: int
    error_declarations: int


@post(
    "/epcis/capture",
    tags=["epcis"],
    security=BEARER,
    status_code=201,
    summary="Capture an EPCIS 2.0 JSON-LD document (all or nothing)",
    description="The document is checked whole (GS1 JSON schema with formats, CBV vocabulary, "
    "namespaces, identifiers and check digits) and stored in one transaction, or refused with "
    "422 naming the JSON pointer of its first fault, 413 when larger than the limits, 403 "
    "when a supplier's client names lots that are not its own. Events already stored are "
    "skipped (idempotent). Needs scope events:write (our own systems: a posting scope).",
    # The capture has its own limit (TRACEPORT_EPCIS_MAX_MB), read while the body streams in
    # (below), rather than the upload limit every other route has.
    request_max_body_size=None,
)
async def capture_document(services: Services, request: Request[Any, Any, Any]) -> CaptureOut:
    # The raw bytes, not a parsed body: the service checks the JSON itself (duplicate keys,
    # nesting, size) and keeps the document exactly as received.
    body = await _body_within(request, services.limits.epcis_max_document_bytes)
    result = await services.epcis.capture(services.actor, body)
    return CaptureOut(
        result.capture_id,
        result.event_ids,
        result.stored,
        result.duplicates,
        result.error_declarations,
    )


async def _body_within(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The request body, refused (413, nothing stored) as soon as it passes ``limit`` bytes,
    so a huge document is never held in memory whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(
                f"The EPCIS document is more than {limit:,} bytes; the limit is {limit:,} bytes "
                "per capture. Split it into several captures; nothing was stored."
            )
        chunks.append(chunk)
    return b"".join(chunks)


@get(
    "/epcis/events",
    tags=["epcis"],
    security=BEARER,
    summary="Standard event query: an EPCISQueryDocument, oldest event first",
    description="Several values: repeat the parameter or separate them with '|'. The next "
    'page, if any, is in the Link header (rel="next") as nextPageToken. Supplier clients '
    "see the events they captured and our receipts of their lots.",
    media_type=JSON_LD,
)
async def query_events(
    services: Services,
    request: Request[Any, Any, Any],
    # Declared for the OpenAPI document; the service reads every parameter given (and
    # refuses unknown ones), so these names are not used here.
    match_epc: Annotated[list[str] | None, QueryParameter(name="MATCH_epc")] = None,
    match_any_epc_class: Annotated[
        list[str] | None, QueryParameter(name="MATCH_anyEPCClass")
    ] = None,
    match_input_epc_class: Annotated[
        list[str] | None, QueryParameter(name="MATCH_inputEPCClass")
    ] = None,
    eq_biz_step: Annotated[list[str] | None, QueryParameter(name="EQ_bizStep")] = None,
    ge_event_time: Annotated[str | None, QueryParameter(name="GE_eventTime")] = None,
    lt_event_time: Annotated[str | None, QueryParameter(name="LT_eventTime")] = None,
    event_type: Annotated[list[str] | None, QueryParameter(name="eventType")] = None,
    per_page: Annotated[str | None, QueryParameter(name="perPage")] = None,
    next_page_token: Annotated[str | None, QueryParameter(name="nextPageToken")] = None,
) -> Response[dict[str, Any]]:
    params = request.query_params.dict()
    page = await services.epcis.query(services.actor, params)
    headers = {}
    if page.next_page_token:
        following = [(k, v) for k, vs in params.items() if k != "nextPageToken" for v in vs]
        following.append(("nextPageToken", page.next_page_token))
        headers["link"] = f'</epcis/events?{urlencode(following)}>; rel="next"'
    return Response(page.document, media_type=JSON_LD, headers=headers)


@get(
    "/epcis/events/{digest:str}",
    tags=["epcis"],
    security=BEARER,
    summary="One event by the hex digest of its hash id, with its error declarations",
)
async def get_event(services: Services, digest: str) -> dict[str, Any]:
    if len(digest) != 64 or not set(digest) <= _HEX64:
        raise NotFound("No such EPCIS event: give the 64 hex digits of its ni:///sha-256 id.")
    return await services.epcis.event(services.actor, digest)


ROUTES = [capture_document, query_events, get_event]
