"""record integrity: sealed audit batches, signed checkpoints, TOTP and signing sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Each committed batch of audit events ends with an event sealed by the server's Ed25519 key, so
rows inserted after the last seal (or rewritten with recomputed hashes) are detected; version
and signature events carry the hash of what they recorded, so a changed, inserted or deleted
version or signature row no longer matches the chain. Checkpoints sign the chain head at
intervals and on demand and are append-only like the rest of the history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("audit_events", sa.Column("record_sha256", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("seal_key_id", sa.String(32), nullable=True))
    op.add_column("audit_events", sa.Column("seal", sa.String(200), nullable=True))
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_kind", "actor_id"])
    op.create_index("ix_audit_events_occurred", "audit_events", ["occurred_at"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["server_keys.key_id"],
            name=op.f("fk_audit_checkpoints_key_id_server_keys"),
        ),
    )
    op.create_table(
        "audit_reviews",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("reviewer_id", sa.BigInteger(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("events_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_reviews")),
    )
    op.add_column("users", sa.Column("totp_secret", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("web_sessions", sa.Column("last_signature_at", _UTC, nullable=True))
    if dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON "
            "audit_checkpoints FOR EACH ROW EXECUTE FUNCTION traceport_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
            "FOR EACH STATEMENT EXECUTE FUNCTION traceport_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_checkpoints_no_{verb.lower()} BEFORE {verb} ON "
                f"audit_checkpoints BEGIN SELECT RAISE(ABORT, 'table audit_checkpoints is "
                f"append-only: {verb} refused'); END"
            )


def downgrade() -> None:
    op.drop_table("audit_reviews")
    op.drop_table("audit_checkpoints")
    op.drop_column("web_sessions", "last_signature_at")
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_secret")
    op.drop_index("ix_audit_events_occurred", "audit_events")
    op.drop_index("ix_audit_events_actor", "audit_events")
    for column in ("seal", "seal_key_id", "record_sha256"):
        op.drop_column("audit_events", column)
