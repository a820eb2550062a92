"""``traceport gs1 parse``: JSON and table output, exit codes, through click and the real script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import main

GTIN = "09506000134352"
DATAMATRIX = f"]d201{GTIN}17261200" + "10AB-12\x1d21SN0001"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["gs1", "parse", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.req("UDI-02")
@pytest.mark.req("UDI-03")
def test_json_for_a_datamatrix_scan() -> None:
    code, out, _ = run(DATAMATRIX, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["elements"] == [
        {"ai": "01", "value": GTIN},
        {"ai": "17", "value": "261200"},
        {"ai": "10", "value": "AB-12"},
        {"ai": "21", "value": "SN0001"},
    ]
    assert (data["gtin"], data["lot"], data["serial"], data["expiry"]) == (
        GTIN,
        "AB-12",
        "SN0001",
        "2026-12-31",
    )
    assert (data["issuing_agency"], data["source"], data["symbology"]) == (
        "GS1",
        "element string",
        "GS1 DataMatrix",
    )
    assert data["digital_link"] == f"https://id.gs1.org/01/{GTIN}/10/AB-12/21/SN0001?17=261200"


@pytest.mark.req("UDI-04")
def test_invalid_input_exits_2_with_an_error_object() -> None:
    code, out, _ = run("(17)261200", "--json")
    assert code == 2
    assert json.loads(out) == {
        "error": "AI (17) requires (01), (02), (03), (255), (8006) or (8026) in the same data"
    }


@pytest.mark.req("UDI-01")
def test_invalid_input_without_json_goes_to_stderr() -> None:
    code, out, err = run("00614141000013")
    assert (code, out) == (2, "")
    assert err == "error: GTIN 00614141000013: check digit is 3, expected 2\n"


@pytest.mark.req("UDI-07")
def test_hibcc_is_reported_with_its_agency() -> None:
    code, out, _ = run("+A123BJC5D6E71/$$52001510X3C", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["issuing_agency"], data["lot"], data["expiry"]) == ("HIBCC", "10X3", "2020-01-15")
    code, out, _ = run("=A99992612345600")
    assert code == 0
    assert out.splitlines()[0] == "ICCBBA code, not GS1: ISBT 128"


@pytest.mark.req("UDI-06")
def test_table_output() -> None:
    code, out, _ = run(f"https://id.gs1.org/01/{GTIN}/10/AB%2F12")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "GS1 digital link"
    assert lines[1].split() == ["(01)", "GTIN", GTIN]
    assert lines[2].split() == ["(10)", "BATCH/LOT", "AB/12"]
    assert "  lot              AB/12" in lines
    assert f"  digital_link     https://id.gs1.org/01/{GTIN}/10/AB%2F12" in lines


def test_separator_option() -> None:
    code, out, _ = run(f"01{GTIN}10AB|21SN", "--separator", "|", "--json")
    assert code == 0
    assert (json.loads(out)["lot"], json.loads(out)["serial"]) == ("AB", "SN")


@pytest.mark.req("UDI-02")
def test_installed_console_script() -> None:
    # portal/cli.py's `if __name__ == "__main__"` block sits above later command groups, so
    # `python -m portal.cli gs1` would not see this group; the console script imports it all.
    script = shutil.which("traceport", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the traceport console script is not installed next to this interpreter")
    ok = subprocess.run(
        [script, "gs1", "parse", DATAMATRIX, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["expiry"] == "2026-12-31"
    bad = subprocess.run(
        [script, "gs1", "parse", "(17)261200", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "error" in json.loads(bad.stdout)
