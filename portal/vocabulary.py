"""The domain's words as pages show them: statuses, verdicts, signature meanings, roles, kinds
of thing. They reach templates as data (``lot.status``, ``signature.meaning``), so no
template literal names them; they are marked here, once, so that extraction puts them in
the catalogue, and templates translate them with the ``translate`` filter.

Templates show an identifier-like value with its underscores as spaces (``on_hold`` reads
"on hold"), so that is how the words are spelled here. ``tests/portal/test_i18n.py`` checks
that every value of the domain's enumerations (``trace_core``'s status, kind, role and
meaning tuples) has its entry, so a new status cannot slip past the translation.

Messages the domain raises (``trace_core``'s ``DomainError`` texts) are not here; see
``docs/I18N.md`` for which of them are translated.
"""

from __future__ import annotations

from portal.i18n import N_

#: Record, lot, run, certificate, unit, serial and account statuses.
STATUSES = (
    N_("draft"),
    N_("needs verification"),
    N_("submitted"),
    N_("approved"),
    N_("accepted"),
    N_("rejected"),
    N_("voided"),
    N_("suspended"),
    N_("withdrawn"),
    N_("active"),
    N_("disabled"),
    N_("revoked"),
    N_("recorded"),
    N_("signed"),
    N_("stored"),
    N_("captured"),
    N_("posted"),
    N_("effective"),
    N_("quarantine"),
    N_("released"),
    N_("on hold"),
    N_("recalled"),
    N_("in stock"),
    N_("shipped"),
    N_("open"),
    N_("closed"),
    # A suspect-lot report once QA opened a recall from it.
    N_("recall opened"),
    # A part's certificate coverage on a day (``certificates.models.COVERAGE_STATUSES``).
    N_("covered"),
    N_("lapsed"),
    N_("not covered"),
    N_("none"),
    # Material holds (``gates.models.MaterialHold.status``, ``SupplierLot.hold_status``).
    N_("scrapped"),
    N_("returned"),
    # A recall's field action per consignee.
    N_("not notified"),
    N_("notified"),
    N_("acknowledged"),
    # Incoming inspections (receipts.models.INSPECTION_STATUSES).
    N_("pending"),
    N_("passed"),
    N_("failed"),
)

#: A lot's or run's overall verdict, and each result's.
VERDICTS = (
    N_("conforming"),
    N_("nonconforming"),
    N_("pass"),
    N_("fail"),
    # A value recorded without limits to judge it by.
    N_("report"),
)

#: Why a result without a numeric criterion got its verdict (``parts/evaluation.py``); the
#: explanations that quote values stay English.
VERDICT_EXPLANATIONS = (
    N_("reported as passing"),
    N_("reported as failing"),
    N_("matches our requirement"),
)

#: What a signature means (``records.service.SIGNATURE_MEANINGS``, P11-15).
SIGNATURE_MEANINGS = (
    N_("submitted as accurate"),
    N_("reviewed"),
    N_("approved"),
    N_("rejected"),
    N_("released"),
    N_("responsible for content"),
    N_("audit trail reviewed"),
    N_("verified against the source document"),
    N_("suspended"),
    N_("withdrawn"),
    N_("placed on hold"),
    N_("released from hold"),
)

#: ``identity.roles.ROLE_LABELS`` and ``KIND_LABELS``: roles and kinds of organization.
ROLE_LABELS = (
    N_("Buyer / supplier quality"),
    N_("QA reviewer"),
    N_("QA approver (signs)"),
    N_("Operations"),
    N_("Auditor"),
    N_("Administrator"),
    N_("Supplier user"),
    N_("Supplier signer (signs)"),
    N_("Supplier administrator"),
    N_("Contract manufacturer user"),
    N_("Contract manufacturer signer (signs)"),
    N_("Contract manufacturer administrator"),
)
ORGANIZATION_KINDS = (
    N_("Our company"),
    N_("Supplier"),
    N_("Contract manufacturer"),
    N_("Supplier and contract manufacturer"),
)

#: ``identity.access.VERIFICATION_METHODS``: how a person's identity was verified.
VERIFICATION_METHODS = (
    N_("video call with government photo ID"),
    N_("in person with government photo ID"),
    N_("employer HR record with photo ID, confirmed by phone"),
)

#: Outsourced processes (``processes.models.PROCESS_KINDS``), a run's values and lots.
PROCESS_KINDS = (
    N_("sterilization"),
    N_("coating"),
    N_("cleaning"),
    N_("passivation"),
    N_("heat treatment"),
)
PROCESS_RUN_PARTS = (N_("parameter"), N_("result"), N_("input"), N_("output"))

#: Kinds of part (``Part.kind``) and of shipping unit (``packing.models.UNIT_LEVELS``).
PART_KINDS = (N_("material"), N_("finished"))
UNIT_LEVELS = (N_("case"), N_("pallet"))

#: What a trace walks: its nodes (``trace.models.NODE_KINDS``) and edges (``EDGE_KINDS``).
TRACE_NODE_KINDS = (
    N_("supplier lot"),
    N_("internal lot"),
    N_("serial"),
    N_("shipment"),
    N_("shipping unit"),
    N_("epc lot"),
    N_("epc item"),
    N_("sscc"),
    N_("consignee"),
)
TRACE_EDGE_KINDS = (
    N_("receipt"),
    N_("consumption"),
    N_("production"),
    N_("shipment"),
    N_("packing"),
    N_("process"),
)

#: A recall's scope counts (``recalls.service``).
RECALL_COUNTS = (
    N_("internal lots"),
    N_("serials"),
    N_("serials in stock"),
    N_("serials shipped"),
    N_("shipments"),
    N_("consignees"),
)

#: The material gate (``trace_core/gates/rules.py``): what a hold covers, what a recall's
#: closing decides, the movements as a refusal names them, and the refusals' patterns
#: (``{record}`` and the like are filled in after translation; ``Phrase.localized``).
HOLD_WORDS = (
    N_("serial range"),
    N_("hold"),
    N_("recall"),
    N_("release"),
    N_("scrap"),
    N_("return"),
)
MOVEMENT_VERBS = (
    N_("received"),
    N_("consumed"),
    N_("sent out for processing"),
    N_("accepted back from processing"),
    N_("packed"),
    N_("shipped"),
    N_("released for use"),
)
GATE_REFUSALS = (
    N_("{record} is {status}; it cannot be {verb} (only released material moves)."),
    N_("{record} is in quarantine; it cannot be {verb} until QA releases it."),
    N_("{record} is {status}; it cannot be {verb}."),
    N_("{record} belongs to lot {lot}, which is {status}; it cannot be {verb}."),
    N_("Supplier lot {record} is {status}; only submitted or approved lots can be received."),
    N_("Supplier lot {record} is on hold ({hold}); it cannot be {verb}."),
    N_("Supplier lot {record} is under recall {recall}; it cannot be {verb}."),
    N_("Supplier lot {record} was {status} ({hold}); it cannot be {verb}."),
    N_("{record} comes from {source}, which is on hold ({hold}); it cannot be {verb}."),
    N_("{record} comes from {source}, which is under recall {recall}; it cannot be {verb}."),
    N_("Lot {record} is on hold by the customer's QA; it cannot be {verb}."),
    N_("Lot {record} is not released by the customer's QA; it cannot be {verb}."),
)

#: Why a finished lot cannot be released (``trace_core.release.dhr.BLOCKER_TEMPLATES``): the
#: release page translates the template, then fills in the records' identifiers.
RELEASE_BLOCKERS = (
    N_("%(lot)s is %(status)s; only a lot in quarantine can be released."),
    N_("%(lot)s cannot be released: upstream internal lot %(record)s is %(status)s (QMS-10)."),
    N_(
        "%(lot)s cannot be released: upstream supplier lot %(record)s of %(supplier)s is "
        "%(status)s (QMS-10)."
    ),
    N_(
        "%(lot)s cannot be released: upstream supplier lot %(record)s is on hold (%(hold)s) "
        "(QMS-10)."
    ),
    N_(
        "%(lot)s cannot be released: upstream supplier lot %(record)s is under recall "
        "%(recall)s (QMS-10)."
    ),
    N_("%(lot)s needs %(process)s; no accepted run covers it."),
    N_("%(lot)s needs %(process)s; run %(record)s covers it but is %(status)s, not accepted."),
    N_(
        "Run %(record)s does not report %(value)s, which our limits for %(process)s require "
        "(COA-05)."
    ),
    N_(
        "Run %(record)s: %(value)s %(measured)s is outside our limit %(criterion)s for "
        "%(process)s (COA-05)."
    ),
    N_(
        "Run %(record)s ended on %(ended)s, after %(contractor)s's process validation for "
        "%(process)s lapsed on %(due)s (QMS-09)."
    ),
    N_("%(lot)s is %(part)s with GTIN %(gtin)s: its UDI needs the date of manufacture (QMS-16)."),
    N_("%(lot)s is %(part)s with GTIN %(gtin)s: its UDI needs the expiry date (QMS-16)."),
    N_("%(lot)s is %(part)s with GTIN %(gtin)s: its UDI needs serial numbers (QMS-16)."),
    N_("%(lot)s: the UDI cannot be encoded in GS1: %(problem)s (QMS-16)."),
)

#: The audit-trail filter with nothing chosen (``records.audit_trail.AuditFilter.describe``).
AUDIT_FILTERS = (N_("whole trail"),)

#: What Litestar itself answers with, shown on the error page.
HTTP_DETAILS = (
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("CSRF token verification failed"),
)

WORDS: tuple[str, ...] = (
    STATUSES
    + VERDICTS
    + VERDICT_EXPLANATIONS
    + SIGNATURE_MEANINGS
    + ROLE_LABELS
    + ORGANIZATION_KINDS
    + VERIFICATION_METHODS
    + PROCESS_KINDS
    + PROCESS_RUN_PARTS
    + PART_KINDS
    + UNIT_LEVELS
    + TRACE_NODE_KINDS
    + TRACE_EDGE_KINDS
    + RECALL_COUNTS
    + HOLD_WORDS
    + MOVEMENT_VERBS
    + AUDIT_FILTERS
    + HTTP_DETAILS
)
