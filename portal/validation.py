"""Validation evidence: which requirement each test proves, and whether that test passed.

This module owns the validation report a customer's QA files for computer-system validation:
it reads the requirement catalogue (``docs/REQUIREMENTS.md``) and a pytest JUnit XML file whose
test cases carry ``requirement`` properties (``tests/conftest.py`` writes one per
``@pytest.mark.req`` id), builds the requirement → tests → outcome matrix, and writes it as
``report.html``, ``report.pdf`` and ``report.json``. ``traceport validation report`` drives it.

The report is English only, unlike the portal's pages: it is one validation record whose HTML,
PDF and JSON must say the same thing, and the catalogue it quotes is English. Test messages
are printed as they are, in any language (the PDF is typeset by ``documents.typeset``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

from documents.typeset import Document

__all__ = [
    "DEFAULT_CATALOGUE",
    "STATUSES",
    "TITLE",
    "JunitCase",
    "Outcome",
    "ReportContext",
    "ReportFiles",
    "ReportInputError",
    "Requirement",
    "RequirementRow",
    "Status",
    "ValidationReport",
    "build_report",
    "describe_inputs",
    "parse_junit",
    "parse_requirements",
    "render_html",
    "render_json",
    "render_pdf",
    "requirement_status",
    "write_report",
]

Outcome = Literal["passed", "failed", "error", "skipped"]
Status = Literal["pass", "fail", "partial", "not covered"]

TITLE = "Traceport validation report"
STATUSES: tuple[Status, ...] = ("pass", "fail", "partial", "not covered")
DEFAULT_CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "REQUIREMENTS.md"

_REQUIREMENT_ID = re.compile(r"[A-Z][A-Z0-9]*-[0-9]+")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
# A test that failed in its call and again in teardown appears twice in pytest's JUnit file;
# the merged record keeps the worse outcome.
_OUTCOME_RANK: dict[Outcome, int] = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
_RESULT_ELEMENTS: tuple[tuple[str, Outcome], ...] = (
    ("failure", "failed"),
    ("error", "error"),
    ("skipped", "skipped"),
)


class ReportInputError(ValueError):
    """A catalogue or JUnit file the report cannot use; ``str(exc)`` tells the user why."""


@dataclass(frozen=True)
class Requirement:
    """One row of the requirement catalogue."""

    id: str
    text: str
    section: str
    """The catalogue heading the row sits under."""


@dataclass(frozen=True)
class JunitCase:
    """One test's result as pytest recorded it."""

    test_id: str
    """``classname.name`` as in the JUnit file, e.g. ``tests.portal.test_api.test_x[sqlite]``."""
    outcome: Outcome
    duration_s: float
    requirements: tuple[str, ...]
    message: str
    """Why it failed, errored or was skipped; empty when it passed."""


@dataclass(frozen=True)
class RequirementRow:
    """A requirement, the tests that prove it and the status they give it."""

    requirement: Requirement
    status: Status
    cases: tuple[JunitCase, ...]


@dataclass(frozen=True)
class ReportContext:
    """What the report was made from and by: the facts an auditor needs to reproduce it."""

    generated_at: datetime
    software_version: str
    git_commit: str
    junit_name: str
    junit_sha256: str
    catalogue_name: str
    catalogue_sha256: str
    python_version: str
    platform: str


@dataclass(frozen=True)
class ValidationReport:
    """The requirement matrix with its totals, ready to render."""

    context: ReportContext
    cases: tuple[JunitCase, ...]
    rows: tuple[RequirementRow, ...]
    unknown_ids: dict[str, tuple[str, ...]]
    """Requirement ids tests carry that the catalogue does not list, with those tests."""

    @property
    def provenance(self) -> list[tuple[str, str]]:
        """Labelled lines saying what the report was made from, as HTML and PDF print them."""
        c = self.context
        return [
            ("Software", f"traceport {c.software_version}"),
            ("Git commit", c.git_commit),
            ("Generated", f"{c.generated_at:%Y-%m-%d %H:%M:%S} UTC"),
            ("JUnit file", f"{c.junit_name} (SHA-256 {c.junit_sha256})"),
            ("Requirement catalogue", f"{c.catalogue_name} (SHA-256 {c.catalogue_sha256})"),
            ("Python", f"{c.python_version} on {c.platform}"),
        ]

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(case.outcome for case in self.cases)
        return {
            "tests": len(self.cases),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
        }

    @property
    def status_counts(self) -> dict[Status, int]:
        counts = Counter(row.status for row in self.rows)
        return {status: counts[status] for status in STATUSES}

    @property
    def not_covered(self) -> tuple[Requirement, ...]:
        return tuple(row.requirement for row in self.rows if row.status == "not covered")

    @property
    def failures(self) -> tuple[JunitCase, ...]:
        return tuple(case for case in self.cases if case.outcome in ("failed", "error"))

    def summary(self, files: ReportFiles) -> str:
        """One line for the terminal: requirement statuses, test outcomes, where the files are."""
        s, t = self.status_counts, self.totals
        outcomes = [f"{t['passed']} passed"] + [
            f"{t[key]} {key}" for key in ("failed", "errors", "skipped") if t[key]
        ]
        return (
            f"requirements: {len(self.rows)}, pass {s['pass']}, fail {s['fail']}, "
            f"partial {s['partial']}, not covered {s['not covered']}; "
            f"tests {t['tests']} ({', '.join(outcomes)}) -> {files.html}, {files.pdf}"
        )

    def as_dict(self) -> dict[str, Any]:
        c = self.context
        return {
            "title": TITLE,
            "generated_at": c.generated_at.isoformat(),
            "software": {"name": "traceport", "version": c.software_version},
            "git_commit": c.git_commit,
            "junit": {"file": c.junit_name, "sha256": c.junit_sha256},
            "requirement_catalogue": {"file": c.catalogue_name, "sha256": c.catalogue_sha256},
            "python": {"version": c.python_version, "platform": c.platform},
            "totals": self.totals,
            "requirement_summary": {"requirements": len(self.rows), **self.status_counts},
            "matrix": [
                {
                    "id": row.requirement.id,
                    "section": row.requirement.section,
                    "text": row.requirement.text,
                    "status": row.status,
                    "tests": [_case_dict(case) for case in row.cases],
                }
                for row in self.rows
            ],
            "not_covered": [requirement.id for requirement in self.not_covered],
            "unknown_requirement_ids": {key: list(ids) for key, ids in self.unknown_ids.items()},
            "failures": [_case_dict(case) for case in self.failures],
        }


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path
    json: Path


def _case_dict(case: JunitCase) -> dict[str, Any]:
    return {
        "test_id": case.test_id,
        "outcome": case.outcome,
        "duration_s": case.duration_s,
        "requirements": list(case.requirements),
        "message": case.message,
    }


# Reading the inputs ------------------------------------------------------------------------


def parse_requirements(markdown: str) -> tuple[Requirement, ...]:
    """The catalogue's rows: every table row whose first cell is a requirement id.

    Header and separator rows, prose and tables of anything else are passed over, so the column
    titles may change; a duplicated id is an error, because tests could not say which they prove.
    """
    requirements: dict[str, Requirement] = {}
    section = ""
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            section = stripped.lstrip("#").strip()
            continue
        if not stripped.startswith("|"):
            continue
        cells = [
            cell.strip().replace("\\|", "|") for cell in _UNESCAPED_PIPE.split(stripped.strip("|"))
        ]
        if len(cells) < 2 or not _REQUIREMENT_ID.fullmatch(cells[0]):
            continue
        if cells[0] in requirements:
            raise ReportInputError(f"requirement {cells[0]} appears twice in the catalogue")
        requirements[cells[0]] = Requirement(id=cells[0], text=cells[1], section=section)
    if not requirements:
        raise ReportInputError("the requirement catalogue has no table rows with requirement ids")
    return tuple(requirements.values())


def parse_junit(data: bytes) -> tuple[JunitCase, ...]:
    """The test cases of a pytest JUnit XML file, one per test id.

    The file is our own pytest output, but it is still parsed as untrusted: it must be UTF-8
    and may not carry a document type declaration, which is where entity expansion and
    external entities would hide. The text is handed to the parser as ``str``, so expat reads
    exactly the characters checked here whatever encoding the XML declaration claims.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportInputError(f"the JUnit file is not UTF-8 text ({exc.reason})") from exc
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ReportInputError("the JUnit file has a DOCTYPE or ENTITY declaration; refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD can reach the parser (checked above)
    except ET.ParseError as exc:
        raise ReportInputError(f"the JUnit file is not well-formed XML ({exc})") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportInputError(
            f"the file is not JUnit XML (root element <{root.tag}>, "
            "expected <testsuites> or <testsuite>)"
        )
    cases: dict[str, JunitCase] = {}
    for element in root.iter("testcase"):
        case = _junit_case(element)
        earlier = cases.get(case.test_id)
        cases[case.test_id] = case if earlier is None else _merge(earlier, case)
    return tuple(cases.values())


def _junit_case(element: ET.Element) -> JunitCase:
    name = element.get("name")
    if not name:
        raise ReportInputError("the JUnit file has a <testcase> without a name")
    classname = element.get("classname", "")
    test_id = f"{classname}.{name}" if classname else name
    try:
        duration = float(element.get("time") or 0)
    except ValueError as exc:
        raise ReportInputError(
            f"test {test_id} has an invalid time {element.get('time')!r}"
        ) from exc
    outcome: Outcome = "passed"
    message = ""
    for tag, tag_outcome in _RESULT_ELEMENTS:
        child = element.find(tag)
        if child is not None:
            outcome = tag_outcome
            message = child.get("message") or _first_line(child.text)
            break
    requirements = tuple(
        dict.fromkeys(
            (prop.get("value") or "").strip()
            for prop in element.iterfind("properties/property")
            if prop.get("name") == "requirement" and (prop.get("value") or "").strip()
        )
    )
    return JunitCase(test_id, outcome, duration, requirements, message)


def _first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def _merge(first: JunitCase, second: JunitCase) -> JunitCase:
    worse = first if _OUTCOME_RANK[first.outcome] >= _OUTCOME_RANK[second.outcome] else second
    messages = [m for m in (first.message, second.message) if m]
    return JunitCase(
        test_id=first.test_id,
        outcome=worse.outcome,
        duration_s=first.duration_s + second.duration_s,
        requirements=tuple(dict.fromkeys(first.requirements + second.requirements)),
        message="\n".join(dict.fromkeys(messages)),
    )


def describe_inputs(
    junit_name: str, junit_data: bytes, catalogue_name: str, catalogue_data: bytes
) -> ReportContext:
    """The report's provenance: now (UTC), this software's version and commit, input hashes."""
    try:
        version = importlib.metadata.version("traceport")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return ReportContext(
        generated_at=datetime.now(UTC).replace(microsecond=0),
        software_version=version,
        git_commit=_git_commit(Path(__file__).resolve().parent),
        junit_name=junit_name,
        junit_sha256=hashlib.sha256(junit_data).hexdigest(),
        catalogue_name=catalogue_name,
        catalogue_sha256=hashlib.sha256(catalogue_data).hexdigest(),
        python_version=platform.python_version(),
        platform=platform.platform(),
    )


def _git_commit(directory: Path) -> str:
    """HEAD of the checkout this code runs from, noting uncommitted changes; else "unknown".

    Tests run against a dirty tree prove something about code no commit holds, so the report
    says so. ``GIT_OPTIONAL_LOCKS=0`` keeps ``git status`` from rewriting the index, so making
    a report never touches the repository.
    """
    git = shutil.which("git")
    if git is None:
        return "unknown"
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [git, *args], cwd=directory, env=env, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if not commit or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return "unknown"
    changes = run("status", "--porcelain", "--untracked-files=no")
    return f"{commit} (with uncommitted changes)" if changes else commit


# The matrix ------------------------------------------------------------------------------


def requirement_status(cases: tuple[JunitCase, ...]) -> Status:
    """pass: ≥1 test, all passed; fail: any failed or errored; partial: some skipped, none
    failed; not covered: no test."""
    outcomes = {case.outcome for case in cases}
    if not outcomes:
        return "not covered"
    if outcomes & {"failed", "error"}:
        return "fail"
    if "skipped" in outcomes:
        return "partial"
    return "pass"


def build_report(
    requirements: tuple[Requirement, ...], cases: tuple[JunitCase, ...], context: ReportContext
) -> ValidationReport:
    """Map every catalogue requirement to the tests that carry its id, in catalogue order."""
    by_id: dict[str, list[JunitCase]] = {}
    for case in cases:
        for req_id in case.requirements:
            by_id.setdefault(req_id, []).append(case)
    rows = []
    for requirement in requirements:
        proving = tuple(by_id.get(requirement.id, ()))
        rows.append(RequirementRow(requirement, requirement_status(proving), proving))
    known = {req.id for req in requirements}
    unknown = {
        req_id: tuple(case.test_id for case in found)
        for req_id, found in sorted(by_id.items())
        if req_id not in known
    }
    return ValidationReport(context=context, cases=cases, rows=tuple(rows), unknown_ids=unknown)


# Rendering -------------------------------------------------------------------------------


def render_json(report: ValidationReport) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


def render_html(report: ValidationReport) -> str:
    """A self-contained page (inline CSS, no scripts): it is filed, not served."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("validation/report.html").render(
        title=TITLE, report=report, context=report.context
    )


_STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "pass": (0, 110, 40),
    "fail": (180, 0, 0),
    "partial": (160, 100, 0),
    "not covered": (90, 90, 90),
}


def render_pdf(report: ValidationReport) -> bytes:
    """The same content as the HTML, as a PDF typeset by ``documents.typeset`` (whose fonts
    draw the catalogue's arrows and any test message in Chinese as they are)."""
    c = report.context
    doc = Document(
        TITLE,
        footer=f"{TITLE} - traceport {c.software_version} - {c.generated_at:%Y-%m-%d %H:%M} UTC",
        page_label=" - page {page}/{pages}",
        bottom_margin=18,
        footer_size=8,
    )

    def line(
        value: str,
        size: float = 10,
        bold: bool = False,
        height: float = 5,
        colour: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        doc.text(value, size=size, bold=bold, height=height, colour=colour)

    def heading(value: str) -> None:
        doc.space(3)
        line(value, size=13, bold=True, height=7)

    line(TITLE, size=18, bold=True, height=10)
    for label, value in report.provenance:
        line(f"{label}: {value}", size=9, height=4.5)

    t, s = report.totals, report.status_counts
    heading("Totals")
    line(
        f"Tests: {t['tests']} - passed {t['passed']}, failed {t['failed']}, "
        f"errors {t['errors']}, skipped {t['skipped']}"
    )
    line(
        f"Requirements: {len(report.rows)} - pass {s['pass']}, fail {s['fail']}, "
        f"partial {s['partial']}, not covered {s['not covered']}"
    )

    heading("Requirement matrix")
    section = None
    for row in report.rows:
        if row.requirement.section != section:
            section = row.requirement.section
            doc.space(1)
            line(section, size=11, bold=True, height=6)
        line(
            f"{row.requirement.id}  [{row.status.upper()}]",
            bold=True,
            colour=_STATUS_COLOURS[row.status],
        )
        line(row.requirement.text, size=9, height=4.5)
        for case in row.cases:
            reason = f" ({case.message})" if case.outcome == "skipped" and case.message else ""
            line(f"    {case.outcome:8} {case.test_id}{reason}", size=8, height=4)
        doc.space(1)

    heading(f"Not covered ({len(report.not_covered)})")
    for requirement in report.not_covered:
        line(f"{requirement.id}  {requirement.text}", size=9, height=4.5)
    if not report.not_covered:
        line("Every requirement has at least one test.", size=9)

    if report.unknown_ids:
        heading("Warning: requirement ids not in the catalogue")
        for req_id, tests in report.unknown_ids.items():
            line(f"{req_id}: {', '.join(tests)}", size=9, height=4.5)

    heading(f"Failures ({len(report.failures)})")
    for case in report.failures:
        line(f"{case.outcome}: {case.test_id}", size=9, bold=True, height=4.5)
        line(case.message or "(no message)", size=8, height=4)
        doc.space(1)
    if not report.failures:
        line("No test failed or errored.", size=9)
    return doc.render()


def write_report(report: ValidationReport, out_dir: Path) -> ReportFiles:
    """Write report.html, report.pdf and report.json into ``out_dir`` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        html=out_dir / "report.html", pdf=out_dir / "report.pdf", json=out_dir / "report.json"
    )
    files.html.write_text(render_html(report), encoding="utf-8")
    files.pdf.write_bytes(render_pdf(report))
    files.json.write_text(render_json(report), encoding="utf-8")
    return files
