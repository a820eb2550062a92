"""QA pages for supplier certificates (CERT-01): the list with lapsed and expiring flags, the
review page with the certificate PDF, and the signed decision (accept, reject, suspend,
withdraw)."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import expected_version, form_fields, signing_credentials, text
from portal.record_steps import record_page, take_step
from trace_core.certificates.models import CERTIFICATE_STATUSES
from trace_core.certificates.service import QA_DECISIONS, validity_flag
from trace_core.db import utc_now
from trace_core.errors import ValidationFailed
from trace_core.services import Services


@get("/internal/certificates", include_in_schema=False)
async def certificate_list(
    services: Services,
    status: str | None = None,
    supplier: str | None = None,
    part: str | None = None,
    date: str | None = None,
) -> Template:
    today = utc_now().date()
    chosen = status if status in CERTIFICATE_STATUSES else None
    found = await services.certificates.list(services.actor, chosen)
    rows = [(c, validity_flag(c, today)) for c in found]
    # "Was this part from this supplier covered on that day?" — asked when the form is sent.
    check: dict[str, Any] = {"supplier": supplier or "", "part": part or "", "date": date}
    status_code = 200
    if supplier is not None or part is not None or date is not None:
        try:
            _organization, coverage = await services.certificates.check(
                services.actor, supplier, part or "", date or ""
            )
            check["answer"] = coverage
        except ValidationFailed as exc:
            check["errors"], status_code = exc.errors, 422
    return Template(
        "internal/certificates.html",
        status_code=status_code,
        context={
            "rows": rows,
            "status": chosen,
            "statuses": CERTIFICATE_STATUSES,
            "flagged": sum(1 for _, flag in rows if flag in ("lapsed", "expiring")),
            "check": check,
            "today": today,
            "suppliers": await services.certificates.supplier_names(services.actor),
        },
    )


async def _review(
    services: Services, certificate_id: int, error: str | None, status: int
) -> Template:
    detail = await services.certificates.detail(services.actor, certificate_id)
    certificate = detail.certificate
    decisions = [d for d, states in QA_DECISIONS.items() if certificate.status in states]
    return await record_page(
        services,
        "internal/certificate.html",
        status,
        error,
        {
            "detail": detail,
            "certificate": certificate,
            "flag": validity_flag(certificate, utc_now().date()),
            "decisions": decisions if services.actor.can("lots.approve") else [],
        },
    )


@get("/internal/certificates/{certificate_id:int}", include_in_schema=False)
async def certificate_review(services: Services, certificate_id: int) -> Template:
    return await _review(services, certificate_id, None, 200)


@post("/internal/certificates/{certificate_id:int}/decision", include_in_schema=False)
async def decide_certificate(
    request: Request[Any, Any, Any], services: Services, certificate_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.certificates.decide(
            services.actor,
            certificate_id,
            text(fields, "decision"),
            signing_credentials(fields),
            text(fields, "comment"),
            expected_version(fields),
            text(fields, "ended_on") or None,
        ),
        f"/internal/certificates/{certificate_id}",
        partial(_review, services, certificate_id),
    )


ROUTES = [certificate_list, certificate_review, decide_certificate]
