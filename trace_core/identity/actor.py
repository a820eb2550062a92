"""Who is acting: a person, a machine client or the system itself, with the channel they act
through and what they may do. Every service method takes an ``Actor``; scoping and permission
checks are made against it in the domain layer, never in templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from sqlalchemy import Select

from trace_core.errors import PermissionDenied

#: A statement narrowed by ``Actor.visible`` (``Select`` of any row type).
Q = TypeVar("Q", bound="Select[Any]")

Channel = Literal["ui", "api", "edi", "cli"]

#: Role → permissions. The generated permission matrix in docs/ is read from this table.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "supplier_user": frozenset(
        {"parts.read", "lots.read", "lots.submit", "documents.write", "trace.read"}
    ),
    "supplier_signer": frozenset(
        {"parts.read", "lots.read", "lots.submit", "lots.sign", "documents.write", "trace.read"}
    ),
    "cm_signer": frozenset(
        {"parts.read", "lots.read", "lots.submit", "lots.sign", "documents.write", "trace.read"}
    ),
    "qa_reviewer": frozenset(
        {
            "parts.read",
            "lots.read",
            "lots.review",
            "lots.enter_for_supplier",
            "lots.verify_entry",
            # The scan of a paper CoA our staff type on a supplier's behalf (A11-03).
            "documents.write",
            "trace.read",
            "audit.read",
            "audit.review",
            "material.hold",
        }
    ),
    "qa_approver": frozenset(
        {
            "parts.read",
            "lots.read",
            "lots.review",
            "lots.approve",
            "lots.enter_for_supplier",
            "lots.verify_entry",
            # The scan of a paper CoA our staff type on a supplier's behalf (A11-03).
            "documents.write",
            "trace.read",
            "audit.read",
            "audit.review",
            "suppliers.approve",
            "material.hold",
            "material.release",
        }
    ),
    "operations": frozenset(
        {
            "parts.read",
            "lots.read",
            "lots.enter_for_supplier",
            "lots.verify_entry",
            # The scan of a paper CoA our staff type on a supplier's behalf (A11-03).
            "documents.write",
            "receipts.post",
            "production.post",
            "shipments.post",
            "trace.read",
        }
    ),
    "auditor": frozenset({"parts.read", "lots.read", "trace.read", "audit.read"}),
    "admin": frozenset(
        {"parts.read", "lots.read", "trace.read", "audit.read", "users.manage", "identity.verify"}
    ),
    # Issue 4 (onboarding): buyers, contract-manufacturer users and the external admins who
    # invite their colleagues (``users.invite`` is scoped to their own organization).
    "buyer": frozenset({"parts.read", "lots.read", "trace.read", "suppliers.approve"}),
    "cm_user": frozenset(
        {"parts.read", "lots.read", "lots.submit", "documents.write", "trace.read"}
    ),
    "supplier_admin": frozenset({"parts.read", "lots.read", "trace.read", "users.invite"}),
    "cm_admin": frozenset({"parts.read", "lots.read", "trace.read", "users.invite"}),
}

INTERNAL_ROLES = frozenset(
    {"qa_reviewer", "qa_approver", "operations", "auditor", "admin", "buyer"}
)
EXTERNAL_ROLES = frozenset(
    {"supplier_user", "supplier_signer", "cm_signer", "cm_user", "supplier_admin", "cm_admin"}
)

#: OAuth2 scopes → permissions for machine clients. Machine clients never get ``*.sign``
#: or ``*.approve``: only named people sign (DI-01).
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "parts:read": frozenset({"parts.read"}),
    "lots:read": frozenset({"lots.read"}),
    "lots:write": frozenset({"lots.submit", "lots.read"}),
    "documents:write": frozenset({"documents.write"}),
    "trace:read": frozenset({"trace.read"}),
    "receipts:write": frozenset({"receipts.post"}),
    "production:write": frozenset({"production.post"}),
    "shipments:write": frozenset({"shipments.post"}),
    # EPCIS event capture (the EPCIS work to come).
    "events:write": frozenset({"events.capture"}),
    # Internal systems only: the audit trail service refuses external actors whatever scope.
    "audit:read": frozenset({"audit.read"}),
    # Material holds (docs/GATES.md): internal systems only, the hold service refuses others.
    "holds:write": frozenset({"material.hold", "material.release"}),
}


@dataclass(frozen=True)
class Actor:
    kind: Literal["user", "client", "system"]
    id: int | None
    name: str
    organization_id: int | None
    organization_kind: str
    channel: Channel
    permissions: frozenset[str] = field(default_factory=frozenset)
    #: The web session a person acts through (continuous-session signing rule, P11-21).
    session_id: int | None = None

    @property
    def is_internal(self) -> bool:
        return self.organization_kind == "internal"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(f"You do not have the permission '{permission}'.")

    def visible(self, query: Q, organization_column: Any) -> Q:
        """``query`` narrowed to what this actor may see (tenant isolation): everything for
        our own people, only rows whose ``organization_column`` is its organization for a
        supplier or contract manufacturer. The filter is in the query, so another tenant's
        row is simply not found (404, never 403)."""
        if self.is_internal:
            return query
        return query.where(organization_column == self.organization_id)

    @classmethod
    def system(cls, channel: Channel = "cli") -> Actor:
        """The system itself (migrations, seeding, CLI maintenance). It can never sign."""
        return cls(
            "system",
            None,
            "system",
            None,
            "internal",
            channel,
            frozenset().union(*ROLE_PERMISSIONS.values()) - {"lots.sign", "lots.approve"},
        )


def permissions_for_roles(roles: list[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def permissions_for_scopes(scopes: list[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS.get(scope, frozenset())
    return frozenset(granted)
