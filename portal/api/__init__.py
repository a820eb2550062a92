"""The machine API: OAuth2 token endpoint, JSON v1 and EPCIS 2.0."""

from portal.api.epcis import ROUTES as EPCIS_ROUTES
from portal.api.oauth import token
from portal.api.production import ROUTES as PRODUCTION_ROUTES
from portal.api.receipts import ROUTES as RECEIPT_ROUTES
from portal.api.v1 import ROUTES as V1_ROUTES

ROUTES = [token, *V1_ROUTES, *RECEIPT_ROUTES, *PRODUCTION_ROUTES]

__all__ = ["EPCIS_ROUTES", "ROUTES"]
