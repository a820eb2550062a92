"""Shared by tests that make a finished lot and then ship, pack or trace it: since issue 13 a
finished lot starts in quarantine and only QA's signed release after the device history
record review lets it leave. ``release_finished_lot`` takes the real path — SteriPro's
signer records a conforming gamma run over the lot, QA accepts the run and releases the lot
— so a test that ships its lot exercises the gate rather than going round it.

``UDI_DATES`` are the work order's UDI dates (QMS-16) and ``IMPLANT_CONSIGNEE`` the contact
and telephone a shipment of implantables needs (QMS-12); FG-1000 in the demo is both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from trace_core.demo import DEMO_PASSWORD
from trace_core.identity.actor import Actor
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.processes.service import LotLine, MeasuredValue, RunSubmission
from trace_core.services import Runtime, provide_services

SAM_EMAIL, QA_EMAIL = "sam@steripro.example", "qa@traceport.example"
SAM = SigningCredentials(DEMO_PASSWORD, SAM_EMAIL)
QA = SigningCredentials(DEMO_PASSWORD, QA_EMAIL)

_TODAY = dt.datetime.now(dt.UTC).date()
UDI_DATES: dict[str, Any] = {
    "manufactured_on": _TODAY - dt.timedelta(days=3),
    "expires_on": _TODAY + dt.timedelta(days=3 * 365),
}
IMPLANT_CONSIGNEE: dict[str, str] = {
    "consignee_contact": "Dr. Test Contact",
    "consignee_phone": "+353 21 555 0100",
}
#: A run value set that meets FG-1000's limits (dose ≥ 25 kGy, BI negative) and the
#: validated cycle of SteriPro's approval (target dose 25–45 kGy).
GOOD_PARAMETERS = [MeasuredValue("Target dose", "30", "kGy", "25", "45")]
GOOD_RESULTS = [
    MeasuredValue("Dosimetry minimum", "27.5", "kGy", "25"),
    MeasuredValue("Biological indicator", "negative"),
]


async def user(runtime: Runtime, email: str) -> Actor:
    async with provide_services(runtime, Actor.system()) as s:
        return actor_for_user(await s.identity.user_by_email(email), "ui")


async def sterilize(
    runtime: Runtime,
    lot_number: str,
    quantity: str,
    *,
    results: list[MeasuredValue] | None = None,
    accept: bool = True,
    comment: str = "Run record checked.",
) -> int:
    """SteriPro's signed gamma run over ``lot_number`` (returned as itself), accepted by QA
    unless ``accept`` is false; the run's id."""
    sam = await user(runtime, SAM_EMAIL)
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, sam) as s:
        run = await s.processes.submit(
            sam,
            RunSubmission(
                "sterilization",
                f"RUN-{lot_number}",
                "GC-TEST",
                _TODAY - dt.timedelta(days=2),
                _TODAY - dt.timedelta(days=1),
                None,
                parameters=list(GOOD_PARAMETERS),
                results=list(results if results is not None else GOOD_RESULTS),
                inputs=[LotLine(lot_number, quantity, "pcs")],
                outputs=[LotLine(lot_number, quantity, "pcs")],
            ),
        )
        signed = await s.processes.sign(sam, run.id, SAM, run.version)
    if accept:
        async with provide_services(runtime, qa) as s:
            await s.processes.decide(qa, run.id, "accept", QA, comment, signed.version)
    return run.id


async def release_finished_lot(runtime: Runtime, lot_number: str) -> None:
    """Sterilize ``lot_number`` (a finished FG-1000 lot, UDI dates given) and release it."""
    qa = await user(runtime, QA_EMAIL)
    async with provide_services(runtime, qa) as s:
        lot = await s.inventory.lot_by_number(qa, lot_number)
        count = await s.inventory.serial_count(lot.id)
    await sterilize(runtime, lot_number, str(count))
    async with provide_services(runtime, qa) as s:
        history = await s.release.history(qa, lot.id)
        await s.release.decide(qa, lot.id, "release", QA, "DHR reviewed.", history.release.version)
