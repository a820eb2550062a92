"""Tests for documents.pdf: sandboxed text extraction, its limits and messages, and make_pdf."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from documents import PdfExtraction, PdfRejected, extract_pdf
from documents.pdf import make_pdf

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CANNLYTICS = SHARED_DATA / "cannlytics"

COA_LINES = [
    "Supplier: Acme Polymers GmbH",
    "Material: PEEK granulate, medical grade",
    "Lot: 24-0117",
    "Tensile strength: 98 MPa (spec ≥ 90 MPa) – PASS",
    "Endotoxin: 0.12 EU/mL (spec ≤ 0.5 EU/mL) – PASS",
    "Approved by: Dr. Jürgen Weiß",
]


def _raw_pdf(content: bytes, pages: int) -> bytes:
    """A minimal PDF whose pages all draw one shared, compressed content stream."""
    stream = zlib.compress(content)
    kids = " ".join(f"{4 + n} 0 R" for n in range(pages))
    font = 4 + pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
        + stream
        + b"\nendstream",
        *(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
            for _ in range(pages)
        ),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _slow_pdf() -> bytes:
    # Each page is 100,000 text-showing operators: over a second of pypdf's time per page on a
    # fast machine, well inside pypdf's own token limits, and only a few kilobytes on disk.
    content = b"BT /F1 12 Tf 72 700 Td " + b"(ab) Tj 1 0 Td " * 100_000 + b"ET"
    return _raw_pdf(content, pages=10)


def _encrypted(data: bytes, *, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _child_pids() -> set[int]:
    pids: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        pids.update(int(pid) for pid in children.read_text().split())
    return pids


def _shared_pdf(relative: str) -> bytes:
    path = CANNLYTICS / relative
    if not CANNLYTICS.is_dir():
        pytest.skip(f"shared test data not found at {CANNLYTICS} (CI has it at ../shared/data)")
    return path.read_bytes()


async def test_make_pdf_text_comes_back_out() -> None:
    extraction = await extract_pdf(make_pdf("Certificate of Analysis", COA_LINES))

    assert extraction.page_count == 1
    assert not extraction.truncated
    assert extraction.text.splitlines() == ["Certificate of Analysis", *COA_LINES]


def test_make_pdf_is_a4_and_draws_every_script_in_the_products_fonts() -> None:
    reader = PdfReader(io.BytesIO(make_pdf("CoA 批次", ["Résultat: 5 µg ± 1", "温度 ok"])))

    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    assert reader.pages[0].extract_text().splitlines() == [
        "CoA 批次",
        "Résultat: 5 µg ± 1",
        "温度 ok",
    ]


async def test_pages_are_separated_by_a_form_feed_line() -> None:
    lines = [f"Result row {n}" for n in range(120)]

    extraction = await extract_pdf(make_pdf("Long report", lines))

    pages = extraction.text.split("\n\f\n")
    assert extraction.page_count == len(pages) > 1
    assert pages[0].startswith("Long report\nResult row 0\n")
    assert pages[-1].endswith("Result row 119")


@pytest.mark.parametrize(
    ("relative", "pages", "expected"),
    [
        ("pdfs/example_coa.pdf", 1, ["Company Name", "Phone:  555 555 0125"]),
        # Encrypted with an owner password only, as many labs ship them: readable by anyone.
        (
            "coas/confident-cannabis/Purple-Punch.pdf",
            1,
            ["Sample: 2106EST0729.264", "Analysis by Havard Industries"],
        ),
        (
            "coas/confidence-analytics/13232582566688421-Flower-Dirty-Banana-Breath-WA-221015-052.pdf",
            8,
            ["Official Test Results for Laboratory Sample # WA-221015-052", "Dirty Banana Breath"],
        ),
    ],
)
async def test_real_certificates_of_analysis(
    relative: str, pages: int, expected: list[str]
) -> None:
    extraction = await extract_pdf(_shared_pdf(relative))

    assert extraction.page_count == pages
    for text in expected:
        assert text in extraction.text
    assert "\x00" not in extraction.text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Certificate of Analysis, lot 24-0117",
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        b"PK\x03\x04 a zip file renamed to .pdf",
        b"x" * 2000 + b"%PDF-1.7",
        b" " * 1025 + b"%PDF-1.7",
    ],
)
async def test_non_pdf_is_refused_without_starting_a_reader(data: bytes) -> None:
    # A deadline no child process could meet shows that no child process was started.
    with pytest.raises(PdfRejected) as caught:
        await extract_pdf(data, timeout_s=1e-9)

    assert str(caught.value) == "The file is not a PDF (it does not start with %PDF-)"
    assert caught.value.reason == "not_pdf"


async def test_whitespace_before_the_header_is_tolerated() -> None:
    extraction = await extract_pdf(b"\r\n \t\n" + make_pdf("Lot 24-0117", ["PASS"]))

    assert extraction.text == "Lot 24-0117\nPASS"


@pytest.mark.parametrize(
    "data",
    [
        make_pdf("Certificate of Analysis", COA_LINES)[:900],
        b"%PDF-1.7\n" + bytes(range(256)) * 8,
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n",
    ],
    ids=["truncated", "garbage", "no-xref"],
)
async def test_damaged_pdf_is_refused_with_the_reason(data: bytes) -> None:
    with pytest.raises(
        PdfRejected, match=r"^The PDF is damaged and could not be read: \S"
    ) as caught:
        await extract_pdf(data)

    assert caught.value.reason == "damaged"


async def test_pdf_that_needs_a_password_is_refused() -> None:
    data = _encrypted(make_pdf("Certificate of Analysis", COA_LINES), user_password="secret")

    with pytest.raises(PdfRejected) as caught:
        await extract_pdf(data)

    assert str(caught.value) == "The PDF is encrypted; upload an unencrypted copy"
    assert caught.value.reason == "encrypted"


async def test_pdf_with_only_an_owner_password_is_read() -> None:
    data = _encrypted(make_pdf("Certificate of Analysis", ["Lot: 24-0117"]), user_password="")

    extraction = await extract_pdf(data)

    assert extraction.text == "Certificate of Analysis\nLot: 24-0117"


async def test_page_limit() -> None:
    data = _raw_pdf(b"BT /F1 12 Tf 72 700 Td (page) Tj ET", pages=3)

    with pytest.raises(PdfRejected) as caught:
        await extract_pdf(data, max_pages=2)

    assert str(caught.value) == "The PDF has 3 pages; the limit is 2"
    assert caught.value.reason == "too_many_pages"
    assert (await extract_pdf(data, max_pages=3)).page_count == 3


async def test_slow_pdf_is_stopped_at_the_deadline() -> None:
    before = _child_pids()
    started = time.monotonic()

    with pytest.raises(PdfRejected) as caught:
        await extract_pdf(_slow_pdf(), timeout_s=1.0)

    elapsed = time.monotonic() - started
    assert str(caught.value) == "Reading the PDF took longer than 1 s; it was stopped"
    assert caught.value.reason == "timeout"
    assert 0.9 < elapsed < 3.0
    assert _child_pids() <= before


async def test_cancelled_extraction_kills_its_reader() -> None:
    before = _child_pids()
    task = asyncio.create_task(extract_pdf(_slow_pdf(), timeout_s=60))
    await asyncio.sleep(0.5)
    assert _child_pids() - before, "the reader process should be running by now"

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert _child_pids() <= before


async def test_memory_limit() -> None:
    data = make_pdf("Certificate of Analysis", COA_LINES * 40)

    with pytest.raises(PdfRejected) as caught:
        await extract_pdf(data, memory_limit_mb=16)

    assert str(caught.value) == "Reading the PDF needed more than 16 MB of memory; it was stopped"
    assert caught.value.reason == "memory"
    assert (await extract_pdf(data)).text.endswith("Approved by: Dr. Jürgen Weiß")


async def test_text_is_capped_at_max_chars() -> None:
    data = make_pdf("Certificate of Analysis", COA_LINES)
    full = (await extract_pdf(data)).text

    capped = await extract_pdf(data, max_chars=23)
    exact = await extract_pdf(data, max_chars=len(full))

    assert capped == PdfExtraction(page_count=1, text="Certificate of Analysis", truncated=True)
    assert exact == PdfExtraction(page_count=1, text=full, truncated=False)


async def test_text_cap_applies_across_pages() -> None:
    data = _raw_pdf(b"BT /F1 12 Tf 72 700 Td (0123456789) Tj ET", pages=4)

    extraction = await extract_pdf(data, max_chars=15)

    assert extraction == PdfExtraction(page_count=4, text="0123456789\n\f\n01", truncated=True)


async def test_concurrent_extractions_keep_their_own_results() -> None:
    documents = [make_pdf(f"Lot {n}", [f"Result {n}"]) for n in range(5)]

    extractions = await asyncio.gather(*(extract_pdf(data) for data in documents))

    assert [e.text for e in extractions] == [f"Lot {n}\nResult {n}" for n in range(5)]


@pytest.mark.parametrize(
    "limits",
    [{"max_pages": 0}, {"max_chars": -1}, {"timeout_s": 0}, {"memory_limit_mb": 0}],
)
async def test_nonsense_limits_are_a_programming_error(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="limits must be positive") as caught:
        await extract_pdf(make_pdf("x", []), **limits)

    assert not isinstance(caught.value, PdfRejected)


def test_reader_stops_itself_when_its_cpu_time_runs_out(tmp_path: Path) -> None:
    # The backstop for a parent that died before it could kill the reader at the deadline.
    worker = Path(__file__).resolve().parents[2] / "documents" / "_pdf_worker.py"
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(_slow_pdf())

    with slow.open("rb") as stdin:
        finished = subprocess.run(
            [sys.executable, "-I", str(worker), "500", "1000", "512", "1"],
            stdin=stdin,
            capture_output=True,
            timeout=30,
            check=False,
        )

    assert finished.returncode == -signal.SIGXCPU
    assert finished.stdout == b""
