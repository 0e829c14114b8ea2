"""Matching (issue 20): a company posts a request, regions propose, the company decides.

- A company admin posts a ``MatchRequest`` (``post_request``): people, nights, a window
  of dates, where (a prefecture, or anywhere), what kind of programme, whether a hot
  spring is wanted, and the budget for the whole group. Each operator organisation that
  may answer hears of it (``match.requested``, one event per organisation).
- Who may answer (``may_answer``): an organisation with a listed facility offering stays
  in the request's prefecture (any prefecture for "anywhere"), and a municipality's
  organisation (``OperatorOrg.municipality_code``) in that prefecture. Suspended
  organisations answer nothing. A request is answerable while it is open and a stay of
  its nights can still begin within its window, today or later (``open_requests_for``).
- An answering organisation proposes (``propose``) one of its own facilities in the
  request's prefecture, dates inside the window exactly ``nights`` long, and optionally
  programme sessions (of programmes it published, or held in the facility's
  municipality) within those dates. The price (``price_proposal``) is the nights of the
  cheapest rooms free on every night, one room per person (rooms are not shared: each
  employee holds their own stay, and a unit's night is held by one stay), plus each
  session's fee per person × people. A facility with fewer free rooms than people is
  refused, naming the nights that are short.
- The organisation withdraws its own proposal; the company declines one, closes its
  request, or accepts one into bookings (``booking.match_booking``, which calls
  ``mark_accepted`` under the request's lock: of two acceptances at once, one wins).

Stays are known by id only: this package sits below ``booking``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from accounts import events
from accounts.models import Role, User
from core.dates import stay_nights
from core.db import get_by_id, tokyo_today
from core.extensions import db
from core.i18n import format_day
from facilities.models import Facility
from regions.match_offer import (
    LISTED_ON_PAGE,
    FreeRoom,
    MatchError,
    MatchNotFound,
    answering_operator_ids,
    check_sessions,
    own_stay_facilities,
    request_for_operator,
    rooms_for,
    session_fee,
)
from regions.models import (
    MatchProposal,
    MatchRequest,
    MatchStatus,
    ProgrammeKind,
    ProgrammeSession,
    ProposalStatus,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_MESSAGE = 2000
MAX_PEOPLE = 200
MAX_NIGHTS = 30
MAX_BUDGET = 2_000_000_000  # yen: the column is a 32-bit integer
MAX_WINDOW_DAYS = 366  # a window longer than a year is a typo
MAX_OPEN_PROPOSALS = 5  # proposals one organisation has open on one request


# --- the request ------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestInput:
    """What a company asks for (plain values from the form)."""

    title: str
    description: str
    people: int
    nights: int
    earliest: date  # the first day the stay may begin
    latest: date  # the last day it may end (check-out)
    prefecture: int | None  # None: anywhere
    programme_kind: str | None  # None: any kind
    wants_onsen: bool
    budget: int  # yen, tax included, for the whole group


def check_request_input(data: RequestInput, today: date, horizon_days: int) -> None:
    """The request's own rules; ``MatchError`` with a code naming the field."""
    if not data.title.strip() or len(data.title.strip()) > MAX_TITLE:
        raise MatchError(
            _l("Give the request a title of at most %(n)d characters.", n=MAX_TITLE), "title"
        )
    if len(data.description) > MAX_DESCRIPTION:
        raise MatchError(
            _l("The description can be at most %(n)d characters.", n=MAX_DESCRIPTION),
            "description",
        )
    if not 1 <= data.people <= MAX_PEOPLE:
        raise MatchError(_l("People must be from 1 to %(n)d.", n=MAX_PEOPLE), "people")
    if not 1 <= data.nights <= MAX_NIGHTS:
        raise MatchError(_l("Nights must be from 1 to %(n)d.", n=MAX_NIGHTS), "nights")
    if data.earliest < today:
        raise MatchError(_l("The window cannot begin in the past."), "window_past")
    if data.earliest > today + timedelta(days=horizon_days):
        raise MatchError(
            _l("Stays can be booked up to %(days)d days ahead.", days=horizon_days),
            "window_horizon",
        )
    if (data.latest - data.earliest).days < data.nights:
        raise MatchError(
            _l("The window must be at least as long as the nights asked for."), "window_short"
        )
    if (data.latest - data.earliest).days > MAX_WINDOW_DAYS:
        raise MatchError(_l("The window can be at most a year long."), "window_long")
    if data.prefecture is not None and not 1 <= data.prefecture <= 47:
        raise MatchError(_l("Choose a prefecture, or anywhere."), "prefecture")
    if data.programme_kind is not None and data.programme_kind not in set(ProgrammeKind):
        raise MatchError(_l("Choose a kind of programme, or any."), "programme_kind")
    if not 1 <= data.budget <= MAX_BUDGET:
        raise MatchError(_l("The budget must be a positive amount of yen."), "budget")


def require_company_admin(actor: User) -> None:
    if actor.role != Role.COMPANY_ADMIN or actor.company_id is None:
        raise MatchNotFound(_l("Only a company admin can do this."))


def require_operator(actor: User) -> None:
    if not actor.runs_facilities:
        raise MatchNotFound(_l("Only an operator organisation can do this."))


def post_request(
    admin: User, data: RequestInput, now: datetime, *, horizon_days: int = 180
) -> MatchRequest:
    """Post the company's request and tell every organisation that may answer it."""
    require_company_admin(admin)
    check_request_input(data, tokyo_today(now), horizon_days)
    request = MatchRequest(
        company_id=admin.company_id,
        created_by_id=admin.id,
        title=data.title.strip(),
        description=data.description.strip(),
        people=data.people,
        nights=data.nights,
        earliest=data.earliest,
        latest=data.latest,
        prefecture=data.prefecture,
        programme_kind=data.programme_kind,
        wants_onsen=data.wants_onsen,
        budget=data.budget,
        status=MatchStatus.OPEN,
        created_at=now,
    )
    db.session.add(request)
    db.session.flush()
    for operator_id in answering_operator_ids(data.prefecture):
        events.emit(
            events.MATCH_REQUESTED,
            now,
            operator_id=operator_id,
            actor_id=admin.id,
            subject=("match_request", request.id),
            data={"title": request.title},
        )
    return request


# --- reading, per tenant -----------------------------------------------------------------


def requests_of_company(company_id: int) -> list[MatchRequest]:
    return list(
        db.session.scalars(
            select(MatchRequest)
            .where(MatchRequest.company_id == company_id)
            .order_by(MatchRequest.created_at.desc(), MatchRequest.id.desc())
            .limit(LISTED_ON_PAGE)
        )
    )


def request_of_company(company_id: int, request_id: int) -> MatchRequest:
    request = get_by_id(MatchRequest, request_id)
    if request is None or request.company_id != company_id:
        raise MatchNotFound(_l("No such request."))
    return request


def proposals_of(request: MatchRequest) -> list[MatchProposal]:
    return list(
        db.session.scalars(
            select(MatchProposal)
            .where(MatchProposal.request_id == request.id)
            .options(
                joinedload(MatchProposal.operator),
                selectinload(MatchProposal.sessions).joinedload(ProgrammeSession.programme),
            )
            .order_by(MatchProposal.created_at, MatchProposal.id)
        )
    )


def proposal_count(request_ids: Iterable[int]) -> dict[int, int]:
    """Open proposals per request (for the company's list)."""
    ids = list(request_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(MatchProposal.request_id, func.count())
        .where(MatchProposal.request_id.in_(ids), MatchProposal.status == ProposalStatus.PROPOSED)
        .group_by(MatchProposal.request_id)
    )
    return {request_id: count for request_id, count in rows}


def proposal_of_company(company_id: int, proposal_id: int) -> MatchProposal:
    proposal = get_by_id(MatchProposal, proposal_id)
    if proposal is None or proposal.request.company_id != company_id:
        raise MatchNotFound(_l("No such proposal."))
    return proposal


def proposals_of_operator(operator_id: int) -> list[MatchProposal]:
    return list(
        db.session.scalars(
            select(MatchProposal)
            .where(MatchProposal.operator_id == operator_id)
            .options(joinedload(MatchProposal.request).joinedload(MatchRequest.company))
            .order_by(MatchProposal.created_at.desc(), MatchProposal.id.desc())
            .limit(LISTED_ON_PAGE)
        )
    )


def proposal_of_operator(operator_id: int, proposal_id: int) -> MatchProposal:
    proposal = get_by_id(MatchProposal, proposal_id)
    if proposal is None or proposal.operator_id != operator_id:
        raise MatchNotFound(_l("No such proposal."))
    return proposal


def facility_of(proposal: MatchProposal) -> Facility:
    return db.session.get(Facility, proposal.facility_id)


# --- the proposal -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalInput:
    facility_id: int
    check_in: date
    check_out: date
    session_ids: tuple[int, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class ProposalPrice:
    """What a proposal costs the group: the rooms' nights and the sessions' fees."""

    facility: Facility
    check_in: date
    check_out: date
    people: int
    rooms: list[FreeRoom]
    sessions: list[ProgrammeSession] = field(default_factory=list)

    @property
    def nights(self) -> list[date]:
        return stay_nights(self.check_in, self.check_out)

    @property
    def night_totals(self) -> list[tuple[date, int]]:
        """Each night's price of all the rooms."""
        return [
            (night, sum(room.prices[i].price for room in self.rooms))
            for i, night in enumerate(self.nights)
        ]

    @property
    def rooms_total(self) -> int:
        return sum(room.total for room in self.rooms)

    @property
    def session_fees(self) -> list[tuple[ProgrammeSession, int, int]]:
        """Each session, its fee per person and for the group."""
        return [(s, session_fee(s), session_fee(s) * self.people) for s in self.sessions]

    @property
    def fees_total(self) -> int:
        return sum(total for _s, _each, total in self.session_fees)

    @property
    def total(self) -> int:
        return self.rooms_total + self.fees_total


def _own_facility(operator_id: int, request: MatchRequest, facility_id: int) -> Facility:
    for facility in own_stay_facilities(operator_id, request.prefecture):
        if facility.id == facility_id:
            return facility
    raise MatchError(
        _l("Choose one of your facilities with stays in the prefecture asked for."), "facility"
    )


def check_dates(
    request: MatchRequest,
    facility: Facility,
    check_in: date,
    check_out: date,
    today: date,
    horizon_days: int,
) -> None:
    """Inside the request's window, exactly its nights, not past, within the horizon and
    the facility's shortest and longest stay."""
    if check_in < request.earliest or check_out > request.latest:
        raise MatchError(
            _l(
                "The stay must lie between %(first)s and %(last)s.",
                first=LazyString(format_day, request.earliest, "short"),
                last=LazyString(format_day, request.latest, "short"),
            ),
            "dates_window",
        )
    if (check_out - check_in).days != request.nights:
        raise MatchError(
            _l("The stay must be exactly %(n)d nights.", n=request.nights), "dates_nights"
        )
    if check_in < today:
        raise MatchError(_l("Check-in cannot be in the past."), "dates_past")
    if check_in > today + timedelta(days=horizon_days):
        raise MatchError(
            _l("Stays can be booked up to %(days)d days ahead.", days=horizon_days),
            "dates_horizon",
        )
    if not facility.min_nights <= request.nights <= facility.max_nights:
        raise MatchError(
            _l(
                "This facility takes stays of %(min)d to %(max)d nights.",
                min=facility.min_nights,
                max=facility.max_nights,
            ),
            "facility_nights",
        )


def price_proposal(
    actor: User,
    request_id: int,
    proposal: ProposalInput,
    now: datetime,
    *,
    horizon_days: int = 180,
) -> ProposalPrice:
    """Every rule ``propose`` applies, and the price, without proposing: for the page
    that shows the price before it is sent."""
    require_operator(actor)
    request = request_for_operator(actor.operator_id, request_id, now)
    facility = _own_facility(actor.operator_id, request, proposal.facility_id)
    check_dates(
        request, facility, proposal.check_in, proposal.check_out, tokyo_today(now), horizon_days
    )
    if len(proposal.message) > MAX_MESSAGE:
        raise MatchError(
            _l("The message can be at most %(n)d characters.", n=MAX_MESSAGE), "message"
        )
    sessions = check_sessions(
        actor.operator_id,
        facility,
        proposal.session_ids,
        proposal.check_in,
        proposal.check_out,
        request.people,
        now,
    )
    rooms = rooms_for(facility.id, proposal.check_in, proposal.check_out, request.people)
    return ProposalPrice(
        facility, proposal.check_in, proposal.check_out, request.people, rooms, sessions
    )


def propose(
    actor: User,
    request_id: int,
    proposal: ProposalInput,
    now: datetime,
    *,
    expected_price: int | None = None,
    horizon_days: int = 180,
) -> MatchProposal:
    """Send a proposal for the request, priced now (``price_proposal``). With
    ``expected_price`` (the price the operator was shown), a price that moved since is
    refused (``price_changed``) rather than sent unseen. Tells the company
    (``match.proposed``)."""
    require_operator(actor)
    request = lock_request(request_id)
    if request is None:
        raise MatchNotFound(_l("This request is not open to you."))
    price = price_proposal(actor, request_id, proposal, now, horizon_days=horizon_days)
    if expected_price is not None and price.total != expected_price:
        raise MatchError(
            _l("The price has changed since it was shown. Please check it and send again."),
            "price_changed",
        )
    open_ones = db.session.scalar(
        select(func.count())
        .select_from(MatchProposal)
        .where(
            MatchProposal.request_id == request.id,
            MatchProposal.operator_id == actor.operator_id,
            MatchProposal.status == ProposalStatus.PROPOSED,
        )
    )
    if open_ones >= MAX_OPEN_PROPOSALS:
        raise MatchError(
            _l(
                "You already have %(n)d open proposals for this request. Withdraw one first.",
                n=MAX_OPEN_PROPOSALS,
            ),
            "too_many",
        )
    made = MatchProposal(
        request_id=request.id,
        operator_id=actor.operator_id,
        facility_id=price.facility.id,
        check_in=proposal.check_in,
        check_out=proposal.check_out,
        price=price.total,
        message=proposal.message.strip(),
        status=ProposalStatus.PROPOSED,
        created_at=now,
        sessions=list(price.sessions),
    )
    db.session.add(made)
    db.session.flush()
    events.emit(
        events.MATCH_PROPOSED,
        now,
        company_id=request.company_id,
        actor_id=actor.id,
        subject=("match_request", request.id),
        data={"title": request.title, "proposal_id": made.id},
    )
    return made


# --- decisions --------------------------------------------------------------------------


def lock_request(request_id: int) -> MatchRequest | None:
    """The request's row, locked until the transaction ends and read as of the lock:
    every decision on a request or its proposals takes it first."""
    return db.session.scalar(
        select(MatchRequest)
        .where(MatchRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _lock_proposal(proposal_id: int) -> MatchProposal | None:
    return db.session.scalar(
        select(MatchProposal)
        .where(MatchProposal.id == proposal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_for_decision(company_id: int, proposal_id: int) -> tuple[MatchRequest, MatchProposal]:
    """The company's proposal and its request, locked (the request first), both still
    open; else ``MatchNotFound`` (another company's) or ``MatchError``."""
    proposal = get_by_id(MatchProposal, proposal_id)
    if proposal is None:
        raise MatchNotFound(_l("No such proposal."))
    request = lock_request(proposal.request_id)
    proposal = _lock_proposal(proposal_id)
    if request is None or proposal is None or request.company_id != company_id:
        raise MatchNotFound(_l("No such proposal."))
    if request.status != MatchStatus.OPEN:
        raise MatchError(_l("This request has already been decided."), "request_decided")
    if proposal.status != ProposalStatus.PROPOSED:
        raise MatchError(_l("This proposal is no longer open."), "proposal_decided")
    return request, proposal


def withdraw(actor: User, proposal_id: int, now: datetime) -> MatchProposal:
    """The proposing organisation takes back its own open proposal."""
    require_operator(actor)
    proposal = proposal_of_operator(actor.operator_id, proposal_id)
    lock_request(proposal.request_id)
    proposal = _lock_proposal(proposal_id)
    if proposal.status != ProposalStatus.PROPOSED:
        raise MatchError(_l("This proposal is no longer open."), "proposal_decided")
    proposal.status = ProposalStatus.WITHDRAWN
    proposal.decided_at = now
    db.session.flush()
    return proposal


def decline(admin: User, proposal_id: int, now: datetime) -> MatchProposal:
    """The company declines one open proposal; the request stays open."""
    require_company_admin(admin)
    _request, proposal = lock_for_decision(admin.company_id, proposal_id)
    proposal.status = ProposalStatus.DECLINED
    proposal.decided_at = now
    db.session.flush()
    return proposal


def close_request(admin: User, request_id: int, now: datetime) -> MatchRequest:
    """The company closes its open request: its open proposals are declined."""
    require_company_admin(admin)
    request = lock_request(request_id)
    if request is None or request.company_id != admin.company_id:
        raise MatchNotFound(_l("No such request."))
    if request.status != MatchStatus.OPEN:
        raise MatchError(_l("This request has already been decided."), "request_decided")
    request.status = MatchStatus.CLOSED
    request.decided_at = now
    _decline_open(request.id, now)
    db.session.flush()
    return request


def _decline_open(request_id: int, now: datetime, *, but: int | None = None) -> None:
    for other in db.session.scalars(
        select(MatchProposal)
        .where(
            MatchProposal.request_id == request_id,
            MatchProposal.status == ProposalStatus.PROPOSED,
            MatchProposal.id != (but or 0),
        )
        .with_for_update()
    ):
        other.status = ProposalStatus.DECLINED
        other.decided_at = now


def mark_accepted(
    request: MatchRequest, proposal: MatchProposal, admin: User, now: datetime
) -> None:
    """Record the acceptance (both locked by ``lock_for_decision``): the proposal and the
    request accepted, the other open proposals declined, the proposing organisation told
    (``match.accepted``). The stays themselves are ``booking.match_booking``'s."""
    proposal.status = ProposalStatus.ACCEPTED
    proposal.decided_at = now
    request.status = MatchStatus.ACCEPTED
    request.decided_at = now
    _decline_open(request.id, now, but=proposal.id)
    db.session.flush()
    events.emit(
        events.MATCH_ACCEPTED,
        now,
        operator_id=proposal.operator_id,
        actor_id=admin.id,
        subject=("match_request", request.id),
        data={"title": request.title, "proposal_id": proposal.id},
    )
