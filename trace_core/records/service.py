"""The record keeper: the one way regulated data is written.

Every create, revision or status change goes through ``write_version`` (an immutable version
with its hashes, DESIGN invariant 1) and produces an audit event. Audit events are collected
during the unit of work and chained only inside ``commit``: the chain head is locked for the
few statements between reading the head and COMMIT, never for a whole request (invariant 2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, BigInteger, and_, any_, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from trace_core.db import among_ids, utc_now
from trace_core.errors import ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import User
from trace_core.records.canonical import (
    canonical_hash,
    canonical_json,
    canonical_text,
    plain,
    text_hash,
)
from trace_core.records.keys import ServerSigningKey, verify_with_pem
from trace_core.records.models import (
    AuditCheckpoint,
    AuditEvent,
    RecordVersion,
    ServerKey,
    Signature,
)

GENESIS_HASH = "0" * 64

#: The controlled list of signature meanings (P11-15).
SIGNATURE_MEANINGS = (
    "submitted as accurate",
    "reviewed",
    "approved",
    "rejected",
    "released",
    "responsible for content",
    "audit trail reviewed",
    # A second person checked what our staff typed from a paper CoA against the PDF (A11-03).
    "verified against the source document",
    # Our QA ending a supplier certificate it had accepted (CERT-01).
    "suspended",
    "withdrawn",
    # QA stopping material and letting it move again (trace_core/gates/holds.py).
    "placed on hold",
    "released from hold",
)

# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK_KEY = 7_419_627_710_533


def version_content_hash(
    record_type: str, record_id: int, version: int, status: str, data: Any
) -> str:
    """The content hash of a version, every value checked (what verifiers recompute)."""
    return canonical_hash(_version_wrapper(record_type, record_id, version, status, data))


def _version_wrapper(
    record_type: str, record_id: int, version: int, status: str, data: Any
) -> dict[str, Any]:
    return {
        "record_type": record_type,
        "record_id": record_id,
        "version": version,
        "status": status,
        "data": data,
    }


def _audit_fields(event: AuditEvent | PendingEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "organization_id": event.organization_id,
        "channel": event.channel,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "version": event.version,
        "old_values": event.old_values,
        "new_values": event.new_values,
        "reason": event.reason,
        "prev_hash": event.prev_hash,
    }
    # Added in schema 0003; left out when empty so that older events keep their hashes.
    if event.record_sha256 is not None:
        fields["record_sha256"] = event.record_sha256
    return fields


def audit_event_hash(event: AuditEvent) -> str:
    """An audit event's hash, every value checked (what verifiers recompute)."""
    return canonical_hash(_audit_fields(event))


# The writer's side. A version's content is reduced by ``plain`` once when it is written, and
# an audit event's old and new values when they are queued: hashing them again need not walk
# them again (a recall's content holds a hundred thousand serials). The texts are the same
# as the checked functions' above (tests/trace_core/test_canonical.py), so verifiers agree.


def _new_version_hashes(
    record_type: str, record_id: int, version: int, status: str, content: Any
) -> tuple[str, str]:
    """The content and data hashes of a version being written (``content`` is plain). The
    content is written out once: "data" is the first key of the sorted wrapper, so the
    wrapper's text is its text with the other four keys' after it."""
    data_text = canonical_text(content)
    wrapper = _version_wrapper(record_type, record_id, version, status, content)
    others = canonical_text(plain({k: v for k, v in wrapper.items() if k != "data"}))
    return text_hash('{"data":' + data_text + "," + others[1:]), text_hash(data_text)


def _new_event_hash(event: AuditEvent | PendingEvent) -> str:
    """The hash of an event being committed (its old and new values are plain)."""
    fields = _audit_fields(event)
    values = {name: fields.pop(name) for name in ("old_values", "new_values")}
    return text_hash(canonical_text({**plain(fields), **values}))


def seal_message(event_hash: str) -> bytes:
    return f"traceport audit seal {event_hash}".encode("ascii")


def rotation_message(old_key_id: str, new_key_id: str) -> bytes:
    """What both keys sign at a rotation, so trust passes from either one to the other."""
    return f"traceport key rotation {old_key_id} -> {new_key_id}".encode("ascii")


def checkpoint_payload(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": checkpoint.created_at,
        "trigger": checkpoint.trigger,
        "created_by": checkpoint.created_by,
        "key_id": checkpoint.key_id,
    }


def signature_digest(sig: Signature) -> str:
    """What the chain records of a signature: its signed payload and the server's signature."""
    return canonical_hash({**signature_payload(sig), "server_signature": sig.server_signature})


def signature_payload(sig: Signature) -> dict[str, Any]:
    return {
        "record_type": sig.record_type,
        "record_id": sig.record_id,
        "version": sig.version,
        "content_sha256": sig.content_sha256,
        "signer_id": sig.signer_id,
        "printed_name": sig.printed_name,
        "signed_at": sig.signed_at,
        "meaning": sig.meaning,
        "comment": sig.comment,
        "key_id": sig.key_id,
    }


def version_is_intact(row: RecordVersion) -> bool:
    """True when the stored content still hashes to the stored content hash."""
    expected = version_content_hash(
        row.record_type, row.record_id, row.version, row.status, row.content
    )
    return expected == row.content_sha256 and canonical_hash(row.content) == row.data_sha256


@dataclass(frozen=True)
class SignatureView:
    """A signature as every rendering must show it: the manifestation plus its checks."""

    id: int
    printed_name: str
    signed_at: dt.datetime
    meaning: str
    comment: str | None
    version: int
    content_sha256: str
    valid: bool
    #: True when no data change happened after the signed version (only status changes).
    covers_current: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "printed_name": self.printed_name,
            "signed_at": self.signed_at,
            "meaning": self.meaning,
            "comment": self.comment,
            "version": self.version,
            "content_sha256": self.content_sha256,
            "valid": self.valid,
            "covers_current_version": self.covers_current,
        }


def _signatures_statement(by_array: bool) -> Any:
    """The signatures of records of one type (parameters ``record_type`` and ``record_ids``)
    with their versions, keys and each record's latest data hash. Built once: building and
    keying the statement anew cost more than running it (about 1 ms, measured on a trace);
    on PostgreSQL the ids go as one array, so the text and its prepared plan never change."""
    latest = aliased(RecordVersion)
    latest_data_sha = (
        select(latest.data_sha256)
        .where(
            latest.record_type == Signature.record_type,
            latest.record_id == Signature.record_id,
        )
        .order_by(latest.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    ids: Any
    if by_array:
        ids = Signature.record_id == any_(bindparam("record_ids", type_=ARRAY(BigInteger)))
    else:
        ids = Signature.record_id.in_(bindparam("record_ids", expanding=True))
    return (
        select(Signature, RecordVersion, ServerKey, latest_data_sha)
        .join(RecordVersion, RecordVersion.id == Signature.version_row_id)
        .join(ServerKey, ServerKey.key_id == Signature.key_id)
        .where(Signature.record_type == bindparam("record_type"), ids)
        .order_by(Signature.signed_at, Signature.id)
    )


_SIGNATURES = {by_array: _signatures_statement(by_array) for by_array in (False, True)}


async def verified_signatures(
    session: AsyncSession, record_type: str, record_ids: list[int]
) -> dict[int, list[SignatureView]]:
    """Signatures of many records of one type, each verified against its own version, in one
    query (a trace asks for those of every supplier lot it reaches). Needs only a session:
    evidence readers use it without a unit of work."""
    if not record_ids:
        return {}
    statement = _SIGNATURES[session.get_bind().dialect.name == "postgresql"]
    parameters = {"record_type": record_type, "record_ids": list(record_ids)}
    rows = (await session.execute(statement, parameters)).all()
    views: dict[int, list[SignatureView]] = {}
    for sig, version, key, current_data_sha in rows:
        # A signature is valid only if its version is intact, the hashes agree and the
        # server's signature over the whole manifestation verifies.
        valid = (
            version_is_intact(version)
            and version.content_sha256 == sig.content_sha256
            and version.record_id == sig.record_id
            and version.record_type == sig.record_type
            and version.version == sig.version
            and verify_with_pem(
                key.public_key_pem,
                canonical_json(signature_payload(sig)).encode("utf-8"),
                sig.server_signature,
            )
        )
        covers = current_data_sha == version.data_sha256
        views.setdefault(sig.record_id, []).append(
            SignatureView(
                sig.id,
                sig.printed_name,
                sig.signed_at,
                sig.meaning,
                sig.comment,
                sig.version,
                sig.content_sha256,
                valid,
                covers,
            )
        )
    return views


class WrittenVersion(NamedTuple):
    """A version ``RecordKeeper.write_versions`` wrote (inserted together, not as objects)."""

    record_id: int
    version: int
    status: str
    content_sha256: str
    prev_sha256: str | None
    reason: str | None


@dataclass(slots=True)
class PendingEvent:
    """An audit event queued in a unit of work: the columns of ``audit_events``; ``commit``
    numbers, chains, seals and inserts it. A plain object, not an ``AuditEvent``: a recall
    queues thousands, and the ORM's attribute set-up cost more than the rest of each."""

    occurred_at: dt.datetime
    actor_kind: str
    actor_id: int | None
    actor_name: str
    organization_id: int | None
    channel: str
    action: str
    record_type: str | None
    record_id: int | None
    version: int | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    reason: str | None
    record_sha256: str | None
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""
    seal_key_id: str | None = None
    seal: str | None = None


_EVENT_COLUMNS = tuple(column.key for column in AuditEvent.__table__.columns)


def _event_row(event: PendingEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _EVENT_COLUMNS}


class RecordKeeper:
    """Writes versions, audit events and signatures for one unit of work."""

    def __init__(
        self,
        session: AsyncSession,
        actor: Actor,
        signing_key: ServerSigningKey,
        checkpoint_every: int = 500,
    ) -> None:
        self.session = session
        self.actor = actor
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every
        self._pending: list[PendingEvent] = []
        self._checkpoint_trigger: str | None = None

    async def latest_version(self, record_type: str, record_id: int) -> RecordVersion | None:
        result = await self.session.execute(
            select(RecordVersion)
            .where(RecordVersion.record_type == record_type, RecordVersion.record_id == record_id)
            .order_by(RecordVersion.version.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def versions(self, record_type: str, record_id: int) -> list[RecordVersion]:
        result = await self.session.execute(
            select(RecordVersion)
            .where(RecordVersion.record_type == record_type, RecordVersion.record_id == record_id)
            .order_by(RecordVersion.version)
        )
        return list(result.scalars())

    async def write_version(
        self,
        record_type: str,
        record_id: int,
        *,
        status: str,
        data: dict[str, Any],
        action: str,
        reason: str | None = None,
    ) -> RecordVersion:
        previous = await self.latest_version(record_type, record_id)
        if previous is not None and action == "revise" and not (reason and reason.strip()):
            raise ValidationFailed({"reason": "A reason is required to revise a record."})
        row = self._next_version(record_type, record_id, previous, status, data, action, reason)
        await self.session.flush()
        return row

    async def write_versions(
        self,
        record_type: str,
        changes: Sequence[tuple[int, str, dict[str, Any]]],
        *,
        action: str,
        reason: str,
    ) -> list[WrittenVersion]:
        """A new version of each of many records of one type — (record id, status, data)
        each — with its audit event, as ``write_version`` writes one: the latest versions
        are read in one query per few thousand records and the rows flushed together (a
        recall sets thousands of lots to ``recalled`` in one decision)."""
        if not reason.strip():
            raise ValidationFailed({"reason": "Say why these records change."})
        ids = [record_id for record_id, _status, _data in changes]
        latest: dict[int, RecordVersion] = {}
        dialect = self.session.get_bind().dialect.name
        for condition in among_ids(dialect, RecordVersion.record_id, ids):
            newest = (
                select(RecordVersion.record_id, func.max(RecordVersion.version).label("version"))
                .where(RecordVersion.record_type == record_type, condition)
                .group_by(RecordVersion.record_id)
                .subquery()
            )
            for version in await self.session.scalars(
                select(RecordVersion).join(
                    newest,
                    and_(
                        RecordVersion.record_type == record_type,
                        RecordVersion.record_id == newest.c.record_id,
                        RecordVersion.version == newest.c.version,
                    ),
                )
            ):
                latest[version.record_id] = version
        rows = [
            self._version_row(
                record_type, record_id, latest.get(record_id), status, data, action, reason
            )
            for record_id, status, data in changes
        ]
        # One INSERT of many rows, not an object per version through the unit of work
        # (about 0.15 ms a lot, most of a wide recall's lot versions).
        if rows:
            await self.session.execute(insert(RecordVersion), rows)
        return [
            WrittenVersion(
                row["record_id"],
                row["version"],
                row["status"],
                row["content_sha256"],
                row["prev_sha256"],
                row["reason"],
            )
            for row in rows
        ]

    def _next_version(
        self,
        record_type: str,
        record_id: int,
        previous: RecordVersion | None,
        status: str,
        data: dict[str, Any],
        action: str,
        reason: str | None,
    ) -> RecordVersion:
        """The version after ``previous`` and its audit event, added to the unit of work."""
        row = RecordVersion(
            **self._version_row(record_type, record_id, previous, status, data, action, reason)
        )
        self.session.add(row)
        return row

    def _version_row(
        self,
        record_type: str,
        record_id: int,
        previous: RecordVersion | None,
        status: str,
        data: dict[str, Any],
        action: str,
        reason: str | None,
    ) -> dict[str, Any]:
        """The columns of the version after ``previous`` (chained to it by hash), its audit
        event queued."""
        number = previous.version + 1 if previous else 1
        content = plain(data)
        content_sha256, data_sha256 = _new_version_hashes(
            record_type, record_id, number, status, content
        )
        old, new = _difference(previous, status, content)
        # Both are made of the version's content (already plain) and the previous one's
        # (read back as JSON): queued as they are, not walked again.
        self._queue(
            self.actor,
            action,
            record_type,
            record_id,
            number,
            old,
            new,
            reason,
            content_sha256,
        )
        return {
            "record_type": record_type,
            "record_id": record_id,
            "version": number,
            "status": status,
            "content": content,
            "content_sha256": content_sha256,
            "data_sha256": data_sha256,
            "prev_sha256": previous.content_sha256 if previous else None,
            "action": action,
            "reason": reason,
            "author_kind": self.actor.kind,
            "author_id": self.actor.id,
            "author_name": self.actor.name,
            "channel": self.actor.channel,
            "created_at": utc_now(),
        }

    def audit(
        self,
        action: str,
        record_type: str | None = None,
        record_id: int | None = None,
        version: int | None = None,
        *,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        reason: str | None = None,
        actor: Actor | None = None,
        record_sha256: str | None = None,
    ) -> None:
        self._queue(
            actor or self.actor,
            action,
            record_type,
            record_id,
            version,
            plain(old) if old is not None else None,
            plain(new) if new is not None else None,
            reason,
            record_sha256,
        )

    def _queue(
        self,
        who: Actor,
        action: str,
        record_type: str | None,
        record_id: int | None,
        version: int | None,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        reason: str | None,
        record_sha256: str | None,
    ) -> None:
        """Queue an audit event whose old and new values are JSON-native already."""
        self._pending.append(
            PendingEvent(
                occurred_at=utc_now(),
                actor_kind=who.kind,
                actor_id=who.id,
                actor_name=who.name,
                organization_id=who.organization_id,
                channel=who.channel,
                action=action,
                record_type=record_type,
                record_id=record_id,
                version=version,
                old_values=old,
                new_values=new,
                reason=reason,
                record_sha256=record_sha256,
            )
        )

    def request_checkpoint(self, trigger: str = "on demand") -> None:
        """Sign the chain head when this unit of work commits."""
        self.audit("checkpoint", new={"trigger": trigger})
        self._checkpoint_trigger = trigger

    async def sign(
        self, version: RecordVersion, signer: User, meaning: str, comment: str | None = None
    ) -> Signature:
        """Sign ``version`` on behalf of ``signer``, who must have been re-authenticated by the
        caller within this same action."""
        if meaning not in SIGNATURE_MEANINGS:
            raise ValidationFailed(
                {
                    "meaning": f"'{meaning}' is not a signature meaning; use one of: "
                    + ", ".join(SIGNATURE_MEANINGS)
                }
            )
        await self._register_key()
        sig = Signature(
            record_type=version.record_type,
            record_id=version.record_id,
            version=version.version,
            version_row_id=version.id,
            content_sha256=version.content_sha256,
            signer_id=signer.id,
            printed_name=signer.full_name,
            signed_at=utc_now(),
            meaning=meaning,
            comment=comment or None,
            key_id=self.signing_key.key_id,
            server_signature="",
        )
        sig.server_signature = self.signing_key.sign(
            canonical_json(signature_payload(sig)).encode("utf-8")
        )
        self.session.add(sig)
        await self.session.flush()
        self.audit(
            "sign",
            version.record_type,
            version.record_id,
            version.version,
            new={
                "signature_id": sig.id,
                "meaning": meaning,
                "printed_name": signer.full_name,
                "comment": comment or None,
                "version_content_sha256": version.content_sha256,
            },
            record_sha256=signature_digest(sig),
        )
        return sig

    async def signatures(self, record_type: str, record_id: int) -> list[SignatureView]:
        """Every signature of the record, each verified against its own version."""
        return (await self.signatures_for_many(record_type, [record_id])).get(record_id, [])

    async def signatures_for_many(
        self, record_type: str, record_ids: list[int]
    ) -> dict[int, list[SignatureView]]:
        """Signatures of many records of one type, verified, in one query."""
        return await verified_signatures(self.session, record_type, record_ids)

    async def commit(self) -> None:
        """Chain the pending audit events and commit the unit of work."""
        if self._pending:
            await self._lock_chain()
            head = (
                await self.session.execute(
                    select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
                )
            ).first()
            seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
            every = self.checkpoint_every
            after = seq + len(self._pending) + 1
            if self._checkpoint_trigger is None and seq // every != after // every:
                self.request_checkpoint("interval")
            for event in self._pending:
                seq += 1
                event.seq = seq
                event.prev_hash = prev_hash
                event.hash = _new_event_hash(event)
                prev_hash = event.hash
            # The batch's last event is sealed: rows appended after it by anyone but the
            # application carry no valid seal.
            await self._register_key()
            last = self._pending[-1]
            last.seal_key_id = self.signing_key.key_id
            last.seal = self.signing_key.sign(seal_message(last.hash))
            # One INSERT of many rows (a recall queues thousands of events), not an object
            # each through the unit of work.
            await self.session.execute(
                insert(AuditEvent), [_event_row(event) for event in self._pending]
            )
            if self._checkpoint_trigger is not None:
                self.session.add(self._checkpoint(seq, last.hash, self._checkpoint_trigger))
            self._pending.clear()
            self._checkpoint_trigger = None
        await self.session.commit()

    def _checkpoint(self, seq: int, head_hash: str, trigger: str) -> AuditCheckpoint:
        checkpoint = AuditCheckpoint(
            seq=seq,
            head_hash=head_hash,
            created_at=utc_now(),
            trigger=trigger,
            created_by=self.actor.name,
            key_id=self.signing_key.key_id,
            signature="",
        )
        checkpoint.signature = self.signing_key.sign(
            canonical_json(checkpoint_payload(checkpoint)).encode("utf-8")
        )
        return checkpoint

    async def rollback(self) -> None:
        self._pending.clear()
        self._checkpoint_trigger = None
        await self.session.rollback()

    async def _lock_chain(self) -> None:
        # PostgreSQL: a transaction-scoped advisory lock, released by COMMIT. SQLite: the
        # transaction already holds the database write lock (BEGIN IMMEDIATE).
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY}
            )

    async def _register_key(self) -> None:
        key_id = self.signing_key.key_id
        if await self.session.get(ServerKey, key_id) is None:
            self.session.add(ServerKey(key_id=key_id, public_key_pem=self.signing_key.public_pem))
            await self.session.flush()


def _difference(
    previous: RecordVersion | None, status: str, content: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if previous is None:
        return None, {"status": status, **content}
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    if previous.status != status:
        old["status"], new["status"] = previous.status, status
    for key in sorted(set(previous.content) | set(content)):
        if previous.content.get(key) != content.get(key):
            old[key], new[key] = previous.content.get(key), content.get(key)
    return old, new
