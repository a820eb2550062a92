"""Operations pages: goods receipts, work orders and shipments."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, text
from portal.i18n import N_, gettext_
from trace_core.errors import Conflict, ValidationFailed
from trace_core.gates import Movement
from trace_core.gates.rules import supplier_lot_allows
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.receipts.service import ReceiptInput, ReceiptRefused
from trace_core.services import Services
from trace_core.shipments.service import ShipmentInput


def _lines(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", "\n").splitlines() if part.strip()]


@get("/internal/receipts", include_in_schema=False)
async def receipts(services: Services) -> Template:
    return await _receipts(services, {}, {}, 200)


def refusal_text(exc: Conflict) -> str:
    """A receipt or inspection refusal in the reader's language: the rule translated, then
    the blocking record's values filled in."""
    if isinstance(exc, ReceiptRefused):
        return gettext_(exc.rule) % {k: str(v) for k, v in exc.values.items()}
    return exc.message


async def _receipts(
    services: Services, values: dict[str, Any], errors: dict[str, str], status: int
) -> Template:
    actor = services.actor
    # The form offers what the gate lets be received (review status and no hold).
    receivable = [
        lot
        for lot in await services.lots.list(actor)
        if supplier_lot_allows(lot.status, lot.hold_status, Movement.RECEIVE)
    ]
    # What each lot still allows (declared, received so far, tolerance, remaining) and whether
    # its part is inspected at goods-in, shown beside the form.
    allowances = {lot.id: await services.receipts.allowance(lot) for lot in receivable}
    inspected = {
        lot.part_id: await services.receipts.has_inspection_plan(lot.part_id) for lot in receivable
    }
    receipts = await services.receipts.list(actor)
    return Template(
        "internal/receipts.html",
        status_code=status,
        context={
            "receipts": receipts,
            "inspections": await services.inspections.for_receipts([r.id for r in receipts]),
            "receivable": receivable,
            "allowances": allowances,
            "inspected": inspected,
            "values": values,
            "errors": errors,
        },
    )


@post("/internal/receipts", include_in_schema=False)
async def post_receipt(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    try:
        lot_id = int(text(fields, "supplier_lot_id") or 0)
        await services.receipts.post(
            services.actor,
            ReceiptInput(
                lot_id,
                text(fields, "quantity"),
                text(fields, "internal_lot_number") or None,
                text(fields, "unit") or None,
            ),
        )
    except ValueError:
        return await _receipts(services, values, {"supplier_lot_id": N_("Choose a lot.")}, 422)
    except ValidationFailed as exc:
        await services.keeper.rollback()
        return await _receipts(services, values, exc.errors, 422)
    except ReceiptRefused as exc:
        await services.keeper.rollback()
        return await _receipts(services, values, {exc.field: refusal_text(exc)}, 409)
    except Conflict as exc:
        await services.keeper.rollback()
        return await _receipts(services, values, {"supplier_lot_id": exc.message}, 409)
    return Redirect("/internal/receipts", status_code=303)


@get("/internal/work-orders", include_in_schema=False)
async def work_orders(services: Services) -> Template:
    return await _work_orders(services, {}, {}, 200)


async def _work_orders(
    services: Services, values: dict[str, Any], errors: dict[str, str], status: int
) -> Template:
    actor = services.actor
    parts = [p for p, _ in await services.parts.parts_for(actor) if p.kind == "finished"]
    # Only what the material gate lets be consumed is offered (QMS-10, docs/GATES.md).
    lots = await services.gate.movable(
        Movement.CONSUME, await services.inventory.lots(actor, "material")
    )
    orders = await services.production.list(actor)
    return Template(
        "internal/work_orders.html",
        status_code=status,
        context={
            "orders": orders,
            "releases": await services.release.statuses([o.output_lot_id for o in orders]),
            "parts": parts,
            "lots": lots,
            "values": values,
            "errors": errors,
        },
    )


@post("/internal/work-orders", include_in_schema=False)
async def post_work_order(
    request: Request[Any, Any, Any], services: Services
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    inputs = []
    for index in range(10):
        lot_number = text(fields, f"input_lot_{index}")
        if lot_number:
            inputs.append(ConsumedLot(lot_number, text(fields, f"input_qty_{index}")))
    try:
        await services.production.post(
            services.actor,
            WorkOrderInputData(
                text(fields, "number"),
                text(fields, "part_number"),
                text(fields, "output_lot_number"),
                inputs,
                _lines(text(fields, "serials")),
                manufactured_on=text(fields, "manufactured_on") or None,
                expires_on=text(fields, "expires_on") or None,
            ),
        )
    except ValidationFailed as exc:
        return await _work_orders(services, values, exc.errors, 422)
    return Redirect("/internal/work-orders", status_code=303)


@get("/internal/shipments", include_in_schema=False)
async def shipments(services: Services) -> Template:
    return await _shipments(services, {}, {}, 200)


async def _shipments(
    services: Services, values: dict[str, Any], errors: dict[str, str], status: int
) -> Template:
    actor = services.actor
    return Template(
        "internal/shipments.html",
        status_code=status,
        context={
            "shipments": await services.shipments.list(actor),
            "serials": await services.inventory.serials_in_stock(actor),
            "units": [
                u for u in await services.packing.units(actor, "closed") if u.parent_id is None
            ],
            "values": values,
            "errors": errors,
        },
    )


@post("/internal/shipments", include_in_schema=False)
async def post_shipment(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    chosen = fields.get("serial", [])
    serials = [chosen] if isinstance(chosen, str) else list(chosen)
    serials += _lines(text(fields, "serials"))
    picked = fields.get("unit", [])
    units = [picked] if isinstance(picked, str) else list(picked)
    units += _lines(text(fields, "units"))
    try:
        await services.shipments.ship(
            services.actor,
            ShipmentInput(
                text(fields, "number"),
                text(fields, "consignee_name"),
                text(fields, "consignee_address"),
                serials,
                units,
                consignee_contact=text(fields, "consignee_contact"),
                consignee_phone=text(fields, "consignee_phone"),
            ),
        )
    except ValidationFailed as exc:
        return await _shipments(services, values, exc.errors, 422)
    return Redirect("/internal/shipments", status_code=303)
