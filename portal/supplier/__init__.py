"""Pages for external users (suppliers and contract manufacturers)."""

from portal.supplier.lots import (
    dashboard,
    lot_page,
    new_lot,
    revise_form,
    revise_lot,
    sign_lot,
    submit_lot,
    void_lot,
)

ROUTES = [dashboard, new_lot, submit_lot, lot_page, sign_lot, revise_form, revise_lot, void_lot]
