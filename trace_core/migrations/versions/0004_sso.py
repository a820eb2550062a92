"""single sign-on: the OpenID Connect identity a person signs in with

Revision ID: 0004_sso
Revises: 0003
Create Date: 2026-12-01

Internal staff sign in through the company's identity provider (OpenID Connect). A person is
linked to exactly one provider identity, the pair (issuer, subject): the subject is the
provider's stable, never reassigned identifier, unlike the e-mail address. The pair is unique
through a unique index rather than a table constraint, because SQLite cannot add a constraint
to an existing table without rebuilding it; NULLs never collide, so unlinked people are fine.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sso"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("sso_issuer", sa.String(300), nullable=True))
    op.add_column("users", sa.Column("sso_subject", sa.String(255), nullable=True))
    op.create_index("uq_users_sso_identity", "users", ["sso_issuer", "sso_subject"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_sso_identity", "users")
    op.drop_column("users", "sso_subject")
    op.drop_column("users", "sso_issuer")
