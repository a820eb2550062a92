"""Outgoing mail (``trace_core/mail.py``): the outbox folder writes RFC 5322 files; SMTP
delivers to a real server on loopback, plain and with STARTTLS and authentication; a message
the server does not take is kept, never lost; ``TRACEPORT_SMTP_URL`` chooses the transport."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.identity.conftest import BASE_URL, SENDER, SmtpServer, free_port, start_smtp
from trace_core.mail import (
    MailMessage,
    MailNotSent,
    OutboxMailer,
    SmtpMailer,
    mailer_from_url,
)

MESSAGE = MailMessage(
    ("lena@acme-polymers.example",), "Invitation to Traceport", "Open http://x/invite/abc\n"
)


async def test_outbox_writes_one_rfc5322_file_per_message(tmp_path: Path) -> None:
    outbox = OutboxMailer(tmp_path / "outbox", SENDER, BASE_URL)
    await outbox.send(MESSAGE)
    await outbox.send(MailMessage(("b@example.com",), "Second", "Text\n"))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert not list((tmp_path / "outbox").glob("*.partial"))
    assert files[0].stat().st_mode & 0o777 == 0o600
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["From"] == SENDER
    assert parsed["To"] == "lena@acme-polymers.example"
    assert parsed["Subject"] == "Invitation to Traceport"
    assert parsed["Message-ID"].endswith("@traceport.example>")
    assert parsed["Date"]
    body = parsed.get_body(("plain",))
    assert body is not None and "invite/abc" in body.get_content()


async def test_header_injection_is_impossible(tmp_path: Path) -> None:
    outbox = OutboxMailer(tmp_path, SENDER, BASE_URL)
    path = await outbox.save(MailMessage(("a@example.com",), "Hi\r\nBcc: evil@x", "Body\n"))
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and parsed["Subject"] == "Hi Bcc: evil@x"
    with pytest.raises(ValueError, match=r"linefeed|carriage"):
        await outbox.save(MailMessage(("a@example.com\r\nBcc: evil@x",), "Hi", "Body\n"))


async def test_smtp_delivers_to_a_real_server(smtp_server: SmtpServer, tmp_path: Path) -> None:
    mailer = mailer_from_url(
        f"smtp://{smtp_server.host}:{smtp_server.port}",
        outbox=tmp_path,
        sender=SENDER,
        base_url=BASE_URL,
    )
    assert isinstance(mailer, SmtpMailer)
    await mailer.send(MESSAGE)
    assert len(smtp_server.mailbox.messages) == 1
    received = smtp_server.mailbox.messages[0]
    assert received["Subject"] == "Invitation to Traceport"
    assert smtp_server.mailbox.envelopes[0] == (
        "noreply@traceport.example",
        ["lena@acme-polymers.example"],
    )
    assert mailer.link("/invite/x") == "http://testserver/invite/x"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"mailer",
        b"s3cret:pw",
    )
    return AuthResult(success=ok, handled=False)


async def test_smtp_with_starttls_and_authentication(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    controller, server = start_smtp(
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    try:
        url = f"smtp://mailer:s3cret%3Apw@127.0.0.1:{server.port}?starttls=1&cafile={cert}"
        mailer = mailer_from_url(url, outbox=tmp_path, sender=SENDER, base_url=BASE_URL)
        assert isinstance(mailer, SmtpMailer)
        assert (mailer.starttls, mailer.username, mailer.password) == (True, "mailer", "s3cret:pw")
        await mailer.send(MESSAGE)
        assert [m["Subject"] for m in server.mailbox.messages] == ["Invitation to Traceport"]

        wrong = mailer_from_url(url.replace("s3cret%3Apw", "wrong"), outbox=tmp_path, sender=SENDER)
        with pytest.raises(MailNotSent) as refused:
            await wrong.send(MESSAGE)
        assert "SMTPAuthenticationError" in refused.value.reason
        no_tls = mailer_from_url(
            f"smtp://mailer:s3cret%3Apw@127.0.0.1:{server.port}", outbox=tmp_path, sender=SENDER
        )
        with pytest.raises(MailNotSent):
            await no_tls.send(MESSAGE)
        assert len(server.mailbox.messages) == 1
    finally:
        controller.stop()


async def test_a_message_the_server_does_not_take_is_kept(tmp_path: Path) -> None:
    dead = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    mailer = mailer_from_url(dead, outbox=tmp_path / "outbox", sender=SENDER)
    with pytest.raises(MailNotSent) as failed:
        await mailer.send(MESSAGE)
    kept = failed.value.saved_to
    assert kept is not None and kept.parent == tmp_path / "outbox" / "undelivered"
    assert b"Subject: Invitation to Traceport" in kept.read_bytes()


def test_the_url_chooses_the_transport(tmp_path: Path) -> None:
    assert isinstance(mailer_from_url(None, outbox=tmp_path), OutboxMailer)
    assert isinstance(mailer_from_url("", outbox=tmp_path), OutboxMailer)
    implicit = mailer_from_url("smtps://u:p@mail.example.com", outbox=tmp_path)
    assert isinstance(implicit, SmtpMailer)
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, False)
    submission = mailer_from_url("smtp://mail.example.com?starttls=1", outbox=tmp_path)
    assert isinstance(submission, SmtpMailer) and submission.port == 587
    assert submission.tls_context is not None and submission.username is None
    with pytest.raises(ValueError, match="TRACEPORT_SMTP_URL"):
        mailer_from_url("http://mail.example.com", outbox=tmp_path)
