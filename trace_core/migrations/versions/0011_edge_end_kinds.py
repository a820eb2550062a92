"""the kinds of both ends on every trace edge, in the walk indexes

Revision ID: 0011_edge_end_kinds
Revises: 0010_packing_recall
Create Date: 2026-11-25

A forward trace of a widely used raw lot reaches 140,000 nodes, 90 % of them serials. Knowing
each reached node's kind meant one probe into ``trace_nodes`` per node, as much as the walk
itself (docs/PERFORMANCE.md). An edge now carries ``source_kind`` and ``target_kind`` (a node
never changes kind; every posting sets them), and the two walk indexes hold the far end, its
kind and the edge's kind, so that a walk reads what it reached from the index alone.

Existing edges take the kinds of their nodes. On PostgreSQL the table is analysed afterwards
so that the planner knows the new columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_edge_end_kinds"
down_revision = "0010_packing_recall"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trace_edges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_kind", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("target_kind", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE trace_edges SET "
        "source_kind = (SELECT kind FROM trace_nodes WHERE trace_nodes.id = source_id), "
        "target_kind = (SELECT kind FROM trace_nodes WHERE trace_nodes.id = target_id)"
    )
    with op.batch_alter_table("trace_edges", schema=None) as batch_op:
        batch_op.alter_column("source_kind", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("target_kind", existing_type=sa.String(length=20), nullable=False)
        batch_op.drop_index("ix_trace_edges_target")
        batch_op.drop_index("ix_trace_edges_source")
        batch_op.create_index(
            "ix_trace_edges_source", ["source_id", "target_kind", "kind", "target_id"]
        )
        batch_op.create_index(
            "ix_trace_edges_target", ["target_id", "source_kind", "kind", "source_id"]
        )
    if op.get_context().dialect.name == "postgresql":
        op.execute("ANALYZE trace_edges")


def downgrade() -> None:
    with op.batch_alter_table("trace_edges", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_edges_target")
        batch_op.drop_index("ix_trace_edges_source")
        batch_op.create_index("ix_trace_edges_source", ["source_id", "target_id"])
        batch_op.create_index("ix_trace_edges_target", ["target_id", "source_id"])
        batch_op.drop_column("target_kind")
        batch_op.drop_column("source_kind")
