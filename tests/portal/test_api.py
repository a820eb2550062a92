"""The machine API over HTTP: the OAuth2 token endpoint, bearer authentication, supplier
isolation, document upload, lot submission with our verdicts, trace, health and OpenAPI.

Every test runs on SQLite and PostgreSQL (the ``client`` fixture is parametrized); refusals
are checked to change nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select

from documents.pdf import make_pdf
from portal.app import create_app
from portal.settings import Settings
from tests.conftest import TOKEN_KEY, api_token, bearer
from trace_core.identity.models import ApiClient
from trace_core.services import Runtime

ACME = ("acme-edi", "acme-edi-secret")
STERI = ("steripro-edi", "steripro-edi-secret")
ERP = ("traceport-erp", "traceport-erp-secret")
ACME_SCOPES = {"parts:read", "lots:read", "lots:write", "documents:write", "trace:read"}
GOOD = {"MFI": "10.2", "MOIST": "0.02", "DENS": "1.30", "CYTO": "pass", "APPEAR": "Conforms"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: The installed Litestar warns, while building the app, about handler declaration styles
#: (inferred query parameters and dependencies) that Litestar 3 will drop; pyproject turns
#: warnings into errors. Those deprecations, and only they, are tolerated here.


async def auth(
    http: httpx.AsyncClient, creds: tuple[str, str], scope: str | None = None
) -> dict[str, str]:
    return bearer(await api_token(http, creds[0], creds[1], scope))


async def upload(
    http: httpx.AsyncClient, headers: dict[str, str], content: bytes, filename: str = "coa.pdf"
) -> httpx.Response:
    return await http.post(
        "/api/v1/documents", headers=headers, files={"file": (filename, content, "application/pdf")}
    )


async def upload_coa(http: httpx.AsyncClient, headers: dict[str, str], lot_number: str) -> int:
    response = await upload(
        http, headers, make_pdf("Certificate of Analysis", [f"Lot: {lot_number}", "MFI: 10.2"])
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def lots_seen(http: httpx.AsyncClient, headers: dict[str, str]) -> list[tuple[int, str]]:
    response = await http.get("/api/v1/lots", headers=headers)
    assert response.status_code == 200, response.text
    return [(lot["id"], lot["lot_number"]) for lot in response.json()]


def lot_body(
    document_id: int, lot_number: str, results: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    made = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
    body: dict[str, Any] = {
        "part_number": "RES-100",
        "lot_number": lot_number,
        "quantity": "25",
        "unit": "kg",
        "manufactured_on": made.isoformat(),
        "expires_on": (made + dt.timedelta(days=700)).isoformat(),
        "coa_document_id": document_id,
        "results": [
            {"code": code, "value": value}
            for code, value in (GOOD if results is None else results).items()
        ],
    }
    body.update(overrides)
    return body


async def refused_lot(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """POST a lot that must be refused with 422; assert that the lot list did not change."""
    before = await lots_seen(http, headers)
    response = await http.post("/api/v1/lots", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationFailed"
    assert await lots_seen(http, headers) == before
    return dict(response.json())


def foreign_token(key: bytes, client_id: str = "acme-edi", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "traceport",
        "aud": "traceport-api",
        "sub": client_id,
        "client_id": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "x" * 32,
        "scope": " ".join(sorted(ACME_SCOPES)),
        **claims,
    }
    return jwt.encode({"alg": "HS256", "typ": "at+jwt"}, payload, OctKey.import_key(key))


# -- 1. POST /oauth/token -----------------------------------------------------------------


async def test_token_with_form_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": ACME[0], "client_secret": ACME[1]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert set(body["scope"].split()) == ACME_SCOPES
    assert body["access_token"].count(".") == 2
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    parts = await client.get("/api/v1/parts", headers=bearer(body["access_token"]))
    assert parts.status_code == 200


async def test_token_with_http_basic(client: httpx.AsyncClient) -> None:
    basic = base64.b64encode(f"{ACME[0]}:{ACME[1]}".encode()).decode()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert set(body["scope"].split()) == ACME_SCOPES
    assert response.headers["cache-control"] == "no-store"
    lots = await client.get("/api/v1/lots", headers=bearer(body["access_token"]))
    assert lots.status_code == 200


@pytest.mark.req("P11-04")
@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("acme-edi", "wrong-secret"),
        ("no-such-client", "acme-edi-secret"),
        ("acme-edi", ""),
    ],
)
async def test_token_refused_for_bad_credentials_without_enumeration(
    client: httpx.AsyncClient, client_id: str, secret: str
) -> None:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 401
    # same body whatever was wrong: no hint whether the client exists
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "access_token" not in response.text


async def test_token_refused_for_wrong_basic_secret(client: httpx.AsyncClient) -> None:
    basic = base64.b64encode(b"acme-edi:nope").decode()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_token_refuses_other_grant_types(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "anna@acme-polymers.example",
            "password": "Traceport-demo-1",
            "client_id": ACME[0],
            "client_secret": ACME[1],
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert "access_token" not in response.json()
    assert response.headers["cache-control"] == "no-store"


async def test_token_scope_narrowing_limits_the_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ACME[0],
            "client_secret": ACME[1],
            "scope": "parts:read",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "parts:read"
    narrow = bearer(response.json()["access_token"])
    full = await auth(client, ACME)
    before = await lots_seen(client, full)
    assert (await client.get("/api/v1/parts", headers=narrow)).status_code == 200
    refused = await client.post("/api/v1/lots", headers=narrow, json=lot_body(1, "AP-NARROW-1"))
    assert refused.status_code == 403
    assert refused.json()["error"] == "PermissionDenied"
    assert "lots.submit" in refused.json()["message"]
    listing = await client.get("/api/v1/lots", headers=narrow)
    assert listing.status_code == 403
    assert await lots_seen(client, full) == before


async def test_token_refuses_scope_not_granted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ACME[0],
            "client_secret": ACME[1],
            "scope": "parts:read shipments:write",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()
    assert response.headers["cache-control"] == "no-store"


# -- 2. bearer authentication on every /api/v1 route ---------------------------------------

API_ROUTES = [
    ("GET", "/api/v1/parts"),
    ("POST", "/api/v1/documents"),
    ("GET", "/api/v1/documents/1"),
    ("GET", "/api/v1/documents/1/content"),
    ("POST", "/api/v1/lots"),
    ("GET", "/api/v1/lots"),
    ("GET", "/api/v1/lots/1"),
    ("GET", "/api/v1/trace/backward?id=SN-DEMO-0001"),
    ("GET", "/api/v1/trace/forward?id=AP-24-0815"),
]


def _request_kwargs(method: str, path: str) -> dict[str, Any]:
    if method == "POST" and path.endswith("/documents"):
        return {"files": {"file": ("x.pdf", make_pdf("Unauthenticated", ["x"]), "application/pdf")}}
    if method == "POST":
        return {"json": lot_body(1, "AP-NOAUTH-1")}
    return {}


@pytest.mark.req("P11-04")
@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        "Bearer ",
        "Basic YWNtZS1lZGk6YWNtZS1lZGktc2VjcmV0",
        "Bearer " + foreign_token(b"some-other-key-0123456789abcdef0123456789"),
        "Bearer " + foreign_token(TOKEN_KEY, exp=int(time.time()) - 60, iat=0, nbf=0),
        "Bearer " + foreign_token(TOKEN_KEY, aud="someone-else"),
    ],
    ids=["none", "garbage", "empty", "basic", "other-key", "expired", "wrong-audience"],
)
async def test_api_requires_a_valid_bearer_token(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    erp = await auth(client, ERP)
    before = await lots_seen(client, erp)
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.request(method, path, headers=headers, **_request_kwargs(method, path))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert response.json()["message"]
    assert "Acme" not in response.text and "SN-DEMO" not in response.text
    assert await lots_seen(client, erp) == before


async def test_token_signed_with_right_key_is_accepted(client: httpx.AsyncClient) -> None:
    """Control for the test above: the hand-made token is refused for its key, not its shape."""
    response = await client.get("/api/v1/parts", headers=bearer(foreign_token(TOKEN_KEY)))
    assert response.status_code == 200
    assert [p["number"] for p in response.json()] == ["RES-100", "RES-200"]


# -- 3. parts ------------------------------------------------------------------------------


async def test_parts_for_acme_are_only_its_part_with_our_spec(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/parts", headers=await auth(client, ACME))
    assert response.status_code == 200
    parts = response.json()
    # RES-200: the demo's part with an incoming inspection plan (docs/RECEIPTS.md).
    assert [p["number"] for p in parts] == ["RES-100", "RES-200"]
    part = parts[0]
    assert (part["name"], part["unit"], part["kind"]) == (
        "PEEK resin, implant grade",
        "kg",
        "material",
    )
    spec = part["specification"]
    assert spec["revision"] == "B"
    assert spec["effective_from"] == "2026-01-15"
    chars = {c["code"]: c for c in spec["characteristics"]}
    assert list(chars) == ["MFI", "MOIST", "DENS", "CYTO", "APPEAR"]
    mfi = chars["MFI"]
    assert (mfi["kind"], mfi["unit"]) == ("numeric", "g/10min")
    assert float(mfi["lower_limit"]) == 8 and float(mfi["upper_limit"]) == 12
    assert re.fullmatch(r"8(\.0+)? – 12(\.0+)? g/10min", mfi["criterion"])
    assert chars["MOIST"]["lower_limit"] is None
    assert float(chars["MOIST"]["upper_limit"]) == 0.05
    assert chars["MOIST"]["criterion"].startswith("≤ 0.05")
    assert float(chars["DENS"]["lower_limit"]) == 1.29
    assert float(chars["DENS"]["upper_limit"]) == 1.31
    assert (chars["CYTO"]["kind"], chars["CYTO"]["criterion"]) == ("pass_fail", "pass")
    assert chars["APPEAR"]["kind"] == "text"
    assert chars["APPEAR"]["expected_text"] == "Conforms"
    assert chars["APPEAR"]["criterion"] == "Conforms"
    assert all(c["required"] for c in chars.values())


@pytest.mark.req("P11-04")
async def test_parts_for_steripro_are_only_sterilization(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/parts", headers=await auth(client, STERI))
    assert response.status_code == 200
    parts = response.json()
    assert [p["number"] for p in parts] == ["STE-200"]
    assert [c["code"] for c in parts[0]["specification"]["characteristics"]] == [
        "DOSE",
        "BI",
        "DOSIM",
    ]
    assert "RES-100" not in response.text


# -- 4. documents --------------------------------------------------------------------------


@pytest.mark.req("DI-03")
async def test_upload_pdf_and_read_it_back_byte_identical(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    content = make_pdf("Certificate of Analysis", ["Lot: AP-DOC-4711", "MFI: 10.4 g/10min"])
    response = await upload(client, acme, content, "CoA-AP-DOC-4711.pdf")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert document["size"] == len(content)
    assert document["page_count"] == 1
    assert document["content_type"] == "application/pdf"
    assert document["filename"] == "CoA-AP-DOC-4711.pdf"
    assert "Lot: AP-DOC-4711" in document["extracted_text"]
    record = await client.get(f"/api/v1/documents/{document['id']}", headers=acme)
    assert record.status_code == 200
    assert record.json()["sha256"] == document["sha256"]
    assert "AP-DOC-4711" in record.json()["extracted_text"]
    raw = await client.get(f"/api/v1/documents/{document['id']}/content", headers=acme)
    assert raw.status_code == 200
    assert raw.content == content
    assert raw.headers["x-content-sha256"] == hashlib.sha256(content).hexdigest()
    assert raw.headers["content-type"].startswith("application/pdf")


@pytest.mark.req("P11-04")
async def test_other_supplier_cannot_read_a_document(client: httpx.AsyncClient) -> None:
    acme, steri = await auth(client, ACME), await auth(client, STERI)
    content = make_pdf("Certificate of Analysis", ["Lot: AP-SECRET-1"])
    document_id = (await upload(client, acme, content)).json()["id"]
    for path in (f"/api/v1/documents/{document_id}", f"/api/v1/documents/{document_id}/content"):
        response = await client.get(path, headers=steri)
        assert response.status_code == 404, path
        assert response.json() == {"error": "NotFound", "message": "No such document."}
        assert "AP-SECRET-1" not in response.text
    # our own system may read it
    erp = await client.get(
        f"/api/v1/documents/{document_id}/content", headers=await auth(client, ERP)
    )
    assert erp.status_code == 200 and erp.content == content


async def document_ids(runtime: Runtime) -> list[int]:
    from trace_core.attachments.models import Document

    async with runtime.sessions() as session:
        return list(await session.scalars(select(Document.id).order_by(Document.id)))


@pytest.mark.req("A11-02")
async def test_upload_refuses_a_non_pdf(client: httpx.AsyncClient, runtime: Runtime) -> None:
    acme = await auth(client, ACME)
    before = await document_ids(runtime)
    response = await upload(client, acme, b"Lot,MFI\nAP-1,10.2\n", "coa.pdf")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationFailed"
    assert "PDF" in body["fields"]["file"]
    assert "%PDF-" in body["fields"]["file"]
    assert await document_ids(runtime) == before


@pytest.mark.req("A11-02")
async def test_upload_refuses_a_truncated_pdf(client: httpx.AsyncClient, runtime: Runtime) -> None:
    acme = await auth(client, ACME)
    before = await document_ids(runtime)
    truncated = make_pdf("Certificate of Analysis", ["Lot: AP-TRUNC-1"])[:200]
    response = await upload(client, acme, truncated)
    assert response.status_code == 422
    assert "damaged" in response.json()["fields"]["file"] or (
        "could not be read" in response.json()["fields"]["file"]
    )
    assert await document_ids(runtime) == before


async def test_upload_refuses_an_empty_file(client: httpx.AsyncClient, runtime: Runtime) -> None:
    before = await document_ids(runtime)
    response = await upload(client, await auth(client, ACME), b"")
    assert response.status_code == 422
    assert response.json()["fields"] == {"file": "The file is empty."}
    assert await document_ids(runtime) == before


async def test_upload_body_over_the_request_limit_is_413(runtime: Runtime, tmp_path: Path) -> None:
    """The request body limit comes from the app's settings (file limit + 1 MiB for multipart
    overhead). The shared ``client`` fixture keeps the default 20 MiB settings beside a 2 MiB
    runtime, so this test builds the app as production does: both limits 2 MiB."""
    settings = Settings.from_env(
        {"TRACEPORT_VAR_DIR": str(tmp_path), "TRACEPORT_MAX_UPLOAD_MB": "2"}
    )
    app = create_app(settings, runtime=runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        acme = await auth(http, ACME)
        before = await document_ids(runtime)
        big = b"%PDF-1.4\n" + b"0" * (4 * 1024 * 1024)
        response = await upload(http, acme, big)
        assert response.status_code == 413, response.text
        assert response.json() == {
            "error": "http_error",
            "message": "The upload is larger than the limit of 2 MiB.",
        }
        assert await document_ids(runtime) == before
        # the same client can still upload a normal file afterwards
        assert (await upload(http, acme, make_pdf("CoA", ["after 413"]))).status_code == 201


async def test_upload_file_over_the_limit_but_within_body_headroom(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A file between the 2 MiB file limit and the request limit (file limit + 1 MiB for
    multipart overhead) is refused by the service: 422 naming the limit, nothing stored."""
    acme = await auth(client, ACME)
    before = await document_ids(runtime)
    big = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024 + 512 * 1024)
    response = await upload(client, acme, big)
    assert response.status_code == 422
    assert response.json()["fields"]["file"] == "The file is 2.5 MiB; the limit is 2 MiB."
    assert await document_ids(runtime) == before


async def test_upload_without_the_file_field(client: httpx.AsyncClient, runtime: Runtime) -> None:
    acme = await auth(client, ACME)
    before = await document_ids(runtime)
    pdf = make_pdf("CoA", ["x"])
    response = await client.post(
        "/api/v1/documents", headers=acme, files={"document": ("coa.pdf", pdf, "application/pdf")}
    )
    assert response.status_code == 422
    assert response.json()["fields"] == {"file": "Send the PDF as multipart form field 'file'."}
    assert await document_ids(runtime) == before


async def test_upload_needs_documents_scope(client: httpx.AsyncClient, runtime: Runtime) -> None:
    before = await document_ids(runtime)
    response = await upload(
        client, await auth(client, ACME, "parts:read"), make_pdf("CoA", ["scope"])
    )
    assert response.status_code == 403
    assert "documents.write" in response.json()["message"]
    assert await document_ids(runtime) == before


# -- 5. lot submission ---------------------------------------------------------------------


@pytest.mark.req("DI-01")
async def test_machine_submission_is_submitted_unsigned_with_our_verdicts(
    client: httpx.AsyncClient,
) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-1")
    before = await lots_seen(client, acme)
    response = await client.post(
        "/api/v1/lots", headers=acme, json=lot_body(document_id, "AP-API-1")
    )
    assert response.status_code == 201, response.text
    lot = response.json()
    assert lot["status"] == "submitted"
    assert lot["signatures"] == []
    assert lot["verdict"] == "conforming"
    assert (lot["supplier"], lot["part_number"], lot["specification_revision"]) == (
        "Acme Polymers",
        "RES-100",
        "B",
    )
    assert (lot["lot_number"], lot["unit"], lot["version"]) == ("AP-API-1", "kg", 1)
    assert float(lot["quantity"]) == 25
    assert lot["coa_document"]["id"] == document_id
    assert [(r["code"], r["value"], r["verdict"]) for r in lot["results"]] == [
        ("MFI", "10.2", "pass"),
        ("MOIST", "0.02", "pass"),
        ("DENS", "1.30", "pass"),
        ("CYTO", "pass", "pass"),
        ("APPEAR", "Conforms", "pass"),
    ]
    assert all(r["explanation"] for r in lot["results"])
    after = await lots_seen(client, acme)
    assert after == [(lot["id"], "AP-API-1"), *before]
    fetched = await client.get(f"/api/v1/lots/{lot['id']}", headers=acme)
    assert fetched.status_code == 200
    assert fetched.json()["results"] == lot["results"]
    assert fetched.json()["signatures"] == []


@pytest.mark.req("COA-02")
async def test_result_out_of_our_spec_makes_the_lot_nonconforming(
    client: httpx.AsyncClient,
) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-13")
    response = await client.post(
        "/api/v1/lots", headers=acme, json=lot_body(document_id, "AP-API-13", {**GOOD, "MFI": "13"})
    )
    assert response.status_code == 201, response.text
    lot = response.json()
    assert lot["status"] == "submitted"
    assert lot["verdict"] == "nonconforming"
    verdicts = {r["code"]: r for r in lot["results"]}
    assert verdicts["MFI"]["verdict"] == "fail"
    assert "above our maximum 12" in verdicts["MFI"]["explanation"]
    assert {code for code, r in verdicts.items() if r["verdict"] == "fail"} == {"MFI"}


@pytest.mark.req("COA-02")
async def test_result_in_supplier_unit_is_converted_to_ours(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-KGM3")
    body = lot_body(document_id, "AP-API-KGM3")
    body["results"] = [
        *(r for r in body["results"] if r["code"] != "DENS"),
        {"code": "DENS", "value": "1335", "unit": "kg/m3"},
    ]
    response = await client.post("/api/v1/lots", headers=acme, json=body)
    assert response.status_code == 201, response.text
    dens = next(r for r in response.json()["results"] if r["code"] == "DENS")
    assert (dens["value"], dens["unit"]) == ("1335", "kg/m3")
    assert float(dens["value_in_our_unit"]) == 1.335
    assert dens["verdict"] == "fail"
    assert response.json()["verdict"] == "nonconforming"


@pytest.mark.req("A11-02")
async def test_lot_for_unknown_part_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X1")
    body = await refused_lot(
        client, acme, lot_body(document_id, "AP-API-X1", part_number="RES-999")
    )
    assert body["error"] == "ValidationFailed"
    assert "RES-999" in body["fields"]["part_number"]


@pytest.mark.req("P11-04")
async def test_lot_for_another_suppliers_part_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X2")
    body = await refused_lot(
        client,
        acme,
        lot_body(
            document_id,
            "AP-API-X2",
            {"DOSE": "27", "BI": "pass", "DOSIM": "38"},
            part_number="STE-200",
            unit="load",
        ),
    )
    assert body["fields"]["part_number"] == "Part 'STE-200' is not one you may supply."


@pytest.mark.req("A11-02")
async def test_lot_missing_a_required_result_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X3")
    results = {k: v for k, v in GOOD.items() if k != "DENS"}
    body = await refused_lot(client, acme, lot_body(document_id, "AP-API-X3", results))
    assert body["fields"] == {"results.DENS": "A result for Density is required."}


@pytest.mark.req("A11-02")
async def test_lot_with_a_non_numeric_result_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X4")
    body = await refused_lot(
        client, acme, lot_body(document_id, "AP-API-X4", {**GOOD, "MFI": "ten"})
    )
    assert list(body["fields"]) == ["results.MFI"]
    assert "This is not a number" in body["fields"]["results.MFI"]


@pytest.mark.req("A11-02")
async def test_lot_with_unknown_characteristic_and_bad_fields_lists_every_problem(
    client: httpx.AsyncClient,
) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X5")
    body = await refused_lot(
        client,
        acme,
        lot_body(
            document_id,
            "AP-API-X5",
            {**GOOD, "COLOR": "amber"},
            quantity="-3",
            manufactured_on="2026-13-40",
        ),
    )
    assert set(body["fields"]) == {"results.COLOR", "quantity", "manufactured_on"}
    assert "not a characteristic" in body["fields"]["results.COLOR"]


@pytest.mark.req("A11-02")
async def test_lot_with_an_unknown_json_field_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X6")
    body = lot_body(document_id, "AP-API-X6", verdict="conforming")
    before = await lots_seen(client, acme)
    response = await client.post("/api/v1/lots", headers=acme, json=body)
    assert response.status_code == 400, response.text
    assert "verdict" in response.text
    assert await lots_seen(client, acme) == before


@pytest.mark.req("A11-02")
async def test_lot_with_unknown_field_in_a_result_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-API-X7")
    body = lot_body(document_id, "AP-API-X7")
    body["results"][0]["verdict"] = "pass"
    before = await lots_seen(client, acme)
    response = await client.post("/api/v1/lots", headers=acme, json=body)
    assert response.status_code == 400, response.text
    assert "verdict" in response.text
    assert await lots_seen(client, acme) == before


@pytest.mark.req("P11-04")
async def test_lot_citing_another_suppliers_document_is_refused(client: httpx.AsyncClient) -> None:
    acme, steri = await auth(client, ACME), await auth(client, STERI)
    steri_document = (
        await upload(client, steri, make_pdf("Sterilization certificate", ["Load: SP-X"]))
    ).json()["id"]
    body = await refused_lot(client, acme, lot_body(steri_document, "AP-API-X8"))
    assert body["fields"] == {"coa_document": "The CoA document was not found."}


async def test_duplicate_lot_number_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-24-0815-again")
    body = await refused_lot(client, acme, lot_body(document_id, "AP-24-0815"))
    assert body["fields"]["lot_number"] == "Lot AP-24-0815 of part RES-100 was already submitted."


@pytest.mark.req("DI-01")
async def test_internal_client_cannot_submit_supplier_lots(client: httpx.AsyncClient) -> None:
    erp = await auth(client, ERP)
    before = await lots_seen(client, erp)
    response = await client.post("/api/v1/lots", headers=erp, json=lot_body(1, "AP-API-ERP"))
    assert response.status_code == 403
    assert await lots_seen(client, erp) == before


# -- 6. reading lots -----------------------------------------------------------------------


@pytest.mark.req("P11-04")
async def test_lot_is_visible_to_its_supplier_only(client: httpx.AsyncClient) -> None:
    acme, steri = await auth(client, ACME), await auth(client, STERI)
    acme_lots = {number: lot_id for lot_id, number in await lots_seen(client, acme)}
    assert set(acme_lots) == {"AP-24-0815", "AP-24-0816", "AP-24-0817", "AP-24-0901"}
    steri_lots = {number for _, number in await lots_seen(client, steri)}
    assert steri_lots == {"SP-24-0117"}
    lot_id = acme_lots["AP-24-0815"]
    own = await client.get(f"/api/v1/lots/{lot_id}", headers=acme)
    assert own.status_code == 200
    assert own.json()["lot_number"] == "AP-24-0815"
    assert own.json()["supplier"] == "Acme Polymers"
    foreign = await client.get(f"/api/v1/lots/{lot_id}", headers=steri)
    assert foreign.status_code == 404
    assert foreign.json() == {"error": "NotFound", "message": "No such lot."}
    missing = await client.get("/api/v1/lots/999999", headers=steri)
    assert missing.json() == foreign.json()  # indistinguishable from a lot that doesn't exist


@pytest.mark.req("P11-15")
async def test_approved_lots_show_signature_manifestations(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/lots?status=approved", headers=await auth(client, ACME))
    assert response.status_code == 200
    lots = response.json()
    assert [lot["lot_number"] for lot in lots] == ["AP-24-0901", "AP-24-0815"]
    lots = lots[1:]
    assert lots[0]["status"] == "approved"
    signatures = lots[0]["signatures"]
    assert [(s["printed_name"], s["meaning"]) for s in signatures] == [
        ("Anna Schmidt", "submitted as accurate"),
        ("Quinn Avery", "approved"),
    ]
    for signature in signatures:
        signed_at = dt.datetime.fromisoformat(signature["signed_at"])
        assert signed_at.utcoffset() == dt.timedelta(0)
        assert abs(dt.datetime.now(dt.UTC) - signed_at) < dt.timedelta(days=1)
        assert signature["valid"] is True
        assert HEX64.match(signature["content_sha256"])
    assert signatures[1]["comment"] == "CoA reviewed against spec; conforming."


async def test_lot_list_filters_by_status(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    submitted = await client.get("/api/v1/lots?status=submitted", headers=acme)
    assert [lot["lot_number"] for lot in submitted.json()] == ["AP-24-0816"]
    drafts = await client.get("/api/v1/lots?status=draft", headers=acme)
    assert [lot["lot_number"] for lot in drafts.json()] == ["AP-24-0817"]
    assert drafts.json()[0]["signatures"] == []


# -- 7. trace ------------------------------------------------------------------------------


def nodes_by(trace: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(n["kind"], n["identifier"]): n for n in trace["nodes"]}


async def test_backward_trace_of_a_serial(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/trace/backward", params={"id": "SN-DEMO-0001"}, headers=await auth(client, ERP)
    )
    assert response.status_code == 200, response.text
    trace = response.json()
    assert (trace["query"], trace["direction"]) == ("SN-DEMO-0001", "backward")
    nodes = nodes_by(trace)
    assert set(nodes) == {
        ("serial", "SN-DEMO-0001"),
        ("internal_lot", "FG-LOT-0001"),
        ("internal_lot", "IL-RES-0001"),
        ("internal_lot", "IL-STE-0001"),
        ("supplier_lot", "AP-24-0815"),
        ("supplier_lot", "SP-24-0117"),
    }
    resin = nodes[("supplier_lot", "AP-24-0815")]
    assert resin["supplier"] == "Acme Polymers"
    assert resin["part_number"] == "RES-100"
    assert resin["status"] == "approved"
    assert HEX64.match(resin["coa"]["sha256"])
    assert [(s["printed_name"], s["meaning"]) for s in resin["signatures"]] == [
        ("Anna Schmidt", "submitted as accurate"),
        ("Quinn Avery", "approved"),
    ]
    assert nodes[("supplier_lot", "SP-24-0117")]["supplier"] == "SteriPro"
    assert trace["consignees"] == []


@pytest.mark.req("QMS-11")
async def test_forward_trace_of_a_supplier_lot_reaches_consignees(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/trace/forward", params={"id": "AP-24-0815"}, headers=await auth(client, ERP)
    )
    assert response.status_code == 200, response.text
    trace = response.json()
    kinds = trace["counts"]
    assert kinds["serial"] == 10
    assert kinds["shipment"] == 2
    assert kinds["shipping_unit"] == 2  # the demo case and the pallet it was shipped on
    assert trace["consignees"] == [
        {
            "shipment": shipment,
            "name": "St. Mary's Hospital, Central Sterile Supply",
            "address": "12 Harbour Road, Cork T12 XY34, Ireland",
        }
        for shipment in ("SH-0001", "SH-0002")
    ]


async def test_trace_of_an_unknown_identifier_is_404(client: httpx.AsyncClient) -> None:
    erp = await auth(client, ERP)
    for direction in ("backward", "forward"):
        response = await client.get(
            f"/api/v1/trace/{direction}", params={"id": "NOPE-1"}, headers=erp
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {
            "error": "NotFound",
            "message": "Nothing is known by the identifier 'NOPE-1'.",
        }


@pytest.mark.req("P11-04")
async def test_supplier_forward_trace_sees_only_its_lot_and_receipt(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/trace/forward", params={"id": "AP-24-0815"}, headers=await auth(client, ACME)
    )
    assert response.status_code == 200, response.text
    trace = response.json()
    assert set(nodes_by(trace)) == {("supplier_lot", "AP-24-0815"), ("internal_lot", "IL-RES-0001")}
    assert trace["counts"] == {"supplier_lot": 1, "internal_lot": 1}
    assert trace["consignees"] == []
    assert [e["kind"] for e in trace["edges"]] == ["receipt"]
    for secret in ("SN-DEMO", "SH-0001", "St. Mary", "FG-LOT-0001", "SP-24-0117", "SteriPro"):
        assert secret not in response.text


@pytest.mark.req("P11-04")
async def test_supplier_cannot_trace_our_identifiers_or_other_suppliers_lots(
    client: httpx.AsyncClient,
) -> None:
    steri, acme = await auth(client, STERI), await auth(client, ACME)
    for headers, identifier in (
        (steri, "AP-24-0815"),
        (acme, "SP-24-0117"),
        (acme, "SN-DEMO-0001"),
        (acme, "IL-RES-0001"),
    ):
        for direction in ("backward", "forward"):
            response = await client.get(
                f"/api/v1/trace/{direction}", params={"id": identifier}, headers=headers
            )
            assert response.status_code == 404, (identifier, direction)
            assert response.json()["error"] == "NotFound"


async def test_trace_needs_trace_scope(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/trace/forward",
        params={"id": "AP-24-0815"},
        headers=await auth(client, ACME, "lots:read"),
    )
    assert response.status_code == 403
    assert "trace.read" in response.json()["message"]


# -- 8. health and OpenAPI -----------------------------------------------------------------


async def test_healthz_needs_no_auth(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "object_store": "ok"}}


async def test_openapi_describes_the_machine_api_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert re.fullmatch(r"3\.1\.\d+", schema["openapi"])
    paths = set(schema["paths"])
    assert {
        "/oauth/token",
        "/api/v1/lots",
        "/api/v1/parts",
        "/api/v1/documents",
        "/api/v1/trace/backward",
        "/api/v1/trace/forward",
        "/api/v1/lots/{lot_id}",
        "/api/v1/documents/{document_id}/content",
    } <= paths
    for page in (
        "/supplier",
        "/internal/review",
        "/internal",
        "/login",
        "/",
        "/documents/{document_id}",
    ):
        assert page not in paths
    assert not any(p.startswith(("/supplier", "/internal", "/static")) for p in paths)
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/lots"]["post"]["security"] == [{"bearer": []}]


# -- 9. revocation -------------------------------------------------------------------------


@pytest.mark.req("P11-24")
async def test_revoking_a_client_refuses_its_issued_tokens(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    acme = await auth(client, ACME)
    assert (await client.get("/api/v1/lots", headers=acme)).status_code == 200
    async with runtime.sessions() as session:
        row = await session.scalar(select(ApiClient).where(ApiClient.client_id == ACME[0]))
        assert row is not None
        row.tokens_valid_after = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        await session.commit()
    for method, path in (("GET", "/api/v1/lots"), ("GET", "/api/v1/parts")):
        response = await client.request(method, path, headers=acme)
        assert response.status_code == 401
        assert response.json()["message"] == "The access token was revoked."
        assert response.headers["www-authenticate"].startswith("Bearer")
    # the other supplier's tokens are untouched
    assert (await client.get("/api/v1/lots", headers=await auth(client, STERI))).status_code == 200


@pytest.mark.req("P11-24")
async def test_deactivated_client_gets_no_token_and_its_tokens_stop(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    acme = await auth(client, ACME)
    async with runtime.sessions() as session:
        row = await session.scalar(select(ApiClient).where(ApiClient.client_id == ACME[0]))
        assert row is not None
        row.active = False
        await session.commit()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": ACME[0], "client_secret": ACME[1]},
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    listing = await client.get("/api/v1/lots", headers=acme)
    assert listing.status_code == 401
    assert listing.json()["message"] == "The client is not active."


# -- values that do not fit the storage: refused, never a 500 or a silent change ------------


@pytest.mark.req("A11-02")
async def test_lot_with_an_unstorable_quantity_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-BIG-QTY")
    before = await lots_seen(client, acme)
    response = await client.post(
        "/api/v1/lots", headers=acme, json=lot_body(document_id, "AP-BIG-QTY", quantity="1e30")
    )
    listing = await client.get("/api/v1/lots", headers=acme)
    assert listing.status_code == 200, listing.text
    assert [(lot["id"], lot["lot_number"]) for lot in listing.json()] == before
    assert response.status_code == 422, response.text
    assert "quantity" in response.json()["fields"]


@pytest.mark.req("A11-02")
async def test_lot_with_an_unstorable_result_value_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-BIG-MFI")
    before = await lots_seen(client, acme)
    response = await client.post(
        "/api/v1/lots",
        headers=acme,
        json=lot_body(document_id, "AP-BIG-MFI", {**GOOD, "MFI": "1e30"}),
    )
    assert await lots_seen(client, acme) == before
    assert response.status_code == 422, response.text
    assert "results.MFI" in response.json()["fields"]


@pytest.mark.req("A11-02")
async def test_lot_with_an_overlong_unit_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-LONG-UNIT")
    before = await lots_seen(client, acme)
    response = await client.post(
        "/api/v1/lots", headers=acme, json=lot_body(document_id, "AP-LONG-UNIT", unit="k" * 25)
    )
    assert await lots_seen(client, acme) == before
    assert response.status_code == 422, response.text
    assert "unit" in response.json()["fields"]


@pytest.mark.req("A11-02")
async def test_lot_with_an_overlong_result_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-LONG-TEXT")
    before = await lots_seen(client, acme)
    response = await client.post(
        "/api/v1/lots",
        headers=acme,
        json=lot_body(document_id, "AP-LONG-TEXT", {**GOOD, "APPEAR": "C" * 250}),
    )
    assert await lots_seen(client, acme) == before
    assert response.status_code == 422, response.text
    assert "results.APPEAR" in response.json()["fields"]


@pytest.mark.req("A11-02")
async def test_lot_with_duplicate_result_codes_is_refused(client: httpx.AsyncClient) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-DUP-MFI")
    body = lot_body(document_id, "AP-DUP-MFI")
    body["results"] = [{"code": "MFI", "value": "13"}, *body["results"]]
    before = await lots_seen(client, acme)
    response = await client.post("/api/v1/lots", headers=acme, json=body)
    assert await lots_seen(client, acme) == before
    assert response.status_code == 422, response.text
    assert "results.MFI" in response.json()["fields"]


@pytest.mark.req("A11-02")
async def test_quantity_with_more_decimals_than_stored_is_refused(
    client: httpx.AsyncClient,
) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-SCALE-Q")
    body = await refused_lot(
        client, acme, lot_body(document_id, "AP-SCALE-Q", quantity="1.23456789")
    )
    assert list(body["fields"]) == ["quantity"]
    assert "6 decimal" in body["fields"]["quantity"]


@pytest.mark.req("DI-03")
async def test_result_with_more_decimals_than_stored_is_kept_or_refused(
    client: httpx.AsyncClient,
) -> None:
    acme = await auth(client, ACME)
    document_id = await upload_coa(client, acme, "AP-SCALE-R")
    response = await client.post(
        "/api/v1/lots",
        headers=acme,
        json=lot_body(document_id, "AP-SCALE-R", {**GOOD, "MOIST": "0.0500001"}),
    )
    if response.status_code == 422:
        assert list(response.json()["fields"]) == ["results.MOIST"]
        return
    assert response.status_code == 201, response.text
    stored = (await client.get(f"/api/v1/lots/{response.json()['id']}", headers=acme)).json()
    moist = next(r for r in stored["results"] if r["code"] == "MOIST")
    assert moist["verdict"] == "fail"
    assert moist["value_in_our_unit"] == "0.0500001"
