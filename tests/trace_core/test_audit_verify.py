"""``verify_records``: the whole record layer verifies, and every kind of tampering outside the
application (UPDATE, DELETE, INSERT, reordering) on the audit, version, signature and
checkpoint tables is detected and the first broken item named (P11-01)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from trace_core.identity.actor import Actor
from trace_core.records.canonical import canonical_hash
from trace_core.records.keys import ServerSigningKey
from trace_core.records.models import (
    AuditCheckpoint,
    AuditEvent,
    RecordVersion,
    ServerKey,
    Signature,
)
from trace_core.records.service import audit_event_hash, seal_message, version_content_hash
from trace_core.records.verify import verify_records
from trace_core.services import Runtime, provide_services

GUARDED = ("audit_events", "record_versions", "signatures", "audit_checkpoints")


async def _lift_guards(session: AsyncSession) -> None:
    """What an attacker with database rights does first; undone by the test's rollback."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for table in GUARDED:
            for verb in ("update", "delete"):
                await session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))


async def _checkpoint(runtime: Runtime) -> None:
    async with provide_services(runtime, Actor.system()) as s:
        s.keeper.request_checkpoint()
        await s.keeper.commit()


async def _latest_signature(session: AsyncSession) -> Signature:
    sig = await session.scalar(select(Signature).order_by(Signature.id.desc()).limit(1))
    assert sig is not None
    return sig


async def _update_event(session: AsyncSession) -> None:
    await session.execute(text("UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 5"))


async def _delete_event(session: AsyncSession) -> None:
    await session.execute(text("DELETE FROM audit_events WHERE seq = 7"))


async def _delete_last_event(session: AsyncSession) -> None:
    head = await session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    await session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": head})


async def _swap_events(session: AsyncSession) -> None:
    for a, b in ((8, -8), (9, 8), (-8, 9)):
        await session.execute(
            text("UPDATE audit_events SET seq = :b WHERE seq = :a"), {"a": a, "b": b}
        )


async def _rewrite_with_recomputed_hashes(session: AsyncSession) -> None:
    """Change an old event and recompute every hash after it: only seals and checkpoints
    can tell."""
    events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    prev = events[2].hash
    for event in events[3:]:
        if event.seq == 4:
            event.reason = "rewritten"
        event.prev_hash = prev
        event.hash = audit_event_hash(event)
        await session.execute(
            text("UPDATE audit_events SET reason = :r, prev_hash = :p, hash = :h WHERE seq = :s"),
            {"r": event.reason, "p": event.prev_hash, "h": event.hash, "s": event.seq},
        )
        prev = event.hash
    session.expunge_all()


async def _forged_event(session: AsyncSession) -> AuditEvent:
    """A well-formed event appended after the head, hashed as the application would."""
    head = await session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert head is not None
    forged = AuditEvent(
        seq=head.seq + 1,
        occurred_at=head.occurred_at,
        actor_kind="user",
        actor_id=1,
        actor_name="Someone",
        organization_id=None,
        channel="ui",
        action="login",
        prev_hash=head.hash,
        hash="",
    )
    forged.hash = audit_event_hash(forged)
    return forged


async def _append_forged_event(session: AsyncSession) -> None:
    session.add(await _forged_event(session))
    await session.flush()


async def _seal_with_rogue_key(session: AsyncSession) -> None:
    rogue = ServerSigningKey.generate()
    session.add(ServerKey(key_id=rogue.key_id, public_key_pem=rogue.public_pem))
    forged = await _forged_event(session)
    forged.seal_key_id = rogue.key_id
    forged.seal = rogue.sign(seal_message(forged.hash))
    session.add(forged)
    await session.flush()


async def _update_version_content(session: AsyncSession) -> None:
    await session.execute(
        text(
            "UPDATE record_versions SET status = 'approved' WHERE id = "
            "(SELECT min(id) FROM record_versions WHERE record_type = 'supplier_lot')"
        )
    )


async def _update_version_with_recomputed_hashes(session: AsyncSession) -> None:
    row = await session.scalar(
        select(RecordVersion)
        .where(RecordVersion.record_type == "supplier_lot")
        .order_by(RecordVersion.id)
        .limit(1)
    )
    assert row is not None
    content = {**row.content, "quantity": "999999"}
    await session.execute(
        text(
            "UPDATE record_versions SET content = :c, content_sha256 = :h, data_sha256 = :d "
            "WHERE id = :i"
        ).bindparams(),
        {
            "c": __import__("json").dumps(content),
            "h": version_content_hash(
                row.record_type, row.record_id, row.version, row.status, content
            ),
            "d": canonical_hash(content),
            "i": row.id,
        },
    )
    session.expunge_all()


async def _delete_version(session: AsyncSession) -> None:
    await session.execute(
        text("DELETE FROM record_versions WHERE id = (SELECT max(id) FROM record_versions)")
    )


async def _insert_version(session: AsyncSession) -> None:
    row = await session.scalar(select(RecordVersion).order_by(RecordVersion.id.desc()).limit(1))
    assert row is not None
    number = row.version + 1
    session.add(
        RecordVersion(
            record_type=row.record_type,
            record_id=row.record_id,
            version=number,
            status="voided",
            content=row.content,
            content_sha256=version_content_hash(
                row.record_type, row.record_id, number, "voided", row.content
            ),
            data_sha256=row.data_sha256,
            prev_sha256=row.content_sha256,
            action="void",
            reason="forged",
            author_kind="user",
            author_id=None,
            author_name="Someone",
            channel="ui",
            created_at=row.created_at,
        )
    )
    await session.flush()


async def _delete_signature(session: AsyncSession) -> None:
    sig = await _latest_signature(session)
    await session.execute(text("DELETE FROM signatures WHERE id = :i"), {"i": sig.id})


async def _update_signature(session: AsyncSession) -> None:
    sig = await _latest_signature(session)
    await session.execute(
        text("UPDATE signatures SET printed_name = 'Somebody Else' WHERE id = :i"), {"i": sig.id}
    )


async def _move_signature_to_other_record(session: AsyncSession) -> None:
    sig = await _latest_signature(session)
    await session.execute(
        text("UPDATE signatures SET record_id = record_id + 1000 WHERE id = :i"), {"i": sig.id}
    )


async def _delete_checkpoint(session: AsyncSession) -> None:
    await session.execute(
        text("DELETE FROM audit_checkpoints WHERE id = (SELECT max(id) FROM audit_checkpoints)")
    )


async def _update_checkpoint(session: AsyncSession) -> None:
    await session.execute(
        text(
            "UPDATE audit_checkpoints SET head_hash = :h WHERE id = "
            "(SELECT max(id) FROM audit_checkpoints)"
        ),
        {"h": "0" * 64},
    )


TAMPERING: list[tuple[str, Callable[[AsyncSession], Awaitable[None]], str]] = [
    ("update audit event", _update_event, "audit event 5: its content no longer matches"),
    ("delete audit event", _delete_event, "audit event 7: missing"),
    # Cutting off the newest batch leaves a chain that is whole; the checkpoint that signed
    # the head tells (which is why checkpoints should also be kept outside the database).
    ("delete last audit event", _delete_last_event, "names an event that is not in the chain"),
    ("swap two audit events", _swap_events, "audit event 8: does not follow"),
    ("rewrite chain with new hashes", _rewrite_with_recomputed_hashes, "seal does not verify"),
    ("append forged event", _append_forged_event, "come after the last server seal"),
    ("seal with a rogue key", _seal_with_rogue_key, "which is not trusted"),
    ("update version", _update_version_content, "its content no longer matches its hash"),
    (
        "update version with new hashes",
        _update_version_with_recomputed_hashes,
        "differs from what audit event",
    ),
    ("delete version", _delete_version, "but missing (deleted outside the application)"),
    ("insert version", _insert_version, "no audit event records it"),
    ("delete signature", _delete_signature, "but missing (deleted outside the application)"),
    ("update signature", _update_signature, "does not verify"),
    ("move signature", _move_signature_to_other_record, "does not verify"),
    ("delete checkpoint", _delete_checkpoint, "announced by audit event"),
    ("update checkpoint", _update_checkpoint, "its signature does not verify"),
]


@pytest.mark.req("P11-01")
async def test_untouched_records_verify(runtime: Runtime, signing_key: ServerSigningKey) -> None:
    await _checkpoint(runtime)
    async with runtime.sessions() as session:
        report = await verify_records(session, [signing_key.public_pem])
    assert report.ok, report.summary_lines()
    assert report.events > 30 and report.versions > 30 and report.signatures >= 5
    assert report.checkpoints >= 1 and report.last_sealed_seq == report.head_seq
    assert report.anchored and report.trusted_keys == [signing_key.key_id]


@pytest.mark.req("P11-01")
@pytest.mark.parametrize(("change", "tamper", "expected"), TAMPERING, ids=[t[0] for t in TAMPERING])
async def test_tampering_outside_the_application_is_detected(
    runtime: Runtime,
    signing_key: ServerSigningKey,
    change: str,
    tamper: Callable[[AsyncSession], Awaitable[None]],
    expected: str,
) -> None:
    await _checkpoint(runtime)
    async with runtime.sessions() as session:
        await _lift_guards(session)
        await tamper(session)
        await session.flush()
        report = await verify_records(session, [signing_key.public_pem])
    assert not report.ok, change
    assert expected in str(report.first_problem), report.summary_lines()


@pytest.mark.req("P11-01")
async def test_checkpoint_rows_refuse_update_and_delete(runtime: Runtime) -> None:
    await _checkpoint(runtime)
    from sqlalchemy.exc import DBAPIError

    for statement in (
        "UPDATE audit_checkpoints SET trigger = 'x'",
        "DELETE FROM audit_checkpoints",
    ):
        async with runtime.sessions() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))
            await session.rollback()


@pytest.mark.req("P11-01")
async def test_interval_checkpoints_and_seals(runtime: Runtime) -> None:
    from dataclasses import replace

    from trace_core.services import Limits

    small = replace(runtime, limits=Limits(checkpoint_every=3))
    async with runtime.sessions() as session:
        before = len(list(await session.scalars(select(AuditCheckpoint))))
    for _ in range(4):
        async with provide_services(small, Actor.system()) as s:
            s.keeper.audit("login_failed", new={"email": "nobody@example.com"})
            await s.keeper.commit()
    async with runtime.sessions() as session:
        checkpoints = list(await session.scalars(select(AuditCheckpoint)))
        assert len(checkpoints) > before
        assert {c.trigger for c in checkpoints[before:]} == {"interval"}
        head = await session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
        assert head is not None and head.seal is not None
        report = await verify_records(session)
        assert report.ok, report.summary_lines()
        assert not report.anchored
