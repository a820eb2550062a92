"""The OpenID Connect relying party: discovery, the authorization request (PKCE S256, state,
nonce), the code exchange and ID-token validation, with Authlib's client and joserfc.

What a login in progress must remember between the redirect to the provider and the callback
(state, nonce, PKCE verifier, where to go afterwards) travels in a short-lived cookie that is
encrypted and authenticated with a key derived from the server secret: nothing is kept in
memory, so any instance behind a load balancer can finish a login another one started, and
the person cannot read or alter it. The state in the cookie is compared with the state the
provider returns, which binds the callback to the browser that started the login.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.common.security import is_secure_transport
from authlib.oidc.core import CodeIDToken
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from trace_core.identity.sso import SsoConfig

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

#: How long a person may take at the provider before the login must start again.
FLOW_SECONDS = 600
#: Discovery documents and key sets are fetched again after this long; an unknown key id
#: fetches the key set at once (the provider rotated its keys).
METADATA_SECONDS = 3600
#: Allowed clock difference with the provider when checking ``exp`` and ``iat``.
LEEWAY_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 10.0
#: Never ``none`` and never a symmetric algorithm: ID tokens are verified with the provider's
#: published public keys only.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


class OidcFailure(Exception):
    """A step of the protocol failed. ``reason`` is a stable code for the audit trail and
    ``detail`` says what happened; neither is shown to the person, and neither holds a token."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PendingLogin:
    """One authorization request in progress."""

    state: str
    nonce: str
    code_verifier: str
    next: str
    expires_at: int

    @classmethod
    def new(cls, next_path: str) -> PendingLogin:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            # RFC 7636: 43 to 128 characters from the unreserved set; 64 bytes give 86.
            code_verifier=secrets.token_urlsafe(64),
            next=next_path,
            expires_at=int(time.time()) + FLOW_SECONDS,
        )

    def seal(self, secret: bytes) -> str:
        payload = json.dumps(
            [self.state, self.nonce, self.code_verifier, self.next, self.expires_at]
        ).encode()
        iv = os.urandom(12)
        sealed = AESGCM(_cookie_key(secret)).encrypt(iv, payload, b"traceport-oidc")
        return base64.urlsafe_b64encode(iv + sealed).decode().rstrip("=")

    @classmethod
    def unseal(cls, secret: bytes, value: str | None) -> PendingLogin | None:
        """The login in progress, or None when the cookie is missing, altered or expired."""
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = AESGCM(_cookie_key(secret)).decrypt(raw[:12], raw[12:], b"traceport-oidc")
            state, nonce, verifier, next_path, expires_at = json.loads(payload)
        except (InvalidTag, ValueError, TypeError):
            return None
        if not isinstance(expires_at, int) or expires_at < time.time():
            return None
        return cls(str(state), str(nonce), str(verifier), str(next_path), expires_at)

    def state_matches(self, returned: str | None) -> bool:
        return hmac.compare_digest(self.state.encode(), (returned or "").encode())


def _cookie_key(secret: bytes) -> bytes:
    # A key of its own, so the cookie can never be confused with anything else the server
    # secret protects (access tokens, CSRF).
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"traceport oidc login cookie"
    ).derive(secret)


class RelyingParty:
    """Traceport as an OpenID Connect client of one provider. Keeps the provider's discovery
    document and key set for ``METADATA_SECONDS``; holds no per-login state."""

    def __init__(self, config: SsoConfig) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None
        self._jwks_at = 0.0

    def _client(self, redirect_uri: str | None = None) -> AsyncOAuth2Client:
        # Imported here, not at module level: Authlib's httpx integration warns on import
        # (it prefers the httpx2 package) and the warning belongs to the first sign-in, not
        # to every process that merely imports the portal.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
            scope=" ".join(self.config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_SECONDS,
            follow_redirects=False,
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        if not is_secure_transport(url):
            raise OidcFailure("provider_unreachable", f"refusing plain HTTP to {url}")
        try:
            async with self._client() as client:
                response = await client.request("GET", url, withhold_token=True)
            response.raise_for_status()
            document = response.json()
        except OidcFailure:
            raise
        except Exception as exc:  # any transport, HTTP or JSON error of the provider
            raise OidcFailure("provider_unreachable", f"{url}: {type(exc).__name__}") from exc
        if not isinstance(document, dict):
            raise OidcFailure("provider_unreachable", f"{url}: not a JSON object")
        return document

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, cached. Its ``issuer`` must be exactly the
        configured one (OpenID Connect Discovery 1.0, section 4.3)."""
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_SECONDS:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if document.get("issuer") != self.config.issuer:
                raise OidcFailure(
                    "provider_misconfigured",
                    f"discovery names issuer {str(document.get('issuer'))[:200]!r}",
                )
            missing = [
                key
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
                if not isinstance(document.get(key), str)
            ]
            if missing:
                raise OidcFailure("provider_misconfigured", f"discovery lacks {missing}")
            # The client secret and the code travel to these: never in clear text.
            insecure = [
                key
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
                if not is_secure_transport(document[key])
            ]
            if insecure:
                raise OidcFailure("provider_misconfigured", f"plain HTTP for {insecure}")
            self._metadata, self._metadata_at = document, time.monotonic()
        return self._metadata

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if refresh or self._jwks is None or time.monotonic() - self._jwks_at > METADATA_SECONDS:
            self._jwks = await self._get_json((await self.metadata())["jwks_uri"])
            self._jwks_at = time.monotonic()
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise OidcFailure("provider_misconfigured", f"key set: {exc}") from exc

    async def authorization_url(self, pending: PendingLogin, redirect_uri: str) -> str:
        metadata = await self.metadata()
        client = self._client(redirect_uri)
        async with client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=pending.state,
                code_verifier=pending.code_verifier,
                nonce=pending.nonce,
            )
        return str(url)

    async def claims_for_code(
        self, pending: PendingLogin, code: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier) and return the validated ID token's
        claims."""
        from authlib.integrations.base_client import OAuthError

        metadata = await self.metadata()
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                    redirect_uri=redirect_uri,
                )
        except OAuthError as exc:
            raise OidcFailure("code_exchange_failed", str(exc.error)[:100]) from exc
        except Exception as exc:  # transport errors and non-JSON answers alike
            raise OidcFailure("code_exchange_failed", type(exc).__name__) from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcFailure("id_token_invalid", "the token response has no id_token")
        return await self.validate_id_token(id_token, pending.nonce, token.get("access_token"))

    async def validate_id_token(
        self, id_token: str, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """Signature against the provider's published keys, then ``iss``, ``aud``, ``exp``,
        ``iat``, ``sub`` and ``nonce`` (and ``azp``, ``at_hash`` when present)."""
        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in ASYMMETRIC_ALGORITHMS]
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, await self._key_set(refresh=True), registry=registry)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.config.issuer},
                    "aud": {"essential": True, "value": self.config.client_id},
                    "sub": {"essential": True},
                    "exp": {"essential": True},
                    "iat": {"essential": True},
                    "nonce": {"essential": True, "value": nonce},
                },
                {"nonce": nonce, "client_id": self.config.client_id, "access_token": access_token},
            )
            claims.validate(leeway=LEEWAY_SECONDS)
        except JoseError as exc:
            raise OidcFailure("id_token_invalid", f"{type(exc).__name__}: {exc}"[:300]) from exc
        return dict(claims)
