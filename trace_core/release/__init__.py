"""Finished-device release (issue 13, docs/RELEASE.md): ``FinishedLotRelease`` (QA's signed
release record per finished lot), ``device_history`` / ``release_blockers`` (the device history
record review and what blocks a release) and ``ReleaseService`` (release, reject, required
processes per part)."""

from trace_core.release.dhr import Blocker, DeviceHistory, device_history, release_blockers
from trace_core.release.models import RELEASE_STATUSES, FinishedLotRelease

__all__ = [
    "RELEASE_STATUSES",
    "Blocker",
    "DeviceHistory",
    "FinishedLotRelease",
    "device_history",
    "release_blockers",
]
