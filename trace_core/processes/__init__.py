"""Outsourced process runs (QMS-07, QMS-08): ``ProcessApproval`` (the quality agreement that
lets a contractor process our lots), ``ProcessRun`` (its signed run record over our lots),
``ProcessService`` (submit, sign and post, accept/reject) and ``process_evidence`` (what the
trace shows of the runs a lot went through)."""

from trace_core.processes.models import (
    PROCESS_KINDS,
    ProcessApproval,
    ProcessRun,
    ProcessRunLot,
    ProcessRunValue,
)

__all__ = [
    "PROCESS_KINDS",
    "ProcessApproval",
    "ProcessRun",
    "ProcessRunLot",
    "ProcessRunValue",
]
