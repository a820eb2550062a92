"""``traceport audit verify|checkpoint`` and ``traceport keys rotate|list`` on a real embedded
demo database: a clean database verifies (exit 0), a row changed by hand is named (exit 1),
and rotation keeps everything verifiable."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import main


@pytest.fixture(scope="module")
def demo_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var = tmp_path_factory.mktemp("cli-demo") / "var"
    result = CliRunner().invoke(main, ["demo", "--no-serve"], env={"TRACEPORT_VAR_DIR": str(var)})
    assert result.exit_code == 0, result.output
    return var


def run(var: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"TRACEPORT_VAR_DIR": str(var)})
    return result.exit_code, result.output


def copy_of(var: Path, tmp_path: Path) -> Path:
    """A private copy of the demo folder (database, key), so tampering stays in one test."""
    import shutil

    target = tmp_path / "var"
    shutil.copytree(var, target)
    return target


@pytest.mark.req("P11-01")
def test_verify_passes_on_an_untouched_database(demo_var: Path, tmp_path: Path) -> None:
    var = copy_of(demo_var, tmp_path)
    code, output = run(var, "audit", "verify")
    assert code == 0, output
    assert "OK: the audit trail, every version, signature and checkpoint verify" in output
    code, output = run(var, "audit", "verify", "--json")
    report = json.loads(output)
    assert report["ok"] and report["trust_anchored"] and report["signatures"] >= 5


@pytest.mark.req("P11-01")
@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("UPDATE audit_events SET actor_name = 'Nobody' WHERE seq = 3", "audit event 3"),
        ("DELETE FROM audit_events WHERE seq = 4", "audit event 4: missing"),
        (
            "UPDATE record_versions SET status = 'approved' WHERE id = 2",
            "its content no longer matches its hash",
        ),
        ("DELETE FROM signatures WHERE id = 1", "signature 1"),
    ],
    ids=["update-event", "delete-event", "update-version", "delete-signature"],
)
def test_verify_names_a_row_changed_by_hand(
    demo_var: Path, tmp_path: Path, sql: str, named: str
) -> None:
    var = copy_of(demo_var, tmp_path)
    with sqlite3.connect(var / "traceport.db") as db:
        for table in ("audit_events", "record_versions", "signatures"):
            for verb in ("update", "delete"):
                db.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        db.execute(sql)
    code, output = run(var, "audit", "verify")
    assert code == 1, output
    first = next(line for line in output.splitlines() if line.startswith("BROKEN"))
    assert named in first, output


@pytest.mark.req("P11-01")
def test_checkpoint_and_key_rotation_keep_the_database_verifiable(
    demo_var: Path, tmp_path: Path
) -> None:
    var = copy_of(demo_var, tmp_path)
    code, output = run(var, "audit", "checkpoint")
    assert code == 0 and "checkpoint at seq" in output, output
    code, output = run(var, "keys", "rotate")
    assert code == 0 and "rotated:" in output, output
    old, new = output.split("rotated: ")[1].split(";")[0].split(" -> ")
    assert list((var / "keys").glob(f"*.{old}.retired.pem"))
    code, output = run(var, "keys", "list")
    assert f"{old}" in output and f"{new}" in output and "current" in output
    # the server key file now holds the new key: trust reaches the old one by endorsement
    code, output = run(var, "audit", "verify")
    assert code == 0, output
    assert old in output and new in output
    # a stranger's key is not a trust anchor for this chain
    stranger = tmp_path / "stranger.pem"
    from trace_core.records.keys import ServerSigningKey

    stranger.write_text(ServerSigningKey.generate().public_pem)
    code, output = run(var, "audit", "verify", "--trusted-key", str(stranger))
    assert code == 1 and "not trusted" in output, output
