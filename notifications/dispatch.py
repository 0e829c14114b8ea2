"""Events → mail, notices and webhook deliveries, once each.

``dispatch_events`` claims the undispatched events oldest first, a batch at a time
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so a second dispatcher takes the next rows;
SQLite: the transaction is ``BEGIN IMMEDIATE``, so a second dispatcher waits for the
first to commit and then finds the rows dispatched). For each event, each kind of
``notifications.catalog`` it makes goes to the kind's audience (``recipients``): a
notice under the bell where the kind has one, and a mail in the person's language
(``mail_render``) unless they switched an optional kind off (``preferences``). Then
the organisations' webhook endpoints get their deliveries (``webhooks``). The event
is marked dispatched in the same transaction as everything it made, and the batch
commits: nothing is made twice, whichever process gets there first.

``booking.refused`` makes no message of its own: an employee refused more than
``REFUSALS_PER_DAY`` times in one Japan day makes one ``refusals.many`` event (keyed
by employee and day), which the next batch dispatches to their company's admins.

An event whose news another message tells (``Facts.quiet``: one of a series of workspace
bookings, told by the first; a desk booked with a stay, told by its confirmation) makes
no mail or notice, only its webhook deliveries.

An event whose subject is gone (its booking, feed or invoice no longer exists), or
whose news no longer holds (a reminder of a stay cancelled since), is marked
dispatched with nothing sent.

An event that fails (a template error, an unexpected row) is rolled back alone (a
savepoint) and left undispatched: the rest of the batch goes on, the run's summary
counts it, and the log names its id, type and the error's class (never a person's
data). Later runs try it again (so a fix deployed within the day sends what was
held up) until it is ``GIVE_UP_AFTER`` old; then it is marked dispatched with nothing
sent and logged as an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from accounts import events as ev
from accounts.events import Event, emit
from accounts.mail import queue_mail
from core.db import TOKYO, tokyo_today
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, joined, summary
from notifications import notices, preferences, webhooks
from notifications.catalog import kinds_for_event
from notifications.mail_context import load_facts
from notifications.mail_render import RenderedMail, mail_locale, page_path, render_mail
from notifications.recipients import recipients

log = logging.getLogger(__name__)

BATCH_SIZE = 50
# A run handles at most this many batches; what is left waits for the next run.
MAX_BATCHES = 40
# An event that keeps failing is tried on each run for this long, then given up.
GIVE_UP_AFTER = timedelta(days=1)
# More refusals than this in one Japan day tell the employee's company admins.
REFUSALS_PER_DAY = 3


@dataclass
class _Made:
    """What dispatching made: events handled, mails, notices, webhook deliveries."""

    events: int = 0
    mails: int = 0
    notices: int = 0
    deliveries: int = 0
    failed: int = 0
    given_up: int = 0

    def result(self) -> JobSummary:
        if not (self.events or self.failed or self.given_up):
            return NOTHING
        made = summary(
            N_(
                "%(events)d events dispatched: %(mails)d mails, %(notices)d notices,"
                " %(deliveries)d webhook deliveries queued"
            ),
            events=self.events,
            mails=self.mails,
            notices=self.notices,
            deliveries=self.deliveries,
        )
        failed = (
            summary(N_("%(n)d failed (tried again next run)"), n=self.failed)
            if self.failed
            else NOTHING
        )
        given_up = (
            summary(N_("%(n)d given up after failing for a day"), n=self.given_up)
            if self.given_up
            else NOTHING
        )
        return joined(made, failed, given_up)


def dispatch_events(now: datetime) -> JobSummary:
    """Turn every undispatched event into its messages; a job step, so it commits
    (once per batch). Each event is tried once per run."""
    made = _Made()
    after = 0
    for _batch in range(MAX_BATCHES):
        batch = _claim(after)
        if not batch:
            break
        for event in batch:
            after = event.id
            _dispatch_one(event, now, made)
        db.session.commit()
    db.session.commit()  # ends the last (empty) claim's transaction
    return made.result()


def events_pending() -> bool:
    """Whether any event waits to be dispatched (the delivery jobs' ``has_work``)."""
    pending = db.session.scalar(select(Event.id).where(Event.dispatched_at.is_(None)).limit(1))
    return pending is not None


def _claim(after: int) -> list[Event]:
    """The next undispatched events after id ``after``, oldest first, locked for this
    run (rows another dispatcher holds are skipped)."""
    return list(
        db.session.scalars(
            select(Event)
            .where(Event.dispatched_at.is_(None), Event.id > after)
            .order_by(Event.id)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def _dispatch_one(event: Event, now: datetime, made: _Made) -> None:
    this = _Made()  # counted only once the event's savepoint holds
    try:
        with db.session.begin_nested():
            _tell(event, now, this)
    except Exception as exc:  # any error: one event must not hold up the queue
        problem = type(exc).__name__
        if now - event.created_at >= GIVE_UP_AFTER:
            event.dispatched_at = now
            made.given_up += 1
            log.error("event %d (%s) given up, nothing sent: %s", event.id, event.type, problem)
        else:
            made.failed += 1
            log.warning("event %d (%s) not dispatched: %s", event.id, event.type, problem)
        return
    event.dispatched_at = now
    made.events += 1
    made.mails += this.mails
    made.notices += this.notices
    made.deliveries += this.deliveries


def _tell(event: Event, now: datetime, made: _Made) -> None:
    """Everything ``event`` makes, in the caller's savepoint."""
    if event.type == ev.BOOKING_REFUSED:
        _count_refusals(event, now)
    kinds = kinds_for_event(event.type)
    if kinds:
        facts = load_facts(event)
        if facts is None:
            return  # its subject is gone, or its news no longer holds: nothing to send
        told_elsewhere = facts.quiet  # only its webhooks go (see the module)
        for kind in [] if told_elsewhere else kinds:
            people = recipients(kind, event)
            if not people:
                continue
            link = page_path(facts, kind)
            rendered: dict[str, RenderedMail] = {}  # one rendering per language
            for user in people:
                if kind.notice and notices.add_notice(
                    user.id, kind.name, event, facts.params_for(kind.audience), link, now
                ):
                    made.notices += 1
                if not preferences.wants_mail(user.id, kind.name):
                    continue
                locale = mail_locale(user)
                if locale not in rendered:
                    rendered[locale] = render_mail(kind, facts, user, now)
                mail = rendered[locale]
                queue_mail(
                    user.email,
                    mail.subject,
                    mail.text,
                    now,
                    user_id=user.id,
                    kind=kind.name,
                    html=mail.html,
                    attachment=mail.attachment,
                )
                made.mails += 1
    made.deliveries += webhooks.queue_deliveries(event, now)


def _count_refusals(event: Event, now: datetime) -> None:
    """One ``refusals.many`` per employee and Japan day, once they pass the limit."""
    if event.user_id is None:
        return
    day = tokyo_today(event.created_at)
    start = datetime.combine(day, time(0), tzinfo=TOKYO)
    count = db.session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.user_id == event.user_id,
            Event.type == ev.BOOKING_REFUSED,
            Event.created_at >= start,
            Event.created_at < start + timedelta(days=1),
            Event.id <= event.id,
        )
    )
    if count > REFUSALS_PER_DAY:
        emit(
            ev.REFUSALS_MANY,
            now,
            company_id=event.company_id,
            user_id=event.user_id,
            data={"count": count, "day": day.isoformat()},
            dedupe_key=f"refusals:{event.user_id}:{day.isoformat()}",
        )
