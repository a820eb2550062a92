"""Supplier certificates (CERT-01): the supplier records a certificate with its PDF, scope and
validity and signs it; our QA accepts or rejects it with a signature, and may later suspend or
withdraw it (signed, with a reason and the day it stopped holding). The supplier may withdraw
its own certificate with a reason.

States: draft → submitted (the supplier's signer signs *submitted as accurate*) → accepted
(QA signs *approved*) | rejected (QA signs *rejected*); accepted → suspended (QA signs
*suspended*); draft, submitted, accepted or suspended → withdrawn (the supplier with a reason,
or QA signing *withdrawn*). Machine clients create drafts only: they cannot sign (DI-01). Every
step is a record version with its audit event; a stale version or an illegal step is 409.
External actors reach only their own organization's certificates (404 otherwise).
"""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.attachments.models import Document
from trace_core.certificates.coverage import RECORD, Coverage, coverage_on
from trace_core.certificates.evidence import certificate_evidence
from trace_core.certificates.models import CertificatePart, SupplierCertificate
from trace_core.dates import parse_date
from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.identity.service import SigningCredentials
from trace_core.lots.models import SupplierLot
from trace_core.parts.models import Part
from trace_core.records.models import RecordVersion
from trace_core.records.service import SignatureView
from trace_core.records.signing import (
    SUBMITTED_AS_ACCURATE,
    SigningFlow,
    require_signing_person,
    submitted_as_accurate,
)

if TYPE_CHECKING:
    from trace_core.services import Services

#: Legal transitions; anything else is refused with 409 and changes nothing (P11-08).
TRANSITIONS = {
    ("draft", "sign"): "submitted",
    ("submitted", "accept"): "accepted",
    ("submitted", "reject"): "rejected",
    ("accepted", "suspend"): "suspended",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("accepted", "withdraw"): "withdrawn",
    ("suspended", "withdraw"): "withdrawn",
}
#: The states from which our QA may take each decision: a submitted certificate is accepted
#: or rejected (not withdrawn for the supplier); only one we relied on is suspended or
#: withdrawn by us.
QA_DECISIONS = {
    "accept": ("submitted",),
    "reject": ("submitted",),
    "suspend": ("accepted",),
    "withdraw": ("accepted", "suspended"),
}
#: The meaning QA signs for each of its decisions (the controlled list, P11-15).
DECISION_MEANINGS = {
    "accept": "approved",
    "reject": "rejected",
    "suspend": "suspended",
    "withdraw": "withdrawn",
}
#: What a refused step is called in its message.
PAST = {
    "sign": "signed",
    "accept": "accepted",
    "reject": "rejected",
    "suspend": "suspended",
    "withdraw": "withdrawn",
}
#: An accepted certificate ending within this many days is flagged on QA's list.
EXPIRY_WARNING_DAYS = 60
MAX_SITES = 20
MAX_PARTS = 200


@dataclass(frozen=True)
class CertificateInput:
    standard: str
    certificate_number: str
    issuer: str
    sites: list[str]
    valid_from: str | dt.date
    valid_until: str | dt.date
    document_id: int | None
    product_scope: str = ""
    part_numbers: list[str] = field(default_factory=list)
    part_kinds: list[str] = field(default_factory=list)


@dataclass
class CertificateDetail:
    certificate: SupplierCertificate
    signatures: list[SignatureView]
    versions: list[RecordVersion]

    @property
    def supplier_signed(self) -> bool:
        return submitted_as_accurate(self.signatures)


def validity_flag(certificate: SupplierCertificate, today: dt.date) -> str | None:
    """For QA's list: ``lapsed`` (an accepted certificate past its end), ``expiring`` (ends
    within ``EXPIRY_WARNING_DAYS``), ``not_yet_valid``, or None."""
    if certificate.status != "accepted":
        return None
    if certificate.valid_until < today:
        return "lapsed"
    if certificate.valid_from > today:
        return "not_yet_valid"
    if certificate.valid_until <= today + dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return None


def certificate_content(certificate: SupplierCertificate) -> dict[str, Any]:
    """The data of a certificate version: everything the supplier declared, and the day it
    stopped holding once suspended or withdrawn."""
    document = certificate.document
    return {
        "organization_id": certificate.organization_id,
        "supplier": certificate.organization.name,
        "standard": certificate.standard,
        "certificate_number": certificate.certificate_number,
        "issuer": certificate.issuer,
        "sites": certificate.site_list,
        "product_scope": certificate.product_scope,
        "part_numbers": certificate.part_numbers,
        "part_kinds": certificate.kinds,
        "valid_from": certificate.valid_from,
        "valid_until": certificate.valid_until,
        "document": {"id": document.id, "sha256": document.sha256, "filename": document.filename},
        "ended_on": certificate.ended_on,
    }


def _text(value: str, name: str, limit: int, what: str, errors: dict[str, str]) -> str:
    value = (value or "").strip()
    if not value:
        errors[name] = f"{what} is required."
    elif len(value) > limit:
        errors[name] = f"{what} is longer than {limit} characters."
    return value


class CertificateService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper
        self.flow = SigningFlow(
            services, RECORD, "certificate", TRANSITIONS, PAST, certificate_content
        )

    # -- reading --------------------------------------------------------------------------------

    async def get(self, actor: Actor, certificate_id: int) -> SupplierCertificate:
        """The certificate if the actor may see it (scoped in the query); otherwise NotFound."""
        actor.require("lots.read")
        query = select(SupplierCertificate).where(SupplierCertificate.id == certificate_id)
        query = actor.visible(query, SupplierCertificate.organization_id)
        found = await self.session.scalar(query)
        if found is None:
            raise NotFound("No such certificate.")
        return found

    async def detail(self, actor: Actor, certificate_id: int) -> CertificateDetail:
        certificate = await self.get(actor, certificate_id)
        return CertificateDetail(certificate, *await self.flow.history(certificate.id))

    async def list(
        self,
        actor: Actor,
        status: str | None = None,
        organization_id: int | None = None,
        limit: int = 200,
    ) -> builtins.list[SupplierCertificate]:
        """Certificates the actor may see, soonest to end first: all for our people, its own
        for a supplier."""
        actor.require("lots.read")
        query = select(SupplierCertificate).order_by(
            SupplierCertificate.valid_until, SupplierCertificate.id
        )
        query = actor.visible(query, SupplierCertificate.organization_id)
        if actor.is_internal and organization_id is not None:
            query = query.where(SupplierCertificate.organization_id == organization_id)
        if status:
            query = query.where(SupplierCertificate.status == status)
        return list((await self.session.scalars(query.limit(limit))).unique())

    async def part_kinds(self) -> builtins.list[str]:
        """The kinds of part we buy (``Part.kind``), for the scope's choices."""
        return sorted(await self.session.scalars(select(Part.kind).distinct()))

    async def coverage(
        self, actor: Actor, organization_id: int, part_number: str, day: dt.date
    ) -> Coverage:
        """Was ``part_number`` from this supplier covered on ``day``, with what we know now?
        A supplier may ask only about itself."""
        actor.require("lots.read")
        if not actor.is_internal and organization_id != actor.organization_id:
            raise NotFound("No such organization.")
        part = await self.session.scalar(select(Part).where(Part.number == part_number.strip()))
        if part is None:
            raise ValidationFailed({"part_number": f"We have no part {part_number}."})
        return await coverage_on(self.session, organization_id, part.id, part.kind, day)

    async def supplier_names(self, actor: Actor) -> builtins.list[str]:
        """The names ``check`` takes: every supplier and contract manufacturer (our staff's
        choice; a supplier asks about itself only)."""
        actor.require("lots.read")
        if not actor.is_internal:
            return []
        names = await self.session.scalars(
            select(Organization.name)
            .where(Organization.kind != "internal")
            .order_by(Organization.name)
        )
        return list(names)

    async def check(
        self, actor: Actor, supplier: str | None, part_number: str, day: str
    ) -> tuple[Organization, Coverage]:
        """``coverage`` asked as a person or a client asks it: the supplier by name (a
        supplier asks about itself and may leave it out), our part number, and any day as
        ``YYYY-MM-DD`` — past, today or ahead. Every missing or unknown input is named."""
        actor.require("lots.read")
        errors: dict[str, str] = {}
        when: dt.date | None = None
        try:
            when = dt.date.fromisoformat((day or "").strip())
        except ValueError:
            errors["date"] = f"{day.strip()!r} is not a date; write it as YYYY-MM-DD."
        if not (part_number or "").strip():
            errors["part_number"] = "Name the part (our part number)."
        name = (supplier or "").strip()
        organization: Organization | None = None
        if not actor.is_internal:
            organization = await self.session.get(Organization, actor.organization_id)
            if organization is None or (name and name != organization.name):
                raise NotFound("You may ask only about your own certificates.")
        elif not name:
            errors["supplier"] = "Name the supplier."
        else:
            organization = await self.session.scalar(
                select(Organization).where(
                    Organization.name == name, Organization.kind != "internal"
                )
            )
            if organization is None:
                errors["supplier"] = f"We have no supplier named {name!r}."
        if errors or organization is None or when is None:
            raise ValidationFailed(errors)
        return organization, await self.coverage(actor, organization.id, part_number, when)

    async def for_supplier_lot(self, actor: Actor, lot: SupplierLot) -> dict[str, Any]:
        """For a lot's review page: each receipt's check (``evidence.certificate_evidence``)
        and, for a lot not received yet, what a receipt today would find."""
        actor.require("lots.read")
        if not actor.is_internal and lot.organization_id != actor.organization_id:
            raise NotFound("No such lot.")
        receipts = (await certificate_evidence(self.session, [lot.id])).get(lot.id, [])
        today = await coverage_on(
            self.session, lot.organization_id, lot.part_id, lot.part.kind, utc_now().date()
        )
        return {"receipts": receipts, "today": today.as_dict()}

    # -- the supplier ---------------------------------------------------------------------------

    async def submit(self, actor: Actor, data: CertificateInput) -> SupplierCertificate:
        """Validate and record a certificate as a draft. Every problem is reported at once, per
        field; nothing is written unless all of it is valid."""
        actor.require("lots.submit")
        if actor.is_internal or actor.organization_id is None:
            raise PermissionDenied("Only the supplier's people and systems submit certificates.")
        errors: dict[str, str] = {}
        standard = _text(data.standard, "standard", 80, "The standard", errors)
        number = _text(
            data.certificate_number, "certificate_number", 80, "The certificate number", errors
        )
        issuer = _text(data.issuer, "issuer", 200, "The certification body", errors)
        sites = [s.strip() for s in data.sites if s.strip()]
        if not sites:
            errors["sites"] = "Name at least one site the certificate covers, as printed on it."
        elif len(sites) > MAX_SITES or any(len(s) > 300 for s in sites):
            errors["sites"] = f"At most {MAX_SITES} sites of 300 characters each."
        scope = (data.product_scope or "").strip()
        if len(scope) > 2000:
            errors["product_scope"] = "The scope statement is longer than 2000 characters."
        valid_from = parse_date(data.valid_from, "valid_from", errors)
        valid_until = parse_date(data.valid_until, "valid_until", errors)
        if valid_from and valid_until and valid_until < valid_from:
            errors["valid_until"] = (
                f"The certificate cannot expire ({valid_until}) before it becomes valid "
                f"({valid_from})."
            )
        parts = await self._parts(data.part_numbers, errors)
        kinds = await self._kinds(data.part_kinds, errors)
        if not parts and not kinds and "parts" not in errors and "part_kinds" not in errors:
            errors["parts"] = (
                "Say which of the parts you supply us the certificate covers: part numbers, "
                "or whole kinds of part."
            )
        document: Document | None = None
        if data.document_id is None:
            errors["document"] = "Attach the certificate as a PDF."
        else:
            try:
                document = await self.s.attachments.get(actor, data.document_id)
            except NotFound:
                errors["document"] = "The certificate document was not found."
        if errors:
            raise ValidationFailed(errors)
        assert valid_from and valid_until and document is not None
        certificate = SupplierCertificate(
            organization_id=actor.organization_id,
            organization=await self.session.get(Organization, actor.organization_id),
            standard=standard,
            certificate_number=number,
            issuer=issuer,
            sites="\n".join(sites),
            product_scope=scope,
            part_kinds=",".join(kinds),
            valid_from=valid_from,
            valid_until=valid_until,
            document_id=document.id,
            document=document,
            status="draft",
            version=1,
            created_by_kind=actor.kind,
            created_by_id=actor.id,
        )
        self.session.add(certificate)
        await self.session.flush()
        for position, part in enumerate(parts):
            self.session.add(
                CertificatePart(certificate_id=certificate.id, part_id=part.id, position=position)
            )
        await self.session.flush()
        await self.session.refresh(certificate, ["parts"])
        await self.keeper.write_version(
            RECORD,
            certificate.id,
            status="draft",
            action="create",
            data=certificate_content(certificate),
        )
        await self.keeper.commit()
        return certificate

    async def _parts(
        self, numbers: builtins.list[str], errors: dict[str, str]
    ) -> builtins.list[Part]:
        wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
        if len(wanted) > MAX_PARTS:
            errors["parts"] = f"At most {MAX_PARTS} part numbers per certificate."
            return []
        if not wanted:
            return []
        found = {
            p.number: p
            for p in await self.session.scalars(select(Part).where(Part.number.in_(wanted)))
        }
        unknown = [n for n in wanted if n not in found]
        if unknown:
            errors["parts"] = (
                f"We have no part {', '.join(unknown)}; give our part numbers as on our "
                "purchase orders."
            )
            return []
        return [found[n] for n in wanted]

    async def _kinds(self, kinds: builtins.list[str], errors: dict[str, str]) -> builtins.list[str]:
        wanted = list(dict.fromkeys(k.strip() for k in kinds if k.strip()))
        if not wanted:
            return []
        known = await self.part_kinds()
        unknown = [k for k in wanted if k not in known]
        if unknown:
            errors["part_kinds"] = (
                f"'{', '.join(unknown)}' is not a kind of part we buy; use one of: "
                + ", ".join(known)
            )
            return []
        return wanted

    async def sign(
        self,
        actor: Actor,
        certificate_id: int,
        credentials: SigningCredentials,
        expected_version: int,
    ) -> SupplierCertificate:
        """The supplier's signer signs the draft (*submitted as accurate*): it goes to our QA."""
        require_signing_person(actor)
        actor.require("lots.sign")
        if actor.is_internal:
            raise PermissionDenied("The supplier signs its own certificate.")
        certificate = await self._for_transition(actor, certificate_id, "sign", expected_version)
        await self.flow.sign(actor, certificate, credentials, "sign", SUBMITTED_AS_ACCURATE)
        return await self.flow.move(certificate, "submitted")

    async def withdraw(
        self,
        actor: Actor,
        certificate_id: int,
        reason: str,
        expected_version: int,
        ended_on: str | dt.date | None = None,
    ) -> SupplierCertificate:
        """The supplier withdraws its own certificate, with a reason and the first day it no
        longer holds (default today). Nothing is deleted (DI-04)."""
        actor.require("lots.submit")
        if actor.is_internal:
            raise PermissionDenied(
                "Our QA withdraws a certificate with a signed decision, not here."
            )
        certificate = await self._for_transition(
            actor, certificate_id, "withdraw", expected_version
        )
        errors: dict[str, str] = {}
        reason = (reason or "").strip()
        if not reason:
            errors["reason"] = "Say why the certificate is withdrawn."
        # Only a certificate we relied on needs the day it stopped holding.
        end = None
        if certificate.accepted_at is not None:
            end = self._ended_on(certificate, ended_on, errors)
        if errors:
            raise ValidationFailed(errors)
        if end is not None:
            self._end(certificate, end)
        return await self.flow.move(certificate, "withdrawn", reason=reason)

    # -- our QA ---------------------------------------------------------------------------------

    async def decide(
        self,
        actor: Actor,
        certificate_id: int,
        decision: str,
        credentials: SigningCredentials,
        comment: str,
        expected_version: int,
        ended_on: str | dt.date | None = None,
    ) -> SupplierCertificate:
        """QA accepts or rejects a submitted certificate, or suspends or withdraws an accepted
        one, each with an e-signature. Anything but an acceptance needs a reason; a suspension
        or withdrawal names the first day the certificate no longer held (default today)."""
        actor.require("lots.approve")
        if actor.kind != "user" or actor.id is None or not actor.is_internal:
            raise PermissionDenied("Only a named QA approver of ours decides on a certificate.")
        if decision not in DECISION_MEANINGS:
            raise ValidationFailed({"decision": "Choose accept, reject, suspend or withdraw."})
        certificate = await self._for_transition(actor, certificate_id, decision, expected_version)
        if certificate.status not in QA_DECISIONS[decision]:
            raise Conflict(
                f"A certificate that is {certificate.status} cannot be "
                f"{self.flow.past_of(decision)} by us."
            )
        errors: dict[str, str] = {}
        comment = (comment or "").strip()
        if decision != "accept" and not comment:
            errors["comment"] = f"Say why the certificate is {self.flow.past_of(decision)}."
        end = None
        if decision in ("suspend", "withdraw") and certificate.accepted_at is not None:
            end = self._ended_on(certificate, ended_on, errors)
        if errors:
            raise ValidationFailed(errors)
        if decision == "accept" and not await self._supplier_signed(certificate):
            raise Conflict(
                "The supplier's signature does not cover this version; it cannot be accepted."
            )
        await self.flow.sign(
            actor, certificate, credentials, "decide", DECISION_MEANINGS[decision], comment
        )
        if decision == "accept":
            certificate.accepted_at = utc_now()
        if end is not None:
            self._end(certificate, end)
        return await self.flow.move(
            certificate, TRANSITIONS[(certificate.status, decision)], reason=comment or None
        )

    # -- shared ---------------------------------------------------------------------------------

    def _ended_on(
        self,
        certificate: SupplierCertificate,
        value: str | dt.date | None,
        errors: dict[str, str],
    ) -> dt.date | None:
        today = utc_now().date()
        if value in (None, ""):
            return today
        end = parse_date(value, "ended_on", errors)
        if end is None:
            return None
        if end > today:
            errors["ended_on"] = "The end date cannot be in the future; record it on that day."
        elif end < certificate.valid_from:
            errors["ended_on"] = (
                f"The certificate became valid only on {certificate.valid_from}; it cannot end "
                "before that."
            )
        return end

    @staticmethod
    def _end(certificate: SupplierCertificate, end: dt.date) -> None:
        """A certificate suspended from one day and withdrawn from a later one stopped holding
        on the first: a withdrawal never makes days after a suspension covered again."""
        if certificate.ended_on is None or end < certificate.ended_on:
            certificate.ended_on = end

    async def _supplier_signed(self, certificate: SupplierCertificate) -> bool:
        return submitted_as_accurate(await self.keeper.signatures(RECORD, certificate.id))

    async def _for_transition(
        self, actor: Actor, certificate_id: int, action: str, expected_version: int
    ) -> SupplierCertificate:
        return self.flow.allowed(await self.get(actor, certificate_id), action, expected_version)
