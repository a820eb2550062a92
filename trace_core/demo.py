"""Demo data: our company, a resin supplier and a contract sterilizer, their people and
machine clients, parts with specifications, and one complete slice (approved lots, a receipt,
a work order with serials, the finished lot's gamma sterilization at SteriPro under its
quality agreement, a shipment, and a case on a pallet shipped by its SSCC) so that a newcomer
can trace ``SN-DEMO-0001`` at once. Both suppliers hold an accepted certificate: Acme's
ISO 13485 covers its resin on the receipt date; SteriPro's ISO 11137 lapsed ten days before
its lot was received, so that receipt is flagged for QA (CERT-01).

Every record is created through the services, so the demo data has versions, audit events
and real signatures like any other data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from documents.pdf import make_pdf
from trace_core.certificates.service import CertificateInput
from trace_core.identity.access import VERIFICATION_METHODS, AccessService
from trace_core.identity.actor import Actor
from trace_core.identity.models import Organization
from trace_core.identity.service import SigningCredentials, actor_for_user
from trace_core.lots.service import LotSubmission, ResultInput
from trace_core.packing.service import PackInput
from trace_core.packing.sscc import SsccRange
from trace_core.parts.service import CharacteristicInput
from trace_core.processes.service import ApprovalInput, LotLine, MeasuredValue, RunSubmission
from trace_core.production.service import ConsumedLot, WorkOrderInputData
from trace_core.receipts.inspection import PlanItemInput
from trace_core.receipts.service import ReceiptInput
from trace_core.services import Runtime, provide_services
from trace_core.shipments.service import ShipmentInput

DEMO_PASSWORD = "Traceport-demo-1"  # noqa: S105 - printed on purpose: demo accounts only
OUR_COMPANY = "Traceport Medical"
#: The demo plant's GS1 company prefix (its GTIN 00614141000012), extension digit 0.
DEMO_SSCC_RANGE = SsccRange("0614141", 0)
#: SN-DEMO-0008..0010 packed into this case, the case onto this pallet, shipped on SH-0002.
DEMO_CASE_SSCC = DEMO_SSCC_RANGE.make(1)
DEMO_PALLET_SSCC = DEMO_SSCC_RANGE.make(2)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    organization: str
    roles: tuple[str, ...]
    purpose: str


ACCOUNTS = (
    DemoAccount(
        "anna@acme-polymers.example",
        "Anna Schmidt",
        "Acme Polymers",
        ("supplier_signer",),
        "supplier signer",
    ),
    DemoAccount(
        "sam@steripro.example",
        "Sam Okafor",
        "SteriPro",
        ("cm_signer",),
        "contract manufacturer signer",
    ),
    DemoAccount(
        "qa@traceport.example", "Quinn Avery", OUR_COMPANY, ("qa_approver",), "QA approver"
    ),
    DemoAccount(
        "ops@traceport.example",
        "Olivia Park",
        OUR_COMPANY,
        ("operations",),
        "receipts and production",
    ),
    DemoAccount(
        "admin@traceport.example",
        "Ada Brennan",
        OUR_COMPANY,
        ("admin",),
        "administrator: organizations, invitations, identity checks",
    ),
)

CLIENTS = (
    (
        "acme-edi",
        "acme-edi-secret",
        "Acme Polymers",
        ["parts:read", "lots:read", "lots:write", "documents:write", "trace:read"],
    ),
    (
        "steripro-edi",
        "steripro-edi-secret",
        "SteriPro",
        ["parts:read", "lots:read", "lots:write", "documents:write", "trace:read"],
    ),
    (
        "traceport-erp",
        "traceport-erp-secret",
        OUR_COMPANY,
        [
            "parts:read",
            "lots:read",
            "trace:read",
            "audit:read",
            "receipts:write",
            "production:write",
            "shipments:write",
            "events:write",
            "holds:write",
        ],
    ),
)

RESIN_SPEC = [
    CharacteristicInput(
        "MFI",
        "Melt flow index (372 °C, 5 kg)",
        "numeric",
        "g/10min",
        Decimal(8),
        Decimal(12),
        method="ISO 1133",
        physical_min=Decimal(0),
    ),
    # A moisture content is a percentage of the sample's mass: it cannot be below 0 or above
    # 100, whatever our limit is; a value outside is a typing error, not a result.
    CharacteristicInput(
        "MOIST",
        "Moisture content",
        "numeric",
        "%",
        None,
        Decimal("0.05"),
        method="ISO 15512",
        physical_min=Decimal(0),
        physical_max=Decimal(100),
    ),
    CharacteristicInput(
        "DENS",
        "Density",
        "numeric",
        "g/cm3",
        Decimal("1.29"),
        Decimal("1.31"),
        method="ISO 1183",
        physical_min=Decimal(0),
    ),
    CharacteristicInput("CYTO", "Cytotoxicity (ISO 10993-5)", "pass_fail", method="ISO 10993-5"),
    CharacteristicInput("APPEAR", "Appearance", "text", expected_text="Conforms"),
]
STERILE_SPEC = [
    CharacteristicInput(
        "DOSE",
        "Minimum absorbed dose",
        "numeric",
        "kGy",
        Decimal(25),
        None,
        method="ISO 11137-1",
        physical_min=Decimal(0),
    ),
    CharacteristicInput("BI", "Biological indicator", "pass_fail", method="ISO 11138"),
    CharacteristicInput(
        "DOSIM",
        "Dosimeter reading (maximum)",
        "numeric",
        "kGy",
        None,
        Decimal(45),
        physical_min=Decimal(0),
    ),
]


#: Our limits for FG-1000's gamma sterilization (COA-05), by the run values' names.
FG_1000_STERILIZATION = [
    {"name": "Dosimetry minimum", "unit": "kGy", "lower": "25", "upper": None},
    {"name": "Biological indicator", "unit": None, "lower": None, "upper": None},
]
#: The demo's implant consignee (QMS-12): name, postal address, contact person, telephone.
DEMO_CONSIGNEE = (
    "St. Mary's Hospital, Central Sterile Supply",
    "12 Harbour Road, Cork T12 XY34, Ireland",
    "Aoife Byrne, CSSD manager",
    "+353 21 555 0199",
)


async def demo_present(runtime: Runtime) -> bool:
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Organization).where(Organization.name == OUR_COMPANY)
        )
        return bool(count)


async def seed_demo(runtime: Runtime) -> None:
    """Create the demo data set (call once, on an empty database)."""
    system = Actor.system("cli")
    async with provide_services(runtime, system) as s:
        ours = await s.identity.create_organization(
            OUR_COMPANY, "internal", "1 Device Way, Galway, Ireland"
        )
        acme = await s.identity.create_organization(
            "Acme Polymers", "supplier", "Industriestraße 4, 67059 Ludwigshafen, Germany"
        )
        steri = await s.identity.create_organization(
            "SteriPro", "contract_manufacturer", "200 Gamma Park, Columbus, OH 43215, USA"
        )
        orgs = {o.name: o for o in (ours, acme, steri)}
        for account in ACCOUNTS:
            await s.identity.create_user(
                orgs[account.organization],
                account.email,
                account.name,
                DEMO_PASSWORD,
                list(account.roles),
            )
        for client_id, secret, org_name, scopes in CLIENTS:
            await s.identity.create_client(
                orgs[org_name], client_id, secret, scopes, f"{org_name} integration"
            )
        resin = await s.parts.create_part("RES-100", "PEEK resin, implant grade", unit="kg")
        steril = await s.parts.create_part(
            "STE-200", "Gamma sterilization service, cage load", unit="load"
        )
        await s.parts.create_part(
            "FG-1000",
            "Spinal cage, PEEK, sterile",
            kind="finished",
            unit="pcs",
            gtin="00614141000012",
            implantable=True,
        )
        await s.parts.create_specification(
            resin, "B", "PEEK resin incoming specification", dt.date(2026, 1, 15), RESIN_SPEC
        )
        await s.parts.create_specification(
            steril, "A", "Gamma sterilization acceptance", dt.date(2026, 2, 1), STERILE_SPEC
        )
        await s.parts.approve_supplier(resin, acme, "A")
        await s.parts.approve_supplier(steril, steri, "A")
        await s.keeper.commit()
    async with provide_services(runtime, system) as s:
        # COA-05: every finished lot of FG-1000 needs gamma sterilization, judged against our
        # limits (minimum dose 25 kGy, BI negative), before QA may release it.
        await s.release.require_process(
            system, "FG-1000", "sterilization", "gamma sterilization", FG_1000_STERILIZATION
        )

    async def as_user(email: str) -> Actor:
        async with provide_services(runtime, system) as s:
            return actor_for_user(await s.identity.user_by_email(email), "ui")

    anna, sam = await as_user(ACCOUNTS[0].email), await as_user(ACCOUNTS[1].email)
    qa, ops = await as_user(ACCOUNTS[2].email), await as_user(ACCOUNTS[3].email)
    admin = await as_user(ACCOUNTS[4].email)
    # Signing roles rest on a recorded identity check (P11-19).
    for signer in (anna, sam, qa):
        async with provide_services(runtime, admin) as s:
            await AccessService(s).record_verification(
                admin, signer.id or 0, VERIFICATION_METHODS[1], "demo data"
            )
    today = dt.datetime.now(dt.UTC).date()
    emails = {anna.id: ACCOUNTS[0].email, sam.id: ACCOUNTS[1].email}

    async def submit(
        actor: Actor,
        part: str,
        lot: str,
        qty: str,
        unit: str,
        results: dict[str, str],
        sign: bool,
        decide: str | None,
    ) -> int:
        lines = [
            f"Lot: {lot}",
            f"Material: {part}",
            f"Quantity: {qty} {unit}",
            f"Date of manufacture: {today - dt.timedelta(days=20)}",
            *(f"{code}: {value}" for code, value in results.items()),
            "Released by: Quality Control",
        ]
        pdf = make_pdf("Certificate of Analysis", lines)
        async with provide_services(runtime, actor) as s:
            document = await s.attachments.upload_pdf(actor, f"CoA-{lot}.pdf", pdf)
            created = await s.lots.submit(
                actor,
                LotSubmission(
                    part,
                    lot,
                    qty,
                    unit,
                    today - dt.timedelta(days=20),
                    today + dt.timedelta(days=700),
                    document.id,
                    [ResultInput(code, value) for code, value in results.items()],
                ),
            )
            lot_id, version = created.id, created.version
            if sign:
                signed = await s.lots.sign_submission(
                    actor, lot_id, SigningCredentials(DEMO_PASSWORD, emails[actor.id]), version
                )
                version = signed.version
        if decide:
            async with provide_services(runtime, qa) as s:
                await s.lots.decide(
                    qa,
                    lot_id,
                    decide,
                    SigningCredentials(DEMO_PASSWORD, ACCOUNTS[2].email),
                    "CoA reviewed against spec; conforming.",
                    version,
                )
        return lot_id

    good = {"MFI": "10.2", "MOIST": "0.02", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
    resin_lot = await submit(anna, "RES-100", "AP-24-0815", "25", "kg", good, True, "approve")
    await submit(anna, "RES-100", "AP-24-0816", "25", "kg", {**good, "MFI": "12.9"}, True, None)
    await submit(anna, "RES-100", "AP-24-0817", "10", "kg", good, False, None)
    steri_lot = await submit(
        sam,
        "STE-200",
        "SP-24-0117",
        "1",
        "load",
        {"DOSE": "27.5", "BI": "pass", "DOSIM": "38.1"},
        True,
        "approve",
    )

    await _certificates(runtime, anna, sam, qa, today)
    async with provide_services(runtime, ops) as s:
        await s.receipts.post(ops, ReceiptInput(resin_lot, "25", "IL-RES-0001"))
    async with provide_services(runtime, ops) as s:
        await s.receipts.post(ops, ReceiptInput(steri_lot, "1", "IL-STE-0001"))
    async with provide_services(runtime, ops) as s:
        await s.production.post(
            ops,
            WorkOrderInputData(
                "WO-1001",
                "FG-1000",
                "FG-LOT-0001",
                [ConsumedLot("IL-RES-0001", "2.5"), ConsumedLot("IL-STE-0001", "1")],
                [f"SN-DEMO-{i:04d}" for i in range(1, 11)],
                manufactured_on=today - dt.timedelta(days=5),
                expires_on=today - dt.timedelta(days=5) + dt.timedelta(days=5 * 365),
            ),
        )
    await _sterilization_run(runtime, system, sam, qa, today)
    # The device history record review: QA releases FG-LOT-0001 with its e-signature, now
    # that its sterilization run is accepted and nothing upstream is held (QMS-10).
    async with provide_services(runtime, qa) as s:
        lot = await s.inventory.lot_by_number(qa, "FG-LOT-0001")
        review = await s.release.history(qa, lot.id)
        await s.release.decide(
            qa,
            lot.id,
            "release",
            SigningCredentials(DEMO_PASSWORD, ACCOUNTS[2].email),
            "Device history record reviewed: inputs released, SP-RUN-0417 accepted, UDI complete.",
            review.release.version,
        )
    async with provide_services(runtime, ops) as s:
        await s.shipments.ship(
            ops,
            ShipmentInput(
                "SH-0001",
                *DEMO_CONSIGNEE[:2],
                [f"SN-DEMO-{i:04d}" for i in range(1, 6)],
                consignee_contact=DEMO_CONSIGNEE[2],
                consignee_phone=DEMO_CONSIGNEE[3],
            ),
        )
    # Packing: three serials into a case, the case onto a pallet, the pallet shipped by SSCC.
    async with provide_services(runtime, ops) as s:
        await s.packing.pack(
            ops, PackInput(DEMO_CASE_SSCC, "case", [f"SN-DEMO-{i:04d}" for i in range(8, 11)])
        )
    async with provide_services(runtime, ops) as s:
        await s.packing.close(ops, DEMO_CASE_SSCC)
    async with provide_services(runtime, ops) as s:
        await s.packing.pack(ops, PackInput(DEMO_PALLET_SSCC, "pallet", units=[DEMO_CASE_SSCC]))
    async with provide_services(runtime, ops) as s:
        await s.packing.close(ops, DEMO_PALLET_SSCC)
    async with provide_services(runtime, ops) as s:
        await s.shipments.ship(
            ops,
            ShipmentInput(
                "SH-0002",
                *DEMO_CONSIGNEE[:2],
                [],
                units=[DEMO_PALLET_SSCC],
                consignee_contact=DEMO_CONSIGNEE[2],
                consignee_phone=DEMO_CONSIGNEE[3],
            ),
        )
    await _incoming_inspection(runtime, system, submit, anna, ops, acme)


#: The goods-in checks of the radiopaque compound (QMS-06).
COMPOUND_PLAN = [
    PlanItemInput("APPEAR", "Pellets: colour and shape, no contamination", "pass_fail", 5),
    PlanItemInput("MOIST", "Moisture content", "numeric", 3, "%", None, "0.05", method="ISO 15512"),
]


async def _incoming_inspection(
    runtime: Runtime,
    system: Actor,
    submit: Callable[..., Awaitable[int]],
    anna: Actor,
    ops: Actor,
    acme: Organization,
) -> None:
    """A part with an incoming inspection plan and a 2 % over-receipt tolerance, and its lot
    AP-24-0901 (20 kg, CoA approved), of which 10 kg are received (IL-RES2-0001): it stays in
    quarantine, its inspection pending, until goods-in enters the results and QA releases
    them with a signature. At most 10.4 kg more may be received."""
    async with provide_services(runtime, system) as s:
        compound = await s.parts.create_part(
            "RES-200", "PEEK compound, radiopaque (BaSO4), implant grade", unit="kg"
        )
        await s.parts.create_specification(
            compound, "A", "PEEK compound incoming specification", dt.date(2026, 3, 1), RESIN_SPEC
        )
        await s.parts.approve_supplier(compound, acme, "A")
        await s.receipts.set_tolerance(system, compound, "2")
        await s.inspections.set_plan(system, compound, COMPOUND_PLAN)
        await s.keeper.commit()
    good = {"MFI": "9.8", "MOIST": "0.03", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
    compound_lot = await submit(anna, "RES-200", "AP-24-0901", "20", "kg", good, True, "approve")
    async with provide_services(runtime, ops) as s:
        await s.receipts.post(ops, ReceiptInput(compound_lot, "10", "IL-RES2-0001"))


async def _sterilization_run(
    runtime: Runtime, system: Actor, sam: Actor, qa: Actor, today: dt.date
) -> None:
    """SteriPro gamma-sterilizes the finished lot FG-LOT-0001, which comes back as itself:
    our approval of SteriPro for sterilization (QMS-07), Sam's signed run record with dose,
    BI and dosimetry and a release certificate, and QA's signed acceptance (QMS-08)."""
    async with provide_services(runtime, system) as s:
        steri = await s.identity.organization_by_name("SteriPro")
        await s.processes.approve_process(
            system,
            ApprovalInput(
                steri.id,
                "sterilization",
                "QAG-2026-014",
                "Gamma irradiation (ISO 11137-1), Columbus site, PEEK implant cages",
                today - dt.timedelta(days=400),
                today + dt.timedelta(days=700),
                # QMS-09: the dose mapping is repeated yearly; the validated cycle's dose.
                revalidation_due=today + dt.timedelta(days=300),
                validated_cycle=[MeasuredValue("Target dose", "", "kGy", "25", "45")],
            ),
        )
    lines = [
        "Certificate of Irradiation",
        "Load: SP-RUN-0417  Cycle: GC-2291",
        "Product: FG-LOT-0001 (10 pcs)",
        "Minimum dose 27.5 kGy, maximum dose 38.1 kGy (specified 25-45 kGy)",
        "Biological indicator: negative",
        "Released by: SteriPro Quality",
    ]
    async with provide_services(runtime, sam) as s:
        certificate = await s.attachments.upload_pdf(
            sam, "SP-RUN-0417-certificate.pdf", make_pdf("Certificate of Irradiation", lines)
        )
        run = await s.processes.submit(
            sam,
            RunSubmission(
                "sterilization",
                "SP-RUN-0417",
                "GC-2291",
                today - dt.timedelta(days=3),
                today - dt.timedelta(days=2),
                certificate.id,
                parameters=[
                    MeasuredValue("Target dose", "30", "kGy", "25", "45"),
                    MeasuredValue("Exposure time", "412", "min"),
                    MeasuredValue("Irradiator", "Co-60, tote path B"),
                ],
                results=[
                    MeasuredValue("Dosimetry minimum", "27.5", "kGy", "25"),
                    MeasuredValue("Dosimetry maximum", "38.1", "kGy", None, "45"),
                    MeasuredValue("Biological indicator", "negative"),
                ],
                inputs=[LotLine("FG-LOT-0001", "10", "pcs")],
                outputs=[LotLine("FG-LOT-0001", "10", "pcs")],
            ),
        )
        signed = await s.processes.sign(
            sam, run.id, SigningCredentials(DEMO_PASSWORD, ACCOUNTS[1].email), run.version
        )
    async with provide_services(runtime, qa) as s:
        await s.processes.decide(
            qa,
            run.id,
            "accept",
            SigningCredentials(DEMO_PASSWORD, ACCOUNTS[2].email),
            "Dose within 25-45 kGy, BI negative; certificate checked.",
            signed.version,
        )


#: The demo's supplier certificates: (signer's account, certificate, valid from/until in days
#: from today). SteriPro's lapsed ten days ago, so its receipt is flagged (CERT-01).
DEMO_CERTIFICATES = (
    (
        0,
        CertificateInput(
            "ISO 13485:2016",
            "DE-13485-2291",
            "CertNord GmbH (notified body 0999)",
            ["Acme Polymers, Industriestraße 4, 67059 Ludwigshafen, Germany"],
            "",
            "",
            None,
            "Design and manufacture of implant-grade PEEK resins",
            ["RES-100"],
        ),
        -400,
        700,
    ),
    (
        1,
        CertificateInput(
            "ISO 11137-1:2006",
            "SP-11137-0042",
            "Gamma Assurance Registrar Inc.",
            ["SteriPro, 200 Gamma Park, Columbus, OH 43215, USA"],
            "",
            "",
            None,
            "Radiation sterilization of medical devices (gamma, Co-60)",
            ["STE-200"],
        ),
        -1100,
        -10,
    ),
)


async def _certificates(
    runtime: Runtime, anna: Actor, sam: Actor, qa: Actor, today: dt.date
) -> None:
    """Each supplier records its certificate with the PDF and signs it; our QA accepts it."""
    for account, template, starts, ends in DEMO_CERTIFICATES:
        actor = (anna, sam)[account]
        valid_from = today + dt.timedelta(days=starts)
        valid_until = today + dt.timedelta(days=ends)
        pdf = make_pdf(
            "Certificate",
            [
                f"{template.issuer} certifies that the quality management system of",
                *template.sites,
                f"conforms to {template.standard}",
                f"Scope: {template.product_scope}",
                f"Certificate number: {template.certificate_number}",
                f"Valid from {valid_from} until {valid_until}",
            ],
        )
        async with provide_services(runtime, actor) as s:
            document = await s.attachments.upload_pdf(
                actor, f"{template.certificate_number}.pdf", pdf
            )
            made = await s.certificates.submit(
                actor,
                CertificateInput(
                    template.standard,
                    template.certificate_number,
                    template.issuer,
                    template.sites,
                    valid_from,
                    valid_until,
                    document.id,
                    template.product_scope,
                    template.part_numbers,
                ),
            )
            signed = await s.certificates.sign(
                actor,
                made.id,
                SigningCredentials(DEMO_PASSWORD, ACCOUNTS[account].email),
                made.version,
            )
        async with provide_services(runtime, qa) as s:
            await s.certificates.decide(
                qa,
                made.id,
                "accept",
                SigningCredentials(DEMO_PASSWORD, ACCOUNTS[2].email),
                "Certificate checked against the certification body's register.",
                signed.version,
            )
