"""The genealogy graph: every identifiable thing is a node, every posted transaction writes
explicit edges in the direction material flows (DESIGN invariant 8)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now

NODE_KINDS: tuple[str, ...] = ("supplier_lot", "internal_lot", "serial", "shipment")
NODE_KINDS += ("shipping_unit",)  # our own cases and pallets (SSCC), trace_core/packing
NODE_KINDS += ("epc_lot", "epc_item", "sscc", "consignee")  # known only from EPCIS captures
EDGE_KINDS = ("receipt", "consumption", "production", "shipment", "packing", "process")


class TraceNode(Base):
    __tablename__ = "trace_nodes"
    __table_args__ = (UniqueConstraint("kind", "ref_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    #: The identifier as people type it, kept verbatim.
    identifier: Mapped[str] = mapped_column(String(120), index=True)
    #: The owning external organization (supplier lots), for scoping.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    part_id: Mapped[int | None] = mapped_column(ForeignKey("parts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class TraceEdge(Base):
    __tablename__ = "trace_edges"
    # Each index answers "what follows this node" from the index alone (a walk reads no
    # table row): the far end, its kind and the edge's kind, for either direction.
    __table_args__ = (
        Index("ix_trace_edges_source", "source_id", "target_kind", "kind", "target_id"),
        Index("ix_trace_edges_target", "target_id", "source_kind", "kind", "source_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("trace_nodes.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("trace_nodes.id"))
    #: The kinds of the two ends, copied from their nodes when the edge is posted (a node
    #: changes kind only when a packing takes over the node a capture made for its SSCC, and
    #: then its edges follow, ``trace_core/packing``): a walk knows what it reached (a serial
    #: or not) without reading ``trace_nodes``, which halves the cost of a plant-wide forward
    #: trace.
    source_kind: Mapped[str] = mapped_column(String(20))
    target_kind: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    #: The posting that created the edge (record type and id), for evidence.
    event_type: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    unit: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class EndedTraceEdge(Base):
    """A genealogy edge a later posting ended, kept whole (append-only; the database refuses
    UPDATE and DELETE). ``trace_edges`` holds the genealogy as it stands, which is what traces
    and recalls walk; an unpacking ends the packing edges of what it took out, and they move
    here in the same transaction with when, by which posting and why — nothing of the
    genealogy is hard-deleted (DESIGN invariant 1)."""

    __tablename__ = "ended_trace_edges"

    #: The edge's own id in ``trace_edges`` while it stood.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source_id: Mapped[int] = mapped_column(ForeignKey("trace_nodes.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("trace_nodes.id"), index=True)
    source_kind: Mapped[str] = mapped_column(String(20))
    target_kind: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    event_type: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    unit: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: The posting that ended it (record type and id), as ``event_type``/``event_id``.
    ended_by_type: Mapped[str] = mapped_column(String(40))
    ended_by_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(2000))


async def end_edges(
    session: AsyncSession, edge_ids: list[int], by_type: str, by_id: int, reason: str
) -> None:
    """Ends the edges ``edge_ids``: each is kept whole in ``ended_trace_edges`` and leaves
    ``trace_edges``, in the caller's transaction."""
    if not edge_ids:
        return
    now = utc_now()
    edges = (await session.scalars(select(TraceEdge).where(TraceEdge.id.in_(edge_ids)))).all()
    session.add_all(
        EndedTraceEdge(
            id=e.id,
            source_id=e.source_id,
            target_id=e.target_id,
            source_kind=e.source_kind,
            target_kind=e.target_kind,
            kind=e.kind,
            event_type=e.event_type,
            event_id=e.event_id,
            quantity=e.quantity,
            unit=e.unit,
            created_at=e.created_at,
            ended_at=now,
            ended_by_type=by_type,
            ended_by_id=by_id,
            reason=reason,
        )
        for e in edges
    )
    await session.flush()
    await session.execute(delete(TraceEdge).where(TraceEdge.id.in_(edge_ids)))


async def node_id(session: AsyncSession, kind: str, ref_id: int) -> int:
    """The trace node of a posted thing; every posting creates its node, so absence is a bug."""
    found = await session.scalar(
        select(TraceNode.id).where(TraceNode.kind == kind, TraceNode.ref_id == ref_id)
    )
    if found is None:
        raise LookupError(f"{kind} {ref_id} has no trace node")
    return int(found)
