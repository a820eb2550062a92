"""EPCIS: captures, immutable events keyed by their CBV 2.0 hash, their identifier index, and
the objects the genealogy knows only from EPCIS

Revision ID: 0005_epcis
Revises: 0003
Create Date: 2026-12-02

Events are never updated: a correction is an error declaration, a new row (EPC-03). Like the
audit trail, all four tables refuse UPDATE and DELETE in the database (and TRUNCATE on
PostgreSQL, where ``traceport_refuse_change()`` from revision 0002 is reused); list them in
``infra/postgres/grants.sql`` so the application role also lacks the privilege.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import trace_core.db

revision = "0005_epcis"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = trace_core.db.UTCDateTime(timezone=True)
GUARDED = ("epcis_captures", "epcis_events", "epcis_event_identifiers", "epcis_objects")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "epcis_captures",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("received_at", _UTC, nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("document_bytes", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("stored_count", sa.Integer(), nullable=False),
        sa.Column("actor_kind", sa.String(10), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_captures")),
        _fk("epcis_captures", "organization_id", "organizations"),
    )
    op.create_table(
        "epcis_events",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("event_hash", sa.String(100), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("given_event_id", sa.String(500), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("is_error_declaration", sa.Boolean(), nullable=False),
        sa.Column("event_time", _UTC, nullable=False),
        sa.Column("record_time", _UTC, nullable=False),
        sa.Column("biz_step", sa.String(500), nullable=True),
        sa.Column("action", sa.String(10), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("capture_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=True),
        sa.Column("organization_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_events")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_epcis_events_dedup_key")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_epcis_events_source_source_id")),
        _fk("epcis_events", "capture_id", "epcis_captures"),
        _fk("epcis_events", "organization_id", "organizations"),
    )
    op.create_index("ix_epcis_events_time", "epcis_events", ["event_time", "id"])
    op.create_index("ix_epcis_events_hash", "epcis_events", ["event_hash"])
    op.create_index(
        "ix_epcis_events_organization", "epcis_events", ["organization_id", "event_time"]
    )
    op.create_index("ix_epcis_events_capture_id", "epcis_events", ["capture_id"])
    op.create_table(
        "epcis_event_identifiers",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("event_row_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("uri", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_event_identifiers")),
        _fk("epcis_event_identifiers", "event_row_id", "epcis_events"),
    )
    op.create_index("ix_epcis_event_identifiers_uri", "epcis_event_identifiers", ["uri", "role"])
    op.create_index(
        "ix_epcis_event_identifiers_event_row_id", "epcis_event_identifiers", ["event_row_id"]
    )
    op.create_table(
        "epcis_objects",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("uri", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("identifier", sa.String(120), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=True),
        sa.Column("organization_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_objects")),
        sa.UniqueConstraint("uri", name=op.f("uq_epcis_objects_uri")),
        _fk("epcis_objects", "organization_id", "organizations"),
    )
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
    for table in reversed(GUARDED):
        op.drop_table(table)
