"""A small outbox: mail is queued with the request's work and sent by a job.

Queuing in the same transaction means a mail exists exactly when the thing it
announces does. ``deliver_outbox`` sends over SMTP when ``SMTP_HOST`` is set (with
STARTTLS and a login when configured: core.config ``_mail_settings``); without it
mail stays in the outbox, readable by the development mailbox. Addresses and bodies
are personal data: they are never logged, and a failure is recorded by its kind only.

Bodies carry one-time links (invitations, join links), so they are never stored
in clear: each is encrypted (Fernet: AES-128-CBC with an HMAC-SHA256 tag) with a
key derived from ``SECRET_KEY``, so a copy of the database alone opens no link; the
HTML part and the attachment likewise. A sent mail keeps no body, and a mail whose
link has expired (``expires_at``) before it could be sent has its body dropped
(``discarded_at``) by the delivery job, with or without a mail server. A body that
no longer decrypts (the secret key changed) is dropped the same way.

Delivery, at most once per message:

- A run *claims* the rows it will send (``claim_token``, ``claimed_until``: ten
  minutes) in one committed UPDATE; on PostgreSQL its row choice is ``SELECT … FOR
  UPDATE SKIP LOCKED``, on SQLite the transaction already holds the write lock
  (BEGIN IMMEDIATE, core/db.py). No other run touches a claimed row before
  ``claimed_until``, so two scheduler processes never send the same mail.
- Each result is committed as soon as it is known: sent (``sent_at``, bodies
  emptied, claim cleared) or failed. A run killed mid-batch leaves the rest claimed;
  a later run sends them once the claim has passed, never the ones already sent.
- A failed attempt waits before the next (``RETRY_DELAYS``: 5 min, 25 min, 1 h 30,
  4 h); the fifth failure gives up (``failed_at``, bodies dropped): about six hours.
  /admin/jobs lists the mail given up (``failed_mail``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import ForeignKey, String, Text, case, func, null, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from core.config import DEFAULT_MAIL_FROM
from core.db import UTCDateTime, edge_now, utcnow
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, joined, summary
from core.keys import derive_key

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 20
BATCH_SIZE = 100
# The sender's display name: From: Engawa <MAIL_FROM>.
FROM_NAME = "Engawa"
# How long a failed mail waits before its next attempt, after failure 1, 2, 3 and 4;
# the fifth failure gives up (``failed_at``): five attempts over about six hours.
RETRY_DELAYS = (
    timedelta(minutes=5),
    timedelta(minutes=25),
    timedelta(hours=1, minutes=30),
    timedelta(hours=4),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A run's claim on the rows it sends: no other run takes them before it passes.
CLAIM_DURATION = timedelta(minutes=10)
# A run stops sending after this long (wall clock) and lets go of the rest, so it
# never sends a row whose claim may have passed (another run may have taken it).
SEND_WINDOW_SECONDS = CLAIM_DURATION.total_seconds() / 2
# A run claims further batches while it has run less than this (the job runs every
# minute); each batch still stops at ``SEND_WINDOW_SECONDS``.
RUN_SECONDS = 50
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


def html_of(mail: OutgoingMail) -> str | None:
    """The HTML part in clear; None for a plain-text mail or one that cannot be read;
    "" once sent or discarded."""
    return None if mail.html_body is None else open_body(mail.html_body)


def attachment_of(mail: OutgoingMail) -> tuple[str, str, str] | None:
    """(file name, MIME type, text) of the attachment; None without one or when it
    cannot be read; the text is "" once sent or discarded."""
    if mail.attachment_name is None or mail.attachment_body is None:
        return None
    content = open_body(mail.attachment_body)
    if content is None:
        return None
    return mail.attachment_name, mail.attachment_type or "application/octet-stream", content


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
    type, text), such as a stay's ``.ics``; both stored encrypted like the body.
    The subject is made one line (whitespace runs, line breaks included, become one
    space): a header with a line break would fail at every delivery attempt."""
    mail = OutgoingMail(
        to_address=to,
        subject=" ".join(subject.split())[:200],
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


# --- Which mail --------------------------------------------------------------------------


def _waiting():
    """Neither sent, discarded nor given up."""
    return (
        OutgoingMail.sent_at.is_(None),
        OutgoingMail.discarded_at.is_(None),
        OutgoingMail.failed_at.is_(None),
    )


def _unclaimed(now: datetime):
    return or_(OutgoingMail.claimed_until.is_(None), OutgoingMail.claimed_until <= now)


def _due(now: datetime):
    """Waiting, its next attempt due, claimed by no run, its link still good."""
    return (
        *_waiting(),
        or_(OutgoingMail.next_attempt_at.is_(None), OutgoingMail.next_attempt_at <= now),
        _unclaimed(now),
        or_(OutgoingMail.expires_at.is_(None), OutgoingMail.expires_at > now),
    )


def _expired(now: datetime):
    """Waiting with a link that stopped working (a run sending it now is left alone)."""
    return (*_waiting(), OutgoingMail.expires_at <= now, _unclaimed(now))


def _emptied() -> dict:
    """Column values that drop what a mail carries (its one-time links), keeping whether
    it had an HTML part or an attachment ("" rather than None)."""
    return {
        "body": "",
        "html_body": case((OutgoingMail.html_body.is_(None), null()), else_=""),
        "attachment_body": case((OutgoingMail.attachment_body.is_(None), null()), else_=""),
        "claim_token": None,
        "claimed_until": None,
    }


def discard_expired(now: datetime) -> int:
    """Drop the bodies of unsent mails whose link has expired; flushes. Mail given up
    (``failed_at``) has dropped its body already."""
    result = db.session.execute(
        update(OutgoingMail)
        .where(*_expired(now))
        .values(discarded_at=now, **_emptied())
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return result.rowcount


def outbox_pending() -> bool:
    """Whether the delivery job has anything to do (the scheduler's ``has_work``): mail
    due to be sent (only with a mail server: without ``SMTP_HOST`` the mail waits in
    the outbox, and a run each minute would only say so), or an expired one to discard."""
    now = edge_now()
    conditions = [_expired(now)]
    if current_app.config.get("SMTP_HOST"):
        conditions.append(_due(now))
    return any(
        db.session.scalar(select(OutgoingMail.id).where(*condition).limit(1)) is not None
        for condition in conditions
    )


# --- Delivery ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outgoing:
    """A claimed mail, read in clear for sending."""

    id: int
    to: str
    subject: str
    created_at: datetime
    attempts: int
    body: str
    html: str | None
    attachment: tuple[str, str, str] | None


@dataclass(frozen=True)
class _Server:
    host: str
    port: int
    user: str
    password: str
    starttls: bool
    ca_file: str | None
    mail_from: str

    @classmethod
    def from_config(cls, config) -> _Server:
        starttls = bool(config.get("SMTP_STARTTLS"))
        return cls(
            host=config["SMTP_HOST"],
            port=int(config.get("SMTP_PORT") or (587 if starttls else 25)),
            user=config.get("SMTP_USER") or "",
            password=config.get("SMTP_PASSWORD") or "",
            starttls=starttls,
            ca_file=config.get("SMTP_CA_FILE") or None,
            mail_from=config.get("MAIL_FROM") or DEFAULT_MAIL_FROM,
        )


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    released: int = 0


def deliver_outbox(now: datetime) -> JobSummary:
    """Send what is due (oldest first, batch after batch); a job, so it commits.

    First, with or without a mail server, unsent mail whose link has expired is
    discarded. The batch is claimed and the transaction ended before talking to the
    mail server, so no database lock is held over the network; each result is
    committed as soon as it is known. A mail that fails waits ``RETRY_DELAYS`` for
    its next attempt, and is given up after ``MAX_ATTEMPTS``.
    """
    config = current_app.config
    discarded = discard_expired(now)
    db.session.commit()
    expired = (
        summary(N_("%(n)d expired unsent (body dropped)"), n=discarded) if discarded else NOTHING
    )
    if not config.get("SMTP_HOST"):
        waiting = db.session.scalar(
            select(func.count()).select_from(OutgoingMail).where(*_waiting())
        )
        db.session.rollback()
        not_set = summary(
            N_("%(setting)s is not set: %(n)d message(s) left in the outbox"),
            setting="SMTP_HOST",
            n=waiting,
        )
        return joined(not_set, expired)
    tally, unreadable = _send_batches(_Server.from_config(config), now)
    if not (tally.sent or tally.failed or tally.released):
        return joined(summary(N_("nothing to send")), expired, unreadable)
    done = summary(N_("%(sent)d sent, %(failed)d failed"), sent=tally.sent, failed=tally.failed)
    given_up = (
        summary(
            N_("%(n)d given up after %(attempts)d attempts"),
            n=tally.given_up,
            attempts=MAX_ATTEMPTS,
        )
        if tally.given_up
        else NOTHING
    )
    released = (
        summary(N_("%(n)d left for the next run"), n=tally.released) if tally.released else NOTHING
    )
    return joined(done, given_up, released, expired, unreadable)


def _send_batches(server: _Server, now: datetime) -> tuple[_Tally, JobSummary]:
    """Claim and send batch after batch until none is due, for up to ``RUN_SECONDS``
    (the job runs every minute, so a surge leaves within minutes, not one batch a
    minute). A batch that sent nothing (the server is unreachable) ends the run."""
    total, lost, started = _Tally(), [], time.monotonic()
    while True:
        batch, unreadable = _readable(_claim(now), now)
        if unreadable:
            lost.append(unreadable)
        if not batch:
            break
        tally = _send(server, batch, now)
        total.sent += tally.sent
        total.failed += tally.failed
        total.given_up += tally.given_up
        total.released += tally.released
        if tally.released or not tally.sent or time.monotonic() - started > RUN_SECONDS:
            break
    return total, joined(*lost) if lost else NOTHING


def _claim(now: datetime) -> list[tuple]:
    """Claim up to ``BATCH_SIZE`` due mails for this run and read them back; commits.

    The UPDATE re-checks that each row is still due, and on PostgreSQL chooses its
    rows with ``FOR UPDATE SKIP LOCKED``, so a concurrent run claims other rows
    instead of waiting for these; on SQLite the transaction holds the write lock.
    """
    token = secrets.token_hex(16)
    # The ids first, locked, then the UPDATE by that list: inside one UPDATE, PostgreSQL
    # may run a LIMIT subquery more than once and claim more than a batch.
    candidates = db.session.scalars(
        select(OutgoingMail.id)
        .where(*_due(now))
        .order_by(OutgoingMail.id)
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    ).all()
    if candidates:
        db.session.execute(
            update(OutgoingMail)
            .where(OutgoingMail.id.in_(candidates), *_due(now))
            .values(claim_token=token, claimed_until=now + CLAIM_DURATION)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    rows = db.session.execute(
        select(
            OutgoingMail.id,
            OutgoingMail.to_address,
            OutgoingMail.subject,
            OutgoingMail.created_at,
            OutgoingMail.attempts,
            OutgoingMail.body,
            OutgoingMail.html_body,
            OutgoingMail.attachment_name,
            OutgoingMail.attachment_type,
            OutgoingMail.attachment_body,
        )
        .where(OutgoingMail.claim_token == token)
        .order_by(OutgoingMail.id)
    ).all()
    db.session.commit()  # end the transaction (on SQLite it holds the write lock)
    return rows


def _readable(rows: list[tuple], now: datetime) -> tuple[list[_Outgoing], JobSummary]:
    """The claimed mail in clear; a mail that does not decrypt (SECRET_KEY changed)
    is discarded, since nobody can read it any more."""
    readable, lost = [], []
    for id_, to, subject, created, attempts, body, html, name, type_, attachment in rows:
        text = open_body(body)
        html_text = None if html is None else open_body(html)
        content = None if attachment is None else open_body(attachment)
        if (
            text is None
            or (html is not None and html_text is None)
            or (attachment is not None and content is None)
        ):
            lost.append(id_)
            continue
        attached = (name or "attachment", type_ or "", content) if content is not None else None
        readable.append(_Outgoing(id_, to, subject, created, attempts, text, html_text, attached))
    if not lost:
        return readable, NOTHING
    log.warning("%d queued mail(s) could not be decrypted (SECRET_KEY changed?)", len(lost))
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id.in_(lost))
        .values(discarded_at=now, last_error="undecryptable", **_emptied())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return readable, summary(N_("%(n)d undecryptable (discarded)"), n=len(lost))


def _send(server: _Server, batch: list[_Outgoing], now: datetime) -> _Tally:
    """Send the claimed batch over one connection, recording each result."""
    tally = _Tally()
    pending = list(batch)
    started = time.monotonic()
    try:
        with smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            _open(smtp, server)
            while pending:
                if time.monotonic() - started > SEND_WINDOW_SECONDS:
                    tally.released = _release(pending)
                    pending = []
                    break
                item = pending[0]
                try:
                    smtp.send_message(_message(item, server.mail_from, now))
                except smtplib.SMTPServerDisconnected:
                    raise  # the connection is gone: this one and the rest failed
                except (smtplib.SMTPException, ValueError) as exc:
                    # This message refused (or not writable as mail): the rest go on.
                    tally.given_up += _record_failure([item], exc, now)
                    tally.failed += 1
                else:
                    _record_sent(item.id, now)
                    tally.sent += 1
                pending.pop(0)
    except (OSError, smtplib.SMTPException) as exc:
        # No connection, TLS or login refused, or the connection broke: every message
        # not yet handled was tried and failed.
        tally.given_up += _record_failure(pending, exc, now)
        tally.failed += len(pending)
    return tally


def _open(smtp: smtplib.SMTP, server: _Server) -> None:
    """STARTTLS (the server's certificate checked) and the login, as configured."""
    if server.starttls:
        smtp.starttls(context=ssl.create_default_context(cafile=server.ca_file))
    if server.user:
        smtp.login(server.user, server.password)


def _message(item: _Outgoing, mail_from: str, now: datetime) -> EmailMessage:
    """The message: the text, an HTML alternative, and the attachment (a calendar
    with ``method=PUBLISH``, as calendar programs expect of an event to add)."""
    message = EmailMessage()
    message["From"] = formataddr((FROM_NAME, mail_from))
    message["To"] = item.to
    message["Subject"] = item.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = _message_id(item, mail_from)
    # RFC 3834: sent by a program, so no out-of-office replies.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(item.body)
    if item.html is not None:
        message.add_alternative(item.html, subtype="html")
    if item.attachment is not None:
        name, mime_type, content = item.attachment
        maintype, _, subtype = mime_type.partition("/")
        if maintype == "text" and subtype:
            params = {"method": "PUBLISH"} if subtype == "calendar" else {}
            message.add_attachment(content, subtype=subtype, filename=name, params=params)
        else:
            message.add_attachment(
                content.encode(),
                maintype=maintype if subtype else "application",
                subtype=subtype or "octet-stream",
                filename=name,
            )
    return message


def _message_id(item: _Outgoing, mail_from: str) -> str:
    """The same Message-ID at every attempt, so a mail sent twice (a crash between
    sending and recording) is one message to the receiving system."""
    key = derive_key(current_app.config["SECRET_KEY"], "outbox message id v1")
    seed = f"{item.id}:{item.created_at.isoformat()}".encode()
    digest = hmac.new(key, seed, hashlib.sha256).hexdigest()[:20]
    return f"<outbox.{item.id}.{digest}@{mail_from.rpartition('@')[2]}>"


def _failure(exc: Exception) -> str:
    """What went wrong, without the server's text (it can quote addresses)."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def _record_sent(mail_id: int, now: datetime) -> None:
    """Sent: the bodies (they hold one-time links) are not kept; commits."""
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id == mail_id)
        .values(sent_at=now, next_attempt_at=None, **_emptied())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _record_failure(items: list[_Outgoing], exc: Exception, now: datetime) -> int:
    """One more failed attempt for each; its next attempt waits, or after the last one
    the mail is given up and its bodies dropped. Commits; how many were given up."""
    if not items:
        return 0
    error = _failure(exc)
    log.warning("%d mail(s) not sent: %s", len(items), error)
    given_up = 0
    for item in items:
        attempts = item.attempts + 1
        values: dict = {"attempts": attempts, "last_error": error}
        if attempts >= MAX_ATTEMPTS:
            values.update(failed_at=now, next_attempt_at=None, **_emptied())
            given_up += 1
        else:
            retry = RETRY_DELAYS[attempts - 1]
            values.update(next_attempt_at=now + retry, claim_token=None, claimed_until=None)
        db.session.execute(
            update(OutgoingMail)
            .where(OutgoingMail.id == item.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return given_up


def _release(items: list[_Outgoing]) -> int:
    """Let go of claimed mail this run will not send (the next run takes it)."""
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id.in_([item.id for item in items]))
        .values(claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return len(items)
