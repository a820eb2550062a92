"""Any regulated record, the same way for every type: versions (``?version=N``), what each
version changed, signatures verified on read, the record's audit events, and the accurate
copies (JSON bundle, PDF). Scoping happens in ``RecordService``; a record the actor may not
see is a 404 like one that does not exist."""

from __future__ import annotations

import json

from litestar import Response, get
from litestar.response import Template

from trace_core.records.canonical import plain
from trace_core.records.views import flatten
from trace_core.services import Services


@get("/records/{record_type:str}/{record_id:int}", include_in_schema=False)
async def record_page(
    services: Services, record_type: str, record_id: int, version: int | None = None
) -> Template:
    view = await services.records.record(services.actor, record_type, record_id)
    shown = view.version(version)
    return Template(
        "records/record.html",
        context={
            "view": view,
            "shown": shown,
            "fields": flatten({"status": shown.status, **shown.content}),
            "changes": view.changes(shown.version),
            "is_current": shown.version == view.current.version,
        },
    )


@get("/records/{record_type:str}/{record_id:int}/export.json", include_in_schema=False)
async def export_json(services: Services, record_type: str, record_id: int) -> Response[bytes]:
    from trace_core.records.export import export_bundle

    bundle = await export_bundle(services, services.actor, record_type, record_id)
    body = json.dumps(plain(bundle), indent=2, ensure_ascii=False).encode("utf-8")
    return Response(
        body,
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="{record_type}-{record_id}.json"',
            "cache-control": "no-store",
        },
    )


@get("/records/{record_type:str}/{record_id:int}/export.pdf", include_in_schema=False)
async def export_pdf(services: Services, record_type: str, record_id: int) -> Response[bytes]:
    from trace_core.records.export import export_pdf as make_pdf

    body = await make_pdf(services, services.actor, record_type, record_id)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{record_type}-{record_id}.pdf"',
            "cache-control": "no-store",
        },
    )


ROUTES = [record_page, export_json, export_pdf]
