"""A stay and a desk for each of its working days, in one booking (issue 19).

On a stay's quote the employee may add a desk (or a booth, by the hour) for the stay's
working days, at the stay's facility or, if it has no workspace open those hours, at a
listed facility within ``NEARBY_KM`` (``nearby_units``). The desk days are the working
days of the stay's dates (``hr.policy.default_work_days``: weekdays that are not
national holidays, from check-in day to check-out day), one time per day
(``desk_requests``), quoted with the stay before the employee confirms
(``quote_desks``).

``book_package`` books the stay (``booking.services.book_stay``) and then its desks
(``booking.workspace.book_workspace`` with ``stay=``) in the caller's transaction: the
nights and the slots are claimed together, and any refusal (a night or a slot just
taken, a rule, the credit) propagates so that the caller rolls back and nothing is
booked. The desks then follow their stay: held uncharged while it waits, confirmed and
charged with it, cancelled or cut with it (``booking.workspace_follow``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from accounts.models import User
from availability.slots import SlotError, check_booking
from availability.workspace import SlotTaken, is_free, opening_hours, rules_of
from booking.models import Booking
from booking.services import (
    DEFAULT_GRACE_DAYS,
    BookingError,
    StayRequest,
    billing_refusals,
    book_stay,
)
from booking.workspace import (
    WorkspaceQuoteResult,
    WorkspaceRequest,
    book_workspace,
    quote_workspace_booking,
)
from booking.workspace_models import WorkspaceBooking
from booking.workspace_search import facility_units
from core.db import TOKYO
from core.extensions import db
from core.i18n import format_day
from facilities.models import Facility
from facilities.workspace import WorkspaceUnit
from hr.policy import default_work_days

NEARBY_KM = 20
EARTH_RADIUS_KM = 6371.0
KM_PER_DEGREE = 111.32


class DeskTaken(BookingError):
    """The desk chosen for the stay is held for one of its days: nothing was booked."""

    code = "desk_taken"


def desk_days(check_in: date, check_out: date) -> list[date]:
    """The days a stay's desks are for: its dates' working days (see the module)."""
    return default_work_days(check_in, check_out)


def desk_requests(
    unit_id: int, work_days: Sequence[date], starts: time, ends: time
) -> list[WorkspaceRequest]:
    """One time ``[starts, ends)`` on the Tokyo clock for each working day, soonest first."""
    return [
        WorkspaceRequest(
            unit_id,
            datetime.combine(day, starts, tzinfo=TOKYO).astimezone(UTC),
            datetime.combine(day, ends, tzinfo=TOKYO).astimezone(UTC),
        )
        for day in sorted(set(work_days))
    ]


def distance_km(a: Facility, b: Facility) -> float:
    """The great-circle distance between two facilities, in km (haversine)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlng = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _open_then(unit: WorkspaceUnit, day: date, starts: time, ends: time) -> bool:
    start = datetime.combine(day, starts, tzinfo=TOKYO).astimezone(UTC)
    end = datetime.combine(day, ends, tzinfo=TOKYO).astimezone(UTC)
    try:
        check_booking(start, end, opening_hours(unit), rules_of(unit))
    except SlotError:
        return False
    return True


def _nearby_facilities(facility: Facility, radius_km: float) -> list[Facility]:
    """Listed facilities other than ``facility`` within ``radius_km``, nearest first (a
    box by latitude and longitude in SQL, then the exact distance)."""
    dlat = radius_km / KM_PER_DEGREE
    dlng = radius_km / (KM_PER_DEGREE * max(0.01, math.cos(math.radians(facility.latitude))))
    rows = db.session.scalars(
        select(Facility).where(
            Facility.listed,
            Facility.id != facility.id,
            Facility.latitude.between(facility.latitude - dlat, facility.latitude + dlat),
            Facility.longitude.between(facility.longitude - dlng, facility.longitude + dlng),
        )
    ).all()
    near = [(distance_km(facility, other), other.id, other) for other in rows]
    return [other for km, _id, other in sorted(near) if km <= radius_km]


def nearby_units(
    facility: Facility,
    day: date,
    starts: time = time(9),
    ends: time = time(18),
    *,
    radius_km: float = NEARBY_KM,
) -> list[WorkspaceUnit]:
    """The workspace units a stay at ``facility`` may add for ``[starts, ends)`` on
    ``day``: its own active units open then; if it has none, those of listed facilities
    within ``radius_km``, nearest facility first."""
    own = [u for u in facility_units(facility.id) if _open_then(u, day, starts, ends)]
    if own:
        return own
    others = _nearby_facilities(facility, radius_km)
    if not others:
        return []
    order = {other.id: n for n, other in enumerate(others)}
    units = db.session.scalars(
        select(WorkspaceUnit)
        .where(WorkspaceUnit.facility_id.in_(list(order)), WorkspaceUnit.active.is_(True))
        .options(joinedload(WorkspaceUnit.facility))
    ).all()
    units = sorted(units, key=lambda u: (order[u.facility_id], u.kind, u.name, u.id))
    return [u for u in units if _open_then(u, day, starts, ends)]


def other_hours_units(facility: Facility, day: date, offered: Sequence[WorkspaceUnit]):
    """The facility's own active units open on ``day`` but not offered for the hours
    asked (too long or short for them, or outside their opening), each with its opening
    that day: the employee learns they exist and at which hours they can be added."""
    shown = {unit.id for unit in offered}
    found = []
    for unit in facility_units(facility.id):
        if unit.id in shown:
            continue
        opening = opening_hours(unit).opening_on(day)
        if opening is not None:
            found.append((unit, opening))
    return found


def refusal_of(unit: WorkspaceUnit, day: date, starts: time, ends: time) -> str | None:
    """Why ``unit`` cannot be booked ``[starts, ends)`` on ``day`` (its rule's own
    message), or None when it can."""
    start = datetime.combine(day, starts, tzinfo=TOKYO).astimezone(UTC)
    end = datetime.combine(day, ends, tzinfo=TOKYO).astimezone(UTC)
    try:
        check_booking(start, end, opening_hours(unit), rules_of(unit))
    except SlotError as exc:
        return str(exc.message)
    return None


@contextmanager
def desk_refusals() -> Iterator[None]:
    """The workspace's own refusals as booking rules: a slot held already is
    ``DeskTaken``, a rule of the unit's slots (``availability.slots.SlotError``: closed
    then, off its slots, too long) a ``BookingError`` with its code."""
    try:
        yield
    except SlotTaken:
        raise DeskTaken(
            _l(
                "Sorry, the desk you chose was just taken on one of the stay's days."
                " Nothing was booked: please choose another desk or other hours."
            )
        ) from None
    except SlotError as exc:
        raise BookingError(exc.message, exc.code) from None


def _check_days(requests: Sequence[WorkspaceRequest], check_in: date, check_out: date) -> None:
    for request in requests:
        day = request.starts_at.astimezone(TOKYO).date()
        if not check_in <= day <= check_out:
            raise BookingError(
                _l(
                    "A desk booked with a stay must be on one of its days (%(day)s is not).",
                    day=LazyString(format_day, day),
                ),
                "desk_days",
            )


def quote_desks(
    actor: User,
    check_in: date,
    check_out: date,
    requests: Sequence[WorkspaceRequest],
    now: datetime,
    *,
    horizon_days: int = 180,
) -> WorkspaceQuoteResult:
    """What the desks would cost, before confirming, and whether each time is free now
    (``DeskTaken`` naming the first day that is not). Nothing is held."""
    _check_days(requests, check_in, check_out)
    with desk_refusals():
        result = quote_workspace_booking(actor, requests, now, horizon_days=horizon_days)
    for line in result.lines:
        if not is_free(line.unit.id, line.starts_at, line.ends_at):
            raise DeskTaken(
                _l(
                    "This desk is already booked on %(day)s at that time. Please choose"
                    " another desk or other hours.",
                    day=LazyString(format_day, line.starts_at.astimezone(TOKYO).date()),
                )
            )
    return result


def book_package(
    actor: User,
    stay: StayRequest,
    desks: Sequence[WorkspaceRequest],
    now: datetime,
    *,
    expected_desk_total: int | None = None,
    request_key: str | None = None,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
    **book_stay_kwargs,
) -> tuple[Booking, list[WorkspaceBooking]]:
    """Book the stay, then its desks tied to it, in the caller's transaction (see the
    module): every refusal propagates and the caller rolls back, so nothing is booked.
    No desks: the stay alone. The same ``request_key`` returns the first answer (the
    stay's and its desks' own replays). With ``expected_desk_total`` (what the desks were
    shown to cost), a moved price is refused (``PriceChanged``)."""
    booking = book_stay(
        actor,
        stay,
        now,
        request_key=request_key,
        horizon_days=horizon_days,
        grace_days=grace_days,
        **book_stay_kwargs,
    )
    if not desks:
        return booking, []
    _check_days(desks, booking.check_in, booking.check_out)
    with desk_refusals(), billing_refusals():
        booked = book_workspace(
            actor,
            desks,
            now,
            request_key=request_key,
            horizon_days=horizon_days,
            grace_days=grace_days,
            expected_total=expected_desk_total,
            stay=booking,
        )
    return booking, booked
