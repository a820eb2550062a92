"""finished-device release: quarantine, required processes, revalidation, implant consignees

Revision ID: 0016_device_release
Revises: 0013_ended_trace_edges
Create Date: 2026-12-07

Issue 13. A work order's finished lot now starts in quarantine and is released by QA's signed
device-history review (``finished_lot_releases``). A part names the outsourced processes its
finished lots need, with our acceptance limits (``part_required_processes``, COA-05). A process
approval carries its revalidation date and the validated cycle (QMS-09); each run value keeps
our limits beside the contractor's. The work order keeps the UDI dates (QMS-16) and a shipment
the named contact and telephone of an implant's consignee (QMS-12).

None of these tables holds history itself: their history is their record versions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0016_device_release"
down_revision = "0015_receipts_inspection"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime()
_QUANTITY = trace_core.db.Quantity(precision=24, scale=6)


def upgrade() -> None:
    op.create_table(
        "part_required_processes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("part_id", sa.BigInteger(), nullable=False),
        sa.Column("process_kind", sa.String(length=30), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_part_required_processes_part_id_parts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_required_processes")),
        sa.UniqueConstraint(
            "part_id", "process_kind", name=op.f("uq_part_required_processes_part_id_process_kind")
        ),
    )
    op.create_index(
        op.f("ix_part_required_processes_part_id"), "part_required_processes", ["part_id"]
    )
    op.create_table(
        "finished_lot_releases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("work_order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["internal_lots.id"],
            name=op.f("fk_finished_lot_releases_lot_id_internal_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_finished_lot_releases_work_order_id_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finished_lot_releases")),
        sa.UniqueConstraint("lot_id", name=op.f("uq_finished_lot_releases_lot_id")),
    )
    op.create_index(
        op.f("ix_finished_lot_releases_work_order_id"), "finished_lot_releases", ["work_order_id"]
    )
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("manufactured_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("expires_on", sa.Date(), nullable=True))
    with op.batch_alter_table("process_approvals") as batch:
        batch.add_column(sa.Column("revalidation_due", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("validated_cycle", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("process_run_values") as batch:
        batch.add_column(sa.Column("our_lower_limit", _QUANTITY, nullable=True))
        batch.add_column(sa.Column("our_upper_limit", _QUANTITY, nullable=True))
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("consignee_contact", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("consignee_phone", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("consignee_phone")
        batch.drop_column("consignee_contact")
    with op.batch_alter_table("process_run_values") as batch:
        batch.drop_column("our_upper_limit")
        batch.drop_column("our_lower_limit")
    with op.batch_alter_table("process_approvals") as batch:
        batch.drop_column("validated_cycle")
        batch.drop_column("revalidation_due")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("expires_on")
        batch.drop_column("manufactured_on")
    op.drop_index(op.f("ix_finished_lot_releases_work_order_id"), "finished_lot_releases")
    op.drop_table("finished_lot_releases")
    op.drop_index(op.f("ix_part_required_processes_part_id"), "part_required_processes")
    op.drop_table("part_required_processes")
