"""The machine API for production and finished-device release (issue 13, docs/RELEASE.md):
post a work order (its lot starts in quarantine), read a finished lot's device history record
review with what blocks its release.

Releasing is an e-signature (meaning *released*) by a named QA approver: machine clients never
sign (DI-01), so ``POST /api/v1/finished-lots/{id}/release`` answers every client 403 and no
scope grants it. An ERP or MES reads the review (``GET``) to know when a lot is released.
"""

from __future__ import annotations

from litestar import get, post

from portal.api.responses import BEARER, error_responses
from portal.api.schemas import (
    BlockerOut,
    FinishedLotOut,
    JudgedValueOut,
    ReleaseIn,
    RequiredProcessOut,
    RequiredRunOut,
    UdiOut,
    UpstreamOut,
    WorkOrderIn,
    WorkOrderOut,
)
from trace_core.identity.service import SigningCredentials
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.release.dhr import DeviceHistory
from trace_core.services import Services

_AUTH = {
    "_401": "No or an invalid bearer token.",
    "_403": "The client lacks the scope, or is not one of our own systems.",
}


def finished_lot_out(history: DeviceHistory) -> FinishedLotOut:
    lot = history.lot
    return FinishedLotOut(
        id=lot.id,
        lot_number=lot.lot_number,
        part_number=lot.part.number,
        lot_status=lot.status,
        release_status=history.release.status,
        release_version=history.release.version,
        work_order=history.work_order.number,
        releasable=history.releasable,
        blockers=[
            BlockerOut(b.field, b.requirement, b.record, b.message) for b in history.blockers
        ],
        required_processes=[
            RequiredProcessOut(
                process_kind=p.requirement.process_kind,
                label=p.requirement.label,
                satisfied=p.satisfied,
                runs=[
                    RequiredRunOut(
                        run_id=r.run.id,
                        run_number=r.run.run_number,
                        contractor=r.run.organization.name,
                        status=r.run.status,
                        ended_on=r.run.ended_on,
                        validation_lapsed=r.validation_lapsed,
                        values=[
                            JudgedValueOut(v.name, v.value, v.unit, v.criterion, v.verdict)
                            for v in r.values
                        ],
                    )
                    for r in p.runs
                ],
            )
            for p in history.processes
        ],
        udi=UdiOut(
            gtin=history.udi.gtin,
            lot_number=history.udi.lot_number,
            manufactured_on=history.udi.manufactured_on,
            expires_on=history.udi.expires_on,
            serial_count=history.udi.serial_count,
            element_string_hri=history.udi.hri,
            digital_link=history.udi.digital_link,
        ),
        upstream=[
            UpstreamOut(n["kind"], n["identifier"], n.get("status"), n.get("verdict"))
            for n in history.upstream
        ],
    )


@post(
    "/api/v1/work-orders",
    tags=["production"],
    security=BEARER,
    status_code=201,
    summary="Post a work order; its finished lot starts in quarantine (scope production:write)",
    responses=error_responses(
        **_AUTH,
        _422="A field is invalid (`fields` names each): unknown part, lot not released, "
        "serial taken, quantity above what is left, a date not YYYY-MM-DD or expiry before "
        "manufacture. Nothing is written.",
    ),
)
async def post_work_order(services: Services, data: WorkOrderIn) -> WorkOrderOut:
    order = await services.production.post(
        services.actor,
        WorkOrderInputData(
            data.number,
            data.part_number,
            data.output_lot_number,
            [ConsumedLot(i.lot_number, i.quantity) for i in data.inputs],
            data.serials,
            manufactured_on=data.manufactured_on,
            expires_on=data.expires_on,
        ),
    )
    statuses = await services.release.statuses([order.output_lot_id])
    return WorkOrderOut(
        id=order.id,
        number=order.number,
        output_lot_id=order.output_lot_id,
        output_lot_number=order.output_lot.lot_number,
        lot_status=order.output_lot.status,
        release_status=statuses[order.output_lot_id],
        manufactured_on=order.manufactured_on,
        expires_on=order.expires_on,
    )


@get(
    "/api/v1/finished-lots/{finished_lot_id:int}",
    tags=["production"],
    security=BEARER,
    summary="A finished lot's device history record review and what blocks its release",
    responses=error_responses(**_AUTH, _404="No finished lot with this id (or not ours to see)."),
)
async def get_finished_lot(services: Services, finished_lot_id: int) -> FinishedLotOut:
    return finished_lot_out(await services.release.history(services.actor, finished_lot_id))


@post(
    "/api/v1/finished-lots/{finished_lot_id:int}/release",
    tags=["production"],
    security=BEARER,
    status_code=200,
    summary="Release a finished lot — a QA e-signature: machine clients are always refused",
    description=(
        "Release is an electronic signature (meaning *released*) by a named QA approver on "
        "the lot's release page, after the device history record review (21 CFR 11, "
        "820.80(d)). Machine clients cannot sign (DI-01), so every client gets 403 and "
        "nothing is written; read `GET /api/v1/finished-lots/{id}` for the lot's status and "
        "blockers."
    ),
    responses=error_responses(**_AUTH),
)
async def release_finished_lot(
    services: Services, finished_lot_id: int, data: ReleaseIn
) -> FinishedLotOut:
    await services.release.decide(
        services.actor,
        finished_lot_id,
        data.decision,
        SigningCredentials("", ""),
        data.comment,
        data.version,
    )
    return finished_lot_out(await services.release.history(services.actor, finished_lot_id))


ROUTES = [post_work_order, get_finished_lot, release_finished_lot]
