"""Outgoing e-mail: the ``Mailer`` interface and its two implementations, chosen by settings.

- ``OutboxMailer`` (the embedded default) writes each message as an RFC 5322 ``.eml`` file into
  a folder (``var/outbox``). Nothing is lost and nothing leaves the machine: an operator reads
  the files or forwards them.
- ``SmtpMailer`` hands messages to an SMTP server through aiosmtplib, with implicit TLS
  (``smtps://``), STARTTLS (``?starttls=1``) and authentication (``user:password@``). A message
  the server does not take is written to an "undelivered" outbox folder before ``MailNotSent``
  is raised, so it is never lost either.

Messages carry links into the portal. They are built from the configured base URL
(``TRACEPORT_BASE_URL``), never from the request's Host header: a forged Host header would
otherwise put an attacker's address into a password-reset link.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

DEFAULT_SENDER = "Traceport <traceport@localhost>"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class MailMessage:
    """One plain-text message to one or more recipients."""

    to: tuple[str, ...]
    subject: str
    body: str


class MailNotSent(Exception):
    """The transport refused or could not be reached; ``saved_to`` is where the message was
    kept instead (None when even that failed)."""

    def __init__(self, reason: str, saved_to: Path | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.saved_to = saved_to


class Mailer(Protocol):
    """Sends messages. ``sender`` is the From address, ``base_url`` the portal's public
    address that links in messages start with."""

    sender: str
    base_url: str

    def link(self, path: str) -> str: ...

    async def send(self, message: MailMessage) -> None: ...


def build_email(message: MailMessage, sender: str) -> EmailMessage:
    """The RFC 5322 message. The modern ``email`` policy refuses CR/LF inside header values,
    so a name or subject cannot inject headers."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(message.to)
    email["Subject"] = " ".join(message.subject.split())
    email["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(domain=domain)
    email.set_content(message.body)
    return email


def _link(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass
class OutboxMailer:
    """Writes every message as an ``.eml`` file into ``folder`` (created when needed)."""

    folder: Path
    sender: str = DEFAULT_SENDER
    base_url: str = DEFAULT_BASE_URL

    def link(self, path: str) -> str:
        return _link(self.base_url, path)

    async def send(self, message: MailMessage) -> None:
        await self.save(message)

    async def save(self, message: MailMessage) -> Path:
        data = bytes(build_email(message, self.sender))
        return await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> Path:
        # Written to a temporary name, flushed to disk, then renamed: a reader never sees half
        # a message and a crash never leaves one. 0600, because messages carry one-time links.
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        final = self.folder / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        partial = final.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(final)
        return final


@dataclass
class SmtpMailer:
    """Sends through an SMTP server. ``undelivered`` keeps what the server did not take."""

    host: str
    port: int
    undelivered: OutboxMailer
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool = False
    tls_context: ssl.SSLContext | None = None
    timeout_s: float = 20.0
    sender: str = DEFAULT_SENDER
    base_url: str = DEFAULT_BASE_URL

    def link(self, path: str) -> str:
        return _link(self.base_url, path)

    async def send(self, message: MailMessage) -> None:
        email = build_email(message, self.sender)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.implicit_tls,
                start_tls=self.starttls,
                tls_context=self.tls_context,
                timeout=self.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            try:
                saved: Path | None = await self.undelivered.save(message)
            except OSError:
                saved = None
            raise MailNotSent(reason, saved) from exc


def mailer_from_url(
    url: str | None,
    *,
    outbox: Path,
    sender: str = DEFAULT_SENDER,
    base_url: str = DEFAULT_BASE_URL,
) -> Mailer:
    """The mailer for ``TRACEPORT_SMTP_URL``: empty → the outbox folder;
    ``smtp://[user:password@]host[:port][?starttls=1][&cafile=PATH][&timeout=S]`` or
    ``smtps://…`` (implicit TLS, port 465 by default). User and password are URL-encoded."""
    if not url:
        return OutboxMailer(outbox, sender, base_url)
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("TRACEPORT_SMTP_URL must look like smtp://user:password@host:587")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    starttls = query.get("starttls", "0").lower() in ("1", "true", "yes")
    context = None
    if implicit or starttls:
        context = ssl.create_default_context(cafile=query.get("cafile") or None)
    return SmtpMailer(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 587 if starttls else 25),
        undelivered=OutboxMailer(outbox / "undelivered", sender, base_url),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
        starttls=starttls,
        tls_context=context,
        timeout_s=float(query.get("timeout", "20")),
        sender=sender,
        base_url=base_url,
    )


def default_mailer() -> Mailer:
    """What a ``Runtime`` built without settings uses: the outbox under ``./var``."""
    return OutboxMailer(Path("var") / "outbox")
