"""Shared helpers of the EPCIS tests: the copied test data, tokens, and a snapshot of
everything a capture may write (to prove that a refusal wrote nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.conftest import api_token
from trace_core.epcis.models import EpcisCapture, EpcisEvent, EpcisEventIdentifier, EpcisObject
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.services import Runtime
from trace_core.trace.models import TraceEdge, TraceNode

DATA = Path(__file__).resolve().parent / "data"
OPENEPCIS = DATA / "openepcis" / "Capture"
HASHES = DATA / "hash-generator"
ERP = ("traceport-erp", "traceport-erp-secret")
ACME = ("acme-edi", "acme-edi-secret")
STERI = ("steripro-edi", "steripro-edi-secret")
CONTEXT = ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"]
#: Demo data: FG-1000's GTIN, its finished lot and serials (trace_core/demo.py).
FG_GTIN = "00614141000012"
FG_LOT = "FG-LOT-0001"


async def bearer(
    http: httpx.AsyncClient, creds: tuple[str, str], scope: str | None = None
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await api_token(http, creds[0], creds[1], scope)}"}


def document(*events: dict[str, Any], context: list[Any] | None = None) -> dict[str, Any]:
    return {
        "@context": context or CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-24T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def object_event(epcs: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-11-24T09:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": epcs,
        "action": "OBSERVE",
        **fields,
    }


def lgtin(lot: str, gtin: str = FG_GTIN) -> str:
    return f"https://id.gs1.org/01/{gtin}/10/{lot}"


def sgtin(serial: str, gtin: str = FG_GTIN) -> str:
    return f"https://id.gs1.org/01/{gtin}/21/{serial}"


async def capture(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any] | bytes
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(
        "/epcis/capture",
        content=content,
        headers={**headers, "content-type": "application/ld+json"},
    )


async def snapshot(runtime: Runtime) -> dict[str, int]:
    """Row counts of every table a capture writes."""
    counts = {}
    async with runtime.sessions() as session:
        for model in (
            EpcisCapture,
            EpcisEvent,
            EpcisEventIdentifier,
            EpcisObject,
            TraceNode,
            TraceEdge,
            RecordVersion,
            AuditEvent,
        ):
            counts[model.__tablename__] = int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
    return counts
