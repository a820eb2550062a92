"""Reading the audit trail and signing its review (P11-05, A11-06).

QA and auditors filter the trail by record, person, action and date. A reviewer signs what
they reviewed: the review is a record of its own (filter, first and last sequence number,
number of events, a digest of their hashes), versioned and signed "audit trail reviewed".
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select

from trace_core.errors import NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.records.models import AuditEvent, AuditReview

if TYPE_CHECKING:
    from trace_core.identity.service import SigningCredentials
    from trace_core.services import Services

#: The most events one review may cover; narrow the filter for more.
MAX_REVIEW_EVENTS = 10_000
REVIEW_MEANING = "audit trail reviewed"


@dataclass(frozen=True)
class AuditFilter:
    record_type: str | None = None
    record_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in asdict(self).items() if v not in (None, "")]
        return ", ".join(parts) or "whole trail"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def parse_filter(
    record_type: str | None = None,
    record_id: str | int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> AuditFilter:
    """Build a filter from query-string text; every bad value is reported by name."""
    errors: dict[str, str] = {}
    rid: int | None = None
    if record_id not in (None, ""):
        try:
            rid = int(str(record_id))
        except ValueError:
            errors["record_id"] = f"'{record_id}' is not a record number."
    dates: dict[str, dt.date | None] = {}
    for name, value in (("since", since), ("until", until)):
        dates[name] = None
        if value:
            try:
                dates[name] = dt.date.fromisoformat(value.strip())
            except ValueError:
                errors[name] = f"'{value}' is not a date; write it as YYYY-MM-DD."
    if errors:
        raise ValidationFailed(errors)
    return AuditFilter(
        (record_type or "").strip() or None,
        rid,
        (actor or "").strip() or None,
        (action or "").strip() or None,
        dates["since"],
        dates["until"],
    )


class AuditTrailService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session

    def _require(self, actor: Actor, permission: str) -> None:
        actor.require(permission)
        if not actor.is_internal:
            # Whatever scopes a client was given, the trail spans every organization.
            raise PermissionDenied("The audit trail is for our own QA and auditors.")

    def _query(self, f: AuditFilter) -> Select[AuditEvent]:
        query = select(AuditEvent)
        if f.record_type:
            query = query.where(AuditEvent.record_type == f.record_type)
        if f.record_id is not None:
            query = query.where(AuditEvent.record_id == f.record_id)
        if f.actor:
            query = query.where(func.lower(AuditEvent.actor_name).contains(f.actor.lower()))
        if f.action:
            query = query.where(AuditEvent.action == f.action)
        if f.since:
            start = dt.datetime.combine(f.since, dt.time(), tzinfo=dt.UTC)
            query = query.where(AuditEvent.occurred_at >= start)
        if f.until:
            end = dt.datetime.combine(f.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            query = query.where(AuditEvent.occurred_at < end)
        return query

    async def events(
        self, actor: Actor, f: AuditFilter, limit: int = 100, before_seq: int | None = None
    ) -> list[AuditEvent]:
        """Matching events, newest first; page with ``before_seq``."""
        self._require(actor, "audit.read")
        query = self._query(f)
        if before_seq is not None:
            query = query.where(AuditEvent.seq < before_seq)
        limit = max(1, min(limit, 1000))
        return list(await self.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))

    async def count(self, actor: Actor, f: AuditFilter) -> int:
        self._require(actor, "audit.read")
        subquery = self._query(f).subquery()
        return int(await self.session.scalar(select(func.count()).select_from(subquery)) or 0)

    async def actions(self, actor: Actor) -> list[str]:
        self._require(actor, "audit.read")
        rows = await self.session.scalars(
            select(AuditEvent.action).distinct().order_by(AuditEvent.action)
        )
        return list(rows)

    async def sign_review(
        self, actor: Actor, f: AuditFilter, credentials: SigningCredentials, comment: str = ""
    ) -> AuditReview:
        """Sign "audit trail reviewed" for every event the filter selects now."""
        if actor.kind != "user" or actor.id is None:
            raise PermissionDenied("Only a named person signs an audit-trail review.")
        self._require(actor, "audit.review")
        rows = (
            await self.session.execute(
                self._query(f)
                .with_only_columns(AuditEvent.seq, AuditEvent.hash)
                .order_by(AuditEvent.seq)
                .limit(MAX_REVIEW_EVENTS + 1)
            )
        ).all()
        if not rows:
            raise ValidationFailed({"filter": "No audit events match; there is nothing to review."})
        if len(rows) > MAX_REVIEW_EVENTS:
            raise ValidationFailed(
                {
                    "filter": f"More than {MAX_REVIEW_EVENTS} events match; narrow the filter "
                    "(record, person, action or dates) and review in parts."
                }
            )
        digest = hashlib.sha256("\n".join(h for _seq, h in rows).encode("ascii")).hexdigest()
        signer = await self.s.identity.reauthenticate(actor, credentials, "audit-trail review")
        review = AuditReview(
            reviewer_id=actor.id,
            filters=_plain(f.as_dict()),
            first_seq=rows[0][0],
            last_seq=rows[-1][0],
            event_count=len(rows),
            events_sha256=digest,
        )
        self.session.add(review)
        await self.session.flush()
        version = await self.s.keeper.write_version(
            "audit_review",
            review.id,
            status="signed",
            action="create",
            data={
                "title": f"{f.describe()} (events {rows[0][0]}..{rows[-1][0]})",
                "filters": review.filters,
                "first_seq": review.first_seq,
                "last_seq": review.last_seq,
                "event_count": review.event_count,
                "events_sha256": digest,
            },
        )
        await self.s.keeper.sign(version, signer, REVIEW_MEANING, comment.strip() or None)
        await self.s.keeper.commit()
        return review

    async def checkpoint(self, actor: Actor) -> None:
        """Sign the chain head now (any auditor may ask; it only adds a signature)."""
        self._require(actor, "audit.read")
        self.s.keeper.request_checkpoint("on demand")
        await self.s.keeper.commit()

    async def reviews(self, actor: Actor, limit: int = 20) -> list[AuditReview]:
        self._require(actor, "audit.read")
        return list(
            await self.session.scalars(
                select(AuditReview).order_by(AuditReview.id.desc()).limit(limit)
            )
        )

    async def review(self, actor: Actor, review_id: int) -> AuditReview:
        self._require(actor, "audit.read")
        review = await self.session.get(AuditReview, review_id)
        if review is None:
            raise NotFound("No such audit-trail review.")
        return review


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}
