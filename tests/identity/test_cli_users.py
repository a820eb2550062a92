"""``traceport users invite``: the first administrator is invited like everyone else, through
the configured mailer, and chooses their own password; nothing that signs in is printed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from portal.cli import main


def test_the_first_admin_is_invited_from_the_command_line(tmp_path: Path) -> None:
    env = {
        "TRACEPORT_VAR_DIR": str(tmp_path / "var"),
        "TRACEPORT_BASE_URL": "https://traceport.example.com",
        "TRACEPORT_DATABASE_URL": None,
        "TRACEPORT_STORAGE_URL": None,
        "TRACEPORT_SMTP_URL": None,
        "TRACEPORT_SIGNING_KEY_FILE": None,
    }
    runner = CliRunner(env=env)
    seeded = runner.invoke(main, ["demo", "--no-serve"])
    assert seeded.exit_code == 0, seeded.output
    done = runner.invoke(
        main,
        [
            "users",
            "invite",
            "boss@traceport.example",
            "--organization",
            "Traceport Medical",
            "--role",
            "admin",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "boss@traceport.example: e-mail sent" in done.output and "/invite/" not in done.output
    mails = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(mails) == 1
    assert "https://traceport.example.com/invite/" in mails[0].read_text()
    refused = runner.invoke(
        main,
        [
            "users",
            "invite",
            "x@traceport.example",
            "--organization",
            "Traceport Medical",
            "--role",
            "qa_approver",
        ],
    )
    assert refused.exit_code == 1 and "Signing roles are not given by invitation" in refused.output
