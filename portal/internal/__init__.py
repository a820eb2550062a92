"""Pages for internal users: QA review, receipts, production, shipments and trace."""

from portal.internal.audit import audit_page, checkpoint, sign_review
from portal.internal.certificates import ROUTES as CERTIFICATE_ROUTES
from portal.internal.holds import ROUTES as HOLD_ROUTES
from portal.internal.inspections import ROUTES as INSPECTION_ROUTES
from portal.internal.operations import (
    post_receipt,
    post_shipment,
    post_work_order,
    receipts,
    shipments,
    work_orders,
)
from portal.internal.packing import ROUTES as PACKING_ROUTES
from portal.internal.paper_lots import ROUTES as PAPER_LOT_ROUTES
from portal.internal.process_runs import ROUTES as PROCESS_RUN_ROUTES
from portal.internal.recalls import ROUTES as RECALL_ROUTES
from portal.internal.release import ROUTES as RELEASE_ROUTES
from portal.internal.review import (
    decide,
    internal_home,
    review_page,
    review_queue,
    sign_audit_review,
)
from portal.internal.trace import ROUTES as TRACE_ROUTES
from portal.internal.users import ROUTES as USER_ROUTES

ROUTES = [
    internal_home,
    review_queue,
    review_page,
    decide,
    sign_audit_review,
    receipts,
    post_receipt,
    work_orders,
    post_work_order,
    shipments,
    post_shipment,
    *TRACE_ROUTES,
    audit_page,
    sign_review,
    checkpoint,
    *USER_ROUTES,
    *RECALL_ROUTES,
    *PROCESS_RUN_ROUTES,
    *CERTIFICATE_ROUTES,
    *PACKING_ROUTES,
    *HOLD_ROUTES,
    *INSPECTION_ROUTES,
    *RELEASE_ROUTES,
    *PAPER_LOT_ROUTES,
]
