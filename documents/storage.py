"""Content-addressed object storage for the raw bytes of every document Traceport keeps.

This module owns the ``ObjectStore`` interface and its two implementations: a local folder
(the embedded default) and S3 or any S3-compatible store (production), plus
``open_object_store()``, which picks one from a URL setting.

An object's key is the SHA-256 of its bytes. An object is written once and never overwritten,
and every read verifies the hash, so a record that keeps a hash can always prove that the bytes
it shows are the bytes that were received (Part 11 §11.10(a) and (c), invariant 5 of the
design brief).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    # boto3-stubs is a development dependency: the client's type exists only for the checker.
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import PutObjectRequestTypeDef

__all__ = [
    "LocalObjectStore",
    "ObjectIntegrityError",
    "ObjectNotFound",
    "ObjectStore",
    "S3ObjectStore",
    "StoredObject",
    "open_object_store",
    "sha256_hex",
]

logger = logging.getLogger(__name__)

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of ``data`` as 64 lowercase hex characters (an object's key)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredObject:
    """The outcome of ``ObjectStore.put``."""

    sha256: str
    """The object's key: the SHA-256 of its bytes, lowercase hex."""
    size: int
    """Length of the object in bytes."""
    created: bool
    """False when an object with the same content already existed (it is stored only once)."""


class ObjectNotFound(LookupError):
    """No object is stored under the requested key."""


class ObjectIntegrityError(RuntimeError):
    """The bytes read back do not hash to their key: the stored object is damaged or was altered."""

    def __init__(self, key: str, actual: str, location: str) -> None:
        super().__init__(
            f"Object {key} in {location} failed its integrity check: "
            f"expected SHA-256 {key}, but the stored bytes hash to {actual}"
        )
        self.key = key
        self.actual = actual


def _validate_key(sha256: str) -> None:
    if not isinstance(sha256, str) or _KEY_PATTERN.fullmatch(sha256) is None:
        shown = repr(sha256) if len(repr(sha256)) <= 80 else repr(sha256)[:77] + "..."
        raise ValueError(
            f"An object key must be 64 lowercase hex characters (a SHA-256), not {shown}"
        )


def _verified(key: str, data: bytes, location: str) -> bytes:
    actual = sha256_hex(data)
    if actual != key:
        raise ObjectIntegrityError(key, actual, location)
    return data


@runtime_checkable
class ObjectStore(Protocol):
    """Where document bytes live, keyed by their SHA-256; write-once, verified on read."""

    @property
    def url(self) -> str:
        """Where the store is, for logs and health pages; never contains secrets."""
        ...

    async def put(self, data: bytes) -> StoredObject:
        """Store ``data`` under its SHA-256 unless that object exists; never overwrite."""
        ...

    async def get(self, sha256: str) -> bytes:
        """Return the object's bytes after checking they hash to ``sha256``.

        Raises ``ValueError`` for a malformed key, ``ObjectNotFound`` when absent and
        ``ObjectIntegrityError`` when the stored bytes do not match their key.
        """
        ...

    async def exists(self, sha256: str) -> bool:
        """Whether an object is stored under ``sha256`` (its content is not verified)."""
        ...

    async def check(self) -> None:
        """Raise if the store cannot be reached or written to (readiness check)."""
        ...


class LocalObjectStore:
    """Objects as read-only files under ``root/ab/cd/<sha256>``, the embedded default.

    The two fan-out levels keep any one directory to a few thousand entries at the sizes an
    embedded installation reaches. Writes are atomic and never replace an existing file:
    the bytes go to a temporary file in the target directory, which is then hard-linked to
    its final name. ``link`` fails when the name exists, where ``os.replace`` would silently
    overwrite, so two concurrent writers of the same content cannot clobber each other and a
    reader never sees a half-written object. The root must therefore be on a filesystem that
    supports hard links (any POSIX filesystem does).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def path_for(self, sha256: str) -> Path:
        """The file that holds (or would hold) the object ``sha256``."""
        _validate_key(sha256)
        return self.root / sha256[0:2] / sha256[2:4] / sha256

    async def put(self, data: bytes) -> StoredObject:
        return await asyncio.to_thread(self._put_blocking, bytes(data))

    async def get(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        return await asyncio.to_thread(self._get_blocking, sha256, path)

    async def exists(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        return await asyncio.to_thread(path.is_file)

    async def check(self) -> None:
        await asyncio.to_thread(self._check_blocking)

    def _put_blocking(self, data: bytes) -> StoredObject:
        key = sha256_hex(data)
        target = self.path_for(key)
        if target.exists():
            return StoredObject(sha256=key, size=len(data), created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                # The record that will cite this hash may commit right after we return, so the
                # bytes must be on disk before the name appears.
                os.fsync(handle.fileno())
            temp.chmod(0o444)
            try:
                target.hardlink_to(temp)
            except FileExistsError:
                return StoredObject(sha256=key, size=len(data), created=False)
            _fsync_directory(target.parent)
            return StoredObject(sha256=key, size=len(data), created=True)
        finally:
            temp.unlink(missing_ok=True)

    def _get_blocking(self, key: str, path: Path) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"No object {key} in {self.url}") from None
        return _verified(key, data, self.url)

    def _check_blocking(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=self.root, prefix=".health-")
        os.close(fd)
        Path(probe).unlink()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _KeyWriters:
    lock: asyncio.Lock
    waiting: int = 0


class S3ObjectStore:
    """Objects in an S3 (or S3-compatible) bucket under ``<prefix><sha[:2]>/<sha256>``.

    Production buckets must have versioning and S3 Object Lock (a default retention period in
    compliance or governance mode) enabled, so that not even a credential with delete rights
    can destroy or replace evidence within the retention period. This class never overwrites
    or deletes anything itself; bucket policy is what makes that a guarantee rather than a
    habit. Object Lock can only be switched on when a bucket is created, so production buckets
    are created by the infrastructure code, not by ``ensure_bucket``.

    Writes send ``ChecksumSHA256`` so S3 rejects bytes damaged in transit, and
    ``If-None-Match: *`` so S3 refuses to replace an existing object even when two writers race.
    The credentials need ``s3:ListBucket`` as well as get/put: without it S3 answers 403 rather
    than 404 for a missing object, and ``exists``/``get`` would raise instead of answering.

    Every boto3 call runs in a worker thread, because boto3 is blocking. The client is created
    on first use and shared; boto3 clients are thread-safe, sessions are not, so each store makes
    its own session.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"An S3 bucket name must be non-empty and contain no '/': {bucket!r}")
        self.bucket = bucket
        stripped = prefix.strip("/")
        self.prefix = f"{stripped}/" if stripped else ""
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self._client: S3Client | None = client
        self._client_lock = threading.Lock()
        self._writers: dict[str, _KeyWriters] = {}
        # Cleared the first time the endpoint says it cannot do conditional writes.
        self._conditional_writes = True

    @property
    def url(self) -> str:
        description = f"s3://{self.bucket}/{self.prefix}"
        if self.endpoint_url:
            # Only scheme, host and port: an endpoint URL may carry user info.
            parts = urlsplit(self.endpoint_url)
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            description += f" (endpoint {parts.scheme}://{host}{port})"
        return description

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.url!r})"

    def object_key(self, sha256: str) -> str:
        """The S3 key that holds (or would hold) the object ``sha256``."""
        _validate_key(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    async def put(self, data: bytes) -> StoredObject:
        data = bytes(data)
        key = await asyncio.to_thread(sha256_hex, data)
        async with self._sole_writer(key):
            if await asyncio.to_thread(self._exists_blocking, key):
                return StoredObject(sha256=key, size=len(data), created=False)
            created = await asyncio.to_thread(self._put_blocking, key, data)
            return StoredObject(sha256=key, size=len(data), created=created)

    async def get(self, sha256: str) -> bytes:
        _validate_key(sha256)
        return await asyncio.to_thread(self._get_blocking, sha256)

    async def exists(self, sha256: str) -> bool:
        _validate_key(sha256)
        return await asyncio.to_thread(self._exists_blocking, sha256)

    async def check(self) -> None:
        # A HEAD on the bucket proves reachability, credentials and that the bucket exists.
        # Writing a probe object would prove more, but under Object Lock every probe would
        # become an undeletable object.
        await asyncio.to_thread(lambda: self._s3().head_bucket(Bucket=self.bucket))

    async def ensure_bucket(self, *, versioning: bool = True) -> None:
        """Create the bucket if it is missing and, by default, enable versioning on it.

        Meant for tests and ``traceport`` setup on a fresh machine; see the class docstring
        for what a production bucket needs beyond this.
        """
        await asyncio.to_thread(self._ensure_bucket_blocking, versioning)

    @asynccontextmanager
    async def _sole_writer(self, key: str) -> AsyncIterator[None]:
        # Concurrent puts of the same bytes from this process queue behind one upload instead
        # of sending the bytes N times; the later ones then find the object and report
        # created=False. Across processes the conditional write is what decides.
        writers = self._writers.get(key)
        if writers is None:
            writers = self._writers[key] = _KeyWriters(asyncio.Lock())
        writers.waiting += 1
        try:
            async with writers.lock:
                yield
        finally:
            writers.waiting -= 1
            if writers.waiting == 0:
                del self._writers[key]

    def _s3(self) -> S3Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    # S3-compatible servers (MinIO, Ceph, test servers) rarely have wildcard
                    # DNS for virtual-hosted buckets, so a custom endpoint gets path-style URLs.
                    addressing: Literal["path", "auto"] = "path" if self.endpoint_url else "auto"
                    config = Config(
                        connect_timeout=5,
                        read_timeout=60,
                        retries={"mode": "standard", "max_attempts": 3},
                        s3={"addressing_style": addressing},
                    )
                    self._client = boto3.session.Session().client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        region_name=self.region_name,
                        config=config,
                    )
        return self._client

    def _exists_blocking(self, key: str) -> bool:
        try:
            self._s3().head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def _put_blocking(self, key: str, data: bytes) -> bool:
        """Upload ``data`` unless its key exists; return whether this call created it."""
        params: PutObjectRequestTypeDef = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "Body": data,
            "ContentType": "application/octet-stream",
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(key)).decode("ascii"),
        }
        if self._conditional_writes:
            created = self._put_if_absent(params)
            if created is not None:
                return created
        # Without If-None-Match a writer racing us between this HEAD and the PUT can only ever
        # write these same bytes: S3 rejects a body whose SHA-256 differs from ChecksumSHA256,
        # which is the key. So the race can add an identical version, never different content.
        if self._exists_blocking(key):
            return False
        self._s3().put_object(**params)
        return True

    def _put_if_absent(self, params: PutObjectRequestTypeDef) -> bool | None:
        """Conditional upload: whether it created the object, or None if unsupported."""
        conditional: PutObjectRequestTypeDef = {**params, "IfNoneMatch": "*"}
        for attempt in range(3):
            try:
                self._s3().put_object(**conditional)
            except ClientError as exc:
                if _status(exc) == 412 or _code(exc) == "PreconditionFailed":
                    return False
                if _status(exc) == 409 or _code(exc) == "ConditionalRequestConflict":
                    # Another writer's upload of this key is in flight; S3 asks us to retry,
                    # and the retry then meets the finished object as a 412.
                    time.sleep(0.2 * (attempt + 1))
                    continue
                if not _is_unsupported(exc):
                    raise
                self._conditional_writes = False
                logger.warning(
                    "%s does not support conditional writes (If-None-Match); "
                    "falling back to check-then-write",
                    self.url,
                )
                return None
            return True
        raise RuntimeError(
            f"Could not store object {params['Key'].rsplit('/', 1)[-1]} in {self.url}: "
            "concurrent uploads of the same key kept conflicting"
        )

    def _get_blocking(self, key: str) -> bytes:
        try:
            response = self._s3().get_object(
                Bucket=self.bucket, Key=self.object_key(key), ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectNotFound(f"No object {key} in {self.url}") from None
            raise
        with closing(response["Body"]) as body:
            data = body.read()
        return _verified(key, data, self.url)

    def _ensure_bucket_blocking(self, versioning: bool) -> None:
        client = self._s3()
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _is_missing(exc):
                raise
            region = client.meta.region_name
            try:
                if region and region != "us-east-1":
                    client.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration={
                            "LocationConstraint": cast("BucketLocationConstraintType", region)
                        },
                    )
                else:
                    client.create_bucket(Bucket=self.bucket)
            except ClientError as create_exc:
                # Another process may have created it between our HEAD and CREATE.
                if _code(create_exc) != "BucketAlreadyOwnedByYou":
                    raise
        if versioning:
            client.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _is_missing(exc: ClientError) -> bool:
    return _status(exc) == 404 or _code(exc) in {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


def _is_unsupported(exc: ClientError) -> bool:
    return _status(exc) == 501 or _code(exc) in {"NotImplemented", "501"}


def open_object_store(
    url: str, *, s3_endpoint_url: str | None = None, base_dir: Path | None = None
) -> ObjectStore:
    """Open the store a ``TRACEPORT_STORAGE_URL``-style setting names.

    Accepted forms: ``file://./var/objects`` (relative to ``base_dir``, or the current
    directory), ``file:///absolute/path``, a plain path, and ``s3://bucket/optional/prefix``
    (``s3_endpoint_url`` points boto3 at an S3-compatible server). Anything else raises
    ``ValueError``.
    """
    text = url.strip()
    if not text:
        raise ValueError("The object store URL is empty; use file://, s3:// or a plain path")
    scheme, separator, rest = text.partition("://")
    if not separator:
        return LocalObjectStore(_local_path(text, base_dir))
    scheme = scheme.lower()
    if scheme == "file":
        return LocalObjectStore(_local_path(_file_url_path(rest), base_dir))
    if scheme == "s3":
        if "?" in rest or "#" in rest:
            raise ValueError("An s3:// object store URL takes no query or fragment")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ValueError("An s3:// object store URL needs a bucket: s3://bucket/prefix")
        return S3ObjectStore(bucket, unquote(prefix), endpoint_url=s3_endpoint_url)
    # Only the scheme is echoed: the rest of an unknown URL may hold credentials.
    raise ValueError(
        f"Unsupported object store URL scheme {scheme!r}; use file://, s3:// or a plain path"
    )


def _file_url_path(rest: str) -> str:
    if rest.startswith("/"):
        return unquote(rest)
    if rest.startswith("localhost/"):
        return unquote(rest[len("localhost") :])
    if rest.startswith((".", "~")):
        return unquote(rest)
    # "file://objects/x" names a host called "objects" under RFC 8089; refusing it is kinder
    # than quietly storing regulated records somewhere nobody meant.
    raise ValueError(
        "A file:// object store URL must be file:///absolute/path or file://./relative/path"
    )


def _local_path(text: str, base_dir: Path | None) -> Path:
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path.resolve()
