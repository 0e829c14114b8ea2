"""The organiser's side of regional programmes (issue 20): what an operator organisation
(a facility's operator, a municipality, a local association) does with its own
programmes. This module holds the refusals, the lookups and a programme's facts; its
sessions and their cancelling are in ``regions.organise_sessions``, attendance, messages
and who takes part in ``regions.organise_people``.

- a programme's facts, checked before anything is saved (``ProgrammeDraft``,
  ``create_programme``, ``edit_programme``): the Japanese title required, the English
  one optional; the municipality a real 全国地方公共団体コード, its prefecture derived
  from it; the meeting point inside Japan; 1–500 seats, a minimum within them; a price
  that matches its kind (free is 0, paid is 1 yen or more);
- published or not (``publish``: only with a session still to come; ``unpublish``:
  the places taken are kept).

Every lookup takes the organisation's id (``own_programme``, ``own_session``,
``own_signup``): another organisation's id is simply not found. Services flush; the
caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts import audit
from accounts.models import User
from core.db import get_by_id
from core.errors import RuleError
from core.extensions import db
from facilities.geo import in_japan
from facilities.municipalities import MunicipalityCodeError, by_code, normalise_code
from regions.models import (
    PriceKind,
    Programme,
    ProgrammeKind,
    ProgrammeLanguage,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)

MAX_CAPACITY = 500
MAX_PRICE = 100_000  # yen per participant; anything above is a typo
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_MEETING_POINT = 300
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
