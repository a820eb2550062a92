"""A real OpenID Connect provider for the tests, served over HTTP on a loopback port.

It is built from Authlib's server side: ``AuthorizationServer`` with the
``AuthorizationCodeGrant``, the ``CodeChallenge`` (PKCE) and ``OpenIDCode`` extensions, and
signs ID tokens RS256 with a key generated at start, published with the discovery document
at ``/.well-known/openid-configuration`` and ``/jwks``. The authorization endpoint consents at
once for ``user`` (whose claims a test sets), and ``misbehave`` makes the next ID tokens wrong
in one way, so the relying party's checks are tested against a provider, not a mock.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    OAuth2Error,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet, RSAKey
from litestar import Litestar, Request, Response, get, post

Misbehaviour = Literal["wrong_nonce", "wrong_audience", "wrong_issuer", "expired", "bad_signature"]
KID = "test-key-1"


@dataclass
class ProviderUser:
    """The person signed in at the provider, and the claims it asserts about them."""

    sub: str = "00u-quinn"
    email: str = "qa@traceport.example"
    email_verified: bool = True
    name: str = "Quinn Avery"
    groups: list[str] = field(default_factory=lambda: ["qa-approvers"])


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(s for s in (scope or "").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: ProviderUser
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class ProviderRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth2 request built from what a Litestar handler read (query and form)."""

    def __init__(
        self, method: str, uri: str, headers: Any, args: dict[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args, self._form = args, form
        self.payload = BasicOAuth2Payload({**args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.provider.codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            user=request.user,
            auth_time=int(time.time()),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        item: AuthorizationCode | None = self.server.provider.codes.get(code)
        return item if item and item.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Codes are single-use: a second exchange of the same code is invalid_grant.
        self.server.provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> ProviderUser:
        return authorization_code.user


class IdTokens(OpenIDCode):  # type: ignore[misc]
    """Issues the ID token, honestly or in the way ``provider.misbehave`` says."""

    def __init__(self, provider: OidcProvider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in self.provider.codes.values())

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        if self.provider.misbehave == "bad_signature":
            # Same key id as the published key, different key: the signature cannot verify.
            return self.provider.rogue_key
        return self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": KID}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        mode = self.provider.misbehave
        return {
            "iss": "https://impostor.example" if mode == "wrong_issuer" else self.provider.issuer,
            "aud": ["someone-else"] if mode == "wrong_audience" else [client.client_id],
            "iat": now - 7200 if mode == "expired" else now,
            "exp": now - 3600 if mode == "expired" else now + 300,
        }

    def get_authorization_code_claims(
        self, authorization_code: AuthorizationCode
    ) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if self.provider.misbehave == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-that-was-sent"
        return claims

    def generate_user_info(self, user: ProviderUser, scope: str) -> UserInfo:
        return UserInfo(
            sub=user.sub,
            email=user.email,
            email_verified=user.email_verified,
            name=user.name,
            groups=list(user.groups),
        )


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, provider: OidcProvider) -> None:
        super().__init__(scopes_supported=["openid", "email", "profile"])
        self.provider = provider
        self.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32))
        )
        self.register_grant(CodeGrant, [CodeChallenge(required=True), IdTokens(provider)])

    def query_client(self, client_id: str) -> Client | None:
        client = self.provider.client
        return client if client.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.provider.tokens_issued += 1

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, OAuth2Request)
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> Response[Any]:
        content = json.dumps(body) if isinstance(body, dict) else (body or "")
        return Response(
            content, status_code=status, headers=dict(headers), media_type="application/json"
        )

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class OidcProvider:
    """The provider: state a test can set, and the Litestar app that serves it."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client = Client(client_id, client_secret, redirect_uri)
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"})
        self.issuer = ""
        self.codes: dict[str, AuthorizationCode] = {}
        self.authorization_requests: list[dict[str, str]] = []
        self.tokens_issued = 0
        self.user = ProviderUser()
        self.misbehave: Misbehaviour | None = None
        self.server = Server(self)

    def reset(self) -> None:
        self.user = ProviderUser()
        self.misbehave = None
        self.authorization_requests.clear()

    def app(self) -> Litestar:
        provider = self

        @get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": provider.issuer,
                "authorization_endpoint": f"{provider.issuer}/authorize",
                "token_endpoint": f"{provider.issuer}/token",
                "jwks_uri": f"{provider.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "email", "profile"],
            }

        @get("/jwks")
        async def jwks() -> dict[str, Any]:
            return dict(KeySet([provider.key]).as_dict(private=False))

        @get("/authorize")
        async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            args = dict(request.query_params)
            provider.authorization_requests.append(args)
            oauth = ProviderRequest("GET", str(request.url), request.headers, args, {})
            try:
                grant = provider.server.get_consent_grant(oauth, end_user=provider.user)
            except OAuth2Error as error:
                return provider.server.handle_error_response(oauth, error)  # type: ignore[no-any-return]
            # Consent is automatic: the test user has already "signed in" at the provider.
            user = ProviderUser(**vars(provider.user))
            return provider.server.create_authorization_response(  # type: ignore[no-any-return]
                oauth, grant_user=user, grant=grant
            )

        @post("/token")
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            form = {k: str(v) for k, v in (await request.form()).items()}
            oauth = ProviderRequest("POST", str(request.url), request.headers, {}, form)
            return provider.server.create_token_response(oauth)  # type: ignore[no-any-return]

        return Litestar(route_handlers=[discovery, jwks, authorize, token])

    @contextmanager
    def running(self) -> Iterator[OidcProvider]:
        """Serve on a free loopback port in a background thread until the block ends."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{port}"
        server = uvicorn.Server(
            uvicorn.Config(self.app(), log_level="warning", ws="none", lifespan="on")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test OpenID provider did not start")
            time.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
