"""Supplier pages for certificates (CERT-01): the list, the form with the certificate PDF,
signing a draft, withdrawing a certificate with a reason."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Template

from portal.forms import (
    expected_version,
    form_errors,
    form_fields,
    signing_credentials,
    text,
    uploaded_pdf,
)
from portal.record_steps import record_page, take_step
from trace_core.certificates.models import STANDARDS
from trace_core.certificates.service import CertificateInput, validity_flag
from trace_core.db import utc_now
from trace_core.errors import Conflict, ValidationFailed
from trace_core.services import Services

WITHDRAWABLE = ("draft", "submitted", "accepted", "suspended")


@get("/supplier/certificates", include_in_schema=False)
async def certificates(
    services: Services, part: str | None = None, date: str | None = None
) -> Template:
    today = utc_now().date()
    found = await services.certificates.list(services.actor)
    # "Were we covered for this part on that day?" — the question QA asks of each receipt.
    check: dict[str, Any] = {"part": part or "", "date": date}
    status_code = 200
    if part is not None or date is not None:
        try:
            _organization, check["answer"] = await services.certificates.check(
                services.actor, None, part or "", date or ""
            )
        except ValidationFailed as exc:
            check["errors"], status_code = exc.errors, 422
    return Template(
        "supplier/certificates.html",
        status_code=status_code,
        context={
            "certificates": [(c, validity_flag(c, today)) for c in found],
            "check": check,
            "today": today,
            "parts": [p.number for p, _ in await services.parts.parts_for(services.actor)],
        },
    )


async def _form(
    services: Services, values: dict[str, Any], errors: dict[str, str], status: int
) -> Template:
    return Template(
        "supplier/certificate_form.html",
        status_code=status,
        context={
            "values": values,
            "errors": errors,
            "standards": STANDARDS,
            "kinds": await services.certificates.part_kinds(),
            "parts": [p for p, _ in await services.parts.parts_for(services.actor)],
            "max_mb": services.limits.max_upload_bytes // (1024 * 1024),
        },
    )


@get("/supplier/certificates/new", include_in_schema=False)
async def new_certificate(services: Services) -> Template:
    services.actor.require("lots.submit")
    return await _form(services, {}, {}, 200)


def _listed(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i.strip() for i in items if isinstance(i, str) and i.strip()]


def certificate_from_form(fields: dict[str, Any], document_id: int | None) -> CertificateInput:
    return CertificateInput(
        standard=text(fields, "standard"),
        certificate_number=text(fields, "certificate_number"),
        issuer=text(fields, "issuer"),
        sites=text(fields, "sites").splitlines(),
        valid_from=text(fields, "valid_from"),
        valid_until=text(fields, "valid_until"),
        document_id=document_id,
        product_scope=text(fields, "product_scope"),
        part_numbers=[p for p in re.split(r"[,;\s]+", text(fields, "part_numbers")) if p],
        part_kinds=_listed(fields.get("part_kinds", [])),
    )


@post("/supplier/certificates", include_in_schema=False)
async def submit_certificate(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if not isinstance(v, UploadFile)}
    try:
        document_id = await uploaded_pdf(services, fields, "certificate")
        made = await services.certificates.submit(
            services.actor, certificate_from_form(fields, document_id)
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _form(services, values, form_errors(exc, "document"), 422)
    return Redirect(f"/supplier/certificates/{made.id}", status_code=303)


async def _page(
    services: Services, certificate_id: int, error: str | None, status: int
) -> Template:
    detail = await services.certificates.detail(services.actor, certificate_id)
    actor, certificate = services.actor, detail.certificate
    supplier = not actor.is_internal
    return await record_page(
        services,
        "supplier/certificate.html",
        status,
        error,
        {
            "detail": detail,
            "certificate": certificate,
            "flag": validity_flag(certificate, utc_now().date()),
            "can_sign": supplier and actor.can("lots.sign") and certificate.status == "draft",
            "can_withdraw": supplier
            and actor.can("lots.submit")
            and certificate.status in WITHDRAWABLE,
        },
    )


@get("/supplier/certificates/{certificate_id:int}", include_in_schema=False)
async def certificate_page(services: Services, certificate_id: int) -> Template:
    return await _page(services, certificate_id, None, 200)


@post("/supplier/certificates/{certificate_id:int}/sign", include_in_schema=False)
async def sign_certificate(
    request: Request[Any, Any, Any], services: Services, certificate_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.certificates.sign(
            services.actor, certificate_id, signing_credentials(fields), expected_version(fields)
        ),
        f"/supplier/certificates/{certificate_id}",
        partial(_page, services, certificate_id),
    )


@post("/supplier/certificates/{certificate_id:int}/withdraw", include_in_schema=False)
async def withdraw_certificate(
    request: Request[Any, Any, Any], services: Services, certificate_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.certificates.withdraw(
            services.actor,
            certificate_id,
            text(fields, "reason"),
            expected_version(fields),
            text(fields, "ended_on") or None,
        ),
        f"/supplier/certificates/{certificate_id}",
        partial(_page, services, certificate_id),
        refusals=(ValidationFailed, Conflict),
    )


ROUTES = [
    certificates,
    new_certificate,
    submit_certificate,
    certificate_page,
    sign_certificate,
    withdraw_certificate,
]
