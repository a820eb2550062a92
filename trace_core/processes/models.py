"""Outsourced process runs and the approvals they rest on.

A ``ProcessApproval`` is our side of a quality agreement with a contractor for one kind of
process (QMS-07): which organization may process our lots how, from when until when, and
whether that still holds. A ``ProcessRun`` is the contractor's record of one run (load, cycle,
dates, parameters, results, release certificate) over lots of ours that went out and came
back, either as themselves or under a new internal lot number (QMS-08).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace_core.attachments.models import Document
from trace_core.db import Base, BigIntPK, Quantity, UTCDateTime, utc_now
from trace_core.identity.models import Organization
from trace_core.inventory.models import InternalLot

#: The outsourced processes we contract out. A run names one; an approval covers one.
PROCESS_KINDS = ("sterilization", "coating", "cleaning", "passivation", "heat_treatment")
APPROVAL_STATUSES = ("active", "suspended", "withdrawn")
RUN_STATUSES = ("draft", "submitted", "accepted", "rejected", "voided")


class ProcessApproval(Base):
    """This organization may perform this kind of process on our material, within
    ``valid_from`` … ``valid_until`` (inclusive; open-ended without an end), while active."""

    __tablename__ = "process_approvals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    process_kind: Mapped[str] = mapped_column(String(30))
    #: The quality agreement's reference in our QMS (document number), as we file it.
    agreement_reference: Mapped[str] = mapped_column(String(80))
    #: What the agreement covers, in words (method, site, product family).
    scope: Mapped[str] = mapped_column(Text, default="")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: When the contractor's process validation must be repeated (QMS-09). After that day
    #: the validation has lapsed: runs are refused, and a run that ended after it blocks the
    #: release of the lots it covers.
    revalidation_due: Mapped[dt.date | None] = mapped_column(Date)
    #: The validated cycle of the quality agreement: ``{"name", "unit", "lower", "upper"}``
    #: per parameter (decimal strings or null). A run's parameter grid starts from it, and a
    #: contractor cannot declare looser limits than these.
    validated_cycle: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    organization: Mapped[Organization] = relationship(lazy="joined")

    def validation_lapsed(self, day: dt.date) -> bool:
        """Whether the process validation had lapsed on ``day`` (QMS-09)."""
        return self.revalidation_due is not None and day > self.revalidation_due

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


class ProcessRun(Base):
    __tablename__ = "process_runs"
    __table_args__ = (UniqueConstraint("organization_id", "run_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("process_approvals.id"))
    process_kind: Mapped[str] = mapped_column(String(30))
    #: The contractor's run or load number, verbatim.
    run_number: Mapped[str] = mapped_column(String(80))
    cycle_id: Mapped[str | None] = mapped_column(String(80))
    #: Contractor-declared dates, stored as declared (DESIGN invariant 6).
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date] = mapped_column(Date)
    certificate_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    #: ``conforming`` when every value is within the limits the contractor declared.
    verdict: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_kind: Mapped[str] = mapped_column(String(10))
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: When the signed run was posted to the genealogy (edges, new lots).
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship(lazy="joined")
    approval: Mapped[ProcessApproval] = relationship(lazy="joined")
    certificate: Mapped[Document | None] = relationship(lazy="joined")
    values: Mapped[list[ProcessRunValue]] = relationship(
        lazy="selectin", order_by="ProcessRunValue.position"
    )
    lots: Mapped[list[ProcessRunLot]] = relationship(
        lazy="selectin", order_by="ProcessRunLot.position"
    )

    @property
    def parameters(self) -> list[ProcessRunValue]:
        return [v for v in self.values if v.kind == "parameter"]

    @property
    def results(self) -> list[ProcessRunValue]:
        return [v for v in self.values if v.kind == "result"]

    @property
    def inputs(self) -> list[ProcessRunLot]:
        return [lot for lot in self.lots if lot.role == "input"]

    @property
    def outputs(self) -> list[ProcessRunLot]:
        return [lot for lot in self.lots if lot.role == "output"]


class ProcessRunValue(Base):
    """A process parameter (dose, temperature, exposure time) or a result (BI, dosimetry) as
    the contractor declared it, with the limits it declared and the verdict against them."""

    __tablename__ = "process_run_values"
    __table_args__ = (UniqueConstraint("run_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("process_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "parameter" or "result"
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(80))
    value_text: Mapped[str] = mapped_column(String(200))
    value_numeric: Mapped[Decimal | None] = mapped_column(Quantity)
    unit: Mapped[str | None] = mapped_column(String(20))
    lower_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    upper_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    #: ``pass``, ``fail`` or ``report`` (no limit to judge against): against **our** limits
    #: where the part requires this process and names the value (COA-05), otherwise against
    #: the limits the contractor declared.
    verdict: Mapped[str] = mapped_column(String(10))
    #: Our acceptance limits for this value at submission (``part_required_processes``).
    our_lower_limit: Mapped[Decimal | None] = mapped_column(Quantity)
    our_upper_limit: Mapped[Decimal | None] = mapped_column(Quantity)


class ProcessRunLot(Base):
    """A lot of ours in a run: an input (sent out) or an output (came back). An output with
    ``same_identity`` is an input lot returned as itself; otherwise it is a new internal lot
    created when the run was posted."""

    __tablename__ = "process_run_lots"
    __table_args__ = (UniqueConstraint("run_id", "role", "lot_number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("process_runs.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # "input" or "output"
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: As the contractor wrote it; for inputs and same-identity outputs, our lot's number.
    lot_number: Mapped[str] = mapped_column(String(80))
    #: The internal lot (inputs: always; new outputs: once posted).
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("internal_lots.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(20))
    same_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    #: For a new output: the input lot numbers it came from, comma-separated.
    sources: Mapped[str] = mapped_column(Text, default="")

    lot: Mapped[InternalLot | None] = relationship(lazy="joined")
