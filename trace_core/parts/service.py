"""Parts and specifications as suppliers and staff see them, and their set-up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from trace_core.errors import NotFound
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.parts.models import ApprovedSupplier, Characteristic, Part, Specification

if TYPE_CHECKING:
    from trace_core.services import Services


@dataclass(frozen=True)
class CharacteristicInput:
    code: str
    name: str
    kind: str
    unit: str | None = None
    lower: Decimal | None = None
    upper: Decimal | None = None
    expected_text: str | None = None
    method: str | None = None
    required: bool = True
    #: Physical bounds apart from the acceptance limits (moisture ≥ 0, a percentage ≤ 100).
    physical_min: Decimal | None = None
    physical_max: Decimal | None = None


class PartService:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    async def parts_for(self, actor: Actor) -> list[tuple[Part, Specification | None]]:
        """Parts the actor may see with their effective specification: for an external
        organization only the parts it is approved to supply (scoped in the query)."""
        actor.require("parts.read")
        query = select(Part).order_by(Part.number)
        if not actor.is_internal:
            query = query.join(ApprovedSupplier, ApprovedSupplier.part_id == Part.id).where(
                ApprovedSupplier.organization_id == actor.organization_id,
                ApprovedSupplier.status == "approved",
            )
        parts = list((await self.session.scalars(query)).unique())
        specs = {
            spec.part_id: spec
            for spec in await self.session.scalars(
                select(Specification).where(
                    Specification.part_id.in_([p.id for p in parts]),
                    Specification.status == "effective",
                )
            )
        }
        return [(part, specs.get(part.id)) for part in parts]

    async def part_for(self, actor: Actor, part_number: str) -> tuple[Part, Specification | None]:
        for part, spec in await self.parts_for(actor):
            if part.number == part_number:
                return part, spec
        raise NotFound(f"Part {part_number!r} is not one you may supply.")

    async def effective_specification(self, part_id: int) -> Specification | None:
        return await self.session.scalar(
            select(Specification).where(
                Specification.part_id == part_id, Specification.status == "effective"
            )
        )

    async def is_approved_supplier(self, organization_id: int, part_id: int) -> bool:
        entry = await self.session.scalar(
            select(ApprovedSupplier).where(
                ApprovedSupplier.organization_id == organization_id,
                ApprovedSupplier.part_id == part_id,
            )
        )
        return entry is not None and entry.status == "approved"

    # -- set-up ---------------------------------------------------------------------------
    async def create_part(
        self,
        number: str,
        name: str,
        *,
        kind: str = "material",
        unit: str = "kg",
        gtin: str | None = None,
        implantable: bool = False,
    ) -> Part:
        part = Part(
            number=number, name=name, kind=kind, unit=unit, gtin=gtin, implantable=implantable
        )
        self.session.add(part)
        await self.session.flush()
        await self.keeper.write_version(
            "part",
            part.id,
            status="active",
            action="create",
            data={
                "number": number,
                "name": name,
                "kind": kind,
                "unit": unit,
                "gtin": gtin,
                "implantable": implantable,
            },
        )
        return part

    async def create_specification(
        self,
        part: Part,
        revision: str,
        title: str,
        effective_from: dt.date,
        characteristics: list[CharacteristicInput],
    ) -> Specification:
        spec = Specification(
            part_id=part.id,
            revision=revision,
            title=title,
            effective_from=effective_from,
            status="effective",
        )
        self.session.add(spec)
        await self.session.flush()
        for position, item in enumerate(characteristics):
            self.session.add(
                Characteristic(
                    specification_id=spec.id,
                    position=position,
                    code=item.code,
                    name=item.name,
                    kind=item.kind,
                    unit=item.unit,
                    lower_limit=item.lower,
                    upper_limit=item.upper,
                    expected_text=item.expected_text,
                    method=item.method,
                    required=item.required,
                    physical_min=item.physical_min,
                    physical_max=item.physical_max,
                )
            )
        await self.session.flush()
        await self.session.refresh(spec, ["characteristics"])
        await self.keeper.write_version(
            "specification",
            spec.id,
            status="effective",
            action="create",
            data={
                "part_id": part.id,
                "revision": revision,
                "title": title,
                "effective_from": effective_from,
                "characteristics": [
                    {
                        "code": c.code,
                        "name": c.name,
                        "kind": c.kind,
                        "unit": c.unit,
                        "lower": c.lower,
                        "upper": c.upper,
                        "expected_text": c.expected_text,
                        "method": c.method,
                        "required": c.required,
                        "physical_min": c.physical_min,
                        "physical_max": c.physical_max,
                    }
                    for c in characteristics
                ],
            },
        )
        return spec

    async def approve_supplier(
        self, part: Part, organization: Organization, risk_class: str = "B"
    ) -> ApprovedSupplier:
        entry = ApprovedSupplier(
            part_id=part.id,
            organization_id=organization.id,
            status="approved",
            risk_class=risk_class,
        )
        self.session.add(entry)
        await self.session.flush()
        await self.keeper.write_version(
            "approved_supplier",
            entry.id,
            status="approved",
            action="create",
            data={"part_id": part.id, "organization_id": organization.id, "risk_class": risk_class},
        )
        return entry
