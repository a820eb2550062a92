"""Tests for documents.storage: the same contract against a local folder and a real S3 API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from documents import (
    LocalObjectStore,
    ObjectIntegrityError,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
    StoredObject,
    open_object_store,
    sha256_hex,
)

CONTENT = b"%PDF-1.7 certificate of analysis, lot 24-0117\n"


@dataclass
class StoreCase:
    """A store plus ways to look at and tamper with its backend directly."""

    store: ObjectStore
    replace_behind_its_back: Callable[[str, bytes], None]
    stored_versions: Callable[[], int]


def _local_case(root: Path) -> StoreCase:
    store = LocalObjectStore(root)

    def replace(sha: str, data: bytes) -> None:
        path = store.path_for(sha)
        path.chmod(0o644)
        path.write_bytes(data)

    def versions() -> int:
        return sum(1 for path in root.rglob("*") if path.is_file())

    return StoreCase(store, replace, versions)


def _s3_case(client: Any, endpoint_url: str) -> StoreCase:
    bucket = f"traceport-test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = S3ObjectStore(bucket, "objects", endpoint_url=endpoint_url)

    def replace(sha: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=store.object_key(sha), Body=data)

    def versions() -> int:
        listing = client.list_object_versions(Bucket=bucket, Prefix=store.prefix)
        return len(listing.get("Versions", []))

    return StoreCase(store, replace, versions)


@pytest.fixture(params=["local", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    if request.param == "local":
        return _local_case(tmp_path / "objects")
    return _s3_case(
        request.getfixturevalue("s3_client"), request.getfixturevalue("s3_endpoint_url")
    )


def test_sha256_hex_is_lowercase_hex_digest() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


async def test_put_stores_bytes_under_their_sha256(case: StoreCase) -> None:
    stored = await case.store.put(CONTENT)

    assert stored == StoredObject(
        sha256=hashlib.sha256(CONTENT).hexdigest(), size=len(CONTENT), created=True
    )
    assert await case.store.exists(stored.sha256)
    assert await case.store.get(stored.sha256) == CONTENT
    assert isinstance(case.store, ObjectStore)


async def test_same_content_is_stored_once(case: StoreCase) -> None:
    first = await case.store.put(CONTENT)
    second = await case.store.put(CONTENT)

    assert first.created
    assert second == StoredObject(sha256=first.sha256, size=len(CONTENT), created=False)
    assert case.stored_versions() == 1


async def test_existing_object_is_never_overwritten_and_damage_is_detected(
    case: StoreCase,
) -> None:
    stored = await case.store.put(CONTENT)
    case.replace_behind_its_back(stored.sha256, b"forged results")

    again = await case.store.put(CONTENT)

    assert not again.created
    with pytest.raises(ObjectIntegrityError) as caught:
        await case.store.get(stored.sha256)
    message = str(caught.value)
    assert stored.sha256 in message
    assert sha256_hex(b"forged results") in message


async def test_missing_object_is_not_found(case: StoreCase) -> None:
    absent = sha256_hex(b"never stored")

    assert not await case.store.exists(absent)
    with pytest.raises(ObjectNotFound, match=absent):
        await case.store.get(absent)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "abc",
        sha256_hex(b"x").upper(),
        sha256_hex(b"x") + "0",
        "../" + sha256_hex(b"x")[3:],
        sha256_hex(b"x")[:-1] + "g",
    ],
)
async def test_malformed_key_is_refused(case: StoreCase, key: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        await case.store.get(key)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        await case.store.exists(key)


async def test_check_passes_on_a_working_store(case: StoreCase) -> None:
    await case.store.check()


async def test_concurrent_puts_of_same_content_create_it_exactly_once(case: StoreCase) -> None:
    results = await asyncio.gather(*(case.store.put(CONTENT) for _ in range(10)))

    assert sum(result.created for result in results) == 1
    assert {result.sha256 for result in results} == {sha256_hex(CONTENT)}
    assert case.stored_versions() == 1
    assert await case.store.get(sha256_hex(CONTENT)) == CONTENT


async def test_concurrent_puts_of_different_content_all_land(case: StoreCase) -> None:
    payloads = [f"lot {n}".encode() for n in range(8)]

    results = await asyncio.gather(*(case.store.put(data) for data in payloads))

    assert all(result.created for result in results)
    assert [await case.store.get(result.sha256) for result in results] == payloads


# Local folder


async def test_local_objects_are_read_only_files_fanned_out_by_hash(tmp_path: Path) -> None:
    root = tmp_path / "not-yet-created"
    store = LocalObjectStore(root)

    stored = await store.put(CONTENT)

    path = root / stored.sha256[:2] / stored.sha256[2:4] / stored.sha256
    assert path.read_bytes() == CONTENT
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert [p.name for p in path.parent.iterdir()] == [stored.sha256]


async def test_local_check_creates_the_root(tmp_path: Path) -> None:
    root = tmp_path / "var" / "objects"

    await LocalObjectStore(root).check()

    assert root.is_dir()
    assert list(root.iterdir()) == []


async def test_local_check_fails_when_the_root_cannot_be_written(tmp_path: Path) -> None:
    # A root below a regular file cannot be created by anyone, root user included, unlike a
    # directory without write permission.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = LocalObjectStore(blocker / "objects")

    with pytest.raises(OSError):
        await store.check()
    with pytest.raises(OSError):
        await store.put(CONTENT)


# S3


async def test_s3_put_has_s3_verify_the_sha256_in_transit(
    s3_store: S3ObjectStore, s3_client: Any
) -> None:
    stored = await s3_store.put(CONTENT)

    head = s3_client.head_object(
        Bucket=s3_store.bucket, Key=s3_store.object_key(stored.sha256), ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(CONTENT).digest()).decode()
    assert s3_store.object_key(stored.sha256) == f"objects/{stored.sha256[:2]}/{stored.sha256}"


async def test_s3_conditional_write_loses_a_race_without_overwriting(
    s3_endpoint_url: str, s3_client: Any, aws_env: None
) -> None:
    bucket = f"traceport-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store_client = boto3.session.Session().client("s3", endpoint_url=s3_endpoint_url)
    store = S3ObjectStore(bucket, endpoint_url=s3_endpoint_url, client=store_client)
    key = store.object_key(sha256_hex(CONTENT))

    def another_writer_gets_there_first(**_: Any) -> None:
        # Runs after our HEAD found nothing and just before our PUT goes out.
        if not s3_client.list_objects_v2(Bucket=bucket).get("KeyCount"):
            s3_client.put_object(Bucket=bucket, Key=key, Body=CONTENT, Metadata={"by": "other"})

    store_client.meta.events.register("before-send.s3.PutObject", another_writer_gets_there_first)

    stored = await store.put(CONTENT)

    assert not stored.created
    versions = s3_client.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 1
    assert s3_client.head_object(Bucket=bucket, Key=key)["Metadata"] == {"by": "other"}


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


async def test_s3_endpoint_without_conditional_writes_still_never_overwrites(
    s3_endpoint_url: str, s3_client: Any, aws_env: None
) -> None:
    bucket = f"traceport-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old_server_client = boto3.session.Session().client("s3", endpoint_url=s3_endpoint_url)
    refused: list[str] = []

    def refuse_if_none_match(request: Any, **_: Any) -> Any:
        # What an S3-compatible server without conditional writes answers.
        if "If-None-Match" not in request.headers:
            return None
        refused.append(request.url)
        body = b"<Error><Code>NotImplemented</Code><Message>If-None-Match</Message></Error>"
        return AWSResponse(request.url, 501, HTTPHeaders(), _RawBody(body))

    old_server_client.meta.events.register("before-send.s3.PutObject", refuse_if_none_match)
    store = S3ObjectStore(bucket, endpoint_url=s3_endpoint_url, client=old_server_client)

    first = await store.put(CONTENT)
    second = await store.put(CONTENT)
    other = await store.put(b"another document")

    assert refused, "the conditional write was never attempted"
    assert (first.created, second.created, other.created) == (True, False, True)
    assert len(s3_client.list_object_versions(Bucket=bucket)["Versions"]) == 2
    assert await store.get(first.sha256) == CONTENT


async def test_s3_check_fails_for_a_missing_bucket(s3_endpoint_url: str, aws_env: None) -> None:
    store = S3ObjectStore(f"missing-{uuid.uuid4().hex[:16]}", endpoint_url=s3_endpoint_url)

    with pytest.raises(ClientError):
        await store.check()


async def test_s3_ensure_bucket_creates_a_versioned_bucket_once(
    s3_endpoint_url: str, s3_client: Any, aws_env: None
) -> None:
    store = S3ObjectStore(f"traceport-test-{uuid.uuid4().hex[:16]}", endpoint_url=s3_endpoint_url)

    await store.ensure_bucket()
    await store.put(CONTENT)
    await store.ensure_bucket()

    versioning = s3_client.get_bucket_versioning(Bucket=store.bucket)
    assert versioning["Status"] == "Enabled"
    assert await store.get(sha256_hex(CONTENT)) == CONTENT
    await store.check()


def test_s3_url_names_the_place_but_no_secrets() -> None:
    store = S3ObjectStore("records", "/prod/", endpoint_url="https://key:secret@minio.lan:9000")

    assert store.url == "s3://records/prod/ (endpoint https://minio.lan:9000)"
    assert store.prefix == "prod/"


# open_object_store


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file://./var/objects", "BASE/var/objects"),
        ("file://../shared/objects", "PARENT/shared/objects"),
        ("file:///srv/traceport/objects", "/srv/traceport/objects"),
        ("file://localhost/srv/objects", "/srv/objects"),
        ("file:///srv/with%20space", "/srv/with space"),
        ("var/objects", "BASE/var/objects"),
        ("/srv/plain", "/srv/plain"),
    ],
)
def test_open_object_store_opens_local_folders(url: str, expected: str, tmp_path: Path) -> None:
    store = open_object_store(url, base_dir=tmp_path)

    assert isinstance(store, LocalObjectStore)
    expected = expected.replace("BASE", str(tmp_path)).replace("PARENT", str(tmp_path.parent))
    assert store.root == Path(expected)


def test_open_object_store_resolves_relative_paths_against_cwd_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = open_object_store("file://./var/objects")

    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path.resolve() / "var" / "objects"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://records", "records", ""),
        ("s3://records/", "records", ""),
        ("s3://records/traceport/prod", "records", "traceport/prod/"),
    ],
)
def test_open_object_store_opens_s3_buckets(url: str, bucket: str, prefix: str) -> None:
    store = open_object_store(url, s3_endpoint_url="http://127.0.0.1:9000")

    assert isinstance(store, S3ObjectStore)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    assert store.endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "Unsupported object store URL scheme 'ftp'"),
        ("ftp://user:hunter2@files.example", "Unsupported object store URL scheme 'ftp'"),
        ("", "empty"),
        ("s3://", "needs a bucket"),
        ("s3:///prefix", "needs a bucket"),
        ("s3://bucket/prefix?region=eu", "no query"),
        ("file://fileserver/share", "file:///absolute/path"),
    ],
)
def test_open_object_store_refuses_what_it_cannot_open(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        open_object_store(url)

    assert "hunter2" not in str(caught.value)
