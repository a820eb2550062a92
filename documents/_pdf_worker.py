"""The child-process half of ``documents.pdf.extract_pdf``: it parses one untrusted PDF.

This module owns everything that touches an uploaded PDF's structure. It runs as a throwaway
process (``python -I documents/_pdf_worker.py MAX_PAGES MAX_CHARS MEMORY_MB CPU_SECONDS``),
reads the PDF from stdin, and writes exactly one JSON object to stdout:

- ``{"outcome": "ok", "page_count": n, "text": "...", "truncated": bool}``
- ``{"outcome": "encrypted"}``, ``{"outcome": "too_many_pages", "page_count": n}``,
  ``{"outcome": "damaged", "detail": "..."}`` or ``{"outcome": "memory"}``

It imports only the standard library and pypdf, so it runs by file path in isolated mode,
whatever the parent's working directory and environment. The parent turns outcomes into
human messages; the wall-clock limit and the kill are the parent's job.
"""

from __future__ import annotations

import importlib
import json
import logging
import resource
import sys
import warnings
from typing import Any

PAGE_SEPARATOR = "\n\f\n"
"""Placed between the text of consecutive pages (a form feed on a line of its own)."""

# Modules pypdf imports only when a PDF first needs them. Loading a shared library needs
# address space, so under the limit a lazy import can fail and look like a damaged PDF.
# Names that a later pypdf moves are skipped; they then just load lazily again.
_PRELOAD = (
    "pypdf.filters",
    "pypdf._codecs._codecs",
    "pypdf._text_extraction",
    "pypdf._crypt_providers",
    "encodings.charmap",
    "encodings.cp1252",
    "encodings.latin_1",
    "encodings.utf_16_be",
    "encodings.utf_16_le",
)


def main(argv: list[str]) -> int:
    # Warnings and log records about malformed files are expected here and are nobody's
    # business: the outcome says what matters.
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    max_pages, max_chars, memory_limit_mb, cpu_seconds = (int(arg) for arg in argv)

    # Loaded before the limits are set, so that they bound the work the PDF causes rather
    # than the reader's own code.
    for name in ("pypdf", *_PRELOAD):
        try:
            importlib.import_module(name)
        except ImportError:
            if name == "pypdf":
                raise

    _limit_resources(memory_limit_mb, cpu_seconds)
    try:
        result = _extract(sys.stdin.buffer.read(), max_pages, max_chars)
    except MemoryError:
        result = {"outcome": "memory"}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


def _limit_resources(memory_limit_mb: int, cpu_seconds: int) -> None:
    memory = memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The parent kills us at its wall-clock deadline; the CPU limit is the backstop for a
    # parent that died before it could.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def _extract(data: bytes, max_pages: int, max_chars: int) -> dict[str, Any]:
    import io

    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many labs "protect" their CoAs with an owner password only: the empty user
            # password opens them and only printing or editing is restricted. Those are
            # readable documents; only a PDF that needs a password to open is refused.
            try:
                opened = reader.decrypt("")
            except Exception:
                return {"outcome": "encrypted"}
            if opened == PasswordType.NOT_DECRYPTED:
                return {"outcome": "encrypted"}
        page_count = len(reader.pages)
        if page_count > max_pages:
            return {"outcome": "too_many_pages", "page_count": page_count}
        text, truncated = _page_text(reader, max_chars)
    except MemoryError:
        raise
    except Exception as exc:
        return {"outcome": "damaged", "detail": _describe(exc)}
    return {"outcome": "ok", "page_count": page_count, "text": text, "truncated": truncated}


def _page_text(reader: Any, max_chars: int) -> tuple[str, bool]:
    parts: list[str] = []
    length = 0
    for number, page in enumerate(reader.pages):
        if number:
            parts.append(PAGE_SEPARATOR)
            length += len(PAGE_SEPARATOR)
        page_text = _storable(page.extract_text() or "")
        parts.append(page_text)
        length += len(page_text)
        if length > max_chars:
            # Stop reading pages once the cap is passed: their text would be cut anyway.
            return "".join(parts)[:max_chars], True
    return "".join(parts), False


def _storable(text: str) -> str:
    # Broken font maps yield NUL and lone surrogates, which PostgreSQL text columns and UTF-8
    # encoders reject; the replacement character keeps the position visible to a reviewer.
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip() or type(exc).__name__
    printable = "".join(ch if ch.isprintable() else " " for ch in detail)
    return printable[:200]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
