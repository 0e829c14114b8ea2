"""The development mailbox: in development without a mail server, each person reads
the mail queued for them in the browser (the Engawa team reads everyone's)."""

from __future__ import annotations

from sqlalchemy import func, or_, select, true

from accounts.mail import OutgoingMail
from accounts.models import User
from core.extensions import db
from core.paging import Page

PER_PAGE = 20


def mailbox_on(config) -> bool:
    """Only while ``DEV_MAILBOX`` is on (by default outside production) and no mail server
    is set (``SMTP_HOST``): then no mail leaves the machine and this page is where it
    goes. Never in production, whatever the settings say."""
    if config.get("ENGAWA_ENV") == "production" or config.get("SMTP_HOST"):
        return False
    return bool(config.get("DEV_MAILBOX", config.get("ENGAWA_ENV") == "development"))


def _visible_to(user: User):
    """Everyone's mail for the Engawa team; else the person's own: mail for their
    account, or to their address (mail sent before the account existed)."""
    if user.is_platform_admin:
        return true()
    return or_(
        OutgoingMail.user_id == user.id,
        func.lower(OutgoingMail.to_address) == user.email.lower(),
    )


def mailbox_page(user: User, page: int, per_page: int = PER_PAGE) -> Page:
    """The mail ``user`` may read, newest first, one page of it."""
    where = _visible_to(user)
    total = db.session.scalar(select(func.count()).select_from(OutgoingMail).where(where))
    page = Page.number(page, total, per_page)
    items = db.session.scalars(
        select(OutgoingMail)
        .where(where)
        .order_by(OutgoingMail.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def mail_for(user: User, mail_id: int) -> OutgoingMail | None:
    """One mail if ``user`` may read it; None otherwise (a 404 like a missing one)."""
    return db.session.scalar(
        select(OutgoingMail).where(OutgoingMail.id == mail_id, _visible_to(user))
    )
