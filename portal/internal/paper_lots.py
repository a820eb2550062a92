"""Our staff's pages for a supplier's paper CoA (A11-03): typing a lot on the supplier's
behalf, the list of typed lots waiting for a second person, and that person's verification
(signed on the lot's review page, next to the PDF). The rules are in
``trace_core/lots/staff_entry.py``."""

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
from portal.internal.review import _review
from portal.record_steps import take_step
from portal.supplier.lots import _submission
from trace_core.errors import ValidationFailed
from trace_core.services import Services


@get("/internal/paper-lots", include_in_schema=False, name="paper_lots")
async def paper_lots(services: Services) -> Template:
    """Lots typed by our staff that wait for a second person's verification."""
    return Template(
        "internal/paper_lots.html",
        context={"lots": await services.staff_entry.waiting(services.actor)},
    )


@get("/internal/paper-lots/new", include_in_schema=False, name="new_paper_lot")
async def new_paper_lot(
    services: Services, supplier: int | None = None, part: str | None = None
) -> Template:
    return await _form(
        services, {"supplier": str(supplier or ""), "part_number": part or ""}, {}, 200
    )


async def _form(
    services: Services, values: dict[str, Any], errors: dict[str, str], status: int
) -> Template:
    suppliers = await services.staff_entry.suppliers(services.actor)
    parts = await services.parts.parts_for(services.actor)
    chosen = next((p for p in parts if p[0].number == values.get("part_number")), None)
    supplier = next((o for o in suppliers if str(o.id) == values.get("supplier")), None)
    return Template(
        "supplier/lot_form.html",
        status_code=status,
        context={
            "parts": parts,
            "chosen": chosen if supplier is not None else None,
            "values": values,
            "errors": errors,
            "max_mb": services.limits.max_upload_bytes // (1024 * 1024),
            "revising": None,
            "staff_entry": {"suppliers": suppliers, "supplier": supplier},
        },
    )


def _supplier_id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


@post("/internal/paper-lots", include_in_schema=False, name="enter_paper_lot")
async def enter_paper_lot(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    try:
        # The scan is checked and stored in this unit of work: a refused form keeps nothing.
        document_id = await uploaded_pdf(services, fields, "coa")
        lot = await services.staff_entry.enter(
            services.actor,
            _supplier_id(text(fields, "supplier")),
            _submission(fields, values, document_id),
        )
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _form(services, values, form_errors(exc, "coa_document"), 422)
    return Redirect(f"/internal/lots/{lot.id}", status_code=303)


@post("/internal/lots/{lot_id:int}/verify", include_in_schema=False, name="verify_paper_lot")
async def verify_paper_lot(
    request: Request[Any, Any, Any], services: Services, lot_id: int
) -> Template | Redirect:
    """A second person signs that the typed values match the scanned certificate."""
    fields = await form_fields(request)
    return await take_step(
        services,
        services.staff_entry.verify(
            services.actor,
            lot_id,
            signing_credentials(fields),
            expected_version(fields),
            text(fields, "comment"),
        ),
        f"/internal/lots/{lot_id}",
        partial(_review, services, lot_id),
    )


ROUTES = [paper_lots, new_paper_lot, enter_paper_lot, verify_paper_lot]
