"""The outbox: queued with the request's work, sent over SMTP by a job (the development
mailbox page has its own tests with the notifications)."""

from __future__ import annotations

import email
import logging
import socket
import socketserver
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select

from accounts import mail
from accounts.mail import OutgoingMail, deliver_outbox, queue_mail
from accounts.mail_messages import invitation_mail
from tests.conftest import NOW, LoopbackServer

# --- a tiny SMTP server on 127.0.0.1 -----------------------------------------------------------


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server = self.server
        self.reply("220 stub ESMTP")
        envelope: dict = {"rcpt": []}
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-stub")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 stub")
            elif verb == "MAIL":
                envelope = {"from": command, "rcpt": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                if server.refuse and any(r in command for r in server.refuse):
                    self.reply("550 no such user")
                else:
                    envelope["rcpt"].append(command)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                server.received.append((envelope, b"".join(lines)))
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class _SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]):
        super().__init__(address, _SMTPHandler)
        self.received: list = []
        self.refuse: tuple[str, ...] = ()


@pytest.fixture
def smtp_server(app):
    # Not HTTP, but a socketserver all the same: the shared loopback helper fits as is.
    with LoopbackServer(_SMTPServer, name="smtp-server") as loopback:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=loopback.port)
        yield loopback.server


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- delivery ---------------------------------------------------------------------------------


def test_delivery_sends_and_marks_the_mail(app, db, smtp_server):
    app.config["MAIL_FROM"] = "engawa@acme.example"
    queued = queue_mail(
        "hanako@example.com", "招待 / Invitation", "本文\nhttps://x/join/abc\n", NOW
    )
    db.session.commit()
    assert deliver_outbox(NOW) == "1 sent, 0 failed"
    db.session.expire_all()
    sent = db.session.get(OutgoingMail, queued.id)
    assert sent.sent_at == NOW and sent.attempts == 0 and sent.last_error is None
    assert sent.body == ""  # its one-time link is not kept once sent
    [(envelope, data)] = smtp_server.received
    assert "<hanako@example.com>" in envelope["rcpt"][0]
    assert "<engawa@acme.example>" in envelope["from"]
    message = email.message_from_bytes(data, policy=policy.default)
    assert message["To"] == "hanako@example.com"
    assert message["From"] == "Engawa <engawa@acme.example>"
    assert message["Subject"] == "招待 / Invitation"
    assert "https://x/join/abc" in message.get_content()
    # Sent mail is not sent again.
    assert deliver_outbox(NOW) == "nothing to send"
    assert len(smtp_server.received) == 1


def test_a_refused_recipient_stays_queued_and_the_rest_is_sent(app, db, smtp_server, caplog):
    smtp_server.refuse = ("bounce@example.com",)
    bad = queue_mail("bounce@example.com", "s", "secret body text", NOW)
    good = queue_mail("ok@example.com", "s", "b", NOW)
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        assert deliver_outbox(NOW) == "1 sent, 1 failed"
    db.session.expire_all()
    bad, good = db.session.get(OutgoingMail, bad.id), db.session.get(OutgoingMail, good.id)
    assert (bad.sent_at, bad.attempts) == (None, 1)
    assert bad.last_error.startswith("SMTPRecipientsRefused")
    assert "bounce" not in bad.last_error
    assert good.sent_at == NOW
    # Addresses and bodies never reach the log.
    assert "bounce@example.com" not in caplog.text and "secret body text" not in caplog.text
    # Not tried again before its next attempt is due (5 minutes), then sent.
    smtp_server.refuse = ()
    assert bad.next_attempt_at == NOW + timedelta(minutes=5)
    assert not mail.outbox_pending()
    assert deliver_outbox(NOW + timedelta(minutes=4)) == "nothing to send"
    assert deliver_outbox(NOW + timedelta(minutes=5)) == "1 sent, 0 failed"


def test_an_unreachable_server_keeps_the_mail_for_a_retry(app, db, caplog):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_closed_port())
    queued = queue_mail("hanako@example.com", "s", "b", NOW)
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        assert deliver_outbox(NOW) == "0 sent, 1 failed"
    db.session.expire_all()
    kept = db.session.get(OutgoingMail, queued.id)
    assert (kept.sent_at, kept.attempts) == (None, 1)
    assert kept.last_error == "ConnectionRefusedError"
    assert "hanako" not in caplog.text
    assert not mail.outbox_pending()  # its next attempt waits five minutes
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=5)
    assert mail.outbox_pending()


def test_mail_given_up_is_no_longer_tried(app, db):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_closed_port())
    queued = queue_mail("x@example.com", "s", "b", NOW)
    queued.attempts, queued.failed_at = mail.MAX_ATTEMPTS, NOW
    db.session.commit()
    assert not mail.outbox_pending()
    assert deliver_outbox(NOW + timedelta(days=1)) == "nothing to send"


def test_without_smtp_host_mail_stays_in_the_outbox(app, db):
    app.config.pop("SMTP_HOST", None)
    queue_mail("x@example.com", "s", "b", NOW)
    db.session.commit()
    summary = deliver_outbox(NOW)
    assert "SMTP_HOST is not set" in summary and "1 message(s)" in summary
    kept = db.session.scalars(select(OutgoingMail)).one()
    assert kept.sent_at is None and mail.body_of(kept) == "b"  # the development mailbox reads it
    # Nothing for the every-minute job to do (it would only record the same run again).
    assert not mail.outbox_pending()


# --- messages -----------------------------------------------------------------------------------


def test_invitation_mail_carries_the_link_and_expiry(app):
    with app.test_request_context("/"):
        subject, body = invitation_mail(
            "Acme 株式会社", "https://e.example/join/t0k", NOW, "invite"
        )
        _domain_subject, domain_body = invitation_mail(
            "Acme 株式会社", "https://e.example/join/t0k", NOW, "domain"
        )
    assert "Acme 株式会社" in subject
    assert "https://e.example/join/t0k" in body and "https://e.example/join/t0k" in domain_body
    assert "2026/12/01 12:00" in body  # the expiry in Japan time
    assert body != domain_body
