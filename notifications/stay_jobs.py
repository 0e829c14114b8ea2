"""Jobs that make events of their own: what nobody's action announces, the clock does.

- ``stay_notices`` (hourly): a reminder 3 days before check-in (``stay.reminder``) and a
  thank-you with the rating question after check-out (``stay.thanks``).
- ``operator_digest`` (07:00 Japan time): one ``operator.digest`` per organisation with
  arrivals or departures today, or workspace booked for today.
- ``feed_watch`` (every 15 minutes): ``feed.failing`` for an external calendar that has
  not synced for ``FEED_SILENT_FOR`` (failing or stale), once per incident.

Each event has a ``dedupe_key``, so a job that runs again (or twice at once) makes
nothing twice; the dispatcher turns the events into mail.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.orm import joinedload

from accounts import events as ev
from booking.models import Booking, BookingStatus
from calendars.models import CalendarFeed
from core.db import TOKYO, tokyo_today
from core.extensions import db
from core.job_summary import N_, JobSummary, joined, summary
from facilities.models import Facility, Unit
from notifications.workspace_context import operators_with_workspace

# The reminder goes this many days before check-in.
REMINDER_DAYS = 3
# The thank-you goes from check-out on the check-out day, and the day after for a run missed.
THANKS_DAYS = 1
# A feed without a successful sync for this long is failing (or stale).
FEED_SILENT_FOR = timedelta(hours=6)
# A stay's facility is read for every event (its operator, its check-out time).
_WITH_FACILITY = joinedload(Booking.unit).joinedload(Unit.facility)


def stay_notices(now: datetime) -> JobSummary:
    """Reminders 3 days before check-in and thank-yous after check-out; commits.

    A reminder goes to a confirmed stay checking in 3 days from today (Japan date)
    that was booked before today: a stay booked later than that has just had its
    confirmation, which says the same. A thank-you goes to a confirmed stay once its
    check-out time (the facility's, Japan time) has passed on its check-out day, or
    the day after.
    """
    today = tokyo_today(now)
    reminded = sum(_remind(booking, now) for booking in _reminder_due(today))
    thanked = sum(_thank(booking, now) for booking in _thanks_due(today, now))
    db.session.commit()
    return joined(
        summary(N_("%(n)d reminders"), n=reminded), summary(N_("%(n)d thank-yous"), n=thanked)
    )


def _reminder_due(today) -> list[Booking]:
    start_of_today = datetime.combine(today, time(0), tzinfo=TOKYO)
    return list(
        db.session.scalars(
            select(Booking)
            .where(
                Booking.is_live,
                Booking.check_in == today + timedelta(days=REMINDER_DAYS),
                Booking.created_at < start_of_today,
            )
            .options(_WITH_FACILITY)
            .order_by(Booking.id)
        )
    )


def _thanks_due(today, now: datetime) -> list[Booking]:
    stays = db.session.scalars(
        select(Booking)
        .where(
            Booking.is_live,
            Booking.check_out >= today - timedelta(days=THANKS_DAYS),
            Booking.check_out <= today,
        )
        .options(_WITH_FACILITY)
        .order_by(Booking.id)
    )
    return [
        booking
        for booking in stays
        if datetime.combine(booking.check_out, booking.unit.facility.check_out_time, TOKYO) <= now
    ]


def _stay_event(type_: str, booking: Booking, now: datetime, key: str) -> bool:
    event = ev.emit(
        type_,
        now,
        company_id=booking.company_id,
        operator_id=booking.unit.facility.operator_id,
        user_id=booking.user_id,
        subject=("booking", booking.id),
        dedupe_key=key,
    )
    return event is not None


def _remind(booking: Booking, now: datetime) -> bool:
    # Keyed by the check-in too: a stay moved later has its own reminder for the new date.
    key = f"reminder:{booking.id}:{booking.check_in.isoformat()}"
    return _stay_event(ev.STAY_REMINDER, booking, now, key)


def _thank(booking: Booking, now: datetime) -> bool:
    return _stay_event(ev.STAY_THANKS, booking, now, f"thanks:{booking.id}")


def operator_digest(now: datetime) -> JobSummary:
    """One summary event per operator organisation with a stay arriving or leaving
    today (Japan date), or a workspace booking starting today; commits. An organisation
    with none of these hears nothing. Leaving is as the summary tells it
    (``mail_context.day_at_facilities``): the day the nights held end, or the day a
    checked-out guest left (an early leaver not on the date booked); a no-show or a
    cancelled stay neither arrives nor leaves."""
    day = tokyo_today(now)
    day_start = datetime.combine(day, time(0), tzinfo=TOKYO)
    held_until = func.coalesce(Booking.released_on, Booking.check_out)
    checked_out = and_(
        Booking.status == BookingStatus.CHECKED_OUT, Booking.checked_out_at.is_not(None)
    )
    leaves_today = or_(
        and_(
            checked_out,
            Booking.checked_out_at >= day_start,
            Booking.checked_out_at < day_start + timedelta(days=1),
        ),
        and_(not_(checked_out), held_until == day),
    )
    operator_ids = db.session.scalars(
        select(Facility.operator_id)
        .distinct()
        .join(Unit, Unit.facility_id == Facility.id)
        .join(Booking, Booking.unit_id == Unit.id)
        .where(
            Booking.is_live,
            or_(and_(Booking.check_in == day, held_until > day), leaves_today),
        )
        .order_by(Facility.operator_id)
    ).all()
    # Desks, booths and meeting rooms booked for today count too (issue 19).
    operator_ids = sorted(set(operator_ids) | set(operators_with_workspace(day)))
    made = 0
    for operator_id in operator_ids:
        event = ev.emit(
            ev.OPERATOR_DIGEST,
            now,
            operator_id=operator_id,
            data={"day": day.isoformat()},
            dedupe_key=f"digest:{operator_id}:{day.isoformat()}",
        )
        made += event is not None
    db.session.commit()
    return summary(N_("%(n)d daily summaries"), n=made)


def feed_watch(now: datetime) -> JobSummary:
    """``feed.failing`` for each active feed of a room and facility on sale that has
    not synced for ``FEED_SILENT_FOR`` (its last success, or its creation when it never
    succeeded, is older); commits. One event per incident: the key is the instant the
    silence began, so a feed that recovers and fails again is a new incident."""
    silent_since = now - FEED_SILENT_FOR
    rows = db.session.execute(
        select(CalendarFeed, Facility.operator_id)
        .join(Unit, Unit.id == CalendarFeed.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(
            CalendarFeed.active.is_(True),
            Unit.active.is_(True),
            Facility.active.is_(True),
            or_(
                CalendarFeed.last_success_at < silent_since,
                CalendarFeed.last_success_at.is_(None) & (CalendarFeed.created_at < silent_since),
            ),
        )
        .order_by(CalendarFeed.id)
    ).all()
    made = 0
    for feed, operator_id in rows:
        since = feed.last_success_at or feed.created_at
        event = ev.emit(
            ev.FEED_FAILING,
            now,
            operator_id=operator_id,
            subject=("feed", feed.id),
            data={"since": since.isoformat()},
            dedupe_key=f"feed:{feed.id}:{since.isoformat()}",
        )
        made += event is not None
    db.session.commit()
    return summary(N_("%(n)d calendar feeds newly failing"), n=made)
