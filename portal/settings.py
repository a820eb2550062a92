"""Settings, read from the environment in this one place. The embedded default needs no
services: SQLite and a local object folder under ``./var``. Production sets
``TRACEPORT_DATABASE_URL`` (PostgreSQL) and ``TRACEPORT_STORAGE_URL`` (``s3://…``)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from trace_core.services import Limits


def normalise_database_url(url: str) -> str:
    """Accept the URLs people write and name the async driver explicitly."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


@dataclass(frozen=True)
class Settings:
    var_dir: Path = Path("var")
    """Folder for the embedded database, objects, keys and the outbox (``TRACEPORT_VAR_DIR``)."""
    database_url: str = ""
    """SQLAlchemy URL (``TRACEPORT_DATABASE_URL``); default SQLite at ``var/traceport.db``."""
    storage_url: str = ""
    """Object store (``TRACEPORT_STORAGE_URL``): ``file://path`` or ``s3://bucket/prefix``."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (``TRACEPORT_S3_ENDPOINT_URL``); AWS variables give credentials."""
    secret_key: str = ""
    """Signs access tokens (``TRACEPORT_SECRET_KEY``); generated into ``var/`` when unset."""
    signing_key_file: Path | None = None
    """Ed25519 private key for server signatures (``TRACEPORT_SIGNING_KEY_FILE``)."""
    host: str = "127.0.0.1"
    """Address to listen on (``TRACEPORT_HOST``)."""
    port: int = 8000
    """Port to listen on (``TRACEPORT_PORT``)."""
    secure_cookies: bool = False
    """Secure cookies and HSTS; on whenever TLS is in front (``TRACEPORT_SECURE_COOKIES``)."""
    limits: Limits = field(default_factory=Limits)
    """Upload, PDF, login and session limits (``TRACEPORT_MAX_UPLOAD_MB``, ...)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        var_dir = Path(env.get("TRACEPORT_VAR_DIR", "var"))
        limits = Limits(
            max_upload_bytes=int(float(env.get("TRACEPORT_MAX_UPLOAD_MB", "20")) * 1024 * 1024),
            max_failed_logins=int(env.get("TRACEPORT_MAX_FAILED_LOGINS", "5")),
            session_idle_minutes=int(env.get("TRACEPORT_SESSION_IDLE_MINUTES", "15")),
            session_absolute_hours=int(env.get("TRACEPORT_SESSION_ABSOLUTE_HOURS", "12")),
            signing_idle_minutes=int(env.get("TRACEPORT_SIGNING_IDLE_MINUTES", "5")),
            checkpoint_every=int(env.get("TRACEPORT_CHECKPOINT_EVERY", "500")),
        )
        return cls(
            var_dir=var_dir,
            database_url=normalise_database_url(
                env.get("TRACEPORT_DATABASE_URL")
                or f"sqlite+aiosqlite:///{(var_dir / 'traceport.db').as_posix()}"
            ),
            storage_url=env.get("TRACEPORT_STORAGE_URL") or _file_url(var_dir / "objects"),
            s3_endpoint_url=env.get("TRACEPORT_S3_ENDPOINT_URL") or None,
            secret_key=env.get("TRACEPORT_SECRET_KEY", ""),
            signing_key_file=Path(env["TRACEPORT_SIGNING_KEY_FILE"])
            if env.get("TRACEPORT_SIGNING_KEY_FILE")
            else None,
            host=env.get("TRACEPORT_HOST", "127.0.0.1"),
            port=int(env.get("TRACEPORT_PORT", "8000")),
            secure_cookies=env.get("TRACEPORT_SECURE_COOKIES", "").lower() in ("1", "true", "yes"),
            limits=limits,
        )

    def resolved_secret_key(self) -> bytes:
        """The token-signing secret; the embedded default keeps a generated one in ``var/``."""
        if self.secret_key:
            return self.secret_key.encode("utf-8")
        path = self.var_dir / "secret-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode("utf-8")

    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.var_dir / "keys" / "server-ed25519.pem"


def _file_url(path: Path) -> str:
    return f"file://{path.as_posix()}" if path.is_absolute() else f"file://./{path.as_posix()}"
