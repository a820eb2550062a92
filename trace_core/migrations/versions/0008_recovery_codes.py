"""recovery codes for the second factor (TOTP, P11-26)

Revision ID: 0008_recovery_codes
Revises: 0007_merge
Create Date: 2026-11-26

One row per single-use recovery code: only its SHA-256 is stored, and ``used_at`` marks a
spent code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0008_recovery_codes"
down_revision = "0007_merge"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "recovery_codes",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("user_id", big, nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("used_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users")
        ),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recovery_codes_user_id"), "recovery_codes")
    op.drop_table("recovery_codes")
