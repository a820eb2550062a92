"""Documents: content-addressed object storage and PDF work, free of web and domain code.

Public surface: the ``ObjectStore`` interface with its local-folder and S3 implementations
(``open_object_store`` picks one from a URL), and sandboxed PDF text extraction.
"""

from __future__ import annotations

from documents.pdf import PdfExtraction, PdfRejected, extract_pdf
from documents.storage import (
    LocalObjectStore,
    ObjectIntegrityError,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
    StoredObject,
    open_object_store,
    sha256_hex,
)

__all__ = [
    "LocalObjectStore",
    "ObjectIntegrityError",
    "ObjectNotFound",
    "ObjectStore",
    "PdfExtraction",
    "PdfRejected",
    "S3ObjectStore",
    "StoredObject",
    "extract_pdf",
    "open_object_store",
    "sha256_hex",
]
