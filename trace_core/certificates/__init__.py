"""Supplier certificates (CERT-01): ``SupplierCertificate`` (a quality-system or sterilization
certificate with its scope and validity), ``CertificateService`` (draft → signed by the supplier
→ accepted or rejected by our QA; suspended or withdrawn with a reason), ``judge`` (was a part
from this supplier covered on a given day) and ``certificate_evidence`` (what the trace shows
at each supplier lot: the certificate status on its receipt date)."""

from trace_core.certificates.models import (
    CERTIFICATE_STATUSES,
    COVERAGE_STATUSES,
    STANDARDS,
    CertificatePart,
    SupplierCertificate,
)

__all__ = [
    "CERTIFICATE_STATUSES",
    "COVERAGE_STATUSES",
    "STANDARDS",
    "CertificatePart",
    "SupplierCertificate",
]
