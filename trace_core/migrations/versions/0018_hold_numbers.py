"""material hold numbers from a sequence

Revision ID: 0018_hold_numbers
Revises: 0017_input_checks

``MH-…`` numbers came from ``count() + 1``: two holds placed at once in separate transactions
took the same number (issue 13 found that pattern in receipt numbers). They now come from the
``material_hold`` series of ``trace_core/numbering.py``: ``material_hold_number_seq`` on
PostgreSQL, the ``number_counters`` row ``material_hold`` on SQLite, both starting after the
highest number already given.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0018_hold_numbers"
down_revision = "0017_input_checks"
branch_labels = None
depends_on = None


def _highest_hold_number() -> int:
    numbers = op.get_bind().execute(sa.text("SELECT number FROM material_holds")).scalars()
    found = [int(m.group(1)) for n in numbers if (m := re.fullmatch(r"MH-(\d+)", n or ""))]
    return max(found, default=0)


def upgrade() -> None:
    highest = _highest_hold_number()
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE material_hold_number_seq AS bigint START WITH {highest + 1}")
    else:
        op.get_bind().execute(
            sa.text("INSERT INTO number_counters (name, value) VALUES ('material_hold', :value)"),
            {"value": highest},
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS material_hold_number_seq")
    else:
        op.execute("DELETE FROM number_counters WHERE name = 'material_hold'")
