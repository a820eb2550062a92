"""Every regulated record type, what it is called, who may read it and where it lives.

One table, so that the record page, the API, exports and the verifier treat every record type
the same way, and a new record type is one line here (plus its service).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordType:
    name: str
    label: str
    #: The permission an internal actor needs to read records of this type.
    permission: str
    #: Table whose ``organization_id`` scopes the record for external actors; None means
    #: internal only.
    external_table: str | None = None
    #: Content key that names the record for people (lot number, shipment number, ...).
    title_key: str | None = None
    #: The domain page of the record, if any ("{id}" is replaced).
    page: str | None = None


RECORD_TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        RecordType(
            "supplier_lot",
            "Supplier lot",
            "lots.read",
            "supplier_lots",
            "lot_number",
            "/internal/lots/{id}",
        ),
        RecordType("document", "Document", "lots.read", "documents", "filename", "/documents/{id}"),
        RecordType("receipt", "Goods receipt", "trace.read", title_key="number"),
        RecordType(
            "receipt_inspection",
            "Incoming inspection",
            "trace.read",
            title_key="receipt_number",
            page="/internal/inspections/{id}",
        ),
        RecordType("inspection_plan", "Inspection plan", "parts.read", title_key="part_number"),
        RecordType("internal_lot", "Internal lot", "trace.read", title_key="lot_number"),
        RecordType("work_order", "Work order", "trace.read", title_key="number"),
        RecordType("shipment", "Shipment", "trace.read", title_key="number"),
        RecordType("part", "Part", "parts.read", title_key="number"),
        RecordType("specification", "Specification", "parts.read", title_key="title"),
        RecordType("approved_supplier", "Approved supplier", "parts.read"),
        RecordType("organization", "Organization", "audit.read", title_key="name"),
        RecordType("user", "User account", "audit.read", title_key="email"),
        RecordType("site", "Site", "audit.read", title_key="name"),
        RecordType(
            "identity_verification", "Identity verification", "audit.read", title_key="method"
        ),
        RecordType("api_client", "API client", "audit.read", title_key="client_id"),
        RecordType("audit_review", "Audit-trail review", "audit.read", title_key="title"),
        RecordType(
            "recall", "Recall", "trace.read", title_key="number", page="/internal/recalls/{id}"
        ),
        RecordType(
            "recall_field_action",
            "Recall field action",
            "trace.read",
            title_key="consignee_name",
        ),
        RecordType(
            "shipping_unit",
            "Shipping unit",
            "trace.read",
            title_key="sscc",
            page="/internal/shipping-units/{id}",
        ),
        RecordType("suspect_report", "Suspect-lot report", "lots.read", "suspect_reports"),
        RecordType("epcis_capture", "EPCIS capture", "trace.read", "epcis_captures"),
        RecordType(
            "process_run",
            "Process run",
            "lots.read",
            "process_runs",
            "run_number",
            "/internal/process-runs/{id}",
        ),
        RecordType(
            "supplier_certificate",
            "Supplier certificate",
            "lots.read",
            "supplier_certificates",
            "certificate_number",
            "/internal/certificates/{id}",
        ),
        RecordType("material_hold", "Material hold", "trace.read", title_key="number"),
        RecordType(
            "process_approval", "Process approval", "parts.read", title_key="agreement_reference"
        ),
        RecordType(
            "finished_lot_release",
            "Finished lot release",
            "trace.read",
            title_key="lot_number",
        ),
        RecordType(
            "part_required_process", "Required process of a part", "parts.read", title_key="label"
        ),
    )
}


def record_type(name: str) -> RecordType | None:
    return RECORD_TYPES.get(name)
