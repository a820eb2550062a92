"""Reading HTML forms: plain fields, uploaded files and the safe ``next`` redirect target."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile

from trace_core.errors import Conflict, DomainError, ValidationFailed
from trace_core.identity.service import SigningCredentials
from trace_core.services import Services


async def form_fields(request: Request[Any, Any, Any]) -> dict[str, Any]:
    form = await request.form()
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in fields and not isinstance(value, UploadFile):
            existing = fields[key]
            fields[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            fields[key] = value
    return fields


def text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if isinstance(value, list):
        value = value[-1]
    return value.strip() if isinstance(value, str) else ""


def expected_version(fields: dict[str, Any]) -> int:
    """The record version the person was looking at when the form was sent (P11-08)."""
    return int(text(fields, "version") or 0)


async def uploaded_pdf(services: Services, fields: dict[str, Any], name: str) -> int | None:
    """The id of the PDF chosen in the file field ``name``, or None if none was chosen. It is
    vetted like a CoA (PDF only, size and parse limits) and joins this unit of work, so a
    refused form leaves no document behind."""
    upload = fields.get(name)
    if isinstance(upload, UploadFile) and upload.filename:
        document = await services.attachments.upload_pdf(
            services.actor, upload.filename, await upload.read(), commit=False
        )
        return document.id
    return None


def form_errors(exc: ValidationFailed, file_field: str) -> dict[str, str]:
    """The per-field messages of a refused form, a refused upload's under its file field."""
    errors = dict(exc.errors)
    if "file" in errors:
        errors[file_field] = errors.pop("file")
    return errors


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login is a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def signing_credentials(fields: dict[str, Any]) -> SigningCredentials:
    """The signature components a signing form posts (see ``_sign_fields.html``)."""
    return SigningCredentials(
        password=text(fields, "password"),
        user_id=text(fields, "user_id") or None,
        totp=text(fields, "totp") or None,
    )


def refused_status(exc: DomainError) -> int:
    """The status of a page shown again after a refused form: 409 when the record moved on
    (a stale version, a step no longer allowed), otherwise 422 — a wrong password on a signing
    form included, which re-shows the form rather than answering 401."""
    return 409 if isinstance(exc, Conflict) else 422
