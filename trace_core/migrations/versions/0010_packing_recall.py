"""packing into shipping units (SSCC), recall field actions and closing

Revision ID: 0010_packing_recall
Revises: 0008_recovery_codes
Create Date: 2026-12-05

- ``shipping_units``: a case or pallet named by its SSCC, its status and where it is;
- ``packing_events``: every packing (ADD) and unpacking (DELETE) posting, append-only like the
  EPCIS tables (triggers; ``traceport_refuse_change()`` of revision 0002 on PostgreSQL);
- ``shipping_unit_items``: what is in a unit now, with partial unique indexes so that a serial
  or a case is in at most one unit at a time, even under concurrent postings;
- ``recall_field_actions`` and the closing columns of ``recalls`` (QMS-14 follow-through).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0010_packing_recall"
down_revision = "0009_process_runs"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)
GUARDED = ("packing_events",)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "shipping_units",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("sscc", sa.String(18), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("parent_id", big, nullable=True),
        sa.Column("shipment_id", big, nullable=True),
        sa.Column("allocated", sa.Boolean(), nullable=False),
        sa.Column("packed_by", sa.String(200), nullable=False),
        sa.Column("packed_at", _UTC, nullable=False),
        sa.Column("closed_at", _UTC, nullable=True),
        sa.Column("shipped_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_units")),
        sa.UniqueConstraint("sscc", name=op.f("uq_shipping_units_sscc")),
        _fk("shipping_units", "parent_id", "shipping_units"),
        _fk("shipping_units", "shipment_id", "shipments"),
    )
    op.create_index("ix_shipping_units_parent_id", "shipping_units", ["parent_id"])
    op.create_index("ix_shipping_units_shipment_id", "shipping_units", ["shipment_id"])
    op.create_table(
        "packing_events",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("unit_id", big, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("serials", sa.JSON(), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("posted_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packing_events")),
        _fk("packing_events", "unit_id", "shipping_units"),
    )
    op.create_index("ix_packing_events_unit_id", "packing_events", ["unit_id"])
    op.create_table(
        "shipping_unit_items",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("unit_id", big, nullable=False),
        sa.Column("serial_id", big, nullable=True),
        sa.Column("child_unit_id", big, nullable=True),
        sa.Column("packed_by_id", big, nullable=False),
        sa.Column("unpacked_by_id", big, nullable=True),
        sa.Column("edge_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_unit_items")),
        _fk("shipping_unit_items", "unit_id", "shipping_units"),
        _fk("shipping_unit_items", "serial_id", "serials"),
        _fk("shipping_unit_items", "child_unit_id", "shipping_units"),
        _fk("shipping_unit_items", "packed_by_id", "packing_events"),
        _fk("shipping_unit_items", "unpacked_by_id", "packing_events"),
    )
    op.create_index("ix_shipping_unit_items_unit_id", "shipping_unit_items", ["unit_id"])
    op.create_index(
        "uq_shipping_unit_items_serial_current",
        "shipping_unit_items",
        ["serial_id"],
        unique=True,
        sqlite_where=sa.text("unpacked_by_id IS NULL AND serial_id IS NOT NULL"),
        postgresql_where=sa.text("unpacked_by_id IS NULL AND serial_id IS NOT NULL"),
    )
    op.create_index(
        "uq_shipping_unit_items_child_current",
        "shipping_unit_items",
        ["child_unit_id"],
        unique=True,
        sqlite_where=sa.text("unpacked_by_id IS NULL AND child_unit_id IS NOT NULL"),
        postgresql_where=sa.text("unpacked_by_id IS NULL AND child_unit_id IS NOT NULL"),
    )
    op.create_table(
        "recall_field_actions",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("recall_id", big, nullable=False),
        sa.Column("consignee_index", sa.Integer(), nullable=False),
        sa.Column("consignee_name", sa.String(200), nullable=False),
        sa.Column("consignee_address", sa.Text(), nullable=False),
        sa.Column("notified_at", _UTC, nullable=True),
        sa.Column("acknowledged_at", _UTC, nullable=True),
        sa.Column("quantity_returned", sa.Integer(), nullable=False),
        sa.Column("quantity_destroyed", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recall_field_actions")),
        sa.UniqueConstraint(
            "recall_id",
            "consignee_index",
            name=op.f("uq_recall_field_actions_recall_id_consignee_index"),
        ),
        _fk("recall_field_actions", "recall_id", "recalls"),
    )
    op.create_index("ix_recall_field_actions_recall_id", "recall_field_actions", ["recall_id"])
    with op.batch_alter_table("recalls") as batch:
        batch.add_column(sa.Column("closed_at", _UTC, nullable=True))
        batch.add_column(sa.Column("closed_by_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("closing_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("closing_justification", sa.Text(), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        for table in GUARDED:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION traceport_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION traceport_refuse_change()"
            )
    else:
        for table in GUARDED:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: {verb} "
                    f"refused'); END"
                )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        for table in GUARDED:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    with op.batch_alter_table("recalls") as batch:
        for column in ("closing_justification", "closing_reason", "closed_by_id", "closed_at"):
            batch.drop_column(column)
    op.drop_table("recall_field_actions")
    op.drop_table("shipping_unit_items")
    op.drop_table("packing_events")
    op.drop_table("shipping_units")
