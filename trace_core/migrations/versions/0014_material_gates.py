"""material holds: QA's holds on supplier lots, internal lots and serial ranges

Revision ID: 0014_material_gates
Revises: 0013_ended_trace_edges
Create Date: 2026-12-07

``supplier_lots.hold_status`` (null, ``on_hold`` or ``recalled``) is the material-hold state of
a supplier lot, kept apart from its review status (draft … approved): a lot QA approved can be
put on hold or recalled without rewriting the review. ``material_holds`` holds each hold: what
it covers (a supplier lot, an internal lot or a range of serials), why, the recall that placed
it, the notice the supplier is shown, and how it ended. Its history is in ``record_versions``
(record type ``material_hold``), so the row itself may change status like ``recalls`` does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0014_material_gates"
down_revision = "0013_ended_trace_edges"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("supplier_lots") as batch:
        batch.add_column(sa.Column("hold_status", sa.String(20), nullable=True))
    op.create_table(
        "material_holds",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("target_kind", sa.String(20), nullable=False),
        sa.Column("supplier_lot_id", big, nullable=True),
        sa.Column("internal_lot_id", big, nullable=True),
        sa.Column("serial_first", sa.String(80), nullable=True),
        sa.Column("serial_last", sa.String(80), nullable=True),
        sa.Column("serials", sa.JSON(), nullable=True),
        sa.Column("hold_kind", sa.String(20), nullable=False),
        sa.Column("recall_id", big, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("supplier_notice", sa.Text(), nullable=True),
        sa.Column("previous_status", sa.String(20), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("placed_at", _UTC, nullable=False),
        sa.Column("placed_by", sa.String(200), nullable=False),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_holds")),
        sa.UniqueConstraint("number", name=op.f("uq_material_holds_number")),
        sa.ForeignKeyConstraint(
            ["supplier_lot_id"],
            ["supplier_lots.id"],
            name=op.f("fk_material_holds_supplier_lot_id_supplier_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["internal_lot_id"],
            ["internal_lots.id"],
            name=op.f("fk_material_holds_internal_lot_id_internal_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["recall_id"], ["recalls.id"], name=op.f("fk_material_holds_recall_id_recalls")
        ),
    )
    op.create_index("ix_material_holds_supplier_lot_id", "material_holds", ["supplier_lot_id"])
    op.create_index("ix_material_holds_internal_lot_id", "material_holds", ["internal_lot_id"])
    op.create_index("ix_material_holds_recall_id", "material_holds", ["recall_id"])


def downgrade() -> None:
    op.drop_table("material_holds")
    with op.batch_alter_table("supplier_lots") as batch:
        batch.drop_column("hold_status")
