"""Verification of the whole record layer, as an auditor would run it (P11-01).

The checks, each naming the first item that fails:

* the audit chain: sequence numbers without gaps, each event's ``prev_hash`` equal to the hash
  of the event before it, each hash recomputed from the event's content;
* seals: the last event of every committed batch is signed with a trusted server key, and no
  event follows the last seal (a row appended by anyone but the application has no seal);
* versions: every version row hashes to its stored hashes, links to its predecessor, has no
  gap, and matches the hash its audit event recorded — so a changed, inserted or deleted version
  row shows, even when the attacker recomputed the row's own hashes;
* signatures: every signature's server signature verifies with a trusted key, it points at an
  intact version with the same content hash, and the chain recorded exactly this signature;
* checkpoints: each is signed by a trusted key and names the hash the chain has at its seq.

Trusted keys start from anchors given by the caller (the server's configured key, or public keys
published elsewhere) and extend through ``key_rotated`` events, in which the outgoing and the
incoming key each endorse the other. Without anchors every key in ``server_keys`` is trusted,
and the report says so.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.records.canonical import canonical_json
from trace_core.records.keys import verify_with_pem
from trace_core.records.models import (
    AuditCheckpoint,
    AuditEvent,
    RecordVersion,
    ServerKey,
    Signature,
)
from trace_core.records.service import (
    GENESIS_HASH,
    audit_event_hash,
    checkpoint_payload,
    rotation_message,
    seal_message,
    signature_digest,
    signature_payload,
    version_is_intact,
)

#: Audit actions that refer to a version without writing one.
NON_VERSION_ACTIONS = frozenset({"sign", "export"})
_BATCH = 5000


@dataclass(frozen=True)
class Problem:
    item: str
    """What is broken, e.g. ``audit event 57``, ``version supplier_lot 3 v2``, ``signature 4``."""
    message: str

    def __str__(self) -> str:
        return f"{self.item}: {self.message}"


@dataclass
class ProblemList:
    """Problems in the order the checks found them; the first names the first broken item."""

    problems: list[Problem] = field(default_factory=list, kw_only=True)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def add(self, item: str, message: str) -> None:
        self.problems.append(Problem(item, message))


@dataclass
class VerificationReport(ProblemList):
    events: int = 0
    versions: int = 0
    records: int = 0
    signatures: int = 0
    checkpoints: int = 0
    keys: int = 0
    trusted_keys: list[str] = field(default_factory=list)
    anchored: bool = False
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    last_sealed_seq: int = 0
    last_checkpoint_seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "audit_events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "last_sealed_seq": self.last_sealed_seq,
            "records": self.records,
            "versions": self.versions,
            "signatures": self.signatures,
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "server_keys": self.keys,
            "trusted_keys": self.trusted_keys,
            "trust_anchored": self.anchored,
            "first_problem": str(self.first_problem) if self.first_problem else None,
            "problems": [str(p) for p in self.problems],
        }

    def summary_lines(self) -> list[str]:
        lines = [
            f"audit events   {self.events} (head seq {self.head_seq}, "
            f"sealed up to {self.last_sealed_seq})",
            f"records        {self.records} with {self.versions} versions",
            f"signatures     {self.signatures}",
            f"checkpoints    {self.checkpoints} (last at seq {self.last_checkpoint_seq})",
            f"server keys    {self.keys}, trusted: {', '.join(self.trusted_keys) or 'none'}"
            + ("" if self.anchored else " (no trust anchor given: every stored key trusted)"),
        ]
        if self.ok:
            lines.append("OK: the audit trail, every version, signature and checkpoint verify")
        else:
            lines.append(f"BROKEN: {len(self.problems)} problem(s); first: {self.first_problem}")
            lines.extend(f"  - {p}" for p in self.problems[1:20])
            if len(self.problems) > 20:
                lines.append(f"  ... and {len(self.problems) - 20} more")
        return lines


def trusted_key_ids(
    keys: dict[str, str], anchors: Iterable[str], rotations: list[dict[str, Any]]
) -> set[str]:
    """Close the anchor set over key rotations endorsed by a key already trusted."""
    trusted = {k for k in anchors if k in keys}
    changed = True
    while changed:
        changed = False
        for rotation in rotations:
            old, new = rotation.get("old_key_id"), rotation.get("new_key_id")
            if not isinstance(old, str) or not isinstance(new, str):
                continue
            if old not in keys or new not in keys:
                continue
            message = rotation_message(old, new)
            if (
                new in trusted
                and old not in trusted
                and verify_with_pem(keys[new], message, str(rotation.get("new_key_signature")))
            ):
                trusted.add(old)
                changed = True
            if (
                old in trusted
                and new not in trusted
                and verify_with_pem(keys[old], message, str(rotation.get("old_key_signature")))
            ):
                trusted.add(new)
                changed = True
    return trusted


async def verify_records(
    session: AsyncSession, anchor_public_pems: Iterable[str] | None = None
) -> VerificationReport:
    """Check the whole record layer; never writes."""
    from trace_core.records.keys import key_id_of_pem

    report = VerificationReport()
    keys = {k.key_id: k.public_key_pem for k in await session.scalars(select(ServerKey))}
    report.keys = len(keys)
    for key_id, key_pem in keys.items():
        if key_id_of_pem(key_pem) != key_id:
            report.add(f"server key {key_id}", "the key id is not the fingerprint of its key")

    checkpoints = list(await session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    by_seq: dict[int, list[AuditCheckpoint]] = defaultdict(list)
    for cp in checkpoints:
        by_seq[cp.seq].append(cp)

    # -- the chain, in one streaming pass ---------------------------------------------------
    version_events: dict[tuple[str, int, int], list[tuple[int, str, str | None]]] = defaultdict(
        list
    )
    sign_events: dict[int, tuple[int, str | None]] = {}
    # Events written before schema 0003 name no signature id: matched by what they name.
    legacy_sign_events: dict[tuple[str, int, int, str], int] = defaultdict(int)
    rotations: list[dict[str, Any]] = []
    checkpoint_events: list[int] = []
    seals: list[tuple[int, str]] = []  # (seq, key id): trust is judged once keys are known
    expected, prev = 1, GENESIS_HASH
    chain_hashes_at_checkpoints: dict[int, str] = {}
    stream = await session.stream_scalars(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=_BATCH)
    )
    async for event in stream:
        report.events += 1
        item = f"audit event {event.seq}"
        if event.seq != expected:
            report.add(
                f"audit event {expected}",
                f"missing: the chain jumps from {expected - 1} to {event.seq} "
                "(events were deleted outside the application)",
            )
        if event.prev_hash != prev:
            report.add(
                item,
                "does not follow the event before it (prev_hash differs): an event before it "
                "was removed, inserted, reordered or rewritten",
            )
        recomputed = audit_event_hash(event)
        if recomputed != event.hash:
            report.add(
                item, "its content no longer matches its hash (changed outside the application)"
            )
        if event.seal is not None:
            seals.append((event.seq, event.seal_key_id or ""))
            if event.seal_key_id not in keys or not verify_with_pem(
                keys[event.seal_key_id], seal_message(event.hash), event.seal
            ):
                report.add(item, "its server seal does not verify")
            else:
                report.last_sealed_seq = event.seq
        if event.seq in by_seq:
            chain_hashes_at_checkpoints[event.seq] = event.hash
        if event.record_type is not None and event.record_id is not None:
            if event.action == "sign":
                sig_id = (event.new_values or {}).get("signature_id")
                if isinstance(sig_id, int):
                    sign_events[sig_id] = (event.seq, event.record_sha256)
                else:
                    meaning = str((event.new_values or {}).get("meaning"))
                    legacy_key = (event.record_type, event.record_id, event.version or 0, meaning)
                    legacy_sign_events[legacy_key] += 1
            elif event.version is not None and event.action not in NON_VERSION_ACTIONS:
                version_events[(event.record_type, event.record_id, event.version)].append(
                    (event.seq, event.action, event.record_sha256)
                )
        if event.action == "checkpoint" and event.record_type is None:
            checkpoint_events.append(event.seq)
        if event.action == "key_rotated" and event.new_values:
            rotations.append(dict(event.new_values))
        prev = event.hash
        expected = event.seq + 1
        report.head_seq, report.head_hash = event.seq, event.hash
    if report.head_seq > report.last_sealed_seq and report.last_sealed_seq > 0:
        report.add(
            f"audit event {report.last_sealed_seq + 1}",
            f"events {report.last_sealed_seq + 1}..{report.head_seq} come after the last "
            "server seal: they were appended outside the application, or the sealed events "
            "that followed them were deleted",
        )

    anchors = list(anchor_public_pems or [])
    if anchors:
        report.anchored = True
        anchor_ids = {key_id_of_pem(pem) for pem in anchors}
        trusted = trusted_key_ids(keys, anchor_ids, rotations)
        missing = anchor_ids - set(keys)
        for key_id in sorted(missing):
            if report.events:
                report.add(f"server key {key_id}", "the trusted key was never registered here")
    else:
        trusted = set(keys)
    report.trusted_keys = sorted(trusted)
    for seq, key_id in seals:
        if key_id in keys and key_id not in trusted:
            report.add(f"audit event {seq}", f"sealed with key {key_id}, which is not trusted")

    # -- versions -----------------------------------------------------------------------------
    seen_versions: set[tuple[str, int, int]] = set()
    last_record: tuple[str, int] | None = None
    last_version: RecordVersion | None = None
    vstream = await session.stream_scalars(
        select(RecordVersion)
        .order_by(RecordVersion.record_type, RecordVersion.record_id, RecordVersion.version)
        .execution_options(yield_per=_BATCH)
    )
    async for row in vstream:
        report.versions += 1
        key = (row.record_type, row.record_id)
        item = f"version {row.record_type} {row.record_id} v{row.version}"
        if key != last_record:
            report.records += 1
            last_record, last_version = key, None
        expected_number = last_version.version + 1 if last_version else 1
        if row.version != expected_number:
            report.add(
                f"version {row.record_type} {row.record_id} v{expected_number}",
                "missing (deleted outside the application)",
            )
        expected_prev = last_version.content_sha256 if last_version else None
        if row.prev_sha256 != expected_prev:
            report.add(item, "does not link to the version before it")
        if not version_is_intact(row):
            report.add(
                item, "its content no longer matches its hash (changed outside the application)"
            )
        events = [e for e in version_events.get((*key, row.version), []) if e[1] == row.action]
        if not events:
            report.add(item, "no audit event records it (inserted outside the application)")
        elif events[0][2] is not None and events[0][2] != row.content_sha256:
            report.add(
                item,
                f"differs from what audit event {events[0][0]} recorded (changed outside "
                "the application)",
            )
        seen_versions.add((*key, row.version))
        last_version = row
    for (rtype, rid, number), events in version_events.items():
        if (rtype, rid, number) not in seen_versions:
            report.add(
                f"version {rtype} {rid} v{number}",
                f"recorded by audit event {events[0][0]} but missing (deleted outside the "
                "application)",
            )

    # -- signatures ---------------------------------------------------------------------------
    seen_signatures: set[int] = set()
    for sig, version in (
        await session.execute(
            select(Signature, RecordVersion)
            .outerjoin(RecordVersion, RecordVersion.id == Signature.version_row_id)
            .order_by(Signature.id)
        )
    ).all():
        report.signatures += 1
        seen_signatures.add(sig.id)
        item = f"signature {sig.id} ({sig.record_type} {sig.record_id} v{sig.version})"
        sig_pem = keys.get(sig.key_id)
        if sig_pem is None or not verify_with_pem(
            sig_pem, canonical_json(signature_payload(sig)).encode("utf-8"), sig.server_signature
        ):
            report.add(item, "the server signature over its manifestation does not verify")
        elif sig.key_id not in trusted:
            report.add(item, f"signed with key {sig.key_id}, which is not trusted")
        if (
            version is None
            or version.record_type != sig.record_type
            or version.record_id != sig.record_id
            or version.version != sig.version
            or version.content_sha256 != sig.content_sha256
            or not version_is_intact(version)
        ):
            report.add(item, "is not bound to an intact version with the content it signed")
        recorded = sign_events.get(sig.id)
        legacy_key = (sig.record_type, sig.record_id, sig.version, sig.meaning)
        if recorded is None and legacy_sign_events.get(legacy_key, 0) > 0:
            legacy_sign_events[legacy_key] -= 1
        elif recorded is None:
            report.add(item, "no audit event records it (inserted outside the application)")
        elif recorded[1] is not None and recorded[1] != signature_digest(sig):
            report.add(item, f"differs from what audit event {recorded[0]} recorded")
    for sig_id, (seq, _digest) in sign_events.items():
        if sig_id not in seen_signatures:
            report.add(
                f"signature {sig_id}",
                f"recorded by audit event {seq} but missing (deleted outside the application)",
            )

    # -- checkpoints --------------------------------------------------------------------------
    for cp in checkpoints:
        report.checkpoints += 1
        item = f"checkpoint {cp.id} (seq {cp.seq})"
        cp_pem = keys.get(cp.key_id)
        if cp_pem is None or not verify_with_pem(
            cp_pem, canonical_json(checkpoint_payload(cp)).encode("utf-8"), cp.signature
        ):
            report.add(item, "its signature does not verify")
        elif cp.key_id not in trusted:
            report.add(item, f"signed with key {cp.key_id}, which is not trusted")
        actual = chain_hashes_at_checkpoints.get(cp.seq)
        if actual is None:
            report.add(item, "names an event that is not in the chain")
        elif actual != cp.head_hash:
            report.add(
                item,
                "the chain no longer has the head it signed: events up to this seq were rewritten",
            )
        report.last_checkpoint_seq = max(report.last_checkpoint_seq, cp.seq)
    # Every checkpoint is announced by a "checkpoint" event in the batch it seals.
    sealed = sorted(seq for seq, _key in seals)
    for seq in checkpoint_events:
        index = bisect.bisect_left(sealed, seq)
        batch_end = sealed[index] if index < len(sealed) else None
        if batch_end is None or batch_end not in by_seq:
            report.add(
                f"checkpoint at seq {batch_end or seq}",
                f"announced by audit event {seq} but missing (deleted outside the application)",
            )
    return report
