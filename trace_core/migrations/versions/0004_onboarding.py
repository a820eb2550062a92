"""onboarding: sites, invitations, identity verification, password resets, login rate limit

Revision ID: 0004_onboarding
Revises: 0003
Create Date: 2026-12-01

Organizations get sites. People join by an e-mailed, single-use, expiring invitation; before a
signing role is granted, who verified the person's identity, how and when is recorded
(P11-19). That record is history: like the audit trail, the database refuses UPDATE and
DELETE on ``identity_verifications``. Password-reset links are single-use and expiring; both
kinds of link are stored as SHA-256 only. ``login_attempts`` holds refused sign-ins for the
login rate limit's sliding window (not history: old rows are deleted).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0004_onboarding"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)
_GUARDED = "identity_verifications"


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "sites",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sites_organization_id_organizations"),
        ),
    )
    op.create_index("ix_sites_organization_id", "sites", ["organization_id"])
    op.create_table(
        "invitations",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("invited_by", sa.BigInteger(), nullable=True),
        sa.Column("invited_by_name", sa.String(200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("used_at", _UTC, nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_invitations_token_sha256")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_invitations_invited_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")
        ),
    )
    op.create_index("ix_invitations_organization_id", "invitations", ["organization_id"])
    op.create_index("ix_invitations_email_key", "invitations", ["email_key"])
    op.create_table(
        "identity_verifications",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("verified_by", sa.BigInteger(), nullable=True),
        sa.Column("verified_by_name", sa.String(200), nullable=False),
        sa.Column("method", sa.String(300), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("verified_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_identity_verifications_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["verified_by"], ["users.id"], name=op.f("fk_identity_verifications_verified_by_users")
        ),
    )
    op.create_index("ix_identity_verifications_user_id", "identity_verifications", ["user_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("used_at", _UTC, nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_password_resets_token_sha256")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users")
        ),
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("attempted_at", _UTC, nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_attempted_at", "login_attempts", ["attempted_at"])
    op.create_index("ix_login_attempts_ip", "login_attempts", ["client_ip", "attempted_at"])
    op.create_index("ix_login_attempts_account", "login_attempts", ["email_key", "attempted_at"])
    if op.get_context().dialect.name == "postgresql":
        # traceport_refuse_change() is created by 0002.
        op.execute(
            f"CREATE TRIGGER {_GUARDED}_append_only BEFORE UPDATE OR DELETE ON {_GUARDED} "
            "FOR EACH ROW EXECUTE FUNCTION traceport_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {_GUARDED}_no_truncate BEFORE TRUNCATE ON {_GUARDED} "
            "FOR EACH STATEMENT EXECUTE FUNCTION traceport_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_GUARDED}_no_{verb.lower()} BEFORE {verb} ON {_GUARDED} "
                f"BEGIN SELECT RAISE(ABORT, 'table {_GUARDED} is append-only: {verb} "
                "refused'); END"
            )


def downgrade() -> None:
    op.drop_table("login_attempts")
    op.drop_table("password_resets")
    op.drop_table("identity_verifications")
    op.drop_table("invitations")
    op.drop_table("sites")
