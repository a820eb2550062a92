"""Viewing and downloading stored documents from the pages (scoped like every read)."""

from __future__ import annotations

from litestar import Response, get

from trace_core.services import Services


@get("/documents/{document_id:int}", include_in_schema=False)
async def document_content(
    services: Services, document_id: int, download: bool = False
) -> Response[bytes]:
    document, data = await services.attachments.read(services.actor, document_id)
    disposition = "attachment" if download else "inline"
    return Response(
        data,
        media_type=document.content_type,
        headers={
            "content-disposition": f'{disposition}; filename="{document.filename}"',
            "x-content-sha256": document.sha256,
            # The review page shows the PDF in a frame of our own origin.
            "content-security-policy": "default-src 'none'; frame-ancestors 'self'",
            "x-frame-options": "SAMEORIGIN",
        },
    )
