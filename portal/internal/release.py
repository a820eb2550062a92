"""The finished-device release pages: finished lots waiting in quarantine, and one lot's device
history record review with QA's signed decision (``trace_core.release``)."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import expected_version, form_fields, signing_credentials, text
from portal.record_steps import record_page, take_step
from trace_core.services import Services


@get("/internal/finished-lots", include_in_schema=False)
async def finished_lots(services: Services) -> Template:
    return Template(
        "internal/finished_lots.html",
        context={"awaiting": await services.release.awaiting(services.actor)},
    )


async def _review(
    services: Services, finished_lot_id: int, error: str | None, status: int
) -> Template:
    history = await services.release.history(services.actor, finished_lot_id)
    signatures, versions = await services.release.flow.history(history.release.id)
    return await record_page(
        services,
        "internal/finished_lot.html",
        status,
        error,
        {
            "history": history,
            "signatures": signatures,
            "versions": versions,
            "can_decide": services.actor.can("lots.approve")
            and history.release.status == "quarantine",
        },
    )


@get("/internal/finished-lots/{finished_lot_id:int}", include_in_schema=False)
async def finished_lot(services: Services, finished_lot_id: int) -> Template:
    return await _review(services, finished_lot_id, None, 200)


@post("/internal/finished-lots/{finished_lot_id:int}/decision", include_in_schema=False)
async def decide_release(
    request: Request[Any, Any, Any], services: Services, finished_lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.release.decide(
            services.actor,
            finished_lot_id,
            text(fields, "decision"),
            signing_credentials(fields),
            text(fields, "comment"),
            expected_version(fields),
        ),
        f"/internal/finished-lots/{finished_lot_id}",
        partial(_review, services, finished_lot_id),
    )


ROUTES = [finished_lots, finished_lot, decide_release]
