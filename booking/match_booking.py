"""A matching proposal accepted into stays (issue 20; the matching itself is
``regions.matching``).

The company admin accepts a region's proposal for some of the company's employees (1 to
the request's people, active members of the company). In one transaction, all or
nothing:

- one confirmed stay per employee at the proposal's facility and dates, each in a room
  of its own with one guest: rooms are not shared, since a room's night is held by one
  stay (``UNIQUE(unit_id, night)``) and each employee has their stay on their own "My
  stays" page. Rooms are given out cheapest first (``regions.match_offer.free_rooms``), as
  the proposal was priced. A night taken meanwhile refuses the whole acceptance and
  names the nights (``NightsTaken``); nothing is booked.
- The company pays everything from its credit: ``employee_part`` is 0 whatever the
  employee's group subsidy, and no approval is asked: the admin's acceptance is the
  company's approval. ``booking.services.book_stay`` always applies the employee's own
  policy (approval, co-pay, monthly yen allowance), so the stays are made here from its
  parts: ``check_request`` (dates, the room on sale, the facility's and the company's
  nights per stay), ``check_monthly_cap`` (the company's nights per employee and
  month), the 180-night cap of a 住宅宿泊事業 house, the policy's default purpose, the
  occupancy claim, and the spend written as ``spend_for_booking`` writes it (the price
  and the accommodation tax, with overage), without the employee's monthly yen
  allowance (``employee_cap=False``: the company decided, not the employee).
- Each employee is signed up for the proposal's programme sessions
  (``regions.places.join``, one participant, with their new stay); a credit-paid
  fee is charged as any sign-up's. A session without a seat refuses the acceptance.
- The proposal and the request become accepted, the request's other open proposals
  declined, the proposing organisation told (``regions.matching.mark_accepted``).

Two admins accepting two proposals of one request at once: each locks the request's row
first (``lock_for_decision``), so the second sees it accepted and is refused.

``plan_acceptance`` runs the same rules without writing, for the confirm page: each
night's total, the grand total charged to the credit, and the credit left after.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit, events
from accounts.models import COMPANY_ROLES, Company, User
from availability.changes import nights_changed
from availability.models import Occupancy
from availability.night_cap import check_night_cap
from billing import ledger
from billing.credit_alerts import warn_if_low
from billing.ledger import CreditRefused
from billing.models import EntryKind
from booking.announce import booking_parties
from booking.models import Booking, BookingNight, BookingStatus, StayWorkDay
from booking.purpose import stay_purpose
from booking.services import (
    BookingConflict,
    BookingError,
    PriceChanged,
    StayRequest,
    billing_refusals,
    check_monthly_cap,
    check_request,
    insert_occupancy,
    night_cap_refusal,
    policy_refusals,
    taken_refusal,
)
from booking.stay_tax import night_taxes
from core.dates import stay_nights
from core.db import in_id_range
from core.extensions import db
from core.i18n import format_day, format_yen
from facilities.models import Facility
from lodging.tax import TaxTable
from pricing.engine import lock_prices
from regions import match_offer, matching, places
from regions.match_offer import FreeRoom, MatchError
from regions.models import (
    MatchProposal,
    MatchRequest,
    MatchStatus,
    PriceKind,
    ProgrammeSession,
    ProposalStatus,
    SessionStatus,
)
from regions.organise_sessions import lock_session

MATCH_KEY = "match-{proposal_id}"  # Booking.request_key of a proposal's stays


class NightsTaken(MatchError):
    """A night of a room was taken while the acceptance was being written."""

    code = "taken"

    def __init__(self, message, nights: list[date]):
        super().__init__(message)
        self.nights = nights


@dataclass(frozen=True)
class PlannedStay:
    employee: User
    room: FreeRoom
    taxes: list[int]

    @property
    def prices(self) -> list[int]:
        return [p.price for p in self.room.prices]

    @property
    def total(self) -> int:
        return self.room.total

    @property
    def tax(self) -> int:
        return sum(self.taxes)


@dataclass(frozen=True)
class ProgrammeLine:
    session: ProgrammeSession
    each: int  # yen per participant
    people: int

    @property
    def total(self) -> int:
        return self.each * self.people

    @property
    def from_credit(self) -> bool:
        return self.session.programme.price_kind == PriceKind.CREDIT


@dataclass(frozen=True)
class AcceptPlan:
    """What accepting would book and charge, for the confirm page and the acceptance."""

    request: MatchRequest
    proposal: MatchProposal
    facility: Facility
    stays: list[PlannedStay]
    programmes: list[ProgrammeLine]
    credit_balance: int  # the company's credit now
    overage: int = 0  # what the charge needs beyond the credit (billed next invoice)
    credit_refusal: str | None = None  # why the credit cannot pay (then no button)

    @property
    def nights(self) -> list[date]:
        return stay_nights(self.proposal.check_in, self.proposal.check_out)

    @property
    def night_lines(self) -> list[tuple[date, int, int, int]]:
        """Each night: the rooms' prices, their accommodation tax, and both together."""
        lines = []
        for i, night in enumerate(self.nights):
            price = sum(s.prices[i] for s in self.stays)
            tax = sum(s.taxes[i] for s in self.stays)
            lines.append((night, price, tax, price + tax))
        return lines

    @property
    def rooms_total(self) -> int:
        return sum(s.total for s in self.stays)

    @property
    def tax_total(self) -> int:
        return sum(s.tax for s in self.stays)

    @property
    def programme_credit(self) -> int:
        return sum(line.total for line in self.programmes if line.from_credit)

    @property
    def programme_local(self) -> int:
        return sum(line.total for line in self.programmes if not line.from_credit)

    @property
    def charged_total(self) -> int:
        """Everything taken from the company's credit: rooms, tax, credit-paid fees."""
        return self.rooms_total + self.tax_total + self.programme_credit

    @property
    def credit_after(self) -> int:
        return max(self.credit_balance - self.charged_total, 0)


@dataclass(frozen=True)
class Acceptance:
    proposal: MatchProposal
    bookings: list[Booking]


def _refused_for(employee: User, exc: BookingError) -> MatchError:
    return MatchError(_l("%(name)s: %(reason)s", name=employee.name, reason=exc.message), exc.code)


def chosen_employees(
    company_id: int, employee_ids: list[int], people: int, *, lock: bool = False
) -> list[User]:
    """The employees chosen, each an active member of the company, 1 to ``people`` of
    them, in the order chosen; locked when asked (in id order, as ``book_stay`` locks
    one)."""
    ids = list(dict.fromkeys(employee_ids))
    if not ids:
        raise MatchError(_l("Choose at least one employee."), "employees_none")
    if len(ids) > people:
        raise MatchError(
            _l("The request is for %(n)d people; choose at most as many.", n=people),
            "employees_too_many",
        )
    query = select(User).where(
        User.id.in_([i for i in ids if in_id_range(i)]), User.company_id == company_id
    )
    if lock:
        query = query.order_by(User.id).with_for_update().execution_options(populate_existing=True)
    found = {u.id: u for u in db.session.scalars(query)}
    if set(found) != set(ids):
        raise MatchError(_l("Choose employees of your company."), "employee_unknown")
    for user in found.values():
        if not user.active or user.role not in COMPANY_ROLES:
            raise MatchError(
                _l("%(name)s's account is not active.", name=user.name), "employee_inactive"
            )
    return [found[i] for i in ids]


def _programme_lines(
    proposal: MatchProposal, company: Company, people: int, now: datetime
) -> list[ProgrammeLine]:
    lines = [
        ProgrammeLine(session, match_offer.session_fee(session), people)
        for session in sorted(proposal.sessions, key=lambda s: (s.starts_at, s.id))
    ]
    for line in lines:
        session = line.session
        if session.status != SessionStatus.SCHEDULED or session.starts_at <= now:
            raise MatchError(
                _l(
                    "A programme session of this proposal has been cancelled or has begun."
                    " Please decline the proposal, or ask the region for a new one."
                ),
                "session_gone",
            )
        if session.seats_left < people:
            raise MatchError(
                _l(
                    "A programme session of this proposal has %(left)d seats left. Choose"
                    " at most as many employees.",
                    left=session.seats_left,
                ),
                "session_full",
            )
    if any(line.from_credit for line in lines) and not company.programmes_on_credit:
        raise MatchError(
            _l(
                "A programme of this proposal is paid from the company's credit, which your"
                " booking policy does not allow. Allow programmes on credit first, or"
                " decline the proposal."
            ),
            "programme_credit",
        )
    return lines


def _plan(
    admin: User,
    request: MatchRequest,
    proposal: MatchProposal,
    employee_ids: list[int],
    now: datetime,
    *,
    lock: bool,
    horizon_days: int,
    grace_days: int,
) -> AcceptPlan:
    company = db.session.get(Company, admin.company_id)
    employees = chosen_employees(company.id, employee_ids, request.people, lock=lock)
    facility = matching.facility_of(proposal)
    check_in, check_out = proposal.check_in, proposal.check_out
    nights = stay_nights(check_in, check_out)
    if lock:
        lock_prices(facility.id, shared=True)  # no pricing run between read and commit
    rooms = match_offer.rooms_for(facility.id, check_in, check_out, len(employees))
    table = TaxTable.load()
    stays = []
    for employee, room in zip(employees, rooms, strict=True):
        stay = StayRequest(room.unit.id, check_in, check_out, guests=1)
        try:
            unit, _company, _nights = check_request(employee, stay, now, horizon_days)
            check_monthly_cap(employee, company, nights)
            with night_cap_refusal():
                check_night_cap(unit, nights, lock=lock)
        except BookingError as exc:
            raise _refused_for(employee, exc) from None
        prices = [p.price for p in room.prices]
        taxes = night_taxes(facility, zip(nights, prices, strict=True), 1, table)
        stays.append(PlannedStay(employee, room, taxes))
    lines = _programme_lines(proposal, company, len(employees), now)
    # Read, not locked: the spend locks the account later (a credit-paid programme fee
    # locks its session first, then the account, as an employee's own sign-up does).
    account = ledger.account_of(company.id)
    plan = AcceptPlan(request, proposal, facility, stays, lines, account.credit_balance)
    try:
        overage = ledger.check_spend(
            account,
            admin,
            plan.rooms_total + plan.programme_credit,
            now,
            grace_days,
            tax=plan.tax_total,
            employee_cap=False,
        )
    except CreditRefused as exc:
        return replace(plan, credit_refusal=str(exc.message))
    return replace(plan, overage=overage)


def plan_acceptance(
    admin: User,
    proposal_id: int,
    employee_ids: list[int],
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = 7,
) -> AcceptPlan:
    """What accepting ``proposal_id`` for ``employee_ids`` would book and charge now
    (nothing locked or written): every rule of ``accept_proposal`` but the race."""
    matching.require_company_admin(admin)
    proposal = matching.proposal_of_company(admin.company_id, proposal_id)
    request = proposal.request
    if request.status != MatchStatus.OPEN:
        raise MatchError(_l("This request has already been decided."), "request_decided")
    if proposal.status != ProposalStatus.PROPOSED:
        raise MatchError(_l("This proposal is no longer open."), "proposal_decided")
    return _plan(
        admin,
        request,
        proposal,
        employee_ids,
        now,
        lock=False,
        horizon_days=horizon_days,
        grace_days=grace_days,
    )


def accept_proposal(
    admin: User,
    proposal_id: int,
    employee_ids: list[int],
    now: datetime,
    *,
    expected_total: int | None = None,
    horizon_days: int = 180,
    grace_days: int = 7,
) -> Acceptance:
    """Accept the proposal into one confirmed, company-paid stay per chosen employee and
    their programme places, all or nothing (see the module). With ``expected_total``
    (the grand total the confirm page showed), a total that moved since is refused
    (``PriceChanged``) rather than charged unseen."""
    matching.require_company_admin(admin)
    request, proposal = matching.lock_for_decision(admin.company_id, proposal_id)
    plan = _plan(
        admin,
        request,
        proposal,
        employee_ids,
        now,
        lock=True,
        horizon_days=horizon_days,
        grace_days=grace_days,
    )
    if expected_total is not None and plan.charged_total != expected_total:
        raise PriceChanged(
            _l(
                "The total has changed to %(total)s since it was shown. Please check the"
                " new amounts and confirm again.",
                total=LazyString(format_yen, plan.charged_total),
            )
        )
    if plan.credit_refusal is not None:
        raise MatchError(plan.credit_refusal, "credit")
    bookings = [_book(plan, stay, admin, now) for stay in plan.stays]
    nights_changed(plan.facility.id, proposal.check_in, proposal.check_out)
    # Places first, then the stays' spend: every session locked first, in id order, then
    # the company's account (a credit-paid fee), as the other paths take them.
    for session_id in sorted({line.session.id for line in plan.programmes}):
        lock_session(session_id)
    for booking in bookings:
        for line in plan.programmes:
            places.join(
                line.session.id,
                booking.user,
                1,
                now,
                booking_id=booking.id,
                has_stay=True,
                waitlist=False,
                grace_days=grace_days,
            )
    _charge(plan, bookings, now, grace_days)
    for booking in bookings:
        events.emit(
            events.BOOKING_CREATED,
            now,
            **booking_parties(booking, admin.id),
            subject=("booking", booking.id),
        )
    matching.mark_accepted(request, proposal, admin, now)
    audit.record(
        "match.accepted",
        now,
        actor=admin,
        object_type="match_proposal",
        object_id=proposal.id,
        company_id=admin.company_id,
        after={
            "request_id": request.id,
            "booking_ids": [b.id for b in bookings],
            "charged": plan.charged_total,
        },
    )
    db.session.flush()
    return Acceptance(proposal, bookings)


def _book(plan: AcceptPlan, stay: PlannedStay, admin: User, now: datetime) -> Booking:
    employee, unit = stay.employee, stay.room.unit
    check_in, check_out = plan.proposal.check_in, plan.proposal.check_out
    try:
        with policy_refusals():
            purpose, work_days = stay_purpose(
                employee, StayRequest(unit.id, check_in, check_out, guests=1)
            )
    except BookingError as exc:
        raise _refused_for(employee, exc) from None
    nights = plan.nights
    booking = Booking(
        user_id=employee.id,
        company_id=plan.request.company_id,
        unit_id=unit.id,
        check_in=check_in,
        check_out=check_out,
        guests=1,
        status=BookingStatus.CONFIRMED,
        total_price=stay.total,
        accommodation_tax=stay.tax,
        request_key=MATCH_KEY.format(proposal_id=plan.proposal.id),
        created_at=now,
        nights=[
            BookingNight(night=n, price=p, accommodation_tax=t)
            for n, p, t in zip(nights, stay.prices, stay.taxes, strict=True)
        ],
        purpose=purpose,
        work_days=[StayWorkDay(day=day) for day in work_days],
        employee_part=0,
    )
    try:
        with taken_refusal(), db.session.begin_nested():
            db.session.add(booking)
            db.session.flush()
            insert_occupancy(booking.id, unit.id, nights)
    except BookingConflict:
        taken = taken_nights(unit.id, check_in, check_out)
        raise NightsTaken(
            _l(
                "Sorry, %(room)s was just taken on %(nights)s. Nothing has been booked;"
                " please look at the proposal again.",
                room=unit.name,
                nights=", ".join(format_day(n, "short") for n in taken),
            ),
            taken,
        ) from None
    return booking


def taken_nights(unit_id: int, check_in: date, check_out: date) -> list[date]:
    return list(
        db.session.scalars(
            select(Occupancy.night)
            .where(
                Occupancy.unit_id == unit_id,
                Occupancy.night >= check_in,
                Occupancy.night < check_out,
            )
            .order_by(Occupancy.night)
        )
    )


def _charge(plan: AcceptPlan, bookings: list[Booking], now: datetime, grace_days: int) -> None:
    """Each stay's price and accommodation tax from the company's credit, under its
    account lock, as ``ledger.spend_for_booking`` writes them, without the employee's
    own monthly allowance."""
    account = ledger.account_of(plan.request.company_id, lock=True)
    for booking in bookings:
        with billing_refusals():
            overage = ledger.check_spend(
                account,
                booking.user,
                booking.total_price,
                now,
                grace_days,
                tax=booking.accommodation_tax,
                employee_cap=False,
            )
        refs = {"booking_id": booking.id, "user_id": booking.user_id}
        if overage:
            ledger.append(account, EntryKind.OVERAGE, overage, now, **refs)
        if booking.total_price:
            ledger.append(account, EntryKind.SPEND, -booking.total_price, now, **refs)
        if booking.accommodation_tax:
            ledger.append(
                account, EntryKind.ACCOMMODATION_TAX, -booking.accommodation_tax, now, **refs
            )
    warn_if_low(account, now)


def stays_of_proposal(proposal: MatchProposal) -> list[Booking]:
    """The stays an accepted proposal booked (its request key on each), by guest name."""
    return list(
        db.session.scalars(
            select(Booking)
            .join(User, User.id == Booking.user_id)
            .where(
                Booking.company_id == proposal.request.company_id,
                Booking.request_key == MATCH_KEY.format(proposal_id=proposal.id),
            )
            .order_by(User.name, Booking.id)
        )
    )
