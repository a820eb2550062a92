"""Pages for external users (suppliers and contract manufacturers)."""

from portal.supplier.certificates import ROUTES as CERTIFICATE_ROUTES
from portal.supplier.lots import (
    dashboard,
    lot_page,
    new_lot,
    report_suspect,
    revise_form,
    revise_lot,
    sign_lot,
    submit_lot,
    void_lot,
)
from portal.supplier.process_runs import ROUTES as PROCESS_RUN_ROUTES
from portal.supplier.team import ROUTES as TEAM_ROUTES

ROUTES = [
    dashboard,
    new_lot,
    report_suspect,
    submit_lot,
    lot_page,
    sign_lot,
    revise_form,
    revise_lot,
    void_lot,
    *PROCESS_RUN_ROUTES,
    *CERTIFICATE_ROUTES,
    *TEAM_ROUTES,
]
