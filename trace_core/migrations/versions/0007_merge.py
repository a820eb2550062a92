"""merge the branches written side by side after 0003 (SSO, onboarding, client secrets, EPCIS,
recalls) into one head

Revision ID: 0007_merge
Revises: 0004_sso, 0004_onboarding, 0004_client_secrets, 0005_epcis, 0006_recalls
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = "0007_merge"
down_revision = (
    "0004_sso",
    "0004_onboarding",
    "0004_client_secrets",
    "0005_epcis",
    "0006_recalls",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the branches touch different tables."""


def downgrade() -> None:
    """Nothing to change."""
