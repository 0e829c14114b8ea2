"""What a region can offer a company's request: the rooms free on every night of a stay
and their prices, one room per person (``free_rooms``, ``rooms_for``), and the programme
sessions a proposal may carry (``offerable_sessions``, ``check_sessions``); who may answer a request
(``answering_operator_ids``, ``may_answer``, ``open_requests_for``); the matching rules'
errors. Requests, proposals and decisions are ``regions.matching``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from accounts.models import OperatorOrg
from availability.models import Occupancy
from core.dates import stay_nights
from core.db import TOKYO, get_by_id, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.i18n import format_day
from facilities.models import Facility, Unit
from facilities.municipalities import facility_code
from pricing.prices import NightPrice, night_prices
from regions.models import (
    MatchRequest,
    MatchStatus,
    PriceKind,
    Programme,
    ProgrammeSession,
    SessionStatus,
)

MAX_SESSIONS = 10  # programme sessions in one proposal
LISTED_ON_PAGE = 200


class MatchError(RuleError):
    """A matching rule refused the action."""


class MatchNotFound(MatchError):
    """No such request or proposal for this person (another tenant's id looks the same)."""

    code = "not_found"


class NotEnoughRooms(MatchError):
    """Fewer rooms are free on every night than the group needs."""

    code = "rooms"

    def __init__(self, message, nights: Sequence[date] = ()):
        super().__init__(message)
        self.nights = list(nights)


# --- rooms and their prices -------------------------------------------------------------


@dataclass(frozen=True)
class FreeRoom:
    """A room free on every night of a stay, with each night's price."""

    unit: Unit
    prices: list[NightPrice]

    @property
    def total(self) -> int:
        return sum(p.price for p in self.prices)


def free_rooms(facility_id: int, check_in: date, check_out: date) -> list[FreeRoom]:
    """The facility's rooms on sale that are free on every night of [check_in,
    check_out), cheapest stay first (then the room's id): the order rooms are given out
    in, by the proposal's price and by the acceptance alike."""
    nights = stay_nights(check_in, check_out)
    taken = (
        select(Occupancy.unit_id)
        .where(Occupancy.night >= check_in, Occupancy.night < check_out)
        .distinct()
    )
    units = list(
        db.session.scalars(
            select(Unit)
            .where(Unit.facility_id == facility_id, Unit.active, Unit.id.not_in(taken))
            .order_by(Unit.id)
        )
    )
    prices = night_prices([(u.id, u.base_price) for u in units], nights)
    rooms = [FreeRoom(u, prices[u.id]) for u in units]
    return sorted(rooms, key=lambda r: (r.total, r.unit.id))


def short_nights(facility_id: int, check_in: date, check_out: date, needed: int) -> list[date]:
    """The nights on which fewer than ``needed`` of the facility's rooms on sale are free."""
    units = db.session.scalar(
        select(func.count()).select_from(Unit).where(Unit.facility_id == facility_id, Unit.active)
    )
    taken = dict(
        db.session.execute(
            select(Occupancy.night, func.count())
            .join(Unit, Unit.id == Occupancy.unit_id)
            .where(
                Unit.facility_id == facility_id,
                Unit.active,
                Occupancy.night >= check_in,
                Occupancy.night < check_out,
            )
            .group_by(Occupancy.night)
        ).all()
    )
    return [n for n in stay_nights(check_in, check_out) if units - taken.get(n, 0) < needed]


def rooms_for(facility_id: int, check_in: date, check_out: date, needed: int) -> list[FreeRoom]:
    """The ``needed`` cheapest rooms free on every night, or ``NotEnoughRooms`` naming the
    nights that are short (none named when every night has enough rooms, but not the
    same ones all through)."""
    rooms = free_rooms(facility_id, check_in, check_out)
    if len(rooms) >= needed:
        return rooms[:needed]
    nights = short_nights(facility_id, check_in, check_out, needed)
    raise NotEnoughRooms(not_enough_rooms_message(needed, len(rooms), nights), nights)


def not_enough_rooms_message(needed: int, free: int, nights: Sequence[date]) -> LazyString:
    if nights:
        return _l(
            "%(needed)d rooms are needed but only %(free)d are free for the whole stay."
            " Taken on: %(nights)s.",
            needed=needed,
            free=free,
            nights=LazyString(lambda: ", ".join(format_day(n, "short") for n in nights)),
        )
    return _l(
        "%(needed)d rooms are needed but only %(free)d are free for the whole stay.",
        needed=needed,
        free=free,
    )


# --- programme sessions -----------------------------------------------------------------


def session_fee(session: ProgrammeSession) -> int:
    """Yen per participant (0 when free)."""
    programme = session.programme
    return 0 if programme.price_kind == PriceKind.FREE else programme.price


def tokyo_day(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date()


def facility_municipality(facility: Facility) -> str | None:
    return facility_code(facility)


def offerable_sessions(
    operator_id: int, request: MatchRequest, now: datetime, *, limit: int = 100
) -> list[ProgrammeSession]:
    """Sessions an organisation might put in a proposal for ``request``: scheduled, of a
    published programme it runs or held in a municipality of one of its facilities in
    the request's prefecture, inside the request's window, not yet begun. The exact
    rule for the chosen facility and dates is ``check_sessions``."""
    codes = {
        code
        for facility in own_stay_facilities(operator_id, request.prefecture)
        if (code := facility_municipality(facility))
    }
    whose = Programme.operator_id == operator_id
    if codes:
        whose = whose | Programme.municipality_code.in_(sorted(codes))
    window_start = datetime(
        request.earliest.year, request.earliest.month, request.earliest.day, tzinfo=TOKYO
    )
    end = request.latest + timedelta(days=1)
    window_end = datetime(end.year, end.month, end.day, tzinfo=TOKYO)
    return list(
        db.session.scalars(
            select(ProgrammeSession)
            .join(Programme, Programme.id == ProgrammeSession.programme_id)
            .where(
                whose,
                Programme.published_at.is_not(None),
                ProgrammeSession.status == SessionStatus.SCHEDULED,
                ProgrammeSession.starts_at >= max(window_start, now),
                ProgrammeSession.ends_at <= window_end,
            )
            .options(joinedload(ProgrammeSession.programme))
            .order_by(ProgrammeSession.starts_at, ProgrammeSession.id)
            .limit(limit)
        )
    )


def check_sessions(
    operator_id: int,
    facility: Facility,
    session_ids: Sequence[int],
    check_in: date,
    check_out: date,
    people: int,
    now: datetime,
) -> list[ProgrammeSession]:
    """The chosen sessions, each scheduled, of a published programme the organisation
    runs or held in the facility's municipality, between check-in and check-out (Japan
    days) and not yet begun, with seats for the whole group."""
    ids = list(dict.fromkeys(session_ids))
    if len(ids) > MAX_SESSIONS:
        raise MatchError(
            _l("A proposal can hold at most %(n)d sessions.", n=MAX_SESSIONS), "sessions"
        )
    if not ids:
        return []
    found = {
        s.id: s
        for s in db.session.scalars(
            select(ProgrammeSession)
            .where(ProgrammeSession.id.in_(ids))
            .options(joinedload(ProgrammeSession.programme))
        )
    }
    municipality = facility_municipality(facility)
    chosen = []
    for session_id in ids:
        session = found.get(session_id)
        programme = session.programme if session is not None else None
        if (
            session is None
            or programme.published_at is None
            or session.status != SessionStatus.SCHEDULED
            or not (
                programme.operator_id == operator_id
                or (municipality is not None and programme.municipality_code == municipality)
            )
        ):
            raise MatchError(
                _l("A programme session chosen cannot be offered with this facility."),
                "session_unknown",
            )
        if (
            session.starts_at < now
            or tokyo_day(session.starts_at) < check_in
            or tokyo_day(session.ends_at) > check_out
        ):
            raise MatchError(
                _l("Each programme session must take place during the stay."), "session_dates"
            )
        if session.seats_left < people:
            raise MatchError(
                _l(
                    "A session chosen has %(left)d seats left, fewer than the %(people)d"
                    " people of the request.",
                    left=session.seats_left,
                    people=people,
                ),
                "session_full",
            )
        chosen.append(session)
    return chosen


# --- who may answer ---------------------------------------------------------------------


def _stay_facilities():
    """Listed facilities that lodge guests (an office only has no nights to offer)."""
    return select(Facility).where(Facility.listed, Facility.kind != "office")


def _prefecture_prefix(prefecture: int) -> str:
    return f"{prefecture:02d}"


def answering_operator_ids(prefecture: int | None) -> list[int]:
    """The organisations that may answer a request for ``prefecture`` (None: anywhere)."""
    facilities = _stay_facilities().with_only_columns(Facility.operator_id)
    municipalities = select(OperatorOrg.id).where(
        OperatorOrg.municipality_code.is_not(None), OperatorOrg.suspended_at.is_(None)
    )
    if prefecture is not None:
        facilities = facilities.where(Facility.prefecture == prefecture)
        municipalities = municipalities.where(
            OperatorOrg.municipality_code.startswith(_prefecture_prefix(prefecture))
        )
    ids = set(db.session.scalars(facilities)) | set(db.session.scalars(municipalities))
    return sorted(ids)


def answering_prefectures(operator_id: int) -> set[int]:
    """The prefectures an organisation answers for: where it has a listed facility with
    stays, and its own as a municipality (none when suspended)."""
    org = db.session.get(OperatorOrg, operator_id)
    if org is None or org.suspended_at is not None:
        return set()
    found = set(
        db.session.scalars(
            _stay_facilities()
            .with_only_columns(Facility.prefecture)
            .where(Facility.operator_id == operator_id)
        )
    )
    if org.municipality_code:
        found.add(int(org.municipality_code[:2]))
    return found


def last_check_in(request: MatchRequest) -> date:
    """The last day a stay of the request's nights can begin inside its window."""
    return request.latest - timedelta(days=request.nights)


def answerable(request: MatchRequest, today: date) -> bool:
    """Open, and a stay of its nights can still begin today or later inside the window."""
    return request.status == MatchStatus.OPEN and last_check_in(request) >= today


def may_answer(operator_id: int, request: MatchRequest, now: datetime) -> bool:
    if not answerable(request, tokyo_today(now)):
        return False
    prefectures = answering_prefectures(operator_id)
    if request.prefecture is None:
        return bool(prefectures)
    return request.prefecture in prefectures


def open_requests_for(operator_id: int, now: datetime) -> list[MatchRequest]:
    """The requests the organisation may answer now, newest first."""
    prefectures = answering_prefectures(operator_id)
    if not prefectures:
        return []
    today = tokyo_today(now)
    query = (
        select(MatchRequest)
        .where(
            MatchRequest.status == MatchStatus.OPEN,
            MatchRequest.latest > today,
            MatchRequest.prefecture.is_(None) | MatchRequest.prefecture.in_(sorted(prefectures)),
        )
        .options(joinedload(MatchRequest.company))
        .order_by(MatchRequest.created_at.desc(), MatchRequest.id.desc())
        .limit(LISTED_ON_PAGE)
    )
    return [r for r in db.session.scalars(query) if last_check_in(r) >= today]


def request_for_operator(operator_id: int, request_id: int, now: datetime) -> MatchRequest:
    """A request the organisation may answer now, else ``MatchNotFound``."""
    request = get_by_id(MatchRequest, request_id)
    if request is None or not may_answer(operator_id, request, now):
        raise MatchNotFound(_l("This request is not open to you."))
    return request


def own_stay_facilities(operator_id: int, prefecture: int | None) -> list[Facility]:
    """The organisation's listed facilities with stays (in ``prefecture`` if given)."""
    query = _stay_facilities().where(Facility.operator_id == operator_id).order_by(Facility.id)
    if prefecture is not None:
        query = query.where(Facility.prefecture == prefecture)
    return list(db.session.scalars(query))
