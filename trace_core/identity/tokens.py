"""OAuth2 access tokens for machine clients: signed JWTs in the RFC 9068 profile, short-lived,
and refused at once after the client is revoked (``tokens_valid_after``). They are issued by
the authorization server in ``portal/api/oauth_server.py`` (authlib) and checked here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from trace_core.errors import AuthenticationFailed

ISSUER = "traceport"
AUDIENCE = "traceport-api"


def decode_access_token(token: str, key: bytes) -> dict[str, Any]:
    """Validated claims, or AuthenticationFailed."""
    try:
        decoded = jwt.decode(token, OctKey.import_key(key), algorithms=["HS256"])
    except (JoseError, ValueError) as exc:
        raise AuthenticationFailed("The access token is not valid.") from exc
    if decoded.header.get("typ") != "at+jwt":
        raise AuthenticationFailed("The access token is not valid.")
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
        # The API reads these two: the client, and when the token was issued (revocation).
        client_id={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise AuthenticationFailed("The access token has expired or is not valid.") from exc
    return claims


def issued_at(claims: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(claims["iat"]), dt.UTC)
