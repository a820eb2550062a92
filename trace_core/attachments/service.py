"""Uploading and reading documents: bytes go to the object store once, by content hash; the
record says who uploaded them and keeps the text pypdf extracted (shown back to the user)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from documents import ObjectIntegrityError, PdfRejected, extract_pdf
from trace_core.attachments.models import Document
from trace_core.errors import NotFound, ValidationFailed
from trace_core.identity.actor import Actor

if TYPE_CHECKING:
    from trace_core.services import Services

PDF_TYPES = {"application/pdf", "application/x-pdf"}


class AttachmentService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def upload_pdf(
        self, actor: Actor, filename: str, data: bytes, *, commit: bool = True
    ) -> Document:
        """Store a PDF and record it. With ``commit=False`` the record joins the caller's unit
        of work (a lot submission), so a refused submission leaves no document record behind."""
        actor.require("documents.write")
        limit = self.s.limits.max_upload_bytes
        if not data:
            raise ValidationFailed({"file": "The file is empty."})
        if len(data) > limit:
            raise ValidationFailed(
                {
                    "file": f"The file is {len(data) / 1048576:.1f} MiB; the "
                    f"limit is {limit / 1048576:.0f} MiB."
                }
            )
        if actor.organization_id is None:
            raise ValidationFailed({"file": "Uploads need an organization."})
        try:
            extraction = await extract_pdf(
                data, max_pages=self.s.limits.pdf_max_pages, timeout_s=self.s.limits.pdf_timeout_s
            )
        except PdfRejected as exc:
            raise ValidationFailed({"file": str(exc)}) from exc
        stored = await self.s.store.put(data)
        existing = await self.session.scalar(
            select(Document).where(
                Document.organization_id == actor.organization_id, Document.sha256 == stored.sha256
            )
        )
        if existing is not None:
            return existing
        safe_name = (filename or "document.pdf").replace("/", "_").replace("\\", "_")[-255:]
        document = Document(
            organization_id=actor.organization_id,
            sha256=stored.sha256,
            filename=safe_name,
            content_type="application/pdf",
            size=len(data),
            page_count=extraction.page_count,
            extracted_text=extraction.text,
            uploaded_by_kind=actor.kind,
            uploaded_by_id=actor.id,
            uploaded_by_name=actor.name,
            channel=actor.channel,
        )
        self.session.add(document)
        await self.session.flush()
        await self.keeper.write_version(
            "document",
            document.id,
            status="stored",
            action="upload",
            data={
                "sha256": stored.sha256,
                "filename": safe_name,
                "size": len(data),
                "content_type": "application/pdf",
                "page_count": extraction.page_count,
                "organization_id": actor.organization_id,
            },
        )
        if commit:
            await self.keeper.commit()
        return document

    async def get(self, actor: Actor, document_id: int) -> Document:
        """The document if the actor may see it; another organization's answers NotFound.
        Reading needs ``lots.read``: a token narrowed to uploading cannot read documents."""
        actor.require("lots.read")
        query = select(Document).where(Document.id == document_id)
        query = actor.visible(query, Document.organization_id)
        document = await self.session.scalar(query)
        if document is None:
            raise NotFound("No such document.")
        return document

    async def read(self, actor: Actor, document_id: int) -> tuple[Document, bytes]:
        document = await self.get(actor, document_id)
        try:
            data = await self.s.store.get(document.sha256)
        except ObjectIntegrityError as exc:
            raise ValidationFailed(
                {
                    "document": "The stored file no longer matches its "
                    "recorded SHA-256; it has been altered."
                }
            ) from exc
        return document, data
