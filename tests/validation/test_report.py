"""The validation report: catalogue and JUnit parsing, the requirement matrix, the three output
files and the ``traceport validation report`` command, fed by a real pytest run that uses the
requirement hook of ``tests/conftest.py``.

No test here carries a requirement id: the report is validation tooling, not a behaviour the
catalogue holds the product to.
"""

from __future__ import annotations

import ast
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pypdf import PdfReader

from portal import validation
from portal.cli import main
from portal.validation import (
    JunitCase,
    Outcome,
    ReportContext,
    ReportInputError,
    Status,
    build_report,
    parse_junit,
    parse_requirements,
    render_html,
    render_pdf,
    requirement_status,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_CATALOGUE = REPO.parent / "shared" / "REQUIREMENTS.md"

CATALOGUE = """\
# Test catalogue

Prose with a | pipe that is not a table row.

## Records

| id | behaviour | a test shows it |
|---|---|---|
| T-01 | Versions are kept → never overwritten | revise twice |
| T-02 | Audit rows carry an actor | every row |

## Interchange

| ID | requirement | proof |
|----|-------------|-------|
| T-03 | Element strings split on `\\|` and GS | parse |
| T-04 | Nobody tests this yet | - |
| T-05 | Check digits validated | ok and refused |
| T-06 | Module-wide marks count | module |
"""

# Each case: the expected status of T-01..T-06 and the unknown id, given the tests below.
EXPECTED_STATUS = {
    "T-01": "pass",
    "T-02": "fail",
    "T-03": "partial",
    "T-04": "not covered",
    "T-05": "fail",
    "T-06": "pass",
}

TINY_SUITE = """\
import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request):
    return request.param


@pytest.mark.req("T-01")
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_versions(backend):
    assert backend


@pytest.mark.req("T-01")
def test_on_each_engine(engine):
    assert engine


@pytest.mark.req("T-02", "T-05")
def test_audit_actor():
    assert 1 == 2, "deliberate failure"


@pytest.mark.req("T-03")
def test_skipped():
    pytest.skip("no chromium here")


@pytest.mark.req("T-03")
def test_split():
    pass


@pytest.mark.req("T-03")
class TestGroup:
    @pytest.mark.req("T-01")
    @pytest.mark.req("T-03")
    def test_in_class(self):
        pass


@pytest.mark.req("ZZ-99")
def test_unknown_id():
    pass


def test_without_requirement():
    pass
"""

MODULE_MARKED = """\
import pytest

pytestmark = pytest.mark.req("T-06")


def test_module_marked():
    pass
"""


CONTEXT = ReportContext(
    generated_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    software_version="9.8.7",
    git_commit="0123456789abcdef0123456789abcdef01234567",
    junit_name="junit.xml",
    junit_sha256="a" * 64,
    catalogue_name="REQUIREMENTS.md",
    catalogue_sha256="b" * 64,
    python_version="3.11.0",
    platform="Linux",
)


def _junit(*cases: tuple[str, str, tuple[str, ...], str]) -> bytes:
    """A pytest-shaped JUnit file: (name, outcome, requirement ids, message) per test case."""
    suite = ET.Element("testsuite", name="pytest", tests=str(len(cases)))
    for name, outcome, requirements, message in cases:
        case = ET.SubElement(suite, "testcase", classname="tests.test_x", name=name, time="0.25")
        if requirements:
            props = ET.SubElement(case, "properties")
            for req_id in requirements:
                ET.SubElement(props, "property", name="requirement", value=req_id)
        tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(outcome)
        if tag:
            ET.SubElement(case, tag, message=message).text = f"details of {message}"
    root = ET.Element("testsuites")
    root.append(suite)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue()


def _conftest_hook_source() -> str:
    """The requirement hook exactly as ``tests/conftest.py`` defines it."""
    source = (REPO / "tests" / "conftest.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "pytest_itemcollected":
            segment = ast.get_source_segment(source, node)
            assert segment
            return segment
    raise AssertionError("tests/conftest.py has no pytest_itemcollected hook")


@pytest.fixture(scope="module")
def real_junit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JUnit file written by a real pytest run of a tiny suite, with the conftest hook."""
    root = tmp_path_factory.mktemp("tiny-suite")
    (root / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    req(id): requirement id\naddopts = --strict-markers\n"
    )
    (root / "conftest.py").write_text(
        f"from __future__ import annotations\n\nimport pytest\n\n\n{_conftest_hook_source()}\n"
    )
    (root / "test_tiny.py").write_text(TINY_SUITE)
    (root / "test_module_marked.py").write_text(MODULE_MARKED)
    junit = root / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-c",
            str(root / "pytest.ini"),
            "--rootdir",
            str(root),
            f"--junitxml={junit}",
            "-q",
            str(root),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # exactly the deliberate failure
    return junit


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    path = tmp_path / "catalogue.md"
    path.write_text(CATALOGUE, encoding="utf-8")
    return path


def _report(*args: str) -> Result:
    return CliRunner().invoke(main, ["validation", "report", *args])


# The conftest hook -------------------------------------------------------------------------


def test_hook_writes_every_requirement_id_into_junit_properties(real_junit: Path) -> None:
    root = ET.parse(real_junit).getroot()  # noqa: S314 - the pytest run above wrote it
    properties = {
        case.get("name"): [
            prop.get("value")
            for prop in case.iterfind("properties/property")
            if prop.get("name") == "requirement"
        ]
        for case in root.iter("testcase")
    }
    assert properties == {
        "test_versions[sqlite]": ["T-01"],
        "test_versions[postgresql]": ["T-01"],
        "test_on_each_engine[sqlite]": ["T-01"],
        "test_on_each_engine[postgresql]": ["T-01"],
        "test_audit_actor": ["T-02", "T-05"],
        "test_skipped": ["T-03"],
        "test_split": ["T-03"],
        "test_in_class": ["T-03", "T-01"],
        "test_unknown_id": ["ZZ-99"],
        "test_without_requirement": [],
        "test_module_marked": ["T-06"],
    }


# Parsing -----------------------------------------------------------------------------------


def test_catalogue_rows_are_read_from_every_id_table() -> None:
    requirements = parse_requirements(CATALOGUE)
    assert [r.id for r in requirements] == ["T-01", "T-02", "T-03", "T-04", "T-05", "T-06"]
    assert requirements[0].text == "Versions are kept → never overwritten"
    assert requirements[0].section == "Records"
    assert requirements[2].text == "Element strings split on `|` and GS"
    assert requirements[2].section == "Interchange"


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("| T-01 | a | x |\n| T-01 | b | y |\n", "T-01 appears twice"),
        ("# Nothing\n\n| id | behaviour |\n|---|---|\n", "no table rows"),
    ],
    ids=["duplicate-id", "no-id-rows"],
)
def test_unusable_catalogue_is_refused(markdown: str, message: str) -> None:
    with pytest.raises(ReportInputError, match=message):
        parse_requirements(markdown)


def test_junit_cases_carry_outcome_message_duration_and_ids() -> None:
    cases = parse_junit(
        _junit(
            ("test_a[sqlite]", "passed", ("T-01",), ""),
            ("test_b", "failed", ("T-02", "T-05"), "assert 1 == 2"),
            ("test_c", "error", (), 'failed on setup with "boom"'),
            ("test_d", "skipped", ("T-03",), "no chromium"),
        )
    )
    assert cases == (
        JunitCase("tests.test_x.test_a[sqlite]", "passed", 0.25, ("T-01",), ""),
        JunitCase("tests.test_x.test_b", "failed", 0.25, ("T-02", "T-05"), "assert 1 == 2"),
        JunitCase("tests.test_x.test_c", "error", 0.25, (), 'failed on setup with "boom"'),
        JunitCase("tests.test_x.test_d", "skipped", 0.25, ("T-03",), "no chromium"),
    )


def test_a_test_recorded_twice_is_merged_keeping_the_worse_outcome() -> None:
    # pytest writes two <testcase> elements when a test fails and its teardown errors too.
    cases = parse_junit(
        _junit(
            ("test_b", "failed", (), "assert False"),
            ("test_b", "error", ("T-02",), "failed on teardown"),
        )
    )
    assert cases == (
        JunitCase(
            "tests.test_x.test_b", "failed", 0.5, ("T-02",), "assert False\nfailed on teardown"
        ),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">]>\n'
            b"<testsuites><testsuite><testcase name='t'>&lol;</testcase></testsuite></testsuites>",
            "DOCTYPE",
        ),
        (
            b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><testsuites/>',
            "DOCTYPE",
        ),
        (
            '<?xml version="1.0" encoding="utf-16"?><testsuites/>'.encode("utf-16"),
            "not UTF-8",
        ),
        (b"<testsuites><testsuite>", "not well-formed"),
        (b"<html><body/></html>", "not JUnit XML"),
        (b"<testsuites><testsuite><testcase/></testsuite></testsuites>", "without a name"),
    ],
    ids=["entity-expansion", "external-dtd", "utf-16", "truncated", "not-junit", "unnamed-test"],
)
def test_unusable_junit_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ReportInputError, match=message):
        parse_junit(data)


# The matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ((), "not covered"),
        (("passed",), "pass"),
        (("passed", "passed"), "pass"),
        (("passed", "skipped"), "partial"),
        (("skipped",), "partial"),
        (("passed", "failed"), "fail"),
        (("skipped", "error"), "fail"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, tuple) else value,
)
def test_requirement_status(outcomes: tuple[Outcome, ...], status: Status) -> None:
    cases = tuple(
        JunitCase(f"t{i}", outcome, 0.0, ("T-01",), "") for i, outcome in enumerate(outcomes)
    )
    assert requirement_status(cases) == status


def test_matrix_lists_every_requirement_with_its_tests_and_unknown_ids() -> None:
    cases = parse_junit(
        _junit(
            ("test_a", "passed", ("T-01",), ""),
            ("test_b", "failed", ("T-02", "T-05"), "assert 1 == 2"),
            ("test_c", "skipped", ("T-03",), "no chromium"),
            ("test_d", "passed", ("T-03", "T-06"), ""),
            ("test_e", "passed", ("ZZ-99",), ""),
        )
    )
    report = build_report(parse_requirements(CATALOGUE), cases, CONTEXT)
    assert {row.requirement.id: row.status for row in report.rows} == EXPECTED_STATUS
    assert [c.test_id for c in report.rows[2].cases] == [
        "tests.test_x.test_c",
        "tests.test_x.test_d",
    ]
    assert report.unknown_ids == {"ZZ-99": ("tests.test_x.test_e",)}
    assert report.totals == {"tests": 5, "passed": 3, "failed": 1, "errors": 0, "skipped": 1}
    assert report.status_counts == {"pass": 2, "fail": 2, "partial": 1, "not covered": 1}
    assert [r.id for r in report.not_covered] == ["T-04"]
    assert [c.test_id for c in report.failures] == ["tests.test_x.test_b"]


def test_pdf_prints_symbols_and_text_outside_latin1_as_they_are() -> None:
    long_id = "test_" + "x" * 300 + "[postgresql]"
    cases = (
        JunitCase(long_id, "failed", 0.1, ("T-01",), "期望 ≤ 12 → got 13\tfor lot"),
        JunitCase("t2", "passed", 0.1, ("T-02",), ""),
    )
    report = build_report(parse_requirements(CATALOGUE), cases, CONTEXT)
    text = _pdf_text(render_pdf(report))
    assert "Versions are kept → never overwritten" in text.splitlines()
    assert "期望 ≤ 12 → got 13    for lot" in text.splitlines()
    html = render_html(report)
    assert "期望 ≤ 12 → got 13" in html


def test_git_commit_is_unknown_outside_a_repository(tmp_path: Path) -> None:
    assert validation._git_commit(tmp_path) == "unknown"


# The command -------------------------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_report_from_a_real_pytest_run(real_junit: Path, catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = _report(
        "--junit", str(real_junit), "--requirements", str(catalogue), "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "requirements: 6, pass 2, fail 2, partial 1, not covered 1; "
        f"tests 11 (9 passed, 1 failed, 1 skipped) -> {out / 'report.html'}, {out / 'report.pdf'}\n"
    )
    assert "ZZ-99" in result.stderr

    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {row["id"]: row["status"] for row in data["matrix"]} == EXPECTED_STATUS
    tests_of = {
        row["id"]: {t["test_id"]: t["outcome"] for t in row["tests"]} for row in data["matrix"]
    }
    assert tests_of["T-01"] == {
        "test_tiny.test_versions[sqlite]": "passed",
        "test_tiny.test_versions[postgresql]": "passed",
        "test_tiny.test_on_each_engine[sqlite]": "passed",
        "test_tiny.test_on_each_engine[postgresql]": "passed",
        "test_tiny.TestGroup.test_in_class": "passed",
    }
    assert tests_of["T-03"]["test_tiny.test_skipped"] == "skipped"
    assert data["not_covered"] == ["T-04"]
    assert data["unknown_requirement_ids"] == {"ZZ-99": ["test_tiny.test_unknown_id"]}
    assert data["totals"] == {"tests": 11, "passed": 9, "failed": 1, "errors": 0, "skipped": 1}
    assert data["requirement_summary"] == {
        "requirements": 6,
        "pass": 2,
        "fail": 2,
        "partial": 1,
        "not covered": 1,
    }
    assert [f["test_id"] for f in data["failures"]] == ["test_tiny.test_audit_actor"]
    assert "deliberate failure" in data["failures"][0]["message"]
    version = data["software"]["version"]
    assert version == importlib.metadata.version("traceport")
    assert data["junit"]["file"] == "junit.xml"
    assert len(data["junit"]["sha256"]) == 64
    assert data["git_commit"]

    html = (out / "report.html").read_text(encoding="utf-8")
    pdf = _pdf_text((out / "report.pdf").read_bytes())
    for text in (html, pdf):
        assert "Traceport validation report" in text
        assert f"traceport {version}" in text
        assert data["junit"]["sha256"] in text
        assert "deliberate failure" in text
        assert "ZZ-99" in text
        for req_id in EXPECTED_STATUS:
            assert req_id in text
    for req_id, status in EXPECTED_STATUS.items():
        assert f'<tr id="{req_id}">' in html
        assert f"{req_id}  [{status.upper()}]" in pdf
    assert "test_versions[postgresql]" in html
    assert "test_versions[postgresql]" in pdf
    assert "test_tiny.test_skipped (no chromium here)" in pdf
    assert "test_tiny.test_skipped</span> <i>(no chromium here)</i>" in html


def test_html_is_self_contained(real_junit: Path, catalogue: Path, tmp_path: Path) -> None:
    result = _report(
        "--junit", str(real_junit), "--requirements", str(catalogue), "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text(encoding="utf-8").lower()
    for external in ("<script", "<link", "src=", "href=", "@import", "url("):
        assert external not in html


def test_default_catalogue_is_the_vendored_copy(real_junit: Path, tmp_path: Path) -> None:
    result = _report("--junit", str(real_junit), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    vendored = parse_requirements((REPO / "docs" / "REQUIREMENTS.md").read_text(encoding="utf-8"))
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [row["id"] for row in data["matrix"]] == [r.id for r in vendored]
    assert data["requirement_catalogue"]["file"] == "REQUIREMENTS.md"


@pytest.mark.parametrize(
    ("strict", "failing", "code"),
    [(False, True, 0), (True, True, 1), (True, False, 0)],
    ids=["failing", "strict-failing", "strict-passing"],
)
def test_strict_exits_1_only_when_a_requirement_fails(
    catalogue: Path, tmp_path: Path, strict: bool, failing: bool, code: int
) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_bytes(_junit(("test_a", "failed" if failing else "passed", ("T-01",), "no")))
    args = ["--junit", str(junit), "--requirements", str(catalogue), "--out", str(tmp_path / "out")]
    result = _report(*args, *(["--strict"] if strict else []))
    assert result.exit_code == code, result.output
    assert (tmp_path / "out" / "report.pdf").exists()


@pytest.mark.parametrize(
    ("junit_bytes", "message"),
    [
        (None, "error: JUnit file not found: "),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>', "DOCTYPE"),
        (b"not xml at all", "not well-formed XML"),
    ],
    ids=["missing", "doctype", "not-xml"],
)
def test_unusable_junit_exits_2(
    catalogue: Path, tmp_path: Path, junit_bytes: bytes | None, message: str
) -> None:
    junit = tmp_path / "junit.xml"
    if junit_bytes is not None:
        junit.write_bytes(junit_bytes)
    out = tmp_path / "out"
    result = _report("--junit", str(junit), "--requirements", str(catalogue), "--out", str(out))
    assert result.exit_code == 2
    assert message in result.stderr
    assert str(junit) in result.stderr
    assert not out.exists()


def test_missing_catalogue_exits_2(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_bytes(_junit(("test_a", "passed", ("T-01",), "")))
    missing = tmp_path / "nope.md"
    result = _report("--junit", str(junit), "--requirements", str(missing), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert f"error: requirement catalogue not found: {missing}" in result.stderr


# The vendored catalogue --------------------------------------------------------------------


@pytest.mark.skipif(
    not SHARED_CATALOGUE.exists(), reason=f"no shared catalogue at {SHARED_CATALOGUE}"
)
def test_vendored_catalogue_has_the_shared_catalogue_ids() -> None:
    def ids(path: Path) -> list[str]:
        return [r.id for r in parse_requirements(path.read_text(encoding="utf-8"))]

    assert ids(REPO / "docs" / "REQUIREMENTS.md") == ids(SHARED_CATALOGUE)
