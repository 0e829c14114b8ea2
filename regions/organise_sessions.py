"""A programme's sessions, the organiser's side (issue 20; the programme itself is
``regions.organise``):

- one-off (a Tokyo date, start and end time, stored as aware UTC) or a weekly series of
  1–26 weeks, added all or nothing (``add_session``, ``add_weekly_series``);
- a session's seats changed, never below those taken, a rise giving places to the
  waitlist in order (``set_session_capacity``);
- a session cancelled with a reason, every place in it cancelled, any credit paid given
  back in full and each employee told (``cancel_session``, previewed by
  ``cancel_preview``).

The caller has found the programme or session with ``regions.organise.own_programme`` /
``own_session``. Services flush; the caller commits. Changes to seats and money lock the
session row, then look again (a join racing with a capacity change or a cancellation has
one outcome), and then the companies' billing accounts in id order, as joining and
leaving do (``regions.places``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts import events as ev
from accounts.models import User
from billing import ledger
from core.db import TOKYO
from core.extensions import db
from regions import programme_money
from regions.models import (
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)
from regions.organise import MAX_CAPACITY, OPEN_SIGNUPS, SessionRefused
from regions.places import event_data, promote_waitlist

MAX_REASON = 300  # ProgrammeSession.cancel_reason
MAX_WEEKS = 26
# Sessions are planned at most this far ahead (a year of a season's programmes).
HORIZON = timedelta(days=366)


# --- sessions and their seats ------------------------------------------------------------


def session_times(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """A Tokyo date and wall-clock times as aware UTC instants (a date far from today is
    refused before converting, which would overflow at the calendar's ends)."""
    if not 2000 <= day.year <= 2099:
        raise SessionRefused(_l("Sessions can be planned up to a year ahead."), "too_far", "day")
    starts = datetime.combine(day, start, tzinfo=TOKYO).astimezone(UTC)
    ends = datetime.combine(day, end, tzinfo=TOKYO).astimezone(UTC)
    return starts, ends


def _check_times(starts: datetime, ends: datetime, now: datetime) -> None:
    if ends <= starts:
        raise SessionRefused(_l("The session must end after it starts."), "times", "end")
    if starts <= now:
        raise SessionRefused(_l("The session must start in the future."), "past", "day")
    if starts > now + HORIZON:
        raise SessionRefused(_l("Sessions can be planned up to a year ahead."), "too_far", "day")


def _clashes(programme: Programme, times: Sequence[tuple[datetime, datetime]]) -> list[datetime]:
    """The starts among ``times`` that overlap a scheduled session of the programme."""
    existing = db.session.execute(
        select(ProgrammeSession.starts_at, ProgrammeSession.ends_at).where(
            ProgrammeSession.programme_id == programme.id,
            ProgrammeSession.status == SessionStatus.SCHEDULED,
        )
    ).all()
    return [
        starts
        for starts, ends in times
        if any(starts < other_end and other_start < ends for other_start, other_end in existing)
    ]


def add_sessions(
    programme: Programme,
    times: Sequence[tuple[datetime, datetime]],
    now: datetime,
) -> list[ProgrammeSession]:
    """Sessions at ``times``, all or none: any time in the past, too far ahead, ending
    before it starts or overlapping another scheduled session of the programme refuses
    the lot (flushes)."""
    for starts, ends in times:
        _check_times(starts, ends, now)
    clashes = _clashes(programme, times)
    if clashes:
        days = ", ".join(f"{c.astimezone(TOKYO):%Y-%m-%d %H:%M}" for c in clashes)
        raise SessionRefused(
            _l(
                "Another session of this programme already takes this time (%(days)s)."
                " Nothing was added.",
                days=days,
            ),
            "overlap",
            "day",
        )
    sessions = [
        ProgrammeSession(
            programme_id=programme.id,
            starts_at=starts,
            ends_at=ends,
            capacity=programme.capacity,
            seats_taken=0,
            status=SessionStatus.SCHEDULED,
        )
        for starts, ends in times
    ]
    db.session.add_all(sessions)
    programme.updated_at = now
    db.session.flush()
    return sessions


def add_session(
    programme: Programme, day: date, start: time, end: time, now: datetime
) -> ProgrammeSession:
    """A one-off session on a Tokyo date (flushes)."""
    (session,) = add_sessions(programme, [session_times(day, start, end)], now)
    return session


def add_weekly_series(
    programme: Programme, first_day: date, start: time, end: time, weeks: int, now: datetime
) -> list[ProgrammeSession]:
    """The same time on ``first_day``'s weekday for ``weeks`` weeks (1–26), all or none."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise SessionRefused(
            _l("A series runs for 1 to %(max)d weeks.", max=MAX_WEEKS), "weeks", "weeks"
        )
    if first_day > (now + HORIZON).astimezone(TOKYO).date():  # before any date arithmetic
        raise SessionRefused(_l("Sessions can be planned up to a year ahead."), "too_far", "day")
    times = [session_times(first_day + timedelta(weeks=n), start, end) for n in range(weeks)]
    return add_sessions(programme, times, now)


def lock_session(session_id: int) -> ProgrammeSession:
    """The session row, locked and read as of the lock."""
    return db.session.scalar(
        select(ProgrammeSession)
        .where(ProgrammeSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def set_session_capacity(
    session: ProgrammeSession, capacity: int, now: datetime
) -> list[ProgrammeSignup]:
    """Change the session's seats (1–500), never below the places taken; a rise gives
    freed places to the waitlist in order (``regions.places.promote_waitlist``).
    Returns the sign-ups promoted (flushes)."""
    if not 1 <= capacity <= MAX_CAPACITY:
        raise SessionRefused(
            _l("Between 1 and %(max)d seats.", max=MAX_CAPACITY), "capacity", "capacity"
        )
    locked = lock_session(session.id)
    if locked.status != SessionStatus.SCHEDULED:
        raise SessionRefused(_l("This session was cancelled."), "cancelled")
    if locked.ends_at <= now:
        raise SessionRefused(_l("This session has ended."), "ended")
    if capacity < locked.seats_taken:
        raise SessionRefused(
            _l(
                "%(taken)d places are taken: the seats cannot be fewer.",
                taken=locked.seats_taken,
            ),
            "below_taken",
            "capacity",
        )
    raised = capacity > locked.capacity
    locked.capacity = capacity
    db.session.flush()
    return promote_waitlist(locked, now) if raised else []


# --- cancelling a session -----------------------------------------------------------------


@dataclass(frozen=True)
class CancelPreview:
    """What cancelling would do: the people told and the credit given back."""

    signups: int  # employees told (joined or on the waitlist)
    participants: int  # people in the places they hold or wait for
    refund: int  # yen back to the companies' credit


def _open_signups(session_id: int) -> list[ProgrammeSignup]:
    return list(
        db.session.scalars(
            select(ProgrammeSignup)
            .where(
                ProgrammeSignup.session_id == session_id,
                ProgrammeSignup.status.in_(OPEN_SIGNUPS),
            )
            .order_by(ProgrammeSignup.id)
            .execution_options(populate_existing=True)
        )
    )


def cancel_preview(session: ProgrammeSession) -> CancelPreview:
    signups = _open_signups(session.id)
    return CancelPreview(
        len(signups),
        sum(s.participants for s in signups),
        sum(programme_money.paid(s.id) for s in signups),
    )


@dataclass(frozen=True)
class Cancelled:
    told: int  # sign-ups cancelled, each told by a ``programme.cancelled`` event
    refunded: int  # yen back to the companies' credit


def emit_signup_event(
    type_: str, session: ProgrammeSession, signup: ProgrammeSignup, now, actor, **data
) -> None:
    """One programme event of ``signup`` from the organiser (``actor``), told to its
    employee; ``regions.organise_people`` sends its messages' events through it too."""
    ev.emit(
        type_,
        now,
        company_id=signup.company_id,
        operator_id=session.programme.operator_id,
        user_id=signup.user_id,
        actor_id=actor.id if actor is not None else None,
        subject=("programme_signup", signup.id),
        data=event_data(session, signup, **data),
    )


def cancel_session(
    session: ProgrammeSession, reason: str, now: datetime, *, actor: User
) -> Cancelled:
    """Cancel the session: every joined or waitlisted place becomes cancelled, what it
    paid from the credit comes back in full (``programme_money.refund``, once), and each
    employee hears of it (one ``programme.cancelled`` per sign-up, with the reason and
    the refund). Until the session ends; a reason is required. Flushes."""
    reason = (reason or "").strip()
    if not reason:
        raise SessionRefused(_l("Say why the session is cancelled."), "reason", "reason")
    if len(reason) > MAX_REASON:
        raise SessionRefused(_l("At most %(num)d characters.", num=MAX_REASON), "reason", "reason")
    locked = lock_session(session.id)
    if locked.status != SessionStatus.SCHEDULED:
        raise SessionRefused(_l("This session was already cancelled."), "cancelled")
    if locked.ends_at <= now:
        raise SessionRefused(_l("This session has ended."), "ended")
    signups = _open_signups(locked.id)
    # The session first, then the companies' accounts in id order, as joining, leaving
    # and the waitlist take them (regions.places): two of these never wait on each
    # other in a circle.
    for company_id in sorted({s.company_id for s in signups}):
        ledger.account_of(company_id, lock=True)
    told = refunded = 0
    for signup in signups:
        signup.status = SignupStatus.CANCELLED
        refund = programme_money.refund(signup, now)
        refunded += refund
        told += 1
        emit_signup_event(
            ev.PROGRAMME_CANCELLED, locked, signup, now, actor, refund=refund, reason=reason
        )
    locked.status = SessionStatus.CANCELLED
    locked.cancelled_at = now
    locked.cancel_reason = reason
    locked.seats_taken = 0
    db.session.flush()
    audit.record(
        "programme.session_cancel",
        now,
        actor=actor,
        object_type="programme_session",
        object_id=locked.id,
        operator_id=locked.programme.operator_id,
        after={"signups": told, "refund": refunded},
    )
    return Cancelled(told, refunded)
