"""Settings, read from the environment in this one place. The embedded default needs no
services: SQLite and a local object folder under ``./var``. Production sets
``TRACEPORT_DATABASE_URL`` (PostgreSQL) and ``TRACEPORT_STORAGE_URL`` (``s3://…``)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from trace_core.identity.actor import ROLE_PERMISSIONS
from trace_core.identity.passwords import cost_problem
from trace_core.identity.sso import SsoConfig, parse_role_map
from trace_core.packing.sscc import SsccRange
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
    """Upload, PDF, login and session limits, the second-factor policy and the password hash
    cost (``TRACEPORT_MAX_UPLOAD_MB``, ``TRACEPORT_TOTP_REQUIRED_ROLES``, ...)."""
    smtp_url: str | None = None
    """Outgoing mail server (``TRACEPORT_SMTP_URL``, ``smtp://user:pass@host:587?starttls=1``);
    unset: messages are written to ``var/outbox`` as ``.eml`` files."""
    mail_from: str = "Traceport <traceport@localhost>"
    """The From address of every message (``TRACEPORT_MAIL_FROM``)."""
    base_url: str = ""
    """The portal's public address for links in e-mails (``TRACEPORT_BASE_URL``)."""
    oidc: SsoConfig | None = None
    """Single sign-on for internal staff (``TRACEPORT_OIDC_*``, docs/SSO.md); off when unset."""
    sscc_range: SsccRange | None = None
    """Our SSCCs: GS1 company prefix (``TRACEPORT_GS1_COMPANY_PREFIX``) and extension digit
    (``TRACEPORT_SSCC_EXTENSION_DIGIT``, default 0); unset: SSCCs are typed, never allocated."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        var_dir = Path(env.get("TRACEPORT_VAR_DIR", "var"))
        limits = Limits(
            max_upload_bytes=int(float(env.get("TRACEPORT_MAX_UPLOAD_MB", "20")) * 1024 * 1024),
            max_failed_logins=int(env.get("TRACEPORT_MAX_FAILED_LOGINS", "5")),
            password_hash_cost=_hash_cost(env),
            session_idle_minutes=int(env.get("TRACEPORT_SESSION_IDLE_MINUTES", "15")),
            session_absolute_hours=int(env.get("TRACEPORT_SESSION_ABSOLUTE_HOURS", "12")),
            signing_idle_minutes=int(env.get("TRACEPORT_SIGNING_IDLE_MINUTES", "5")),
            checkpoint_every=int(env.get("TRACEPORT_CHECKPOINT_EVERY", "500")),
            password_max_age_days=int(env.get("TRACEPORT_PASSWORD_MAX_AGE_DAYS", "0")),
            login_window_seconds=int(env.get("TRACEPORT_LOGIN_WINDOW_SECONDS", "300")),
            login_max_per_ip=int(env.get("TRACEPORT_LOGIN_MAX_PER_IP", "20")),
            login_max_per_account=int(env.get("TRACEPORT_LOGIN_MAX_PER_ACCOUNT", "10")),
            invitation_valid_hours=int(env.get("TRACEPORT_INVITATION_VALID_HOURS", "72")),
            reset_valid_minutes=int(env.get("TRACEPORT_RESET_VALID_MINUTES", "60")),
            totp_required_roles=_roles(env.get("TRACEPORT_TOTP_REQUIRED_ROLES")),
            epcis_max_document_bytes=_positive(
                env, "TRACEPORT_EPCIS_MAX_MB", Limits().epcis_max_document_bytes, 1024 * 1024
            ),
            epcis_max_events=_positive(
                env, "TRACEPORT_EPCIS_MAX_EVENTS", Limits().epcis_max_events
            ),
            late_entry_days=_positive(env, "TRACEPORT_LATE_ENTRY_DAYS", Limits().late_entry_days),
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
            smtp_url=env.get("TRACEPORT_SMTP_URL") or None,
            mail_from=env.get("TRACEPORT_MAIL_FROM") or "Traceport <traceport@localhost>",
            base_url=env.get("TRACEPORT_BASE_URL") or _local_base_url(env),
            oidc=_oidc_from_env(env),
            sscc_range=_sscc_range(env),
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


def _oidc_from_env(env: dict[str, str]) -> SsoConfig | None:
    issuer = env.get("TRACEPORT_OIDC_ISSUER", "").strip()
    if not issuer:
        return None

    def listed(name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())

    return SsoConfig(
        issuer=issuer,
        client_id=env.get("TRACEPORT_OIDC_CLIENT_ID", "").strip(),
        client_secret=env.get("TRACEPORT_OIDC_CLIENT_SECRET", ""),
        scopes=tuple(env.get("TRACEPORT_OIDC_SCOPES", "openid email profile").split()),
        role_claim=env.get("TRACEPORT_OIDC_ROLE_CLAIM", "groups").strip() or "groups",
        role_map=parse_role_map(env.get("TRACEPORT_OIDC_ROLE_MAP", "")),
        email_domains=tuple(d.lower() for d in listed("TRACEPORT_OIDC_EMAIL_DOMAINS")),
        email_verified_claim=env.get("TRACEPORT_OIDC_EMAIL_VERIFIED_CLAIM", "").strip()
        or "email_verified",
        auto_provision=env.get("TRACEPORT_OIDC_AUTO_PROVISION", "").lower() in ("1", "true", "yes"),
        organization=env.get("TRACEPORT_OIDC_ORGANIZATION", "").strip() or None,
        redirect_uri=env.get("TRACEPORT_OIDC_REDIRECT_URI", "").strip() or None,
    )


def _roles(value: str | None) -> tuple[str, ...]:
    """``TRACEPORT_TOTP_REQUIRED_ROLES``: unset gives the default, empty turns the policy off;
    an unknown role name is an error, so a typo cannot switch the policy off unnoticed."""
    if value is None:
        return Limits().totp_required_roles
    roles = tuple(r.strip() for r in value.split(",") if r.strip())
    unknown = [r for r in roles if r not in ROLE_PERMISSIONS]
    if unknown:
        raise ValueError(f"TRACEPORT_TOTP_REQUIRED_ROLES: unknown role(s) {', '.join(unknown)}")
    return roles


def _hash_cost(env: dict[str, str]) -> int:
    """``TRACEPORT_PASSWORD_HASH_COST``: scrypt's N for new hashes; unset gives the production
    default. A value scrypt cannot use is an error at start-up, not at the first sign-in."""
    value = env.get("TRACEPORT_PASSWORD_HASH_COST", "").strip()
    if not value:
        return Limits().password_hash_cost
    try:
        cost = int(value)
    except ValueError:
        raise ValueError(f"TRACEPORT_PASSWORD_HASH_COST: {value!r} is not a number") from None
    problem = cost_problem(cost)
    if problem:
        raise ValueError(f"TRACEPORT_PASSWORD_HASH_COST: {problem}")
    return cost


def _sscc_range(env: dict[str, str]) -> SsccRange | None:
    prefix = env.get("TRACEPORT_GS1_COMPANY_PREFIX", "").strip()
    if not prefix:
        return None
    digit = env.get("TRACEPORT_SSCC_EXTENSION_DIGIT", "0").strip() or "0"
    if not (digit.isdigit() and len(digit) == 1):
        raise ValueError(f"TRACEPORT_SSCC_EXTENSION_DIGIT: {digit!r} is not one digit")
    try:
        return SsccRange(prefix, int(digit))
    except ValueError as exc:
        raise ValueError(f"TRACEPORT_GS1_COMPANY_PREFIX: {exc}") from None


def _positive(env: dict[str, str], name: str, default: int, unit: int = 1) -> int:
    """A positive limit from ``name`` (in ``unit``s; fractions allowed for sizes). A zero,
    negative or unreadable value is an error at start-up: a limit of 0 would refuse every
    capture, and a typo must not silently give the default."""
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        amount = int(float(value) * unit)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if amount < 1:
        raise ValueError(f"{name}: must be greater than 0, got {value!r}")
    return amount


def _local_base_url(env: dict[str, str]) -> str:
    host, port = env.get("TRACEPORT_HOST", "127.0.0.1"), env.get("TRACEPORT_PORT", "8000")
    return f"http://{host}:{port}"


def _file_url(path: Path) -> str:
    return f"file://{path.as_posix()}" if path.is_absolute() else f"file://./{path.as_posix()}"
