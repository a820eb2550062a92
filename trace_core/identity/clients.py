"""Machine clients over their lifetime: registration with a generated secret, secret rotation
with an overlap, revocation, and what the token endpoint needs to know about a client.

Every change writes a new ``api_client`` record version with a reason and is audited; the
version carries the secrets' dates, never their hashes. A client belongs to exactly one
organization and is given scopes, never roles: no scope grants a signing permission, so a
machine can never sign as a person (DI-01).
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
import secrets
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from trace_core.db import utc_now
from trace_core.errors import Conflict, NotFound, ValidationFailed
from trace_core.identity.actor import SCOPE_PERMISSIONS, Actor, permissions_for_scopes
from trace_core.identity.models import ApiClient, ClientSecret, Organization
from trace_core.identity.passwords import DEFAULT_COST, hash_password, verify_password

if TYPE_CHECKING:
    from trace_core.services import Services

#: How long the previous secret keeps working after a rotation, unless told otherwise.
DEFAULT_OVERLAP = dt.timedelta(hours=24)
#: The longest overlap a rotation may leave: a forgotten old secret must not live for ever.
MAX_OVERLAP = dt.timedelta(days=30)
CLIENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,99}$")
#: Scopes only our own systems may hold: our goods movements and the audit trail.
INTERNAL_ONLY_SCOPES = frozenset(
    {"audit:read", "receipts:write", "production:write", "shipments:write"}
)
#: Permissions no machine may ever hold, whatever a future scope says (DI-01).
PERSONAL_PERMISSIONS = frozenset({"lots.sign", "lots.approve", "audit.review"})


def new_secret() -> str:
    """A client secret: 256 random bits, URL-safe so it survives HTTP Basic and forms."""
    return secrets.token_urlsafe(32)


@cache
def _dummy_hash(cost: int) -> str:
    return hash_password(secrets.token_urlsafe(32), cost)


def spend_equal_time(secret: str, cost: int) -> None:
    """Run one scrypt check against nothing, at the cost of new secrets' hashes
    (``Limits.password_hash_cost``), so that an unknown or disabled client takes as long to
    refuse as a known one with a wrong secret (no client enumeration by timing)."""
    verify_password(secret, _dummy_hash(cost))


@dataclass(frozen=True)
class ClientCredentials:
    """A client as the token endpoint sees it, read before the (synchronous) OAuth2 server
    runs: plain values only, so nothing is loaded lazily from the database later."""

    id: int
    client_id: str
    organization_id: int
    organization_kind: str
    scopes: tuple[str, ...]
    active: bool
    #: (secret row id, scrypt hash) of every secret usable now.
    secrets: tuple[tuple[int, str], ...]
    #: The cost of new hashes, for the check a client without usable secrets still takes.
    hash_cost: int = DEFAULT_COST

    def matching_secret(self, secret: str) -> int | None:
        """The id of the usable secret ``secret`` is, or None. Every usable secret is tried,
        so the time taken does not tell which one matched."""
        found = None
        for secret_id, secret_hash in self.secrets:
            if verify_password(secret, secret_hash) and found is None:
                found = secret_id
        if not self.secrets:
            spend_equal_time(secret, self.hash_cost)
        return found if self.active else None

    def actor(self) -> Actor:
        return Actor(
            "client",
            self.id,
            f"client:{self.client_id}",
            self.organization_id,
            self.organization_kind,
            "api",
            permissions_for_scopes(list(self.scopes)),
        )


@dataclass(frozen=True)
class SecretSummary:
    id: int
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    usable: bool


@dataclass(frozen=True)
class ClientSummary:
    client_id: str
    name: str
    organization: str
    scopes: tuple[str, ...]
    active: bool
    tokens_valid_after: dt.datetime | None
    secrets: tuple[SecretSummary, ...]


def client_content(
    client: ApiClient, client_secrets: builtins.list[ClientSecret]
) -> dict[str, Any]:
    """What an ``api_client`` record version holds: who the client is, what it may do and the
    dates of its secrets (never a hash)."""
    return {
        "client_id": client.client_id,
        "organization_id": client.organization_id,
        "name": client.name,
        "scopes": sorted(client.scopes),
        "active": client.active,
        "tokens_valid_after": client.tokens_valid_after,
        "secrets": [
            {
                "id": s.id,
                "created_at": s.created_at,
                "expires_at": s.expires_at,
                "revoked_at": s.revoked_at,
            }
            for s in sorted(client_secrets, key=lambda s: s.id)
        ],
    }


class ClientService:
    """Registers, rotates, revokes and lists machine clients (``traceport clients``)."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.session = services.session
        self.keeper = services.keeper

    # -- lifecycle --------------------------------------------------------------------------
    async def register(
        self,
        actor: Actor,
        organization: Organization,
        client_id: str,
        scopes: builtins.list[str],
        name: str | None = None,
        secret: str | None = None,
        *,
        commit: bool = True,
    ) -> tuple[ApiClient, str]:
        """A new client of ``organization`` with a generated secret (or ``secret``, for the
        demo data); returns the client and the secret, which is stored only as a hash."""
        actor.require("users.manage")
        client_id = client_id.strip()
        scopes = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
        errors: dict[str, str] = {}
        if not CLIENT_ID_PATTERN.match(client_id):
            errors["client_id"] = (
                "Use 3-100 lower-case letters, digits, '.', '_' or '-', starting with a letter "
                "or digit."
            )
        unknown = [s for s in scopes if s not in SCOPE_PERMISSIONS]
        if not scopes:
            errors["scopes"] = "Give the client at least one scope."
        elif unknown:
            errors["scopes"] = (
                f"Unknown scope(s): {', '.join(unknown)}; use: {', '.join(SCOPE_PERMISSIONS)}."
            )
        elif permissions_for_scopes(scopes) & PERSONAL_PERMISSIONS:
            errors["scopes"] = "No scope may let a machine sign or approve (DI-01)."
        elif not organization.is_internal and INTERNAL_ONLY_SCOPES & set(scopes):
            errors["scopes"] = (
                "Only our own systems may hold: "
                + ", ".join(sorted(INTERNAL_ONLY_SCOPES & set(scopes)))
                + "."
            )
        if errors:
            raise ValidationFailed(errors)
        if await self.session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id)):
            raise Conflict(f"A client '{client_id}' exists already; client ids are never reused.")
        secret = secret or new_secret()
        client = ApiClient(
            client_id=client_id,
            organization_id=organization.id,
            name=(name or f"{organization.name} integration").strip()[:200],
            scopes=scopes,
            active=True,
            organization=organization,
        )
        self.session.add(client)
        await self.session.flush()
        row = ClientSecret(
            api_client_id=client.id,
            secret_hash=hash_password(secret, self.s.limits.password_hash_cost),
        )
        self.session.add(row)
        await self.session.flush()
        await self.keeper.write_version(
            "api_client",
            client.id,
            status="active",
            action="create",
            data=client_content(client, [row]),
        )
        if commit:
            await self.keeper.commit()
        return client, secret

    async def rotate(
        self,
        actor: Actor,
        client_id: str,
        *,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        reason: str = "secret rotation",
        revoke_tokens: bool = False,
    ) -> str:
        """Give the client a new secret; its current secrets keep working for ``overlap`` (zero:
        not at all). With ``revoke_tokens`` the access tokens issued so far stop at once too."""
        actor.require("users.manage")
        reason = _reason(reason)
        if overlap < dt.timedelta(0) or overlap > MAX_OVERLAP:
            raise ValidationFailed(
                {"overlap": f"The overlap must be between 0 and {MAX_OVERLAP.days * 24} hours."}
            )
        client = await self._client(client_id)
        if not client.active:
            raise Conflict(f"Client '{client_id}' is revoked; a revoked client stays revoked.")
        now = utc_now()
        ends = now + overlap
        rows = await self._secrets(client)
        for row in rows:
            if row.usable_at(now) and (row.expires_at is None or row.expires_at > ends):
                row.expires_at = ends
        secret = new_secret()
        rows.append(
            ClientSecret(
                api_client_id=client.id,
                secret_hash=hash_password(secret, self.s.limits.password_hash_cost),
            )
        )
        self.session.add(rows[-1])
        if revoke_tokens:
            client.tokens_valid_after = now
        await self.session.flush()
        await self.keeper.write_version(
            "api_client",
            client.id,
            status="active",
            action="rotate_secret",
            data=client_content(client, rows),
            reason=reason,
        )
        await self.keeper.commit()
        return secret

    async def revoke(self, actor: Actor, client_id: str, reason: str) -> ApiClient:
        """Disable the client: no new token, and every token issued so far is refused on its
        next use (P11-24). Nothing is deleted; the client id is never reused."""
        actor.require("users.manage")
        reason = _reason(reason)
        client = await self._client(client_id)
        if not client.active:
            raise Conflict(f"Client '{client_id}' is already revoked.")
        now = utc_now()
        client.active = False
        client.tokens_valid_after = now
        rows = await self._secrets(client)
        for row in rows:
            if row.revoked_at is None:
                row.revoked_at = now
        await self.session.flush()
        await self.keeper.write_version(
            "api_client",
            client.id,
            status="revoked",
            action="revoke",
            data=client_content(client, rows),
            reason=reason,
        )
        await self.keeper.commit()
        return client

    async def list(self, actor: Actor) -> builtins.list[ClientSummary]:
        actor.require("users.manage")
        now = utc_now()
        clients = list(await self.session.scalars(select(ApiClient).order_by(ApiClient.client_id)))
        summaries = []
        for client in clients:
            rows = await self._secrets(client)
            summaries.append(
                ClientSummary(
                    client.client_id,
                    client.name,
                    client.organization.name,
                    tuple(client.scopes),
                    client.active,
                    client.tokens_valid_after,
                    tuple(
                        SecretSummary(
                            r.id, r.created_at, r.expires_at, r.revoked_at, r.usable_at(now)
                        )
                        for r in rows
                    ),
                )
            )
        return summaries

    # -- the token endpoint -------------------------------------------------------------------
    async def credentials(self, client_id: str) -> ClientCredentials | None:
        """The client and its usable secrets, or None for an unknown client id."""
        client = await self.session.scalar(
            select(ApiClient).where(ApiClient.client_id == client_id[:100])
        )
        if client is None:
            return None
        now = utc_now()
        return ClientCredentials(
            client.id,
            client.client_id,
            client.organization_id,
            client.organization.kind,
            tuple(client.scopes),
            client.active,
            tuple((r.id, r.secret_hash) for r in await self._secrets(client) if r.usable_at(now)),
            self.s.limits.password_hash_cost,
        )

    async def token_issued(
        self, client: ClientCredentials, scope: str, jti: str | None, secret_id: int | None
    ) -> None:
        self.keeper.audit(
            "token_issued",
            "api_client",
            client.id,
            new={"scope": scope, "jti": jti, "secret_id": secret_id},
            actor=client.actor(),
        )
        await self.keeper.commit()

    async def token_refused(
        self,
        presented_id: str | None,
        client: ClientCredentials | None,
        error: str,
        *,
        authenticated: bool,
    ) -> None:
        """Audit a refused token request. When the client had authenticated (it asked for a
        scope it does not hold) the refusal is attributed to it, otherwise to an anonymous
        caller: whoever sent a wrong secret is not the client."""
        self.keeper.audit(
            "token_refused",
            "api_client",
            client.id if client else None,
            new={"client_id": (presented_id or "")[:100], "error": error},
            actor=client.actor()
            if authenticated and client is not None
            else Actor("system", None, "anonymous", None, "external", "api"),
        )
        await self.keeper.commit()

    # -- helpers ------------------------------------------------------------------------------
    async def _client(self, client_id: str) -> ApiClient:
        client = await self.session.scalar(
            select(ApiClient).where(ApiClient.client_id == client_id)
        )
        if client is None:
            raise NotFound(f"No client '{client_id}'.")
        return client

    async def _secrets(self, client: ApiClient) -> builtins.list[ClientSecret]:
        return list(
            await self.session.scalars(
                select(ClientSecret)
                .where(ClientSecret.api_client_id == client.id)
                .order_by(ClientSecret.id)
            )
        )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why; every change to a client needs a reason."})
    return reason
