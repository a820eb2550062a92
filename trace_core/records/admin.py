"""Operator actions on the record layer: on-demand checkpoints and server key rotation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select

from trace_core.identity.actor import Actor
from trace_core.records.keys import ServerSigningKey
from trace_core.records.models import AuditCheckpoint, ServerKey
from trace_core.records.service import rotation_message
from trace_core.services import Runtime, provide_services


@dataclass(frozen=True)
class CheckpointInfo:
    seq: int
    head_hash: str
    key_id: str
    created_at: str


async def write_checkpoint(
    runtime: Runtime, actor: Actor, trigger: str = "on demand"
) -> CheckpointInfo:
    """Sign the chain head now (the request itself is audited first)."""
    async with provide_services(runtime, actor) as services:
        services.keeper.request_checkpoint(trigger)
        await services.keeper.commit()
        checkpoint = await services.session.scalar(
            select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
        )
        assert checkpoint is not None
        return CheckpointInfo(
            checkpoint.seq,
            checkpoint.head_hash,
            checkpoint.key_id,
            checkpoint.created_at.isoformat(),
        )


async def list_keys(runtime: Runtime) -> list[ServerKey]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(ServerKey).order_by(ServerKey.created_at)))


async def rotate_signing_key(runtime: Runtime, key_file: Path, actor: Actor) -> tuple[str, str]:
    """Replace the server's Ed25519 key; returns (old key id, new key id).

    The old key first signs a checkpoint of the chain as it stands. Then one audit event,
    sealed by the new key, records the hand-over with both keys' endorsements, so a verifier
    who trusts either key trusts the other. The old public key stays in ``server_keys`` and its
    private key is kept beside the new one as ``*.retired.pem`` (delete it when policy allows;
    verification needs only public keys). A running server keeps signing with the old key
    until it restarts.
    """
    old = runtime.signing_key
    new = ServerSigningKey.generate()
    await write_checkpoint(runtime, actor, "key rotation")
    pending = key_file.with_name(key_file.name + ".new")
    await asyncio.to_thread(new.write_pem, pending)
    try:
        message = rotation_message(old.key_id, new.key_id)
        async with provide_services(replace(runtime, signing_key=new), actor) as services:
            services.keeper.audit(
                "key_rotated",
                "server_key",
                None,
                new={
                    "old_key_id": old.key_id,
                    "new_key_id": new.key_id,
                    "new_public_key_pem": new.public_pem,
                    "old_key_signature": old.sign(message),
                    "new_key_signature": new.sign(message),
                },
            )
            services.keeper.request_checkpoint("key rotation")
            await services.keeper.commit()
    except BaseException:
        await asyncio.to_thread(pending.unlink, True)
        raise
    await asyncio.to_thread(_swap_key_files, key_file, pending, old.key_id)
    return old.key_id, new.key_id


def _swap_key_files(key_file: Path, pending: Path, old_key_id: str) -> None:
    if key_file.exists():
        key_file.rename(key_file.with_name(f"{key_file.stem}.{old_key_id}.retired.pem"))
    pending.replace(key_file)
