"""A small outbox: mail is queued with the request's work and sent by a job.

Queuing in the same transaction means a mail exists exactly when the thing it
announces does. ``deliver_outbox`` sends over SMTP when ``SMTP_HOST`` is set;
failures stay queued for the next run. Addresses and bodies are personal data:
they are never logged, and a failure is recorded by its kind only.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import String, Text, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from core.extensions import db
from core.i18n import format_datetime_local

log = logging.getLogger(__name__)

DEFAULT_SMTP_PORT = 25
DEFAULT_MAIL_FROM = "no-reply@engawa.example"
SMTP_TIMEOUT_SECONDS = 20
BATCH_SIZE = 100
# After this many failed runs a mail is no longer tried; it stays in the outbox (attempts,
# last_error) for a person to look at. With a run every 5 minutes: about 100 minutes.
MAX_ATTEMPTS = 20


class OutgoingMail(db.Model):
    """One message waiting to be sent (or sent: ``sent_at``)."""

    __tablename__ = "outgoing_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


def queue_mail(to: str, subject: str, body: str, now: datetime) -> OutgoingMail:
    mail = OutgoingMail(to_address=to, subject=subject[:200], body=body, created_at=now)
    db.session.add(mail)
    db.session.flush()
    return mail


def _unsent():
    return (OutgoingMail.sent_at.is_(None), OutgoingMail.attempts < MAX_ATTEMPTS)


def outbox_pending() -> bool:
    """Whether the delivery job has anything to do (the scheduler's ``has_work``)."""
    return db.session.scalar(select(OutgoingMail.id).where(*_unsent()).limit(1)) is not None


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


def deliver_outbox(now: datetime) -> str:
    """Send what is waiting (oldest first, a batch per run); a job, so it commits.

    The rows are read and the transaction ended before talking to the mail server,
    so no database lock is held over the network; each result is committed as soon
    as it is known, so a crash resends at most one message. A mail that fails is
    kept with ``attempts`` and ``last_error`` for the next run.
    """
    config = current_app.config
    host = config.get("SMTP_HOST")
    if not host:
        waiting = db.session.scalar(
            select(func.count()).select_from(OutgoingMail).where(*_unsent())
        )
        db.session.rollback()
        return f"SMTP_HOST is not set: {waiting} message(s) left in the outbox"
    port = int(config.get("SMTP_PORT") or DEFAULT_SMTP_PORT)
    mail_from = config.get("MAIL_FROM") or DEFAULT_MAIL_FROM
    batch = db.session.execute(
        select(OutgoingMail.id, OutgoingMail.to_address, OutgoingMail.subject, OutgoingMail.body)
        .where(*_unsent())
        .order_by(OutgoingMail.id)
        .limit(BATCH_SIZE)
    ).all()
    db.session.commit()
    if not batch:
        return "nothing to send"
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
    return f"{sent} sent, {failed} failed"


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
