"""QA and supplier-quality pages for outsourced processes: the run queue, the review page with
the signed decision, and the process approvals (quality agreements) runs are checked against."""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import expected_version, form_fields, refused_status, signing_credentials, text
from portal.record_steps import record_page, take_step
from trace_core.errors import Conflict, ValidationFailed
from trace_core.processes.models import APPROVAL_STATUSES, PROCESS_KINDS
from trace_core.processes.service import ApprovalInput, MeasuredValue
from trace_core.services import Services


@get("/internal/process-runs", include_in_schema=False)
async def run_queue(services: Services) -> Template:
    actor = services.actor
    return Template(
        "internal/process_runs.html",
        context={
            "queue": await services.processes.review_queue(actor)
            if actor.can("lots.review")
            else [],
            "runs": await services.processes.list(actor, limit=100),
        },
    )


async def _review(services: Services, run_id: int, error: str | None, status: int) -> Template:
    detail = await services.processes.detail(services.actor, run_id)
    return await record_page(
        services,
        "internal/process_run.html",
        status,
        error,
        {
            "detail": detail,
            "run": detail.run,
            "can_decide": services.actor.can("lots.approve") and detail.run.status == "submitted",
        },
    )


@get("/internal/process-runs/{run_id:int}", include_in_schema=False)
async def run_review(services: Services, run_id: int) -> Template:
    return await _review(services, run_id, None, 200)


@post("/internal/process-runs/{run_id:int}/decision", include_in_schema=False)
async def decide_run(
    request: Request[Any, Any, Any], services: Services, run_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    return await take_step(
        services,
        services.processes.decide(
            services.actor,
            run_id,
            text(fields, "decision"),
            signing_credentials(fields),
            text(fields, "comment"),
            expected_version(fields),
        ),
        f"/internal/process-runs/{run_id}",
        partial(_review, services, run_id),
    )


async def _approvals(
    services: Services, values: dict[str, str], errors: dict[str, str], status: int
) -> Template:
    organizations = await services.processes.approvable_organizations(services.actor)
    return Template(
        "internal/process_approvals.html",
        status_code=status,
        context={
            "approvals": await services.processes.approvals(services.actor),
            "organizations": organizations,
            "kinds": PROCESS_KINDS,
            "statuses": APPROVAL_STATUSES,
            "values": values,
            "errors": errors,
            "can_manage": services.actor.can("suppliers.approve"),
        },
    )


def _cycle(text_value: str) -> list[MeasuredValue]:
    """The validated cycle as typed: ``name; unit; lower; upper`` per line."""
    found = []
    for line in text_value.splitlines():
        parts = [p.strip() for p in line.split(";")] + ["", "", "", ""]
        if any(parts[:4]):
            found.append(MeasuredValue(parts[0], "", parts[1] or None, parts[2], parts[3]))
    return found


@get("/internal/process-approvals", include_in_schema=False)
async def approvals_page(services: Services) -> Template:
    return await _approvals(services, {}, {}, 200)


@post("/internal/process-approvals", include_in_schema=False)
async def create_approval(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v.strip() for k, v in fields.items() if isinstance(v, str)}
    organization = values.get("organization_id", "")
    try:
        await services.processes.approve_process(
            services.actor,
            ApprovalInput(
                int(organization) if organization.isdigit() else 0,
                values.get("process_kind", ""),
                values.get("agreement_reference", ""),
                values.get("scope", ""),
                values.get("valid_from", ""),
                values.get("valid_until") or None,
                revalidation_due=values.get("revalidation_due") or None,
                validated_cycle=_cycle(values.get("validated_cycle", "")),
            ),
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _approvals(services, values, exc.errors, 422)
    return Redirect("/internal/process-approvals", status_code=303)


@post("/internal/process-approvals/{approval_id:int}/status", include_in_schema=False)
async def approval_status(
    request: Request[Any, Any, Any], services: Services, approval_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    try:
        await services.processes.set_approval_status(
            services.actor,
            approval_id,
            text(fields, "status"),
            text(fields, "reason"),
            expected_version(fields),
        )
    except (ValidationFailed, Conflict) as exc:
        await services.keeper.rollback()
        status = refused_status(exc)
        return await _approvals(services, {}, {"status": exc.message}, status)
    return Redirect("/internal/process-approvals", status_code=303)


ROUTES = [run_queue, run_review, decide_run, approvals_page, create_approval, approval_status]
