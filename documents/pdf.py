"""PDF work: reading the text out of uploaded PDFs safely, and generating simple PDFs.

This module owns ``extract_pdf`` (the text of a CoA or any other uploaded PDF, for reviewers
and search) and ``make_pdf`` (a plain generated document, used by the recall record, tests and
the demo seeder; like every generated PDF it is laid out by ``documents.typeset``).

Uploaded PDFs are hostile until proven otherwise: a crafted file can make a parser loop or
allocate without bound. So pypdf never runs in this process. Each extraction runs
``_pdf_worker.py`` in a fresh child process with an address-space limit (RLIMIT_AS) and a CPU
limit, and the child is killed at a wall-clock deadline. A fresh interpreter (rather than a
forked copy of the web server) shares no threads, locks or open connections with its parent,
and its warnings and log records about malformed files stay in the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PdfExtraction", "PdfRejected", "extract_pdf", "make_pdf"]

logger = logging.getLogger(__name__)

_WORKER = Path(__file__).with_name("_pdf_worker.py")
_HEADER = b"%PDF-"
# PDF readers accept a header preceded by up to 1024 bytes; we only allow whitespace there.
_HEADER_SEARCH_BYTES = 1024
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
# The child has returned or been killed long before this; it only bounds the wait for pipes.
_REAP_TIMEOUT_S = 5.0

_workers_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class PdfExtraction:
    """The text of a PDF, page by page."""

    page_count: int
    text: str
    """All pages' text, with ``"\\n\\f\\n"`` between consecutive pages."""
    truncated: bool
    """True when ``text`` was cut at ``max_chars``."""


class PdfRejected(ValueError):
    """The PDF cannot be accepted; ``str(exc)`` is a message to show the person who uploaded it.

    ``reason`` is a stable code for APIs and tests: ``not_pdf``, ``damaged``, ``encrypted``,
    ``too_many_pages``, ``timeout`` or ``memory``.
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


async def extract_pdf(
    data: bytes,
    *,
    max_pages: int = 500,
    max_chars: int = 1_000_000,
    timeout_s: float = 10.0,
    memory_limit_mb: int = 512,
) -> PdfExtraction:
    """Read the text of every page of ``data`` in a sandboxed child process.

    Raises ``PdfRejected`` for anything that is not a readable, unencrypted PDF within the
    limits. ``timeout_s`` is wall-clock time for the whole child process, start-up included.
    Extractions run at most one per CPU at a time in each event loop, so that a burst of
    uploads cannot multiply the memory limit by the number of uploads; time spent waiting for
    a turn does not count against ``timeout_s``.
    """
    if max_pages < 1 or max_chars < 0 or timeout_s <= 0 or memory_limit_mb < 1:
        raise ValueError(
            "extract_pdf limits must be positive (max_chars may be 0): "
            f"{max_pages=}, {max_chars=}, {timeout_s=}, {memory_limit_mb=}"
        )
    _require_pdf_header(data)
    async with _worker_slots():
        returncode, stdout, stderr = await _run_worker(
            bytes(data),
            [
                str(max_pages),
                str(max_chars),
                str(memory_limit_mb),
                # Whole seconds, at least one more than the wall-clock limit, so the parent's
                # deadline is the one that normally fires and its message is the one users see.
                str(math.ceil(timeout_s) + 1),
            ],
            timeout_s,
        )
    if returncode is None:
        raise _timed_out(timeout_s)
    return _interpret(returncode, stdout, stderr, max_pages, memory_limit_mb, timeout_s)


def _require_pdf_header(data: bytes) -> None:
    head = bytes(data[: _HEADER_SEARCH_BYTES + len(_HEADER)]).lstrip(_PDF_WHITESPACE)
    if not head.startswith(_HEADER):
        raise PdfRejected("The file is not a PDF (it does not start with %PDF-)", reason="not_pdf")


def _timed_out(timeout_s: float) -> PdfRejected:
    return PdfRejected(
        f"Reading the PDF took longer than {timeout_s:g} s; it was stopped", reason="timeout"
    )


def _worker_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _workers_per_loop.get(loop)
    if slots is None:
        slots = _workers_per_loop[loop] = asyncio.Semaphore(os.cpu_count() or 1)
    return slots


async def _run_worker(
    data: bytes, args: list[str], timeout_s: float
) -> tuple[int | None, bytes, bytes]:
    """Run the worker on ``data``; a returncode of None means it was killed at the deadline."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        # Isolated mode: PYTHON* variables (PYTHONWARNINGS, PYTHONPATH...) and the user's
        # site-packages cannot change how the untrusted input is handled.
        "-I",
        str(_WORKER),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Its own process group, so the kill also reaches any helper a PDF filter started
        # (pypdf runs jbig2dec for JBIG2 images when it is installed).
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(data), timeout_s)
    except TimeoutError:
        return None, b"", b""
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            # Shielded so that a cancelled caller still reaps the child and closes its pipes.
            await asyncio.shield(asyncio.wait_for(process.wait(), _REAP_TIMEOUT_S))
    return process.returncode, stdout, stderr


def _interpret(
    returncode: int,
    stdout: bytes,
    stderr: bytes,
    max_pages: int,
    memory_limit_mb: int,
    timeout_s: float,
) -> PdfExtraction:
    memory_message = (
        f"Reading the PDF needed more than {memory_limit_mb} MB of memory; it was stopped"
    )
    try:
        result: dict[str, Any] = json.loads(stdout) if returncode == 0 else {}
    except ValueError:
        result = {}
    outcome = result.get("outcome")
    if outcome == "ok":
        return PdfExtraction(
            page_count=int(result["page_count"]),
            text=str(result["text"]),
            truncated=bool(result["truncated"]),
        )
    if outcome == "encrypted":
        raise PdfRejected("The PDF is encrypted; upload an unencrypted copy", reason="encrypted")
    if outcome == "too_many_pages":
        raise PdfRejected(
            f"The PDF has {result['page_count']} pages; the limit is {max_pages}",
            reason="too_many_pages",
        )
    if outcome == "damaged":
        raise PdfRejected(
            f"The PDF is damaged and could not be read: {result['detail']}", reason="damaged"
        )
    if outcome == "memory" or b"MemoryError" in stderr:
        raise PdfRejected(memory_message, reason="memory")
    if returncode == -signal.SIGXCPU:
        raise _timed_out(timeout_s)
    if returncode < 0:
        # Killed by a signal we did not send: the kernel's OOM killer, or a crash in C code
        # the PDF drove into. Either way the file is what made the reader fail.
        raise PdfRejected(
            "The PDF could not be read: the reader was stopped by "
            f"{signal.Signals(-returncode).name}",
            reason="damaged",
        )
    # Our own fault (the worker failed to start or has a bug), not the uploader's.
    tail = stderr.decode("utf-8", "replace").strip()[-2000:]
    logger.error("PDF worker failed with exit code %s: %s", returncode, tail)
    raise RuntimeError(f"The PDF worker failed with exit code {returncode}: {tail[-300:]}")


def make_pdf(title: str, lines: list[str]) -> bytes:
    """Render an A4 PDF with ``title`` as a heading and each of ``lines`` below it.

    Typeset by ``documents.typeset`` in the product's own fonts, so any text comes back out
    exactly (a character neither font has is printed as its code point, ``[U+20000]``).
    """
    from documents.typeset import Document

    doc = Document(title)
    doc.text(title, size=16, bold=True, height=9)
    doc.space(4)
    for line in lines:
        doc.text(line, size=11, height=6)
    return doc.render()
