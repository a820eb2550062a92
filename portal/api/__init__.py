"""The machine API: OAuth2 token endpoint and JSON v1."""

from portal.api.oauth import token
from portal.api.v1 import ROUTES as V1_ROUTES

ROUTES = [token, *V1_ROUTES]
