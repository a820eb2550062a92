"""Fixtures for the documents tests: a real S3 endpoint (moto's server) reached over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from documents import S3ObjectStore


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """An S3 API on a free local port, served by moto in a thread for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and nothing from the machine's own AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_client(s3_endpoint_url: str, aws_env: None) -> Any:
    """A plain boto3 client on the test endpoint, for looking behind a store's back."""
    return boto3.session.Session().client("s3", endpoint_url=s3_endpoint_url)


@pytest.fixture
async def s3_store(s3_endpoint_url: str, aws_env: None) -> S3ObjectStore:
    """A store on a fresh, versioned bucket of its own, with a prefix like production's."""
    store = S3ObjectStore(
        f"traceport-test-{uuid.uuid4().hex[:16]}", "objects", endpoint_url=s3_endpoint_url
    )
    await store.ensure_bucket()
    return store
