"""The OAuth2 authorization server for machine clients, built on authlib's server components:
the client-credentials grant (RFC 6749 §4.4), client authentication with HTTP Basic or form
fields (``client_secret_basic``, ``client_secret_post``) and JWT access tokens in the RFC 9068
profile (authlib's ``JWTBearerTokenGenerator``), signed with the runtime's token key.

authlib's server is synchronous and our database is not. The token endpoint therefore reads
the presented client's credentials first (``ClientCredentials``: plain values, usable secrets
only) and runs this server over that snapshot; nothing here touches the database, so it can
run in a worker thread while scrypt checks the secret. Refusals keep the RFC's error codes but
never say which part of a client's credentials was wrong.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import OctKey

from trace_core.identity.actor import SCOPE_PERMISSIONS
from trace_core.identity.clients import ClientCredentials, spend_equal_time
from trace_core.identity.tokens import AUDIENCE, ISSUER

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Parameters that RFC 6749 §3.1/§3.2 says must not be repeated.
SINGLE_PARAMETERS = ("grant_type", "scope", "client_id", "client_secret")
JSON_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
)
#: What each refusal answers. The description is ours and fixed: authlib's would tell an
#: unknown client from a wrong secret ("The client does not exist on this server.").
REFUSALS: dict[str, tuple[int, str]] = {
    "invalid_client": (401, "Client authentication failed."),
    "unsupported_grant_type": (400, "Only client_credentials is supported."),
    "invalid_scope": (400, "A requested scope is not granted to this client."),
    "unauthorized_client": (400, "This client may not use the client credentials grant."),
}


@dataclass(frozen=True)
class TokenResponse:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TokenOutcome:
    """The answer plus what the endpoint audits."""

    response: TokenResponse
    #: The client id the caller presented (HTTP Basic first, else the form), if any.
    presented_id: str | None
    #: That client, if it exists.
    client: ClientCredentials | None
    #: True when the client proved its secret (a later refusal is then the client's own).
    authenticated: bool
    error: str | None = None
    scope: str | None = None
    jti: str | None = None
    secret_id: int | None = None


class _Headers(dict[str, str]):
    """Case-insensitive request headers: authlib asks for ``Authorization``, Litestar and ASGI
    hand them over in lower case."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((k.lower(), v) for k, v in headers.items())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(client id, secret) from an HTTP Basic ``Authorization`` header, or None when there is
    none. Raises ValueError when the header is Basic but cannot be decoded: authlib itself
    would fail on bytes that are not UTF-8."""
    scheme, _, encoded = (_Headers(headers).get("authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("undecodable HTTP Basic credentials") from exc
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


class TokenPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self._datalist = {k: list(v) for k, v in fields.items() if v}
        self._data = {k: v[0] for k, v in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class TokenRequest(OAuth2Request):  # type: ignore[misc]
    """An authlib request made of plain values (method, URI, headers and form fields) rather
    than of a framework's request object. The form is read by the caller beforehand."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], fields: Mapping[str, list[str]]
    ) -> None:
        super().__init__(method, uri, headers=_Headers(headers))
        self.payload = TokenPayload(fields)
        try:
            self.basic = basic_credentials(headers)
            self.malformed_basic = False
        except ValueError:
            self.basic, self.malformed_basic = None, True
            # authlib must not see it: it would raise on the bytes instead of refusing.
            self.headers.pop("authorization", None)
        self.issued: dict[str, Any] | None = None
        self.refusal: str | None = None

    @property
    def form(self) -> dict[str, str]:
        return dict(self.payload.data)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def presented_id(self) -> str | None:
        """The client id the caller claims to be: HTTP Basic wins, as in authlib."""
        if self.basic and self.basic[0]:
            return self.basic[0][:100]
        form_id = self.payload.data.get("client_id")
        return form_id[:100] if form_id else None

    def presented_ids(self) -> set[str]:
        """Every client id in the request: the endpoint reads these clients beforehand."""
        ids = {self.basic[0][:100]} if self.basic and self.basic[0] else set()
        if self.payload.data.get("client_id"):
            ids.add(self.payload.data["client_id"][:100])
        return ids


class ClientAdapter(ClientMixin):  # type: ignore[misc]
    """authlib's view of one of our machine clients (``ClientMixin``)."""

    def __init__(self, credentials: ClientCredentials) -> None:
        self.credentials = credentials
        #: Which of the client's secrets the caller proved (audited with the token).
        self.matched_secret: int | None = None

    def get_client_id(self) -> str:
        return self.credentials.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        held = self.credentials.scopes
        requested = (scope or "").split()
        if not requested:
            return " ".join(held)
        return " ".join(s for s in dict.fromkeys(requested) if s in held)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        self.matched_secret = self.credentials.matching_secret(client_secret)
        return self.matched_secret is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return bool(grant_type == "client_credentials")


class UnknownClient(ClientAdapter):
    """Stands in for a client id that does not exist, so that authlib checks a secret for it
    (and fails) exactly as long as for a real client, instead of answering at once."""

    def __init__(self, client_id: str, hash_cost: int) -> None:
        self.client_id = client_id
        self.hash_cost = hash_cost
        self.matched_secret = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: str | None) -> str:
        return ""

    def check_client_secret(self, client_secret: str) -> bool:
        spend_equal_time(client_secret, self.hash_cost)
        return False


class MachineClientGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """The client-credentials grant with our request rules and per-client scopes."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def validate_token_request(self) -> None:
        request: TokenRequest = self.request
        repeated = [p for p in SINGLE_PARAMETERS if len(request.payload.datalist.get(p, [])) > 1]
        if repeated:
            raise InvalidRequestError(f"Send {', '.join(repeated)} once.")
        if request.malformed_basic:
            raise InvalidClientError(status_code=401)
        if request.basic and "client_secret" in request.payload.data:
            # RFC 6749 §2.3: one authentication method per request.
            raise InvalidRequestError("Authenticate with HTTP Basic or form fields, not both.")
        super().validate_token_request()

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()  # known scopes only (the server's list)
        requested = set((self.request.payload.scope or "").split())
        if requested - set(self.request.client.credentials.scopes):
            raise InvalidScopeError()


class AccessTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens: ``typ: at+jwt``, our issuer and audience, the client id as
    subject, the client's organization as ``org``; HS256 with the runtime's token key, which
    is also what ``trace_core.identity.tokens.decode_access_token`` checks."""

    def __init__(self, key: bytes, lifetime_s: int) -> None:
        super().__init__(issuer=ISSUER, alg="HS256", expires_generator=lifetime_s)
        self._key = OctKey.import_key(key)
        self.jti: str | None = None

    def get_jwks(self) -> OctKey:
        return self._key

    def get_audiences(self, client: ClientAdapter, user: Any, scope: str) -> str:
        return AUDIENCE

    def get_jti(self, client: ClientAdapter, grant_type: str, user: Any, scope: str) -> str:
        self.jti = secrets.token_hex(16)
        return self.jti

    def get_extra_claims(
        self, client: ClientAdapter, grant_type: str, user: Any, scope: str
    ) -> dict[str, Any]:
        return {"org": client.credentials.organization_id}


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """One token request's authorization server, over the clients read for it beforehand."""

    def __init__(
        self,
        directory: Mapping[str, ClientCredentials | None],
        token_key: bytes,
        lifetime_s: int,
        hash_cost: int,
    ) -> None:
        super().__init__(scopes_supported=list(SCOPE_PERMISSIONS))
        self.directory = directory
        self.hash_cost = hash_cost
        self.generator = AccessTokenGenerator(token_key, lifetime_s)
        self.register_grant(MachineClientGrant)
        self.register_token_generator("default", self.generator)

    def query_client(self, client_id: str) -> ClientAdapter:
        found = self.directory.get(client_id)
        if found is None:
            return UnknownClient(client_id, self.hash_cost)
        return ClientAdapter(found)

    def create_oauth2_request(self, request: TokenRequest) -> TokenRequest:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("The token endpoint takes form fields only.")

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal bus here: the endpoint audits from the outcome."""

    def save_token(self, token: dict[str, Any], request: TokenRequest) -> None:
        # Access tokens are self-contained JWTs; nothing is stored. Revocation works through
        # the client's ``tokens_valid_after`` and ``active`` (checked on every API call).
        request.issued = token

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> TokenResponse:
        return TokenResponse(status, dict(body), (*JSON_HEADERS,))

    def handle_error_response(self, request: TokenRequest, error: OAuth2Error) -> TokenResponse:
        code = str(error.error)
        status, description = REFUSALS.get(code, (400, error.description or "Bad request."))
        headers = JSON_HEADERS
        if status == 401:
            headers = (*JSON_HEADERS, ("WWW-Authenticate", 'Basic realm="traceport"'))
        request.refusal = code
        return TokenResponse(status, {"error": code, "error_description": description}, headers)


def issue_token(
    request: TokenRequest,
    directory: Mapping[str, ClientCredentials | None],
    token_key: bytes,
    lifetime_s: int,
    hash_cost: int,
) -> TokenOutcome:
    """Run the client-credentials grant for ``request`` (blocking: scrypt checks secrets; an
    unknown client's check costs ``hash_cost``, as a real secret's would)."""
    server = TokenServer(directory, token_key, lifetime_s, hash_cost)
    response = server.create_token_response(request)
    adapter = request.client if isinstance(request.client, ClientAdapter) else None
    presented = request.presented_id
    return TokenOutcome(
        response=response,
        presented_id=presented,
        client=directory.get(presented) if presented else None,
        authenticated=adapter is not None,
        error=request.refusal,
        scope=request.issued.get("scope") if request.issued else None,
        jti=server.generator.jti if request.issued else None,
        secret_id=adapter.matched_secret if adapter is not None else None,
    )
