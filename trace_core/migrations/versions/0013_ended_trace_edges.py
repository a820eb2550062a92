"""ended genealogy edges kept whole, append-only

Revision ID: 0013_ended_trace_edges
Revises: 0012_merge
Create Date: 2026-11-25

An unpacking ends the packing edges of what it takes out: the serial no longer goes where the
case goes. Until now the edge row was deleted (its id was named in the audit event, its content
lost). ``ended_trace_edges`` keeps each ended edge whole, with when, by which posting and why;
the database refuses UPDATE and DELETE on it as on the other history tables (revision 0002's
``traceport_refuse_change()`` on PostgreSQL, RAISE triggers on SQLite). ``trace_edges`` stays
the genealogy as it stands, so the trace statements and their indexes are unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0013_ended_trace_edges"
down_revision = "0012_merge"
branch_labels = None
depends_on = None

TABLE = "ended_trace_edges"
_UTC = trace_core.db.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("source_kind", sa.String(length=20), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", trace_core.db.Quantity(precision=24, scale=6), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("ended_at", _UTC, nullable=False),
        sa.Column("ended_by_type", sa.String(length=40), nullable=False),
        sa.Column("ended_by_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["trace_nodes.id"],
            name=op.f("fk_ended_trace_edges_source_id_trace_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["trace_nodes.id"],
            name=op.f("fk_ended_trace_edges_target_id_trace_nodes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ended_trace_edges")),
    )
    op.create_index(op.f("ix_ended_trace_edges_source_id"), TABLE, ["source_id"])
    op.create_index(op.f("ix_ended_trace_edges_target_id"), TABLE, ["target_id"])
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION traceport_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION traceport_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'table {TABLE} is append-only: {verb} "
                f"refused'); END"
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_ended_trace_edges_target_id"), table_name=TABLE)
    op.drop_index(op.f("ix_ended_trace_edges_source_id"), table_name=TABLE)
    op.drop_table(TABLE)
