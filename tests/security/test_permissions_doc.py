"""``docs/PERMISSIONS.md`` is generated from the code (P11-09): it must equal what
``traceport docs permissions`` renders from the role, scope and route tables right now."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.permissions import DOC_PATH, ROUTE_ACCESS, render_markdown
from trace_core.identity.actor import ROLE_PERMISSIONS, SCOPE_PERMISSIONS


@pytest.mark.req("P11-09")
def test_permissions_doc_is_current() -> None:
    assert DOC_PATH.exists(), "docs/PERMISSIONS.md is missing: run `traceport docs permissions`"
    assert DOC_PATH.read_text(encoding="utf-8") == render_markdown(), (
        "docs/PERMISSIONS.md is stale (a role, scope or route changed): run "
        "`traceport docs permissions` and commit the result"
    )


@pytest.mark.req("P11-09")
def test_matrix_lists_every_role_scope_and_route() -> None:
    text = render_markdown()
    header = next(line for line in text.splitlines() if line.startswith("| permission | "))
    for role in ROLE_PERMISSIONS:
        assert role in header
    for scope in SCOPE_PERMISSIONS:
        assert f"`{scope}`" in text
    for method, path in ROUTE_ACCESS:
        assert f"| {method} | `{path}` |" in text
    # signing is its own permission, held by people only
    sign_row = next(line for line in text.splitlines() if line.startswith("| `lots.sign` |"))
    assert "✓" in sign_row


def test_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "PERMISSIONS.md"
    stale.write_text("# Permissions\n\nwritten by hand\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["docs", "permissions", "--check", "--out", str(stale)])
    assert result.exit_code == 1
    assert "stale" in result.output
    result = CliRunner().invoke(main, ["docs", "permissions", "--out", str(stale)])
    assert result.exit_code == 0, result.output
    assert stale.read_text(encoding="utf-8") == render_markdown()
    result = CliRunner().invoke(main, ["docs", "permissions", "--check", "--out", str(stale)])
    assert result.exit_code == 0 and "current" in result.output
