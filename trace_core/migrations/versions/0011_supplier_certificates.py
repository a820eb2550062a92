"""supplier certificates with their scope, and the certificate check of each receipt (CERT-01)

Revision ID: 0011_supplier_certificates
Revises: 0010_packing_recall
Create Date: 2026-12-08

- ``supplier_certificates``: a supplier's certificate (standard, number, issuer, sites, scope
  statement, part kinds covered, validity, the PDF, status, when QA accepted it and when it
  stopped holding); its history lives in ``record_versions`` like every other record;
- ``supplier_certificate_parts``: the parts of ours it covers;
- ``receipts``: the coverage judged when the receipt was posted and the certificate version it
  rests on. Receipts posted before this revision keep NULL: they were never checked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0011_supplier_certificates"
down_revision = "0010_packing_recall"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "supplier_certificates",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("organization_id", big, nullable=False),
        sa.Column("standard", sa.String(80), nullable=False),
        sa.Column("certificate_number", sa.String(80), nullable=False),
        sa.Column("issuer", sa.String(200), nullable=False),
        sa.Column("sites", sa.Text(), nullable=False),
        sa.Column("product_scope", sa.Text(), nullable=False),
        sa.Column("part_kinds", sa.String(200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("document_id", big, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_kind", sa.String(10), nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("accepted_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_certificates")),
        _fk("supplier_certificates", "organization_id", "organizations"),
        _fk("supplier_certificates", "document_id", "documents"),
    )
    op.create_index(
        op.f("ix_supplier_certificates_organization_id"),
        "supplier_certificates",
        ["organization_id"],
    )
    op.create_table(
        "supplier_certificate_parts",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("certificate_id", big, nullable=False),
        sa.Column("part_id", big, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_certificate_parts")),
        sa.UniqueConstraint(
            "certificate_id",
            "part_id",
            name=op.f("uq_supplier_certificate_parts_certificate_id_part_id"),
        ),
        _fk("supplier_certificate_parts", "certificate_id", "supplier_certificates"),
        _fk("supplier_certificate_parts", "part_id", "parts"),
    )
    for column in ("certificate_id", "part_id"):
        op.create_index(
            op.f(f"ix_supplier_certificate_parts_{column}"),
            "supplier_certificate_parts",
            [column],
        )
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("certificate_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("certificate_id", big, nullable=True))
        batch.add_column(sa.Column("certificate_version", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_receipts_certificate_id_supplier_certificates"),
            "supplier_certificates",
            ["certificate_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.drop_constraint(
            op.f("fk_receipts_certificate_id_supplier_certificates"), type_="foreignkey"
        )
        for column in ("certificate_version", "certificate_id", "certificate_status"):
            batch.drop_column(column)
    for column in ("part_id", "certificate_id"):
        op.drop_index(op.f(f"ix_supplier_certificate_parts_{column}"), "supplier_certificate_parts")
    op.drop_table("supplier_certificate_parts")
    op.drop_index(op.f("ix_supplier_certificates_organization_id"), "supplier_certificates")
    op.drop_table("supplier_certificates")
