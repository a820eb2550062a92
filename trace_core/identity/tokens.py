"""OAuth2 access tokens for machine clients: signed JWTs in the RFC 9068 profile, short-lived,
and refused at once after the client is revoked (``tokens_valid_after``)."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from trace_core.errors import AuthenticationFailed
from trace_core.identity.models import ApiClient

ISSUER = "traceport"
AUDIENCE = "traceport-api"


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int
    scope: str


def issue_access_token(
    client: ApiClient, key: bytes, lifetime_s: int, requested: list[str] | None = None
) -> AccessToken:
    granted = list(client.scopes)
    if requested:
        missing = [s for s in requested if s not in granted]
        if missing:
            raise AuthenticationFailed("invalid_scope")
        granted = requested
    now = int(time.time())
    scope = " ".join(granted)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_s,
        "jti": secrets.token_hex(16),
        "scope": scope,
        "org": client.organization_id,
    }
    token = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, OctKey.import_key(key))
    return AccessToken(token, lifetime_s, scope)


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
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise AuthenticationFailed("The access token has expired or is not valid.") from exc
    return claims


def issued_at(claims: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(claims["iat"]), dt.UTC)
