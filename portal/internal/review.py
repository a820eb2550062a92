"""QA pages: the internal home, the review queue, the review page and the decision."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import expected_version, form_fields, signing_credentials, text
from portal.record_steps import record_page, take_step
from trace_core.errors import AuthenticationFailed, ValidationFailed
from trace_core.services import Services


@get("/internal", include_in_schema=False)
async def internal_home(services: Services) -> Template:
    actor = services.actor
    queue = await services.lots.review_queue(actor) if actor.can("lots.review") else []
    return Template(
        "internal/home.html",
        context={"queue": queue, "lots": await services.lots.list(actor, limit=20)},
    )


@get("/internal/review", include_in_schema=False)
async def review_queue(services: Services) -> Template:
    return Template(
        "internal/queue.html", context={"queue": await services.lots.review_queue(services.actor)}
    )


@get("/internal/lots/{lot_id:int}", include_in_schema=False)
async def review_page(services: Services, lot_id: int) -> Template:
    return await _review(services, lot_id, None, 200)


async def _review(
    services: Services, lot_id: int, error: str | None, status: int, hold_error: str | None = None
) -> Template:
    detail = await services.lots.detail(services.actor, lot_id)
    holds = await services.holds.active(services.actor, supplier_lot_id=lot_id)
    return await record_page(
        services,
        "internal/review.html",
        status,
        error,
        {
            "detail": detail,
            "lot": detail.lot,
            "can_decide": services.actor.can("lots.approve") and detail.lot.status == "submitted",
            "can_verify": services.actor.can("lots.verify_entry")
            and detail.lot.status == "needs_verification",
            "late_entry_limit": services.limits.late_entry_days,
            "can_review_audit": services.actor.can("lots.review")
            and detail.lot.status == "submitted"
            and detail.revised,
            "certificates": await services.certificates.for_supplier_lot(
                services.actor, detail.lot
            ),
            # Material holds (docs/GATES.md): why the lot is held, and QA's forms.
            "holds": holds,
            "hold_recalls": await services.holds.recall_numbers(holds),
            "hold_error": hold_error,
            "can_hold": services.actor.can("material.hold") and detail.lot.hold_status is None,
            "can_release": services.actor.can("material.release")
            and any(h.recall_id is None for h in holds),
        },
    )


async def review_with_hold_error(
    services: Services, lot_id: int, message: str, status: int
) -> Template:
    """The review page again with a refused hold or release where its form was."""
    return await _review(services, lot_id, None, status, message)


@post("/internal/lots/{lot_id:int}/decision", include_in_schema=False)
async def decide(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.lots.decide(
            services.actor,
            lot_id,
            text(fields, "decision"),
            signing_credentials(fields),
            text(fields, "comment"),
            expected_version(fields),
        ),
        f"/internal/lots/{lot_id}",
        partial(_review, services, lot_id),
    )


@post("/internal/lots/{lot_id:int}/audit-review", include_in_schema=False)
async def sign_audit_review(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    """QA signs "audit trail reviewed" for a lot revised after first entry (A11-06)."""
    fields = await form_fields(request)
    return await take_step(
        services,
        services.lots.sign_audit_review(
            services.actor,
            lot_id,
            signing_credentials(fields),
            expected_version(fields),
            text(fields, "comment"),
        ),
        f"/internal/lots/{lot_id}",
        partial(_review, services, lot_id),
        refusals=(AuthenticationFailed, ValidationFailed),
    )
