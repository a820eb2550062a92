"""The signing steps every signed record of a supplier takes the same way: the step must be
allowed from the record's state and taken on the version the person saw (P11-08), the signer
re-authenticates and signs the latest version with a meaning from the controlled list
(P11-15, P11-20), and each change of state is a new version with its audit event.

A domain service keeps what differs — who may take a step, what it checks first, what a
decision does to other records — and calls these steps for the rest (``SigningFlow``).
Supplier lots, supplier certificates and outsourced process runs use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from trace_core.errors import Conflict, PermissionDenied
from trace_core.records.models import RecordVersion
from trace_core.records.service import SignatureView

if TYPE_CHECKING:
    from trace_core.identity.actor import Actor
    from trace_core.identity.service import SigningCredentials
    from trace_core.services import Services

#: The meaning the supplier's or contractor's signer gives a draft: it submits the record.
SUBMITTED_AS_ACCURATE = "submitted as accurate"


class SignedRecord(Protocol):
    """A record that moves through states, one version at a time."""

    @property
    def id(self) -> int: ...

    status: str
    version: int


Record = TypeVar("Record", bound=SignedRecord)


def submitted_as_accurate(signatures: Iterable[SignatureView]) -> bool:
    """Whether a valid *submitted as accurate* signature covers the current version: a
    revised record's old signature belongs to the old version (P11-17)."""
    return any(
        s.meaning == SUBMITTED_AS_ACCURATE and s.valid and s.covers_current for s in signatures
    )


def require_signing_person(actor: Actor) -> None:
    """Only a named person signs; machine clients create drafts and cannot sign (DI-01)."""
    if actor.kind != "user" or actor.id is None:
        raise PermissionDenied("Only a named person can sign; machine clients cannot.")


@dataclass(frozen=True)
class SigningFlow(Generic[Record]):
    """One kind of signed record: its record type, the word people know it by (``noun``, in
    messages and in the purpose a signature is asked for), its legal transitions and what a
    refused step is called in the past tense, its versions' content, and what a person whose
    view went stale is asked to do."""

    services: Services
    record_type: str
    noun: str
    transitions: Mapping[tuple[str, str], str]
    past: Mapping[str, str]
    content: Callable[[Record], dict[str, Any]]
    look_again: str = "look at it again"

    def allowed(self, record: Record, action: str, expected_version: int) -> Record:
        """``record`` if ``action`` is legal from its state and it is still the version the
        person saw; otherwise a Conflict (409) that changes nothing."""
        if (record.status, action) not in self.transitions:
            raise Conflict(
                f"A {self.noun} that is {record.status} cannot be {self.past_of(action)}."
            )
        if record.version != expected_version:
            raise Conflict(
                f"The {self.noun} changed while you were looking at it (now version "
                f"{record.version}, you saw {expected_version}); {self.look_again}."
            )
        return record

    def past_of(self, action: str) -> str:
        return self.past.get(action, action)

    async def sign(
        self,
        actor: Actor,
        record: Record,
        credentials: SigningCredentials,
        step: str,
        meaning: str,
        comment: str | None = None,
    ) -> None:
        """Re-authenticate the signer for ``step`` (``sign``, ``decide``; a wrong or missing
        component is audited and refused) and sign the latest version with ``meaning``."""
        signer = await self.services.identity.reauthenticate(
            actor, credentials, f"{step} {self.noun} {record.id}"
        )
        keeper = self.services.keeper
        version = await keeper.latest_version(self.record_type, record.id)
        assert version is not None
        await keeper.sign(version, signer, meaning, comment)

    async def history(self, record_id: int) -> tuple[list[SignatureView], list[RecordVersion]]:
        """The record's signatures, each verified against its own version, and its versions."""
        keeper = self.services.keeper
        return (
            await keeper.signatures(self.record_type, record_id),
            await keeper.versions(self.record_type, record_id),
        )

    async def move(self, record: Record, status: str, reason: str | None = None) -> Record:
        """Set the new state, write it as a version with its audit event, and commit."""
        record.status = status
        keeper = self.services.keeper
        row = await keeper.write_version(
            self.record_type,
            record.id,
            status=status,
            action="status",
            data=self.content(record),
            reason=reason,
        )
        record.version = row.version
        await keeper.commit()
        return record
