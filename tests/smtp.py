"""A real SMTP server inside the test suite (aiosmtpd), on a free port of 127.0.0.1.

``smtp_inbox`` (a fixture: import it into a test module, or use ``MailCatcher``
directly) starts the server, points the app's ``SMTP_HOST``/``SMTP_PORT`` at it and
collects every message it is sent, parsed, so a test reads a link from the mail the
way a person would.

``MailCatcher(tls=self_signed_certificate(tmp_path), login=("user", "password"))``
is a server that requires STARTTLS and then AUTH, as a real mail relay does; the
client trusts the certificate through ``SMTP_CA_FILE``. ``refuse("451 …")`` answers
every message with that reply until ``recover()``; ``refuse(recipients={…})`` refuses
only those addresses (550).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, written into ``folder``:
    (cert.pem, key.pem). The client trusts it by naming cert.pem as its CA file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Engawa test SMTP")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class _Collector:
    """The aiosmtpd handler: keeps each message (envelope recipients and the parsed mail).

    ``refusal``: a reply ("451 4.3.0 Try again later") given to every message instead of
    accepting it; ``refused_recipients``: addresses whose RCPT is answered 550."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refusal: str | None = None
    refused_recipients: frozenset[str] = frozenset()
    refused: int = 0  # messages or recipients turned away

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refused_recipients:
            self.refused += 1
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.refusal:
            self.refused += 1
            return self.refusal
        mail = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), mail))
        return "250 OK"


class MailCatcher:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives.

    ``tls``: (certificate, key) files; the server then offers STARTTLS and requires it
    before anything else. ``login``: (user, password) it requires (AUTH, after
    STARTTLS, so only with ``tls``); ``logins`` lists the users that signed in and
    ``failed_logins`` counts the refused attempts.
    """

    def __init__(
        self,
        *,
        tls: tuple[Path, Path] | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.handler = _Collector()
        self.logins: list[str] = []
        self.failed_logins = 0
        self._login = login
        options: dict = {}
        if login and not tls:
            raise ValueError("a login is only asked for after STARTTLS: give tls as well")
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            options.update(tls_context=context, require_starttls=True)
        if login:
            options.update(auth_required=True, authenticator=self._authenticate)
        self.controller = Controller(self.handler, hostname=LOOPBACK, port=free_port(), **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self._login is not None:
            user, password = self._login
            if auth_data.login == user.encode() and auth_data.password == password.encode():
                self.logins.append(user)
                return AuthResult(success=True)
        self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    def refuse(self, reply: str = "451 4.3.0 Try again later", *, recipients=None) -> None:
        """Refuse from now on: every message with ``reply``, or (``recipients`` given)
        only those addresses, each with 550."""
        if recipients is not None:
            self.handler.refused_recipients = frozenset(recipients)
        else:
            self.handler.refusal = reply

    def recover(self) -> None:
        """Accept everything again."""
        self.handler.refusal = None
        self.handler.refused_recipients = frozenset()

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> MailCatcher:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return list(self.handler.messages)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address``, oldest first."""
        return [mail for rcpts, mail in self.handler.messages if address in rcpts]

    def clear(self) -> None:
        self.handler.messages.clear()


def body_text(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def links_in(mail: EmailMessage, path_prefix: str) -> list[str]:
    """The paths (from ``path_prefix`` on) of the links in a mail's text."""
    pattern = re.compile(r"https?://[^\s/]+(" + re.escape(path_prefix) + r"[^\s]*)")
    return pattern.findall(body_text(mail))


@pytest.fixture
def smtp_inbox(app):
    """A real SMTP server the app's outbox delivers to (``accounts.mail.deliver_outbox``)."""
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher
