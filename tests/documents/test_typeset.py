"""Tests for documents.typeset: every generated PDF's text extracts back exactly, in English and
Chinese, in the product's own fonts, whatever fonts the host has installed.

``.ci/cjk-fonts-check`` runs this module on a machine that has Debian's
``fonts-noto-cjk`` installed, the setting in which the old record-copy typesetter picked up a
system font and wrote Chinese that extracted as ``合\\x00格``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from documents.pdf import extract_pdf, make_pdf
from documents.typeset import PAGES, Document, font_files, printable

ENGLISH = "Lot AP-24-0815 conforming: 5 µg ± 1, ≥ 4.5 kg – Ωmega-Waage, Weiß"
CHINESE = "批次合格，温度：25 ℃。「复核」（已签名）；数量≤10！"
#: Outside the Basic Multilingual Plane, and in Noto Sans SC: drawn and extracted as it is.
DRAWN_BEYOND_BMP = "𠂇"  # U+20087, CJK Extension B
#: Outside the BMP and in neither font: printed as its code point, never as tofu.
MISSING_BEYOND_BMP = "𠀀"  # U+20000


def _pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def _fonts(data: bytes) -> list[dict[str, Any]]:
    """Every font resource of every page, with its descendant CID font and descriptor."""
    found: dict[str, dict[str, Any]] = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            cid = font["/DescendantFonts"][0].get_object()
            descriptor = cid["/FontDescriptor"].get_object()
            found[str(font["/BaseFont"])] = {
                "font": font,
                "cid": cid,
                "descriptor": descriptor,
            }
    return list(found.values())


# The typesetter -----------------------------------------------------------------------------


def test_english_chinese_and_beyond_the_bmp_extract_back_exactly() -> None:
    doc = Document("批次 Lot report", footer="Lot 批次", page_label=" - page {page}/{pages}")
    lines = [
        ENGLISH,
        CHINESE,
        f"Beyond the BMP: {DRAWN_BEYOND_BMP} and 🄐",
        "conforming 合格 — “quoted” ‘text’ … → ←",
    ]
    doc.text("批次 Lot report", size=16, bold=True)
    for line in lines:
        doc.text(line)
    doc.text(CHINESE, bold=True)
    doc.table((60, 120), [("Field 字段", "Value 值"), ("结果", CHINESE), ("result", ENGLISH)])

    (page,) = _pages(doc.render())

    assert page.splitlines() == [
        "批次 Lot report",
        *lines,
        CHINESE,
        "Field 字段 Value 值",
        f"结果 {CHINESE}",
        f"result {ENGLISH}",
        "Lot 批次 - page 1/1",
    ]
    assert "\x00" not in page


def test_a_character_neither_font_has_is_printed_as_its_code_point() -> None:
    assert (
        printable(f"A{MISSING_BEYOND_BMP}B😀\x07\r\n\tC") == "A[U+20000]B[U+1F600][U+0007]\n    C"
    )
    doc = Document("Code points")
    doc.text(f"Rare {MISSING_BEYOND_BMP} and {DRAWN_BEYOND_BMP}, emoji 😀, bell \x07.")

    (page,) = _pages(doc.render())

    assert page == f"Rare [U+20000] and {DRAWN_BEYOND_BMP}, emoji [U+1F600], bell [U+0007]."


def test_footer_numbers_pages_and_leaves_braces_in_text_alone() -> None:
    doc = Document("Long", footer="Title {nb} {page}", page_label=" · page {page} of {pages}")
    for n in range(120):
        doc.text(f"Row {n} 行")

    pages = _pages(doc.render())

    assert len(pages) > 1
    for number, text in enumerate(pages, start=1):
        assert text.splitlines()[-1] == f"Title {{nb}} {{page}} · page {number} of {len(pages)}"
    assert PAGES not in "".join(pages)


def test_the_embedded_fonts_are_the_products_own_truetype_fonts() -> None:
    doc = Document("Fonts")
    doc.text(ENGLISH, bold=True)
    doc.text(CHINESE)

    fonts = _fonts(doc.render())

    names = sorted(str(f["font"]["/BaseFont"]).split("+", 1)[1] for f in fonts)
    assert names == ["NotoSans", "NotoSansBold", "NotoSansSC"]
    with TTFont(font_files().text) as text_font, TTFont(font_files().cjk) as cjk_font:
        copyrights = {
            "NotoSans": text_font["name"].getDebugName(0),
            "NotoSansBold": text_font["name"].getDebugName(0),
            "NotoSansSC": cjk_font["name"].getDebugName(0),
        }
    for font in fonts:
        # TrueType outlines with Identity-H and a ToUnicode map: what pypdf reads correctly.
        assert font["font"]["/Encoding"] == "/Identity-H"
        assert "/ToUnicode" in font["font"]
        assert font["cid"]["/Subtype"] == "/CIDFontType2"
        assert "/FontFile3" not in font["descriptor"]
        embedded = TTFont(io.BytesIO(font["descriptor"]["/FontFile2"].get_object().get_data()))
        name = str(font["font"]["/BaseFont"]).split("+", 1)[1]
        assert embedded["name"].getDebugName(0) == copyrights[name]
    # Installed with the product's own dependencies (pyproject.toml), not found on the host.
    assert font_files().text.parent.name == "manimgx_fonts"
    assert font_files().cjk.parent.name == "pylopdf_fonts_zh_cn"


_OPENED_FONTS = textwrap.dedent(
    """
    import json, sys

    opened = []

    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes)):
            name = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if name.lower().endswith((".ttf", ".otf", ".ttc", ".pfb", ".conf", ".woff2")):
                opened.append(name)

    sys.addaudithook(hook)
    from documents.typeset import Document

    doc = Document("Host fonts")
    doc.text(sys.argv[1], bold=True)
    doc.text(sys.argv[1])
    data = doc.render()
    print(json.dumps({"opened": opened, "size": len(data)}))
    """
)


def test_the_hosts_fonts_are_never_opened(tmp_path: Path) -> None:
    """Even with a fontconfig and font folders of its own that point at a 'font' that would
    break rendering, the typesetter opens only the fonts installed with the product."""
    fake_fonts = tmp_path / "fonts"
    fake_fonts.mkdir()
    (fake_fonts / "NotoSansCJK-Regular.ttc").write_bytes(b"not a font")
    (fake_fonts / "DejaVuSans.ttf").write_bytes(b"not a font")
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<fontconfig><dir>{fake_fonts}</dir></fontconfig>")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_DATA_DIRS": str(tmp_path),
        "FONTCONFIG_FILE": str(conf),
        "FONTCONFIG_PATH": str(tmp_path),
    }
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _OPENED_FONTS, f"{ENGLISH} {CHINESE}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    opened = [Path(name).resolve() for name in result["opened"]]
    own = {font_files().text.resolve(), font_files().cjk.resolve()}
    assert own <= set(opened)
    for path in opened:
        # The product's font files, or the per-document TrueType fonts made from them.
        assert path in own or path.parent.name.startswith("traceport-pdf-"), path
    assert not any(str(path).startswith(("/usr/share/fonts", str(tmp_path))) for path in opened)


async def test_make_pdf_text_survives_the_sandboxed_extractor() -> None:
    extraction = await extract_pdf(make_pdf("检验证书 CoA", [ENGLISH, CHINESE]))

    assert extraction.text.splitlines() == ["检验证书 CoA", ENGLISH, CHINESE]


# The three PDFs the product generates --------------------------------------------------------


@pytest.mark.req("P11-02")
def test_record_copy_report_extracts_english_and_chinese_exactly() -> None:
    from trace_core.identity.actor import Actor
    from trace_core.records import export
    from trace_core.records.models import AuditEvent, RecordVersion
    from trace_core.records.registry import RECORD_TYPES
    from trace_core.records.service import SignatureView
    from trace_core.records.views import RecordView

    at = dt.datetime(2026, 11, 24, 13, 5, 9, tzinfo=dt.UTC)
    hashes = ["a" * 64, "b" * 64]

    def version(number: int, action: str, content: dict[str, Any], reason: str | None) -> Any:
        return RecordVersion(
            record_type="supplier_lot",
            record_id=7,
            version=number,
            status="submitted",
            content=content,
            content_sha256=hashes[number - 1],
            action=action,
            reason=reason,
            author_kind="user",
            author_name="王芳 (Wang Fang)",
            channel="ui",
            created_at=at,
        )

    view = RecordView(
        type=RECORD_TYPES["supplier_lot"],
        record_id=7,
        versions=[
            version(1, "create", {"lot_number": "AP-批次-1", "note": ENGLISH}, None),
            version(2, "revise", {"lot_number": "AP-批次-1", "note": CHINESE}, "复核后更正"),
        ],
        signatures=[
            SignatureView(
                id=1,
                printed_name="王芳",
                signed_at=at,
                meaning="批准 approved",
                comment=f"conforming 合格 {DRAWN_BEYOND_BMP}",
                version=2,
                content_sha256=hashes[1],
                valid=True,
                covers_current=True,
            )
        ],
        events=[
            AuditEvent(
                seq=1,
                occurred_at=at,
                actor_name="王芳",
                channel="ui",
                action="revise",
                version=2,
                reason="复核后更正",
            )
        ],
        documents=[],
    )

    text = "\n".join(
        _pages(export._render_report(view, at.isoformat(), Actor.system("cli")))
    ).splitlines()

    assert f"Comment: conforming 合格 {DRAWN_BEYOND_BMP}" in text
    assert "王芳: 批准 approved" in text
    assert "Reason: 复核后更正" in text
    assert "By 王芳 (Wang Fang) (user, ui)" in text
    assert f"note {CHINESE}" in text
    assert f"note {ENGLISH} {CHINESE}" in text  # the revision's before and after
    assert "REVISED AFTER FIRST ENTRY" in text
    assert not any("\x00" in line or "[U+" in line for line in text)


def test_recall_pdf_extracts_english_and_chinese_exactly() -> None:
    from trace_core.recalls.models import Recall
    from trace_core.recalls.service import recall_pdf

    at = dt.datetime(2026, 11, 24, 13, 5, 9, tzinfo=dt.UTC)
    recall = Recall(
        number="R-2026-0001",
        identifier="(01)04012345000010(10)批次-7",
        reason=f"{CHINESE} wrong resin",
        status="open",
        opened_at=at,
        scope={
            "counts": {"serials": 2, "lots": 1},
            "consignees": [{"name": "上海医疗器械有限公司", "address": "上海市浦东新区 1号"}],
            "lots": [
                {
                    "lot_number": "批次-7",
                    "part_number": "RES-100",
                    "status": "released",
                    "from_suspect_material": {"kg": "4.5"},
                }
            ],
            "shipments": [],
            "serials": [],
        },
    )

    (page, *_rest) = _pages(
        recall_pdf(
            recall,
            "王芳",
            [
                {
                    "printed_name": "王芳",
                    "signed_at": "2026-11-24 13:05:09",
                    "meaning": "批准",
                    "valid": True,
                }
            ],
            versions=[(1, "open", "王芳", at, None), (2, "open", "李雷", at, "范围更正")],
        )
    )
    lines = page.splitlines()

    assert lines[0] == "Recall R-2026-0001"
    assert "Suspect identifier: (01)04012345000010(10)批次-7" in lines
    assert f"Reason: {CHINESE} wrong resin" in lines
    assert "Opened 2026-11-24 13:05:09 UTC by 王芳" in lines
    assert "王芳 - 2026-11-24 13:05:09 UTC - 批准" in [line.strip() for line in lines]
    assert "上海医疗器械有限公司 - 上海市浦东新区 1号" in [line.strip() for line in lines]
    assert "批次-7 RES-100 released 4.5 kg" in [line.strip() for line in lines]
    assert "v2 open - 李雷 - 2026-11-24 13:05 UTC - 范围更正" in [line.strip() for line in lines]


def test_validation_report_pdf_extracts_english_and_chinese_exactly() -> None:
    from portal.validation import JunitCase, ReportContext, build_report, render_pdf
    from portal.validation import parse_requirements as parse

    catalogue = (
        "# Catalogue\n\n## Records\n\n| id | behaviour | proof |\n|---|---|---|\n"
        "| T-01 | Versions are kept → never overwritten | revise twice |\n"
    )
    context = ReportContext(
        generated_at=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        software_version="9.8.7",
        git_commit="0" * 40,
        junit_name="junit.xml",
        junit_sha256="a" * 64,
        catalogue_name="REQUIREMENTS.md",
        catalogue_sha256="b" * 64,
        python_version="3.11.0",
        platform="Linux",
    )
    message = f"期望 ≤ 12 → got 13: {CHINESE}"
    report = build_report(
        parse(catalogue), (JunitCase("test_中文", "failed", 0.1, ("T-01",), message),), context
    )

    text = "\n".join(_pages(render_pdf(report))).splitlines()

    assert "Versions are kept → never overwritten" in text
    assert "failed: test_中文" in text
    assert message in text
