"""Packing pages: scan serials into a case and cases onto a pallet (htmx: one scan at a time),
close, unpack with a reason, and find a unit by typing or scanning its SSCC."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from portal.forms import form_fields, text
from trace_core.errors import Conflict, NotFound, ValidationFailed
from trace_core.packing.models import ShippingUnit
from trace_core.packing.service import PackInput
from trace_core.services import Services


def _lines(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", "\n").splitlines() if part.strip()]


def _htmx(request: Request[Any, Any, Any]) -> bool:
    return bool(request.headers.get("hx-request"))


@get("/internal/shipping-units", include_in_schema=False)
async def shipping_units(services: Services, sscc: str = "") -> Template | Redirect:
    errors: dict[str, str] = {}
    if sscc.strip():
        try:
            unit = await services.packing.get(services.actor, sscc)
        except (NotFound, ValidationFailed) as exc:
            errors["find"] = exc.message
        else:
            return Redirect(f"/internal/shipping-units/{unit.id}", status_code=303)
    return await _list(services, {"find": sscc}, errors, 404 if errors else 200)


async def _list(
    services: Services, values: dict[str, Any], errors: dict[str, str], status: int
) -> Template:
    return Template(
        "internal/shipping_units.html",
        status_code=status,
        context={
            "units": await services.packing.units(services.actor),
            "values": values,
            "errors": errors,
            "unit": None,
            "contents": None,
            "allocates": services.runtime.sscc_range is not None,
        },
    )


@post("/internal/shipping-units", include_in_schema=False)
async def pack(request: Request[Any, Any, Any], services: Services) -> Template | Redirect:
    """Pack: a plain form posts many serials at once and redirects; htmx posts one scan and
    gets the packing panel back with the unit's contents, ready for the next scan."""
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    data = PackInput(
        text(fields, "sscc"),
        text(fields, "level"),
        _lines(text(fields, "serials")) + _lines(text(fields, "scan")),
        _lines(text(fields, "units")),
    )
    try:
        unit = await services.packing.pack(services.actor, data)
    except (ValidationFailed, Conflict) as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else {"sscc": exc.message}
        status = 422 if isinstance(exc, ValidationFailed) else 409
        if _htmx(request):
            return await _panel(services, values, errors, status)
        return await _list(services, values, errors, status)
    if _htmx(request):
        return await _panel(services, {"sscc": unit.sscc, "level": unit.level}, {}, 200, unit)
    return Redirect(f"/internal/shipping-units/{unit.id}", status_code=303)


async def _panel(
    services: Services,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int,
    unit: ShippingUnit | None = None,
) -> Template:
    if unit is None and values.get("sscc"):
        try:
            unit = await services.packing.get(services.actor, str(values["sscc"]))
        except (NotFound, ValidationFailed):
            unit = None
    contents = await services.packing.contents(unit) if unit else None
    return Template(
        "internal/_pack_panel.html",
        status_code=status,
        context={
            "values": values,
            "errors": errors,
            "unit": unit,
            "contents": contents,
            "allocates": services.runtime.sscc_range is not None,
        },
    )


@get("/internal/shipping-units/{unit_id:int}", include_in_schema=False)
async def shipping_unit(services: Services, unit_id: int) -> Template:
    return await _detail(services, unit_id, {}, {}, 200)


async def _detail(
    services: Services,
    unit_id: int,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int,
) -> Template:
    unit = await services.packing.by_id(services.actor, unit_id)
    return Template(
        "internal/shipping_unit.html",
        status_code=status,
        context={
            "unit": unit,
            "contents": await services.packing.contents(unit),
            "history": await services.packing.history(unit),
            "on_pallet": await services.packing.parent_sscc(unit),
            "shipment": await services.packing.shipment_number(unit),
            "values": values,
            "errors": errors,
        },
    )


@post("/internal/shipping-units/{unit_id:int}/unpack", include_in_schema=False)
async def unpack(
    request: Request[Any, Any, Any], services: Services, unit_id: int
) -> Template | Redirect:
    fields = await form_fields(request)
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    unit = await services.packing.by_id(services.actor, unit_id)
    chosen = fields.get("serial", [])
    serials = [chosen] if isinstance(chosen, str) else list(chosen)
    try:
        await services.packing.unpack(
            services.actor,
            unit.sscc,
            serials + _lines(text(fields, "serials")),
            _lines(text(fields, "units")),
            text(fields, "reason"),
            everything=text(fields, "everything") == "1",
        )
    except ValidationFailed as exc:
        return await _detail(services, unit_id, values, exc.errors, 422)
    except Conflict as exc:
        return await _detail(services, unit_id, values, {"unpack": exc.message}, 409)
    return Redirect(f"/internal/shipping-units/{unit_id}", status_code=303)


@post("/internal/shipping-units/{unit_id:int}/close", include_in_schema=False)
async def close(services: Services, unit_id: int) -> Template | Redirect:
    unit = await services.packing.by_id(services.actor, unit_id)
    try:
        await services.packing.close(services.actor, unit.sscc)
    except ValidationFailed as exc:
        return await _detail(services, unit_id, {}, {"close": exc.message}, 422)
    except Conflict as exc:
        return await _detail(services, unit_id, {}, {"close": exc.message}, 409)
    return Redirect(f"/internal/shipping-units/{unit_id}", status_code=303)


ROUTES = [shipping_units, pack, shipping_unit, unpack, close]
