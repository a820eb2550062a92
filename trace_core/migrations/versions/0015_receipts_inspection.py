"""receipts capped by the declared quantity, numbered by a sequence; incoming inspection

Revision ID: 0015_receipts_inspection
Revises: 0013_ended_trace_edges
Create Date: 2026-12-07

* ``parts.over_receipt_tolerance_pct``: how much more than a supplier lot's declared quantity
  may be received (default 0 %).
* ``receipts.quantity_received`` / ``unit_received``: the quantity as received, before it is
  converted into the lot's unit (existing receipts: the same as ``quantity``/``unit``).
* Receipt numbers: ``receipt_number_seq`` on PostgreSQL (``nextval``: no two transactions get
  the same number, whatever their timing); on SQLite, which has no sequences and one writer at
  a time, the ``number_counters`` row ``receipt`` incremented in the posting's transaction.
  Both start after the highest existing ``GR-`` number, so existing receipts keep theirs.
* Incoming inspection (QMS-06): ``inspection_plan_items`` per part, ``receipt_inspections``
  (a regulated record) and ``inspection_results`` (append-only, as the other history tables:
  revision 0002's ``traceport_refuse_change()`` on PostgreSQL, RAISE triggers on SQLite).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0015_receipts_inspection"
down_revision = "0014_material_gates"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime()
_QTY = trace_core.db.Quantity(precision=24, scale=6)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = "inspection_results"


def _highest_receipt_number() -> int:
    numbers = op.get_bind().execute(sa.text("SELECT number FROM receipts")).scalars()
    found = [int(m.group(1)) for n in numbers if (m := re.fullmatch(r"GR-(\d+)", n or ""))]
    return max(found, default=0)


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    with op.batch_alter_table("parts") as batch:
        batch.add_column(
            sa.Column("over_receipt_tolerance_pct", _QTY, nullable=False, server_default="0")
        )
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("quantity_received", _QTY, nullable=True))
        batch.add_column(sa.Column("unit_received", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE receipts SET quantity_received = quantity, unit_received = unit "
        "WHERE quantity_received IS NULL"
    )

    highest = _highest_receipt_number()
    op.create_table(
        "number_counters",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_number_counters")),
    )
    if postgres:
        op.execute(f"CREATE SEQUENCE receipt_number_seq AS bigint START WITH {highest + 1}")
    else:
        op.get_bind().execute(
            sa.text("INSERT INTO number_counters (name, value) VALUES ('receipt', :value)"),
            {"value": highest},
        )

    op.create_table(
        "inspection_plan_items",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("part_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("lower_limit", _QTY, nullable=True),
        sa.Column("upper_limit", _QTY, nullable=True),
        sa.Column("expected_text", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=100), nullable=True),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("retired_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_inspection_plan_items_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_plan_items")),
    )
    op.create_index(op.f("ix_inspection_plan_items_part_id"), "inspection_plan_items", ["part_id"])
    op.create_table(
        "receipt_inspections",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("receipt_id", _ID, nullable=False),
        sa.Column("part_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("results_by_id", _ID, nullable=True),
        sa.Column("results_at", _UTC, nullable=True),
        sa.Column("released_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_receipt_inspections_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_receipt_inspections_part_id_parts")
        ),
        sa.ForeignKeyConstraint(
            ["results_by_id"],
            ["users.id"],
            name=op.f("fk_receipt_inspections_results_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_inspections")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_receipt_inspections_receipt_id")),
    )
    op.create_table(
        APPEND_ONLY,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("inspection_id", _ID, nullable=False),
        sa.Column("plan_item_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("criterion", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("value_numeric", _QTY, nullable=True),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["receipt_inspections.id"],
            name=op.f("fk_inspection_results_inspection_id_receipt_inspections"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_item_id"],
            ["inspection_plan_items.id"],
            name=op.f("fk_inspection_results_plan_item_id_inspection_plan_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_results")),
        sa.UniqueConstraint(
            "inspection_id", "code", name=op.f("uq_inspection_results_inspection_id_code")
        ),
    )
    op.create_index(op.f("ix_inspection_results_inspection_id"), APPEND_ONLY, ["inspection_id"])
    if postgres:
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY} "
            f"FOR EACH ROW EXECUTE FUNCTION traceport_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY}_no_truncate BEFORE TRUNCATE ON {APPEND_ONLY} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION traceport_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {APPEND_ONLY}_no_{verb.lower()} BEFORE {verb} ON {APPEND_ONLY} "
                f"BEGIN SELECT RAISE(ABORT, 'table {APPEND_ONLY} is append-only: {verb} "
                f"refused'); END"
            )


def downgrade() -> None:
    op.drop_table(APPEND_ONLY)
    op.drop_table("receipt_inspections")
    op.drop_index(op.f("ix_inspection_plan_items_part_id"), table_name="inspection_plan_items")
    op.drop_table("inspection_plan_items")
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS receipt_number_seq")
    op.drop_table("number_counters")
    with op.batch_alter_table("receipts") as batch:
        batch.drop_column("unit_received")
        batch.drop_column("quantity_received")
    with op.batch_alter_table("parts") as batch:
        batch.drop_column("over_receipt_tolerance_pct")
