"""A real SMTP server inside the test suite (aiosmtpd), on a free port of 127.0.0.1.

``smtp_inbox`` (a fixture: import it into a test module, or use ``MailCatcher``
directly) starts the server, points the app's ``SMTP_HOST``/``SMTP_PORT`` at it and
collects every message it is sent, parsed, so a test reads a link from the mail the
way a person would.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class _Collector:
    """The aiosmtpd handler: keeps each message (envelope recipients and the parsed mail)."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        mail = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), mail))
        return "250 OK"


class MailCatcher:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.handler = _Collector()
        self.controller = Controller(self.handler, hostname=LOOPBACK, port=free_port())

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
