"""outsourced process runs and the process approvals (quality agreements) they rest on

Revision ID: 0009_process_runs
Revises: 0008_recovery_codes
Create Date: 2026-11-27

``process_approvals``: which contractor may perform which kind of process, when (QMS-07).
``process_runs`` with their values (parameters, results) and lots (inputs, outputs): the
contractor's run record (QMS-08). Their history lives in ``record_versions`` like every other
record; these tables hold the current state.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0009_process_runs"
down_revision = "0008_recovery_codes"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)
_QTY = trace_core.db.Quantity(precision=24, scale=6)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "process_approvals",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("organization_id", big, nullable=False),
        sa.Column("process_kind", sa.String(30), nullable=False),
        sa.Column("agreement_reference", sa.String(80), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_approvals")),
        _fk("process_approvals", "organization_id", "organizations"),
    )
    op.create_index(
        op.f("ix_process_approvals_organization_id"), "process_approvals", ["organization_id"]
    )
    op.create_table(
        "process_runs",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("organization_id", big, nullable=False),
        sa.Column("approval_id", big, nullable=False),
        sa.Column("process_kind", sa.String(30), nullable=False),
        sa.Column("run_number", sa.String(80), nullable=False),
        sa.Column("cycle_id", sa.String(80), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=False),
        sa.Column("certificate_document_id", big, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_kind", sa.String(10), nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("posted_at", _UTC, nullable=True),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_runs")),
        sa.UniqueConstraint(
            "organization_id", "run_number", name=op.f("uq_process_runs_organization_id_run_number")
        ),
        _fk("process_runs", "organization_id", "organizations"),
        _fk("process_runs", "approval_id", "process_approvals"),
        _fk("process_runs", "certificate_document_id", "documents"),
    )
    op.create_index(op.f("ix_process_runs_organization_id"), "process_runs", ["organization_id"])
    op.create_table(
        "process_run_values",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("run_id", big, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("value_text", sa.String(200), nullable=False),
        sa.Column("value_numeric", _QTY, nullable=True),
        sa.Column("unit", sa.String(20), nullable=True),
        sa.Column("lower_limit", _QTY, nullable=True),
        sa.Column("upper_limit", _QTY, nullable=True),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_run_values")),
        sa.UniqueConstraint(
            "run_id", "kind", "name", name=op.f("uq_process_run_values_run_id_kind_name")
        ),
        _fk("process_run_values", "run_id", "process_runs"),
    )
    op.create_index(op.f("ix_process_run_values_run_id"), "process_run_values", ["run_id"])
    op.create_table(
        "process_run_lots",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("run_id", big, nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lot_number", sa.String(80), nullable=False),
        sa.Column("lot_id", big, nullable=True),
        sa.Column("quantity", _QTY, nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("same_identity", sa.Boolean(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_run_lots")),
        sa.UniqueConstraint(
            "run_id", "role", "lot_number", name=op.f("uq_process_run_lots_run_id_role_lot_number")
        ),
        _fk("process_run_lots", "run_id", "process_runs"),
        _fk("process_run_lots", "lot_id", "internal_lots"),
    )
    op.create_index(op.f("ix_process_run_lots_run_id"), "process_run_lots", ["run_id"])
    op.create_index(op.f("ix_process_run_lots_lot_id"), "process_run_lots", ["lot_id"])


def downgrade() -> None:
    for table, columns in (
        ("process_run_lots", ("lot_id", "run_id")),
        ("process_run_values", ("run_id",)),
        ("process_runs", ("organization_id",)),
        ("process_approvals", ("organization_id",)),
    ):
        for column in columns:
            op.drop_index(op.f(f"ix_{table}_{column}"), table)
        op.drop_table(table)
