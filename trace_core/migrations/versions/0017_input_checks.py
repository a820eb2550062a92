"""input integrity: physical bounds, late entries, lots typed by our staff

Revision ID: 0017_input_checks
Revises: 0013_ended_trace_edges
Create Date: 2026-12-07

* ``characteristics.physical_min`` / ``physical_max``: what a measurement can physically be
  (moisture ≥ 0, a percentage ≤ 100), apart from our acceptance limits. A result outside them
  is refused as an input error, never judged.
* ``supplier_lots.late_entry_days``: how many days before its submission the lot's CoA data was
  made (manufacture/test date) when that is more than the late-entry setting (DI-02); null for
  a contemporaneous entry. The lot is accepted and flagged.
* ``supplier_lots.entered_by_staff``: our staff typed the lot from a paper CoA on the supplier's
  behalf; it waits in ``needs_verification`` for a second person's check (A11-03).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0017_input_checks"
down_revision = "0016_device_release"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("characteristics") as batch:
        batch.add_column(
            sa.Column("physical_min", trace_core.db.Quantity(precision=24, scale=6), nullable=True)
        )
        batch.add_column(
            sa.Column("physical_max", trace_core.db.Quantity(precision=24, scale=6), nullable=True)
        )
    with op.batch_alter_table("supplier_lots") as batch:
        batch.add_column(sa.Column("late_entry_days", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("entered_by_staff", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("supplier_lots") as batch:
        batch.drop_column("entered_by_staff")
        batch.drop_column("late_entry_days")
    with op.batch_alter_table("characteristics") as batch:
        batch.drop_column("physical_max")
        batch.drop_column("physical_min")
