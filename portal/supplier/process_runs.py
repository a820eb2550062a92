"""Contractor pages: the runs of outsourced processes (sterilization, coating, cleaning) over
our lots — list, the new-run form with the release certificate, signing, voiding a draft."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
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
from trace_core.errors import ValidationFailed
from trace_core.processes.models import PROCESS_KINDS
from trace_core.processes.service import LotLine, MeasuredValue, RunSubmission
from trace_core.services import Services

#: Rows the plain form offers; a re-shown form has two empty rows below the last filled one.
VALUE_ROWS, LOT_ROWS = 4, 3


@get("/supplier/process-runs", include_in_schema=False)
async def process_runs(services: Services) -> Template:
    actor = services.actor
    return Template(
        "supplier/process_runs.html",
        context={
            "runs": await services.processes.list(actor),
            "approvals": await services.processes.approvals(actor),
        },
    )


def _rows(values: dict[str, str], prefix: str, minimum: int) -> int:
    used = [
        int(key.rsplit("_", 1)[1])
        for key in values
        if key.startswith(prefix) and key.rsplit("_", 1)[1].isdigit()
    ]
    return max(minimum, max(used, default=-1) + 2)


async def _form(
    services: Services, values: dict[str, str], errors: dict[str, str], status: int
) -> Template:
    return Template(
        "supplier/process_run_form.html",
        status_code=status,
        context={
            "values": values,
            "errors": errors,
            "kinds": PROCESS_KINDS,
            "approvals": await services.processes.approvals(services.actor),
            "max_mb": services.limits.max_upload_bytes // (1024 * 1024),
            "rows": {
                "param": _rows(values, "param_name_", VALUE_ROWS),
                "result": _rows(values, "result_name_", VALUE_ROWS),
                "input": _rows(values, "input_lot_", LOT_ROWS),
                "output": _rows(values, "output_lot_", LOT_ROWS),
            },
        },
    )


@get("/supplier/process-runs/new", include_in_schema=False)
async def new_process_run(services: Services) -> Template:
    services.actor.require("lots.submit")
    return await _form(services, await _validated_grid(services), {}, 200)


async def _validated_grid(services: Services) -> dict[str, str]:
    """The parameter grid prefilled from the validated cycle of the contractor's first active
    approval that has one (QMS-09): its names, units and limits, to which the run adds its
    values; the limits cannot be loosened (the service refuses it)."""
    for approval in await services.processes.approvals(services.actor):
        if approval.status != "active" or not approval.validated_cycle:
            continue
        values = {"process_kind": approval.process_kind}
        for index, limit in enumerate(approval.validated_cycle):
            values[f"param_name_{index}"] = str(limit["name"])
            values[f"param_unit_{index}"] = str(limit.get("unit") or "")
            values[f"param_lower_{index}"] = str(limit.get("lower") or "")
            values[f"param_upper_{index}"] = str(limit.get("upper") or "")
        return values
    return {}


def _measured(values: dict[str, str], prefix: str) -> list[MeasuredValue]:
    found = []
    for index in range(_rows(values, f"{prefix}_name_", 0)):
        name = values.get(f"{prefix}_name_{index}", "").strip()
        value = values.get(f"{prefix}_value_{index}", "").strip()
        if not name and not value:
            continue
        found.append(
            MeasuredValue(
                name,
                value,
                values.get(f"{prefix}_unit_{index}") or None,
                values.get(f"{prefix}_lower_{index}") or None,
                values.get(f"{prefix}_upper_{index}") or None,
            )
        )
    return found


def _lots(values: dict[str, str], prefix: str) -> list[LotLine]:
    found = []
    for index in range(_rows(values, f"{prefix}_lot_", 0)):
        number = values.get(f"{prefix}_lot_{index}", "").strip()
        quantity = values.get(f"{prefix}_qty_{index}", "").strip()
        if not number and not quantity:
            continue
        sources = tuple(
            s.strip() for s in values.get(f"{prefix}_from_{index}", "").split(",") if s.strip()
        )
        found.append(
            LotLine(number, quantity, values.get(f"{prefix}_unit_{index}") or None, sources)
        )
    return found


def submission_from_form(values: dict[str, str], document_id: int | None) -> RunSubmission:
    return RunSubmission(
        process_kind=values.get("process_kind", ""),
        run_number=values.get("run_number", ""),
        cycle_id=values.get("cycle_id") or None,
        started_on=values.get("started_on", ""),
        ended_on=values.get("ended_on", ""),
        certificate_document_id=document_id,
        parameters=_measured(values, "param"),
        results=_measured(values, "result"),
        inputs=_lots(values, "input"),
        outputs=_lots(values, "output"),
    )


@post("/supplier/process-runs", include_in_schema=False)
async def submit_process_run(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v.strip() for k, v in fields.items() if isinstance(v, str)}
    try:
        document_id = await uploaded_pdf(services, fields, "certificate")
        run = await services.processes.submit(
            services.actor, submission_from_form(values, document_id)
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _form(services, values, form_errors(exc, "certificate"), 422)
    return Redirect(f"/supplier/process-runs/{run.id}", status_code=303)


async def _page(services: Services, run_id: int, error: str | None, status: int) -> Template:
    detail = await services.processes.detail(services.actor, run_id)
    actor = services.actor
    return await record_page(
        services,
        "supplier/process_run.html",
        status,
        error,
        {
            "detail": detail,
            "run": detail.run,
            "can_sign": actor.can("lots.sign")
            and not actor.is_internal
            and detail.run.status == "draft",
            "can_void": actor.can("lots.submit")
            and not actor.is_internal
            and detail.run.status == "draft",
        },
    )


@get("/supplier/process-runs/{run_id:int}", include_in_schema=False)
async def process_run_page(services: Services, run_id: int) -> Template:
    return await _page(services, run_id, None, 200)


@post("/supplier/process-runs/{run_id:int}/sign", include_in_schema=False)
async def sign_process_run(
    request: Request[Any, Any, Any], services: Services, run_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.processes.sign(
            services.actor, run_id, signing_credentials(fields), expected_version(fields)
        ),
        f"/supplier/process-runs/{run_id}",
        partial(_page, services, run_id),
    )


@post("/supplier/process-runs/{run_id:int}/void", include_in_schema=False)
async def void_process_run(
    request: Request[Any, Any, Any], services: Services, run_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.processes.void(
            services.actor, run_id, text(fields, "reason"), expected_version(fields)
        ),
        f"/supplier/process-runs/{run_id}",
        partial(_page, services, run_id),
        refusals=(ValidationFailed,),
    )


ROUTES = [
    process_runs,
    new_process_run,
    submit_process_run,
    process_run_page,
    sign_process_run,
    void_process_run,
]
