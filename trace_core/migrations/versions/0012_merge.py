"""merge the two branches written side by side after 0010 (trace edges' end kinds, supplier
certificates) into one head

Revision ID: 0012_merge
Revises: 0011_edge_end_kinds, 0011_supplier_certificates
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = "0012_merge"
down_revision = ("0011_edge_end_kinds", "0011_supplier_certificates")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the branches touch different tables (trace_edges; receipts and the
    new certificate tables)."""


def downgrade() -> None:
    """Nothing to change."""
