"""recalls and suppliers' suspect-lot reports

Revision ID: 0006_recalls
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0006_recalls"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "suspect_reports",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("organization_id", big, nullable=False),
        sa.Column("supplier_lot_id", big, nullable=False),
        sa.Column("reported_by_kind", sa.String(10), nullable=False),
        sa.Column("reported_by_id", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspect_reports")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_suspect_reports_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_lot_id"],
            ["supplier_lots.id"],
            name=op.f("fk_suspect_reports_supplier_lot_id_supplier_lots"),
        ),
    )
    op.create_index("ix_suspect_reports_organization_id", "suspect_reports", ["organization_id"])
    op.create_table(
        "recalls",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("opened_by_id", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", _UTC, nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("suspect_report_id", big, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recalls")),
        sa.UniqueConstraint("number", name=op.f("uq_recalls_number")),
        sa.ForeignKeyConstraint(
            ["suspect_report_id"],
            ["suspect_reports.id"],
            name=op.f("fk_recalls_suspect_report_id_suspect_reports"),
        ),
    )


def downgrade() -> None:
    op.drop_table("recalls")
    op.drop_index("ix_suspect_reports_organization_id", "suspect_reports")
    op.drop_table("suspect_reports")
