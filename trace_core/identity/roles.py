"""Which roles fit which organization, which roles sign, and who may hand out which role.

The permission table itself is ``actor.ROLE_PERMISSIONS``; this module is the policy on top:

- a role belongs to an organization kind (supplier roles to suppliers, ``cm_*`` roles to
  contract manufacturers, both to an organization that is both, internal roles to us);
- a **signing role** is any role whose permissions include signing or approving
  (``lots.sign``, ``lots.approve``, ``audit.review``). It is derived from the permission table,
  so a new role that can sign is a signing role without anyone remembering to list it. It is
  granted only after an identity verification is on record (P11-19), and never through an
  invitation;
- an internal admin (``users.manage``) assigns any role of the organization's kind; an external
  admin (``users.invite``) only the non-admin roles of their own organization.
"""

from __future__ import annotations

from trace_core.identity.actor import ROLE_PERMISSIONS, Actor

SIGNING_PERMISSIONS = frozenset({"lots.sign", "lots.approve", "audit.review"})
SIGNING_ROLES = frozenset(
    role for role, granted in ROLE_PERMISSIONS.items() if granted & SIGNING_PERMISSIONS
)
ADMIN_ROLES = frozenset({"admin", "supplier_admin", "cm_admin"})

_SUPPLIER_ROLES = ("supplier_user", "supplier_signer", "supplier_admin")
_CM_ROLES = ("cm_user", "cm_signer", "cm_admin")
ROLES_BY_KIND: dict[str, tuple[str, ...]] = {
    "internal": ("buyer", "qa_reviewer", "qa_approver", "operations", "auditor", "admin"),
    "supplier": _SUPPLIER_ROLES,
    "contract_manufacturer": _CM_ROLES,
    "supplier_and_cm": _SUPPLIER_ROLES + _CM_ROLES,
}

ROLE_LABELS = {
    "buyer": "Buyer / supplier quality",
    "qa_reviewer": "QA reviewer",
    "qa_approver": "QA approver (signs)",
    "operations": "Operations",
    "auditor": "Auditor",
    "admin": "Administrator",
    "supplier_user": "Supplier user",
    "supplier_signer": "Supplier signer (signs)",
    "supplier_admin": "Supplier administrator",
    "cm_user": "Contract manufacturer user",
    "cm_signer": "Contract manufacturer signer (signs)",
    "cm_admin": "Contract manufacturer administrator",
}


def is_internal_admin(actor: Actor) -> bool:
    return actor.is_internal and actor.can("users.manage")


def assignable_roles(actor: Actor, organization_kind: str, organization_id: int) -> tuple[str, ...]:
    """The roles ``actor`` may grant to (or invite) a person of that organization."""
    kind_roles = ROLES_BY_KIND.get(organization_kind, ())
    if is_internal_admin(actor):
        return kind_roles
    if actor.can("users.invite") and actor.organization_id == organization_id:
        return tuple(role for role in kind_roles if role not in ADMIN_ROLES)
    return ()


KIND_LABELS = {
    "internal": "Our company",
    "supplier": "Supplier",
    "contract_manufacturer": "Contract manufacturer",
    "supplier_and_cm": "Supplier and contract manufacturer",
}
