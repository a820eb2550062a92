"""QA's holds on material (docs/GATES.md): the holds page (every hold, placing one on an
internal lot or a range of serials, releasing one), and holding or releasing a supplier lot
from its review page. Each step is signed; the rules are ``trace_core/gates/holds.py``."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, signing_credentials, text
from portal.internal.review import review_with_hold_error
from portal.record_steps import record_page, take_step
from trace_core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from trace_core.gates.holds import HoldInput
from trace_core.services import Services

#: What a hold form shows on its page: the signature, a field, an illegal step, an unknown lot.
HOLD_REFUSALS = (AuthenticationFailed, ValidationFailed, Conflict, NotFound)


@get("/internal/holds", include_in_schema=False)
async def holds_page(services: Services) -> Template:
    return await _holds(services, None, 200, {})


async def _holds(
    services: Services, error: str | None, status: int, values: dict[str, str]
) -> Template:
    actor = services.actor
    holds = await services.holds.all(actor)
    targets = {h.id: await services.holds.target(h) for h in holds}
    return await record_page(
        services,
        "internal/holds.html",
        status,
        error,
        {
            "holds": holds,
            "targets": targets,
            "recalls": await services.holds.recall_numbers(holds),
            "can_hold": actor.can("material.hold"),
            "can_release": actor.can("material.release"),
            "values": values,
        },
    )


@post("/internal/holds", include_in_schema=False)
async def place_hold(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    values = {
        k: text(fields, k) for k in ("target_kind", "lot_number", "serial_first", "serial_last")
    }
    values["reason"] = text(fields, "reason")
    data = HoldInput(values["reason"])
    credentials = signing_credentials(fields)

    async def step() -> None:
        if values["target_kind"] == "serial_range":
            await services.holds.hold_serials(
                services.actor, values["serial_first"], values["serial_last"], data, credentials
            )
        else:
            lot_id = await services.holds.internal_lot_id(
                services.actor, values["lot_number"], "material.hold"
            )
            await services.holds.hold_internal_lot(services.actor, lot_id, data, credentials)

    return await take_step(
        services,
        step(),
        "/internal/holds",
        lambda message, status: _holds(services, message, status, values),
        HOLD_REFUSALS,
    )


@post("/internal/holds/{hold_id:int}/release", include_in_schema=False)
async def release_hold(
    request: Request[Any, Any, Any], services: Services, hold_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.holds.release(
            services.actor, hold_id, text(fields, "reason"), signing_credentials(fields)
        ),
        "/internal/holds",
        lambda message, status: _holds(services, message, status, {}),
        HOLD_REFUSALS,
    )


@post("/internal/lots/{lot_id:int}/hold", include_in_schema=False)
async def hold_supplier_lot(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.holds.hold_supplier_lot(
            services.actor,
            lot_id,
            HoldInput(text(fields, "reason"), text(fields, "supplier_notice")),
            signing_credentials(fields),
        ),
        f"/internal/lots/{lot_id}",
        partial(review_with_hold_error, services, lot_id),
        HOLD_REFUSALS,
    )


@post("/internal/lots/{lot_id:int}/release", include_in_schema=False)
async def release_supplier_lot(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.holds.release_supplier_lot(
            services.actor, lot_id, text(fields, "reason"), signing_credentials(fields)
        ),
        f"/internal/lots/{lot_id}",
        partial(review_with_hold_error, services, lot_id),
        HOLD_REFUSALS,
    )


ROUTES = [holds_page, place_hold, release_hold, hold_supplier_lot, release_supplier_lot]
