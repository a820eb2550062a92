"""client secrets: several hashed secrets per machine client, for rotation with overlap

Revision ID: 0004_client_secrets
Revises: 0003
Create Date: 2026-11-25

A machine client had exactly one secret hash in ``api_clients.secret_hash``; rotating it cut
off every integration still using the old one. Secrets now live in ``client_secrets`` (one row
per secret: its scrypt hash, when it was created, when it stops working after a rotation's
overlap, and when it was revoked). The existing hashes move there unchanged, so every client
keeps authenticating with the secret it has.

``api_clients.secret_hash`` is dropped rather than kept readable: after the first rotation it
would name a secret that may no longer be valid, and any code still reading it would accept a
rotated-out or revoked secret. The downgrade puts the newest usable hash back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0004_client_secrets"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "client_secrets",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("api_client_id", big, nullable=False),
        sa.Column("secret_hash", sa.String(300), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=True),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_secrets")),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_clients.id"],
            name=op.f("fk_client_secrets_api_client_id_api_clients"),
        ),
    )
    op.create_index(op.f("ix_client_secrets_api_client_id"), "client_secrets", ["api_client_id"])
    # A revoked client's secret is moved as well, marked revoked, so its history is complete.
    op.execute(
        "INSERT INTO client_secrets (api_client_id, secret_hash, created_at, revoked_at) "
        "SELECT id, secret_hash, created_at, "
        "CASE WHEN active THEN NULL ELSE COALESCE(tokens_valid_after, created_at) END "
        "FROM api_clients"
    )
    # SQLite (3.35+) drops a plain column in place; no table rebuild is needed.
    op.drop_column("api_clients", "secret_hash")


def downgrade() -> None:
    op.add_column("api_clients", sa.Column("secret_hash", sa.String(300), nullable=True))
    # The newest secret that is neither revoked nor expired; a client without one gets an
    # empty hash, which no secret verifies against.
    op.execute(
        "UPDATE api_clients SET secret_hash = COALESCE(("
        "SELECT s.secret_hash FROM client_secrets s WHERE s.api_client_id = api_clients.id "
        "AND s.revoked_at IS NULL AND s.expires_at IS NULL ORDER BY s.id DESC LIMIT 1), '')"
    )
    op.drop_index(op.f("ix_client_secrets_api_client_id"), "client_secrets")
    op.drop_table("client_secrets")
    with op.batch_alter_table("api_clients") as batch:
        batch.alter_column("secret_hash", existing_type=sa.String(300), nullable=False)
