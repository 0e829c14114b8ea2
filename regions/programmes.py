"""Finding a region's programmes and a person's places in them: the employee's reading
side (issue 20).

What is on offer: the published sessions still ahead, by place and Tokyo date
(``published_sessions``), near a point such as a facility (``sessions_near``), and which
facilities have any nearby (``facility_ids_with_sessions``, for the search's badge); a
programme offered (``offered_programme``) and its sessions ahead (``upcoming_sessions``).

A person's places: their sign-ups (``signups_of_user``), those that go with a stay
(``signups_for_booking``: this package knows stays by id only), one of their own or none
(``signup_of_user``: anybody else's is ``ProgrammeNotFound``), where a waitlisted one
stands in line (``waitlist_position``), and what a sign-up costs (``fee_for``).

Joining, leaving and the waitlist, under the session's row lock, are
``regions.places``; the refusals they raise are defined here (``ProgrammeError`` and
its kinds), so pages can catch them without the writing side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import joinedload

from accounts.models import OperatorOrg
from core.db import TOKYO, in_id_range
from core.errors import RuleError
from core.extensions import db
from regions.models import (
    PriceKind,
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)

MIN_PARTICIPANTS = 1
MAX_PARTICIPANTS = 20  # the table's own bound (programme_signup.participants_range)
NEAR_KM = 20  # "near a stay": within this many kilometres of the facility
KM_PER_DEGREE = 111.32  # of latitude, and of longitude at the equator
EARTH_RADIUS_KM = 6371.0
# A sign-up that holds or waits for a place.
CURRENT = (SignupStatus.JOINED, SignupStatus.WAITLISTED)


class ProgrammeError(RuleError):
    """Joining or leaving refused by a rule; ``code`` says which."""


class ProgrammeNotFound(ProgrammeError):
    """No such session or sign-up for this person (another's is not found either)."""

    code = "not_found"


class ProgrammeForbidden(ProgrammeError):
    code = "forbidden"


class SessionFull(ProgrammeError):
    """Every seat of the session is taken (and the caller did not ask to wait)."""

    code = "full"


# -- reading -------------------------------------------------------------------------------


def tokyo_start(day: date) -> datetime:
    """The instant a Tokyo date begins."""
    return datetime.combine(day, time(0), tzinfo=TOKYO)


def tokyo_date(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date()


def _offered(now: datetime):
    """Sessions anyone may see: published programme of an organisation not suspended,
    scheduled, starting after ``now``; the programme loaded."""
    return (
        select(ProgrammeSession)
        .join(Programme, ProgrammeSession.programme_id == Programme.id)
        .join(OperatorOrg, Programme.operator_id == OperatorOrg.id)
        .where(
            Programme.published_at.is_not(None),
            OperatorOrg.suspended_at.is_(None),
            ProgrammeSession.status == SessionStatus.SCHEDULED,
            ProgrammeSession.starts_at > now,
        )
        .options(joinedload(ProgrammeSession.programme))
        .order_by(ProgrammeSession.starts_at, ProgrammeSession.id)
    )


def _within_days(query, start: date | None, end: date | None):
    """Sessions starting on a Tokyo date from ``start`` to ``end``, both included."""
    if start is not None:
        query = query.where(ProgrammeSession.starts_at >= tokyo_start(start))
    if end is not None:
        query = query.where(ProgrammeSession.starts_at < tokyo_start(end + timedelta(days=1)))
    return query


def published_sessions(
    *,
    prefecture: int | None = None,
    municipality_code: str | None = None,
    start: date | None = None,
    end: date | None = None,
    now: datetime,
    kind: str | None = None,
    limit: int | None = 500,
) -> list[ProgrammeSession]:
    """Sessions of published programmes still ahead (starting after ``now``), in the
    prefecture or municipality asked, starting on a Tokyo date within ``start``–``end``
    (both included; None: open), soonest first, each with its programme loaded."""
    query = _within_days(_offered(now), start, end)
    if prefecture is not None:
        query = query.where(Programme.prefecture == prefecture)
    if municipality_code is not None:
        query = query.where(Programme.municipality_code == municipality_code)
    if kind is not None:
        query = query.where(Programme.kind == kind)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query).unique())


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The great-circle distance between two points, in km (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlng = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _box(query, lat: float, lng: float, km: float):
    """Programmes within a box around the point (then measured exactly)."""
    dlat = km / KM_PER_DEGREE
    dlng = km / (KM_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return query.where(
        Programme.latitude.between(lat - dlat, lat + dlat),
        Programme.longitude.between(lng - dlng, lng + dlng),
    )


def sessions_near(
    lat: float, lng: float, start: date, end: date, now: datetime, km: float = NEAR_KM
) -> list[ProgrammeSession]:
    """Sessions still ahead whose meeting point lies within ``km`` of the point, starting
    on a Tokyo date from ``start`` to ``end`` (both included: a stay's check-in to its
    check-out day), soonest first."""
    query = _box(_within_days(_offered(now), start, end), lat, lng, km)
    return [
        s
        for s in db.session.scalars(query).unique()
        if distance_km(lat, lng, s.programme.latitude, s.programme.longitude) <= km
    ]


def facility_ids_with_sessions(
    facilities: Iterable[tuple[int, float, float]],
    start: date,
    end: date,
    now: datetime,
    km: float = NEAR_KM,
) -> set[int]:
    """Of ``facilities`` (id, latitude, longitude), those with a session still ahead
    within ``km``, starting from ``start`` to ``end`` (Tokyo dates, both included)."""
    facilities = list(facilities)
    if not facilities:
        return set()
    points = set(
        db.session.execute(
            _within_days(_offered(now), start, end)
            .with_only_columns(Programme.latitude, Programme.longitude)
            .order_by(None)
            .distinct()
        ).all()
    )
    return {
        facility_id
        for facility_id, lat, lng in facilities
        if any(distance_km(lat, lng, p_lat, p_lng) <= km for p_lat, p_lng in points)
    }


def offered_programme(programme_id: int) -> Programme | None:
    """A published programme of an organisation not suspended, else None."""
    if not in_id_range(programme_id):
        return None
    programme = db.session.get(Programme, programme_id)
    if programme is None or not programme.published or programme.operator.suspended_at:
        return None
    return programme


def upcoming_sessions(programme: Programme, now: datetime) -> list[ProgrammeSession]:
    """A programme's scheduled sessions still ahead, soonest first."""
    return list(
        db.session.scalars(
            select(ProgrammeSession)
            .where(
                ProgrammeSession.programme_id == programme.id,
                ProgrammeSession.status == SessionStatus.SCHEDULED,
                ProgrammeSession.starts_at > now,
            )
            .order_by(ProgrammeSession.starts_at, ProgrammeSession.id)
        )
    )


def _with_programme():
    return joinedload(ProgrammeSignup.session).joinedload(ProgrammeSession.programme)


def signups_of_user(user_id: int) -> list[ProgrammeSignup]:
    """Every sign-up of the person, the latest session first, sessions and programmes
    loaded."""
    return list(
        db.session.scalars(
            select(ProgrammeSignup)
            .join(ProgrammeSession, ProgrammeSignup.session_id == ProgrammeSession.id)
            .where(ProgrammeSignup.user_id == user_id)
            .options(_with_programme())
            .order_by(ProgrammeSession.starts_at.desc(), ProgrammeSignup.id)
        ).unique()
    )


def signups_for_booking(
    booking_id: int, *, statuses: Sequence[str] = CURRENT
) -> list[ProgrammeSignup]:
    """The sign-ups that go with a stay (``booking.id``) in ``statuses`` (joined or
    waitlisted unless told), soonest session first, sessions and programmes loaded."""
    return list(
        db.session.scalars(
            select(ProgrammeSignup)
            .join(ProgrammeSession, ProgrammeSignup.session_id == ProgrammeSession.id)
            .where(ProgrammeSignup.booking_id == booking_id, ProgrammeSignup.status.in_(statuses))
            .options(_with_programme())
            .order_by(ProgrammeSession.starts_at, ProgrammeSignup.id)
        ).unique()
    )


def signup_of_user(signup_id: int, user_id: int) -> ProgrammeSignup:
    """The person's own sign-up; anybody else's (or none) is ``ProgrammeNotFound``."""
    signup = (
        db.session.scalar(
            select(ProgrammeSignup)
            .where(ProgrammeSignup.id == signup_id, ProgrammeSignup.user_id == user_id)
            .options(_with_programme())
        )
        if in_id_range(signup_id)
        else None
    )
    if signup is None:
        raise ProgrammeNotFound(_l("No such sign-up."))
    return signup


def signup_in_session(session_id: int, user_id: int) -> ProgrammeSignup | None:
    """The person's sign-up of a session (in any status), or None."""
    if not in_id_range(session_id):
        return None
    return db.session.scalar(
        select(ProgrammeSignup).where(
            ProgrammeSignup.session_id == session_id, ProgrammeSignup.user_id == user_id
        )
    )


def signups_by_session(user_id: int, session_ids: Iterable[int]) -> dict[int, ProgrammeSignup]:
    """The person's sign-ups of these sessions, by session id."""
    ids = list(session_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(ProgrammeSignup).where(
            ProgrammeSignup.user_id == user_id, ProgrammeSignup.session_id.in_(ids)
        )
    )
    return {s.session_id: s for s in rows}


def waitlist_position(signup: ProgrammeSignup) -> int | None:
    """Where a waitlisted sign-up stands in line (1: next), else None."""
    if signup.status != SignupStatus.WAITLISTED:
        return None
    ahead = db.session.scalar(
        select(func.count())
        .select_from(ProgrammeSignup)
        .where(
            ProgrammeSignup.session_id == signup.session_id,
            ProgrammeSignup.status == SignupStatus.WAITLISTED,
            tuple_(ProgrammeSignup.waitlisted_at, ProgrammeSignup.id)
            < tuple_(signup.waitlisted_at, signup.id),
        )
    )
    return int(ahead) + 1


def fee_for(programme: Programme, participants: int) -> int:
    """The fee of a sign-up in yen: the price per participant times the participants
    (paid from the credit or on the day; 0 when free)."""
    if programme.price_kind == PriceKind.FREE:
        return 0
    return programme.price * participants
