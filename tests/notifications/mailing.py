"""Helpers of the dispatch and mail tests: run the delivery job, read a mail as its
recipient does (text, HTML, attachment, links), and check what every mail must be."""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

from sqlalchemy import select

from accounts.events import Event
from accounts.mail import OutgoingMail, open_body
from booking import services
from booking.models import Booking
from core.extensions import db
from notifications import jobs
from tests.conftest import NOW, days

LINK = re.compile(r"https?://[^\s<>\"']+")
# ¥ then digits grouped by commas: ¥11,000, ¥0, ¥1,234,567.
YEN = re.compile(r"¥(\d{1,3}(?:,\d{3})*)(?![\d,])")
LEFTOVERS = ("%(", "{{", "}}", "{%", "%}", "None", "Undefined")


def run_outbox(now: datetime = NOW) -> str:
    """The ``mail_outbox`` job: dispatch the events, then send what is due."""
    return jobs.mail_outbox(now)


def book(employee, unit, check_in: int = 10, check_out: int = 12, guests: int = 1) -> Booking:
    """A stay booked through the service (it emits ``booking.created``), committed."""
    booking = services.book_stay(
        employee, services.StayRequest(unit.id, days(check_in), days(check_out), guests), NOW
    )
    db.session.commit()
    return booking


def text_of(mail: EmailMessage) -> str:
    """The plain-text part, its lines ended by newlines (as sent: CRLF or not)."""
    return mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None and part.get_content_type() == "text/html", "no HTML part"
    return part.get_content()


def attachments(mail: EmailMessage) -> list[EmailMessage]:
    return list(mail.iter_attachments())


def paths(mail: EmailMessage) -> list[str]:
    """Every link of the text part, as a path (and query) the test client can open."""
    out = []
    for url in LINK.findall(text_of(mail)):
        parts = urlsplit(url)
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def assert_well_formed(mail: EmailMessage) -> None:
    """Both parts present, nothing left of the templates, every amount in yen style."""
    subject, text, html = str(mail["Subject"]), text_of(mail), html_of(mail)
    for piece in (subject, text, html):
        for leftover in LEFTOVERS:
            assert leftover not in piece, (leftover, piece)
        for found in re.finditer("¥", piece):
            assert YEN.match(piece, found.start()), piece[found.start() : found.start() + 20]
    assert "max-width:600px" in html
    assert "<style" not in html  # inline styles only


def yen_amounts(text: str) -> list[int]:
    return [int(amount.replace(",", "")) for amount in YEN.findall(text)]


def queued(kind: str | None = None) -> list[OutgoingMail]:
    """The outbox's rows (of one kind), oldest first."""
    query = select(OutgoingMail).order_by(OutgoingMail.id)
    if kind is not None:
        query = query.where(OutgoingMail.kind == kind)
    db.session.rollback()  # read what is committed
    return list(db.session.scalars(query))


def queued_text(mail: OutgoingMail) -> str:
    return open_body(mail.body) or ""


def undispatched() -> list[Event]:
    db.session.rollback()
    return list(db.session.scalars(select(Event).where(Event.dispatched_at.is_(None))))
