"""The organiser's side of regional programmes (issue 20): what an operator organisation
(a facility's operator, a municipality, a local association) does with its own
programmes.

- a programme's facts, checked before anything is saved (``ProgrammeDraft``,
  ``create_programme``, ``edit_programme``): the Japanese title required, the English
  one optional; the municipality a real 全国地方公共団体コード, its prefecture derived
  from it; the meeting point inside Japan; 1–500 seats, a minimum within them; a price
  that matches its kind (free is 0, paid is 1 yen or more);
- published or not (``publish``: only with a session still to come; ``unpublish``:
  the places taken are kept);
- its sessions: one-off (a Tokyo date, start and end time, stored as aware UTC) or a
  weekly series of 1–26 weeks, added all or nothing (``add_session``,
  ``add_weekly_series``); a session's seats changed, never below those taken, a rise
  giving places to the waitlist in order (``set_session_capacity``); a session
  cancelled with a reason, every place in it cancelled, any credit paid given back in
  full and each employee told (``cancel_session``, previewed by ``cancel_preview``);
- attendance, marked only from the session's start on (``mark_attendance``);
- a message to the people who joined (``message_participants``);
- who takes part (``participants``): names and contact of the organiser's own sessions
  only, the fewest fields that serve.

Every lookup takes the organisation's id (``own_programme``, ``own_session``): another
organisation's id is simply not found. Services flush; the caller commits. Changes to
seats and money lock the session row, then look again (a join racing with a capacity
change or a cancellation has one outcome), and then the companies' billing accounts in
id order, as joining and leaving do (``regions.programmes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts import audit
from accounts import events as ev
from accounts.models import Company, User
from billing import ledger
from core.db import TOKYO, get_by_id
from core.errors import RuleError
from core.extensions import db
from facilities.geo import in_japan
from facilities.municipalities import MunicipalityCodeError, by_code, normalise_code
from regions import programme_money
from regions.models import (
    PriceKind,
    Programme,
    ProgrammeKind,
    ProgrammeLanguage,
    ProgrammeMessage,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)
from regions.programmes import promote_waitlist

MAX_CAPACITY = 500
MAX_PRICE = 100_000  # yen per participant; anything above is a typo
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_MEETING_POINT = 300
MAX_REASON = 300  # ProgrammeSession.cancel_reason
MAX_MESSAGE = 2000
MAX_WEEKS = 26
# Sessions are planned at most this far ahead (a year of a season's programmes).
HORIZON = timedelta(days=366)
# The sign-ups a session's organiser deals with: those holding or awaiting a place.
OPEN_SIGNUPS = (SignupStatus.JOINED, SignupStatus.WAITLISTED)

KIND_LABELS = {
    ProgrammeKind.LOCAL_WORK: _l("Local work and volunteering"),
    ProgrammeKind.EXPERIENCE: _l("Experience"),
    ProgrammeKind.TOUR: _l("Guided tour"),
    ProgrammeKind.SKILLS: _l("Skills session or pro-bono project"),
    ProgrammeKind.COMMUNITY: _l("Community event"),
}
PRICE_LABELS = {
    PriceKind.FREE: _l("Free"),
    PriceKind.CREDIT: _l("Paid from the company's credit"),
    PriceKind.LOCAL: _l("Paid locally on the day"),
}
LANGUAGE_LABELS = {
    ProgrammeLanguage.JA: _l("Japanese"),
    ProgrammeLanguage.EN: _l("English"),
    ProgrammeLanguage.BOTH: _l("Japanese and English"),
}


class ProgrammeInvalid(RuleError):
    """The programme's facts do not hold: ``errors`` maps each field to its message."""

    code = "invalid"

    def __init__(self, errors: Mapping[str, Any]):
        self.errors = dict(errors)
        super().__init__(next(iter(self.errors.values())))


class SessionRefused(RuleError):
    """A session cannot be added, changed, cancelled, marked or written to as asked;
    ``field`` names the form field it is about, when there is one."""

    def __init__(self, message, code: str | None = None, field: str | None = None):
        super().__init__(message, code)
        self.field = field


# --- lookups ------------------------------------------------------------------------------


def own_programme(operator_id: int, programme_id: int) -> Programme | None:
    """The programme if ``operator_id`` publishes it; None for another's or an unknown id."""
    programme = get_by_id(Programme, programme_id)
    if programme is None or programme.operator_id != operator_id:
        return None
    return programme


def own_session(operator_id: int, session_id: int) -> ProgrammeSession | None:
    """The session if it belongs to one of ``operator_id``'s programmes, else None."""
    session = get_by_id(ProgrammeSession, session_id)
    if session is None or session.programme.operator_id != operator_id:
        return None
    return session


def own_signup(operator_id: int, signup_id: int) -> ProgrammeSignup | None:
    """A sign-up to one of ``operator_id``'s sessions, else None."""
    signup = get_by_id(ProgrammeSignup, signup_id)
    if signup is None or signup.session.programme.operator_id != operator_id:
        return None
    return signup


@dataclass(frozen=True)
class ProgrammeRow:
    """One programme in the organiser's list."""

    programme: Programme
    upcoming: int  # scheduled sessions still to start
    sessions: int  # every session, past and cancelled too
    seats_taken: int  # in the sessions still to start
    seats: int  # of the sessions still to start
    next_start: datetime | None


def programme_rows(operator_id: int, now: datetime) -> list[ProgrammeRow]:
    """The organisation's programmes, newest first, with their sessions counted."""
    programmes = db.session.scalars(
        select(Programme)
        .where(Programme.operator_id == operator_id)
        .order_by(Programme.created_at.desc(), Programme.id.desc())
    ).all()
    ahead = (
        select(
            ProgrammeSession.programme_id,
            func.count(),
            func.coalesce(func.sum(ProgrammeSession.seats_taken), 0),
            func.coalesce(func.sum(ProgrammeSession.capacity), 0),
            func.min(ProgrammeSession.starts_at),
        )
        .join(Programme, Programme.id == ProgrammeSession.programme_id)
        .where(
            Programme.operator_id == operator_id,
            ProgrammeSession.status == SessionStatus.SCHEDULED,
            ProgrammeSession.starts_at > now,
        )
        .group_by(ProgrammeSession.programme_id)
    )
    upcoming = {row[0]: row[1:] for row in db.session.execute(ahead)}
    totals = dict(
        db.session.execute(
            select(ProgrammeSession.programme_id, func.count())
            .join(Programme, Programme.id == ProgrammeSession.programme_id)
            .where(Programme.operator_id == operator_id)
            .group_by(ProgrammeSession.programme_id)
        ).all()
    )
    rows = []
    for programme in programmes:
        count, taken, seats, first = upcoming.get(programme.id, (0, 0, 0, None))
        rows.append(
            ProgrammeRow(
                programme,
                int(count),
                int(totals.get(programme.id, 0)),
                int(taken),
                int(seats),
                _aware(first),
            )
        )
    return rows


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's instant as aware UTC (SQLite gives the stored text back)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def sessions_of(programme: Programme) -> list[ProgrammeSession]:
    return list(
        db.session.scalars(
            select(ProgrammeSession)
            .where(ProgrammeSession.programme_id == programme.id)
            .order_by(ProgrammeSession.starts_at, ProgrammeSession.id)
        )
    )


# --- a programme's facts ------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeDraft:
    """What the organiser says of a programme (plain values, as a form gives them)."""

    kind: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    municipality_code: str
    meeting_point: str
    latitude: float | None
    longitude: float | None
    capacity: int | None
    min_participants: int | None
    price_kind: str
    price: int | None
    language: str
    stay_required: bool


def check_draft(draft: ProgrammeDraft) -> dict[str, Any]:
    """The draft's facts, cleaned (stripped text, the code normalised, the prefecture
    derived), or ``ProgrammeInvalid`` naming every field that does not hold."""
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if draft.kind not in set(ProgrammeKind):
        errors["kind"] = _l("Choose a kind of programme.")
    values["kind"] = draft.kind
    for name, required, limit in (
        ("title_ja", True, MAX_TITLE),
        ("title_en", False, MAX_TITLE),
        ("description_ja", False, MAX_DESCRIPTION),
        ("description_en", False, MAX_DESCRIPTION),
        ("meeting_point", False, MAX_MEETING_POINT),
    ):
        text = (getattr(draft, name) or "").strip()
        if required and not text:
            errors[name] = _l("Enter the title in Japanese.")
        elif len(text) > limit:
            errors[name] = _l("At most %(num)d characters.", num=limit)
        values[name] = text
    _check_place(draft, values, errors)
    _check_seats(draft, values, errors)
    _check_price(draft, values, errors)
    if draft.language not in set(ProgrammeLanguage):
        errors["language"] = _l("Choose the language the programme is held in.")
    values["language"] = draft.language
    values["stay_required"] = bool(draft.stay_required)
    if errors:
        raise ProgrammeInvalid(errors)
    return values


def _check_place(draft: ProgrammeDraft, values: dict, errors: dict) -> None:
    try:
        code = normalise_code(draft.municipality_code)
    except MunicipalityCodeError:
        errors["municipality_code"] = _l(
            "Enter the six-digit local government code (全国地方公共団体コード) with its"
            " check digit."
        )
    else:
        municipality = by_code(code)
        if municipality is None:
            errors["municipality_code"] = _l("No municipality has this code.")
        else:
            values["municipality_code"] = code
            values["prefecture"] = municipality.prefecture
    lat, lng = draft.latitude, draft.longitude
    if lat is None or lng is None or not in_japan(float(lat), float(lng)):
        errors["latitude"] = _l("Place the meeting point in Japan (latitude and longitude).")
    else:
        values["latitude"], values["longitude"] = float(lat), float(lng)


def _check_seats(draft: ProgrammeDraft, values: dict, errors: dict) -> None:
    capacity, least = draft.capacity, draft.min_participants
    if capacity is None or not 1 <= capacity <= MAX_CAPACITY:
        errors["capacity"] = _l("Between 1 and %(max)d seats.", max=MAX_CAPACITY)
    elif least is None or not 1 <= least <= capacity:
        errors["min_participants"] = _l("At least 1 and no more than the seats.")
    values["capacity"], values["min_participants"] = capacity, least


def _check_price(draft: ProgrammeDraft, values: dict, errors: dict) -> None:
    kind, price = draft.price_kind, draft.price
    if kind not in set(PriceKind):
        errors["price_kind"] = _l("Choose how the programme is paid.")
    elif kind == PriceKind.FREE:
        if price not in (None, 0):
            errors["price"] = _l("A free programme has no price: leave it at 0.")
        price = 0
    elif price is None or not 1 <= price <= MAX_PRICE:
        errors["price"] = _l(
            "A paid programme costs between ¥1 and ¥%(max)s per participant, tax included.",
            max=f"{MAX_PRICE:,}",
        )
    values["price_kind"], values["price"] = kind, price


def _snapshot(programme: Programme) -> dict[str, Any]:
    return {
        name: getattr(programme, name)
        for name in (
            "kind",
            "title_ja",
            "title_en",
            "municipality_code",
            "capacity",
            "min_participants",
            "price_kind",
            "price",
            "language",
            "stay_required",
        )
    }


def create_programme(
    operator_id: int, draft: ProgrammeDraft, now: datetime, *, actor: User
) -> Programme:
    """A new programme of the organisation, not yet published (flushes)."""
    values = check_draft(draft)
    programme = Programme(operator_id=operator_id, created_at=now, updated_at=now, **values)
    db.session.add(programme)
    db.session.flush()
    audit.record(
        "programme.create",
        now,
        actor=actor,
        object_type="programme",
        object_id=programme.id,
        operator_id=operator_id,
        after=_snapshot(programme),
    )
    return programme


def _has_open_places(programme_id: int) -> bool:
    """Whether any session of the programme has a place joined or waiting."""
    return (
        db.session.scalar(
            select(ProgrammeSignup.id)
            .join(ProgrammeSession, ProgrammeSession.id == ProgrammeSignup.session_id)
            .where(
                ProgrammeSession.programme_id == programme_id,
                ProgrammeSignup.status.in_([SignupStatus.JOINED, SignupStatus.WAITLISTED]),
            )
            .limit(1)
        )
        is not None
    )


def edit_programme(
    programme: Programme, draft: ProgrammeDraft, now: datetime, *, actor: User
) -> Programme:
    """Change the programme's facts (flushes). The seats are those of sessions added
    from now on (a session's own seats change on its page); a price applies to places
    taken from now on (each place keeps the fee it was taken at)."""
    values = check_draft(draft)
    if values["price_kind"] != programme.price_kind and _has_open_places(programme.id):
        # A waitlisted place is charged when it moves up, by the programme's way of
        # paying: told "paid on the day", it must not be taken from the credit instead.
        raise ProgrammeInvalid(
            {
                "price_kind": _l(
                    "People have joined or are waiting: the way of paying cannot change now."
                    " Cancel their sessions first, or publish a new programme."
                )
            }
        )
    before = _snapshot(programme)
    for name, value in values.items():
        setattr(programme, name, value)
    programme.updated_at = now
    db.session.flush()
    old, new = audit.diff(before, _snapshot(programme))
    if new:
        audit.record(
            "programme.update",
            now,
            actor=actor,
            object_type="programme",
            object_id=programme.id,
            operator_id=programme.operator_id,
            before=old,
            after=new,
        )
    return programme


def publish(programme: Programme, now: datetime, *, actor: User) -> None:
    """Shown to employees from now on; only with a session still to come."""
    if programme.published:
        return
    if not _has_upcoming(programme, now):
        raise SessionRefused(_l("Add a session still to come before publishing."), "no_sessions")
    programme.published_at = now
    programme.updated_at = now
    _record_publish(programme, "programme.publish", now, actor)


def unpublish(programme: Programme, now: datetime, *, actor: User) -> None:
    """Hidden from employees from now on; the places already taken are kept."""
    if not programme.published:
        return
    programme.published_at = None
    programme.updated_at = now
    _record_publish(programme, "programme.unpublish", now, actor)


def _record_publish(programme: Programme, action: str, now: datetime, actor: User) -> None:
    db.session.flush()
    audit.record(
        action,
        now,
        actor=actor,
        object_type="programme",
        object_id=programme.id,
        operator_id=programme.operator_id,
    )


def _has_upcoming(programme: Programme, now: datetime) -> bool:
    return (
        db.session.scalar(
            select(ProgrammeSession.id)
            .where(
                ProgrammeSession.programme_id == programme.id,
                ProgrammeSession.status == SessionStatus.SCHEDULED,
                ProgrammeSession.starts_at > now,
            )
            .limit(1)
        )
        is not None
    )


# --- sessions -----------------------------------------------------------------------------


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
    freed places to the waitlist in order (``regions.programmes.promote_waitlist``).
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


def event_data(session: ProgrammeSession, signup: ProgrammeSignup, **more) -> dict[str, Any]:
    """What a programme event of ``signup`` carries (``accounts.events``)."""
    programme = session.programme
    return {
        "programme_id": programme.id,
        "session_id": session.id,
        "title_ja": programme.title_ja,
        "title_en": programme.title_en,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "participants": signup.participants,
        "fee": signup.fee,
        **more,
    }


def _emit(type_: str, session: ProgrammeSession, signup: ProgrammeSignup, now, actor, **data):
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
    # and the waitlist take them (regions.programmes): two of these never wait on each
    # other in a circle.
    for company_id in sorted({s.company_id for s in signups}):
        ledger.account_of(company_id, lock=True)
    told = refunded = 0
    for signup in signups:
        signup.status = SignupStatus.CANCELLED
        refund = programme_money.refund(signup, now)
        refunded += refund
        told += 1
        _emit(ev.PROGRAMME_CANCELLED, locked, signup, now, actor, refund=refund, reason=reason)
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


# --- attendance and messages --------------------------------------------------------------


def joined_signups(session: ProgrammeSession) -> list[ProgrammeSignup]:
    return list(
        db.session.scalars(
            select(ProgrammeSignup)
            .where(
                ProgrammeSignup.session_id == session.id,
                ProgrammeSignup.status == SignupStatus.JOINED,
            )
            .order_by(ProgrammeSignup.joined_at, ProgrammeSignup.id)
        )
    )


def mark_attendance(
    session: ProgrammeSession, marks: Mapping[int, bool | None], now: datetime
) -> int:
    """Who came: True, False, or None (not marked) per joined sign-up of the session,
    only from its start on. Any other sign-up refuses the lot. Returns how many changed."""
    if session.status != SessionStatus.SCHEDULED:
        raise SessionRefused(_l("This session was cancelled."), "cancelled")
    if now < session.starts_at:
        raise SessionRefused(
            _l("Attendance can be marked from the session's start."), "not_started"
        )
    joined = {s.id: s for s in joined_signups(session)}
    strangers = set(marks) - set(joined)
    if strangers:
        raise SessionRefused(_l("Only people who joined this session can be marked."), "unknown")
    changed = 0
    for signup_id, came in marks.items():
        signup = joined[signup_id]
        if signup.attended is came:
            continue
        signup.attended = came
        signup.attendance_marked_at = now if came is not None else None
        changed += 1
    db.session.flush()
    return changed


def message_participants(
    session: ProgrammeSession, body: str, now: datetime, *, sender: User
) -> ProgrammeMessage:
    """Write to everyone who joined the session: one ``ProgrammeMessage`` and one
    ``programme.message`` event per joined sign-up (flushes)."""
    body = (body or "").strip()
    if not body:
        raise SessionRefused(_l("Write the message."), "empty", "body")
    if len(body) > MAX_MESSAGE:
        raise SessionRefused(_l("At most %(num)d characters.", num=MAX_MESSAGE), "long", "body")
    if session.status != SessionStatus.SCHEDULED:
        raise SessionRefused(_l("This session was cancelled."), "cancelled")
    joined = joined_signups(session)
    if not joined:
        raise SessionRefused(_l("Nobody has joined this session yet."), "nobody")
    message = ProgrammeMessage(
        session_id=session.id,
        sender_id=sender.id,
        body=body,
        recipients=len(joined),
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    for signup in joined:
        _emit(ev.PROGRAMME_MESSAGE, session, signup, now, sender, message_id=message.id)
    return message


def messages_of(session: ProgrammeSession) -> list[ProgrammeMessage]:
    return list(
        db.session.scalars(
            select(ProgrammeMessage)
            .where(ProgrammeMessage.session_id == session.id)
            .order_by(ProgrammeMessage.created_at.desc(), ProgrammeMessage.id.desc())
        )
    )


# --- who takes part -----------------------------------------------------------------------


@dataclass(frozen=True)
class Participant:
    """A place in one of the organiser's own sessions: who, from which company, how many
    people, how to reach them; nothing more (their stay is known by id only). Name and
    email are empty once the retention purge has unlinked the person."""

    signup_id: int
    status: str
    name: str
    company_name: str
    email: str
    participants: int
    booking_id: int | None
    attended: bool | None
    since: datetime | None  # joined, or put on the waitlist


def participants(session: ProgrammeSession) -> list[Participant]:
    """The session's joined places, then its waitlist in order. The caller has checked
    that the session is the organisation's own (``own_session``)."""
    rows = db.session.execute(
        select(ProgrammeSignup, User.name, User.email, Company.name)
        .outerjoin(User, User.id == ProgrammeSignup.user_id)  # none once purged
        .join(Company, Company.id == ProgrammeSignup.company_id)
        .where(
            ProgrammeSignup.session_id == session.id,
            ProgrammeSignup.status.in_(OPEN_SIGNUPS),
        )
    ).all()
    found = [
        Participant(
            signup.id,
            signup.status,
            name or "",
            company_name,
            email or "",
            signup.participants,
            signup.booking_id,
            signup.attended,
            signup.joined_at if signup.status == SignupStatus.JOINED else signup.waitlisted_at,
        )
        for signup, name, email, company_name in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(key=lambda p: (p.status != SignupStatus.JOINED, p.since or far, p.signup_id))
    return found


def record_participants_read(session: ProgrammeSession, now: datetime, *, actor: User) -> None:
    """Every reading of a session's participants is logged (their personal data)."""
    audit.record(
        "programme.participants_read",
        now,
        actor=actor,
        object_type="programme_session",
        object_id=session.id,
        operator_id=session.programme.operator_id,
    )
