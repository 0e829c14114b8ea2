"""A small outbox: mail is queued with the request's work and sent by a job.

Queuing in the same transaction means a mail exists exactly when the thing it
announces does. ``deliver_outbox`` sends over SMTP when ``SMTP_HOST`` is set;
failures stay queued for the next run. Addresses and bodies are personal data:
they are never logged, and a failure is recorded by its kind only.

Bodies carry one-time links (invitations, join links), so they are never stored
in clear: each is encrypted (Fernet: AES-128-CBC with an HMAC-SHA256 tag) with a
key derived from ``SECRET_KEY``, so a copy of the database alone opens no link.
A sent mail keeps no body, and a mail whose link has expired (``expires_at``)
before it could be sent has its body dropped (``discarded_at``) by the delivery
job, with or without a mail server. A body that no longer decrypts (the secret
key changed) is dropped the same way.
"""

from __future__ import annotations

import base64
import logging
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import ForeignKey, String, Text, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, edge_now, utcnow
from core.extensions import db
from core.i18n import format_datetime_local
from core.job_summary import N_, NOTHING, JobSummary, joined, summary
from core.keys import derive_key

log = logging.getLogger(__name__)

DEFAULT_SMTP_PORT = 25
DEFAULT_MAIL_FROM = "no-reply@engawa.example"
SMTP_TIMEOUT_SECONDS = 20
BATCH_SIZE = 100
# After this many failed runs a mail is no longer tried; it stays in the outbox (attempts,
# last_error) for a person to look at. With a run every 5 minutes: about 100 minutes.
MAX_ATTEMPTS = 20
# Stored bodies start with this; anything else is a body from before encryption (read
# as it is, and dropped when sent or expired like any other).
ENCRYPTED_PREFIX = "fernet1:"


class OutgoingMail(db.Model):
    """One message waiting to be sent (or sent: ``sent_at``)."""

    __tablename__ = "outgoing_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    # Encrypted (``ENCRYPTED_PREFIX``); empty once sent or discarded.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # When what the mail carries (a one-time link) stops working; None: never.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Not sent and never will be: its link expired first, or its body became unreadable.
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who it is for when they have an account (the development mailbox shows each
    # person their own), and what it is (a notifications kind, "invitation", …).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(40))
    # The HTML part, encrypted like ``body``; None for a plain-text mail.
    html_body: Mapped[str | None] = mapped_column(Text)
    # One attachment (a stay's .ics), its bytes as text, encrypted like ``body``.
    attachment_name: Mapped[str | None] = mapped_column(String(100))
    attachment_type: Mapped[str | None] = mapped_column(String(60))
    attachment_body: Mapped[str | None] = mapped_column(Text)
    # Retries: not tried again before ``next_attempt_at``; given up (``failed_at``)
    # after the last attempt.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A delivery run's claim: no other run sends it before ``claimed_until``.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _cipher() -> Fernet:
    """The outbox's own key, derived from ``SECRET_KEY``."""
    key = derive_key(current_app.config["SECRET_KEY"], "outbox body v1")
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(body: str) -> str:
    return ENCRYPTED_PREFIX + _cipher().encrypt(body.encode()).decode("ascii")


def body_of(mail: OutgoingMail) -> str | None:
    """The mail's text in clear; "" once sent or discarded; None if it cannot be read."""
    return open_body(mail.body)


def open_body(stored: str) -> str | None:
    if not stored.startswith(ENCRYPTED_PREFIX):
        return stored
    try:
        return _cipher().decrypt(stored.removeprefix(ENCRYPTED_PREFIX).encode()).decode()
    except InvalidToken:
        return None


def queue_mail(
    to: str,
    subject: str,
    body: str,
    now: datetime,
    *,
    expires_at: datetime | None = None,
    user_id: int | None = None,
    kind: str | None = None,
    html: str | None = None,
    attachment: tuple[str, str, str] | None = None,
) -> OutgoingMail:
    """Queue a mail (the body is stored encrypted). ``expires_at``: when the link it
    carries stops working; a mail still unsent then is discarded, never sent late.
    ``html``: an HTML part beside the plain text; ``attachment``: (file name, MIME
    type, text), such as a stay's ``.ics``; both stored encrypted like the body."""
    mail = OutgoingMail(
        to_address=to,
        subject=subject[:200],
        body=_seal(body),
        created_at=now,
        expires_at=expires_at,
        user_id=user_id,
        kind=kind,
        html_body=_seal(html) if html is not None else None,
    )
    if attachment is not None:
        name, mime_type, content = attachment
        mail.attachment_name = name[:100]
        mail.attachment_type = mime_type[:60]
        mail.attachment_body = _seal(content)
    db.session.add(mail)
    db.session.flush()
    return mail


def _unsent():
    return (
        OutgoingMail.sent_at.is_(None),
        OutgoingMail.discarded_at.is_(None),
        OutgoingMail.attempts < MAX_ATTEMPTS,
    )


def _expired(now: datetime):
    return (
        OutgoingMail.sent_at.is_(None),
        OutgoingMail.discarded_at.is_(None),
        OutgoingMail.expires_at <= now,
    )


def discard_expired(now: datetime) -> int:
    """Drop the bodies of unsent mails whose link has expired; flushes. Mail that gave
    up after ``MAX_ATTEMPTS`` too: its link must not wait in the table either."""
    result = db.session.execute(
        update(OutgoingMail).where(*_expired(now)).values(body="", discarded_at=now)
    )
    db.session.flush()
    return result.rowcount


def outbox_pending() -> bool:
    """Whether the delivery job has anything to do (the scheduler's ``has_work``): mail
    to send, or an expired one to discard."""
    return any(
        db.session.scalar(select(OutgoingMail.id).where(*condition).limit(1)) is not None
        for condition in (_unsent(), _expired(edge_now()))
    )


def recent_mail(limit: int = 50) -> list[OutgoingMail]:
    return list(
        db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.id.desc()).limit(limit))
    )


def _failure(exc: Exception) -> str:
    """What went wrong, without the server's text (it can quote addresses)."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def _message(mail_from: str, to: str, subject: str, body: str, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def deliver_outbox(now: datetime) -> JobSummary:
    """Send what is waiting (oldest first, a batch per run); a job, so it commits.

    The rows are read and the transaction ended before talking to the mail server,
    so no database lock is held over the network; each result is committed as soon
    as it is known, so a crash resends at most one message. A mail that fails is
    kept with ``attempts`` and ``last_error`` for the next run. First, with or
    without a mail server, unsent mail whose link has expired is discarded.
    """
    config = current_app.config
    discarded = discard_expired(now)
    db.session.commit()
    expired = (
        summary(N_("%(n)d expired unsent (body dropped)"), n=discarded) if discarded else NOTHING
    )
    host = config.get("SMTP_HOST")
    if not host:
        waiting = db.session.scalar(
            select(func.count()).select_from(OutgoingMail).where(*_unsent())
        )
        db.session.rollback()
        not_set = summary(
            N_("%(setting)s is not set: %(n)d message(s) left in the outbox"),
            setting="SMTP_HOST",
            n=waiting,
        )
        return joined(not_set, expired)
    port = int(config.get("SMTP_PORT") or DEFAULT_SMTP_PORT)
    mail_from = config.get("MAIL_FROM") or DEFAULT_MAIL_FROM
    batch = db.session.execute(
        select(OutgoingMail.id, OutgoingMail.to_address, OutgoingMail.subject, OutgoingMail.body)
        .where(*_unsent())
        .order_by(OutgoingMail.id)
        .limit(BATCH_SIZE)
    ).all()
    db.session.commit()
    batch, unreadable = _readable(batch, now)
    if not batch:
        return joined(summary(N_("nothing to send")), expired, unreadable)
    sent = failed = 0
    try:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            for mail_id, to, subject, body in batch:
                try:
                    smtp.send_message(_message(mail_from, to, subject, body, now))
                except smtplib.SMTPServerDisconnected:
                    raise
                except smtplib.SMTPException as exc:  # this message refused: the rest go on
                    _record_failure([mail_id], exc)
                    failed += 1
                else:
                    # Sent: the body (it holds one-time links) is not kept.
                    _record(mail_id, sent_at=now, body="")
                    sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        # No connection, or it broke: every message not yet handled tried and failed.
        rest = [mail_id for mail_id, *_ in batch[sent + failed :]]
        _record_failure(rest, exc)
        failed += len(rest)
    done = summary(N_("%(sent)d sent, %(failed)d failed"), sent=sent, failed=failed)
    return joined(done, expired, unreadable)


def _readable(batch, now: datetime) -> tuple[list[tuple], JobSummary]:
    """The batch with bodies in clear; a body that does not decrypt (SECRET_KEY changed)
    is discarded, since nobody can read it any more."""
    readable, lost = [], []
    for mail_id, to, subject, stored in batch:
        body = open_body(stored)
        if body is None:
            lost.append(mail_id)
        else:
            readable.append((mail_id, to, subject, body))
    if not lost:
        return readable, NOTHING
    log.warning("%d queued mail(s) could not be decrypted (SECRET_KEY changed?)", len(lost))
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id.in_(lost))
        .values(body="", discarded_at=now, last_error="undecryptable")
    )
    db.session.commit()
    return readable, summary(N_("%(n)d undecryptable (discarded)"), n=len(lost))


def _record(mail_id: int, **values) -> None:
    db.session.execute(update(OutgoingMail).where(OutgoingMail.id == mail_id).values(**values))
    db.session.commit()


def _record_failure(mail_ids: list[int], exc: Exception) -> None:
    if not mail_ids:
        return
    log.warning("%d mail(s) not sent: %s", len(mail_ids), _failure(exc))
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id.in_(mail_ids))
        .values(attempts=OutgoingMail.attempts + 1, last_error=_failure(exc))
    )
    db.session.commit()


# --- Messages ---------------------------------------------------------------------------


def _in_both_languages(render) -> tuple[str, str]:
    """(subject, body) with Japanese first, then English, through gettext in each."""
    with force_locale("ja"):
        subject_ja, body_ja = render()
    with force_locale("en"):
        subject_en, body_en = render()
    subject = subject_ja if subject_ja == subject_en else f"{subject_ja} / {subject_en}"
    if body_ja == body_en:  # not translated yet: once is enough
        return subject, body_en
    return subject, f"{body_ja}\n\n----------------------------------------\n\n{body_en}"


def invitation_mail(
    company_name: str, link: str, expires_at: datetime, kind: str
) -> tuple[str, str]:
    """Subject and body of an invitation (``kind`` "invite") or a domain join link."""

    def render() -> tuple[str, str]:
        values = {"company": company_name, "until": format_datetime_local(expires_at)}
        if kind == "domain":
            subject = gettext("Join %(company)s on Engawa", **values)
            intro = gettext(
                "Someone asked to join %(company)s on Engawa with this e-mail address."
                " If it was you, open this link to set your name and password:",
                **values,
            )
            ignore = gettext("If it was not you, ignore this e-mail; nothing happens.")
        else:
            subject = gettext("Invitation to %(company)s on Engawa", **values)
            intro = gettext(
                "%(company)s invites you to Engawa, the booking system for the company's"
                " workation stays. Open this link to set your name and password:",
                **values,
            )
            ignore = gettext("If you did not expect this invitation, ignore this e-mail.")
        until = gettext("The link works once, until %(until)s (Japan time).", **values)
        return subject, f"{intro}\n\n{link}\n\n{until}\n{ignore}\n"

    return _in_both_languages(render)


def account_exists_mail(company_name: str) -> tuple[str, str]:
    """Subject and body telling the owner of an existing account that a company tried to
    invite their address (the admin who invited is told nothing different)."""

    def render() -> tuple[str, str]:
        values = {"company": company_name}
        subject = gettext("Invitation to %(company)s on Engawa", **values)
        body = gettext(
            "%(company)s tried to invite this e-mail address to Engawa, but it already"
            " has an Engawa account, so no new account can be made with it. You can sign"
            " in with your account as before. If you should move to %(company)s, ask"
            " their company admin to invite another address of yours.",
            **values,
        )
        ignore = gettext("If you did not expect this invitation, ignore this e-mail.")
        return subject, f"{body}\n\n{ignore}\n"

    return _in_both_languages(render)
