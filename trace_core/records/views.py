"""Reading any regulated record the same way: every version, the differences between them,
the signatures (verified on read), the audit events and the documents it refers to.

Scoping is done here, in the query layer: an external actor sees only record types that
belong to an organization, and only its own organization's records; anything else is
``NotFound`` — the same answer as for an id that does not exist (P11-04).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.attachments.models import Document
from trace_core.db import Base
from trace_core.errors import NotFound
from trace_core.identity.actor import Actor
from trace_core.records.models import AuditEvent, RecordVersion
from trace_core.records.registry import RECORD_TYPES, RecordType
from trace_core.records.service import SignatureView

if TYPE_CHECKING:
    from trace_core.services import Services


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass
class RecordView:
    type: RecordType
    record_id: int
    versions: list[RecordVersion]
    signatures: list[SignatureView]
    events: list[AuditEvent]
    documents: list[Document]

    @property
    def current(self) -> RecordVersion:
        return self.versions[-1]

    @property
    def title(self) -> str:
        key = self.type.title_key
        value = self.current.content.get(key) if key else None
        return f"{self.type.label} {value if value else self.record_id}"

    @property
    def revised(self) -> bool:
        """Changed after first entry (A11-05): any revision after the first version."""
        return any(v.action == "revise" for v in self.versions)

    @property
    def voided(self) -> bool:
        return self.current.status == "voided"

    @property
    def page(self) -> str | None:
        return self.type.page.format(id=self.record_id) if self.type.page else None

    def version(self, number: int | None) -> RecordVersion:
        if number is None:
            return self.current
        for row in self.versions:
            if row.version == number:
                return row
        raise NotFound(f"{self.type.label} {self.record_id} has no version {number}.")

    def changes(self, number: int | None = None) -> builtins.list[FieldChange]:
        """What version ``number`` changed compared with the version before it."""
        row = self.version(number)
        if row.version == 1:
            return []
        before = self.version(row.version - 1)
        old = flatten({"status": before.status, **before.content})
        new = flatten({"status": row.status, **row.content})
        return [
            FieldChange(key, old.get(key), new.get(key))
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        ]

    def signatures_of(self, number: int) -> builtins.list[SignatureView]:
        return [s for s in self.signatures if s.version == number]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested content as ``path → value``; list items that carry a ``code`` are addressed by
    it (``results[MFI].value``) so a diff names the characteristic, not a position."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            label = item.get("code", index) if isinstance(item, dict) else index
            out.update(flatten(item, f"{prefix}[{label}]"))
    else:
        out[prefix] = value
    return out


def referenced_document_ids(record_type: str, record_id: int, content: dict[str, Any]) -> set[int]:
    """Documents a record version points at (a CoA, an attachment) — or itself."""
    if record_type == "document":
        return {record_id}
    found: set[int] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            if key.endswith("document") and isinstance(value.get("id"), int):
                found.add(value["id"])
            for child_key, child in value.items():
                walk(child, str(child_key))
        elif isinstance(value, list):
            for child in value:
                walk(child, key)

    walk(content)
    return found


class RecordService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session

    async def record(self, actor: Actor, record_type: str, record_id: int) -> RecordView:
        kind = RECORD_TYPES.get(record_type)
        if kind is None:
            raise NotFound(f"There is no record type '{record_type}'.")
        await self._check_access(actor, kind, record_id)
        versions = await self.s.keeper.versions(record_type, record_id)
        if not versions:
            raise NotFound(f"No such {kind.label.lower()}.")
        events = await self.events(record_type, record_id)
        document_ids: set[int] = set()
        for row in versions:
            document_ids |= referenced_document_ids(record_type, record_id, row.content)
        documents = (
            list(
                await self.session.scalars(
                    select(Document).where(Document.id.in_(document_ids)).order_by(Document.id)
                )
            )
            if document_ids
            else []
        )
        return RecordView(
            kind,
            record_id,
            versions,
            await self.s.keeper.signatures(record_type, record_id),
            events,
            documents,
        )

    async def events(self, record_type: str, record_id: int) -> builtins.list[AuditEvent]:
        """The record's audit events in chain order (callers have checked access)."""
        return list(
            await self.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
                .order_by(AuditEvent.seq)
            )
        )

    async def _check_access(self, actor: Actor, kind: RecordType, record_id: int) -> None:
        if actor.is_internal or actor.kind == "system":
            if not actor.can(kind.permission) and actor.kind != "system":
                raise NotFound(f"No such {kind.label.lower()}.")
            return
        if kind.external_table is None or not actor.can(kind.permission):
            raise NotFound(f"No such {kind.label.lower()}.")
        table = Base.metadata.tables[kind.external_table]
        owner = await self.session.scalar(
            select(table.c.organization_id).where(table.c.id == record_id)
        )
        if owner is None or owner != actor.organization_id:
            raise NotFound(f"No such {kind.label.lower()}.")
