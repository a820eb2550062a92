"""Fixtures for the identity tests: a real SMTP server on loopback (aiosmtpd) that keeps what
it receives, an app whose runtime sends mail there (or to an outbox folder) with limits a test
chooses, and an internal administrator."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from portal.app import create_app
from portal.settings import Settings
from tests.conftest import Browser
from trace_core.demo import OUR_COMPANY
from trace_core.identity.actor import Actor
from trace_core.identity.models import User
from trace_core.mail import Mailer, OutboxMailer, SmtpMailer
from trace_core.services import Runtime, provide_services

#: Passwords that pass the policy (and are not any demo account's).
STRONG = "Blue-Fjord-Kettle-9"
STRONGER = "Quiet-Harbour-Lantern-42"
ADMIN = "ada.admin@traceport.example"
BASE_URL = "http://testserver"
SENDER = "Traceport <noreply@traceport.example>"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received, oldest first."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def link(self, address: str, path: str) -> str:
        """The path of the last link to ``path…`` mailed to ``address``."""
        for message in reversed(self.to(address)):
            body = message.get_body(("plain",))
            assert body is not None
            found = re.search(re.escape(BASE_URL + path) + r"[A-Za-z0-9_-]+", body.get_content())
            if found:
                return found.group(0)[len(BASE_URL) :]
        raise AssertionError(f"no {path} link mailed to {address}")


class _Sink:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mailbox.messages.append(parsed)
        self.mailbox.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


def start_smtp(**server_kwargs: Any) -> tuple[Controller, SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(_Sink(mailbox), hostname="127.0.0.1", port=port, **server_kwargs)
    controller.start()
    return controller, SmtpServer("127.0.0.1", port, mailbox)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on loopback, as a local relay would be."""
    controller, server = start_smtp()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_mailer(smtp_server: SmtpServer, tmp_path: Path) -> SmtpMailer:
    return SmtpMailer(
        host=smtp_server.host,
        port=smtp_server.port,
        undelivered=OutboxMailer(tmp_path / "undelivered", SENDER, BASE_URL),
        sender=SENDER,
        base_url=BASE_URL,
        timeout_s=5,
    )


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxMailer:
    return OutboxMailer(tmp_path / "outbox", SENDER, BASE_URL)


AppMaker = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[AppMaker]:
    """``await make_client(mailer, **limits)``: an HTTP client for an app whose runtime sends
    mail through ``mailer`` and has these limits (on top of the test limits)."""
    async with AsyncExitStack() as stack:

        async def make(mailer: Mailer, **limits: Any) -> httpx.AsyncClient:
            tuned = replace(runtime, mailer=mailer, limits=replace(runtime.limits, **limits))
            settings = Settings.from_env({"TRACEPORT_VAR_DIR": str(tmp_path)})
            app = create_app(settings, runtime=tuned)
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=BASE_URL)
            )

        yield make


async def create_person(
    runtime: Runtime, organization: str, email: str, name: str, roles: list[str]
) -> User:
    async with provide_services(runtime, Actor.system("cli")) as s:
        org = await s.identity.organization_by_name(organization)
        user = await s.identity.create_user(org, email, name, STRONG, roles)
        await s.keeper.commit()
        return user


@pytest.fixture
async def admin(runtime: Runtime) -> User:
    """An administrator of our company (password ``STRONG``)."""
    return await create_person(runtime, OUR_COMPANY, ADMIN, "Ada Admin", ["admin"])


async def signed_in(http: httpx.AsyncClient, email: str, password: str = STRONG) -> Browser:
    browser = Browser(http)
    response = await browser.login(email, password)
    assert response.status_code == 303, response.text
    return browser


def new_client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """A second browser (own cookies) on the same app."""
    return httpx.AsyncClient(transport=http._transport, base_url=BASE_URL)
