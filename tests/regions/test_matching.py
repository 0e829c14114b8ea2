"""Matching (issue 20): requests, who sees them, proposals and their price, and a
proposal accepted into stays, all or nothing, once (``regions.matching``,
``booking.match_booking``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts import events
from accounts.models import OperatorOrg, Role, User
from billing import ledger
from billing.models import CreditEntry, EntryKind
from booking import match_booking
from booking.models import Booking, BookingStatus
from booking.services import PriceChanged, StayRequest, book_stay
from facilities.models import Facility, Unit
from pricing.models import NightlyPrice
from regions import match_offer, matching
from regions.match_offer import MatchError, MatchNotFound, NotEnoughRooms
from regions.matching import ProposalInput, RequestInput
from regions.models import (
    MatchProposal,
    MatchRequest,
    MatchStatus,
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
    ProposalStatus,
    SignupStatus,
)
from tests.booking.test_race import race
from tests.conftest import NOW, days

KARUIZAWA = "203211"  # 長野県北佐久郡軽井沢町
KARUIZAWA_POSTAL = "3890102"
NAGANO = 20
TOKYO_PREF = 13


def request_input(**changes) -> RequestInput:
    base = RequestInput(
        title="チームビルディング合宿",
        description="温泉の近くで3日間",
        people=2,
        nights=2,
        earliest=days(10),
        latest=days(20),
        prefecture=NAGANO,
        programme_kind=None,
        wants_onsen=True,
        budget=200_000,
    )
    return replace(base, **changes)


def make_session(
    db,
    operator: OperatorOrg,
    day: date,
    *,
    price_kind: str = "local",
    price: int = 3000,
    capacity: int = 10,
    municipality_code: str = KARUIZAWA,
    published: bool = True,
) -> ProgrammeSession:
    """A published programme of ``operator`` with one session 10:00–12:00 (Japan) on
    ``day``; committed."""
    programme = Programme(
        operator_id=operator.id,
        kind="experience",
        title_ja="そば打ち体験",
        title_en="Soba making",
        municipality_code=municipality_code,
        prefecture=int(municipality_code[:2]),
        latitude=36.34,
        longitude=138.63,
        capacity=capacity,
        price_kind=price_kind,
        price=price if price_kind != "free" else 0,
        published_at=NOW if published else None,
    )
    db.session.add(programme)
    db.session.flush()
    starts = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)  # 10:00 in Japan
    session = ProgrammeSession(
        programme_id=programme.id,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        capacity=capacity,
    )
    db.session.add(session)
    db.session.commit()
    return session


@dataclass
class World:
    company: object
    admin: User
    employees: list[User]
    org: OperatorOrg  # a facility in Karuizawa, Nagano
    operator: User
    facility: Facility
    units: list[Unit]  # ¥10,000, ¥12,000, ¥15,000 a night
    tokyo_org: OperatorOrg  # a facility in Tokyo only
    tokyo_operator: User
    town: OperatorOrg  # the municipality of Karuizawa, no facility
    town_operator: User
    suspended: OperatorOrg  # a facility in Nagano, suspended


@pytest.fixture
def world(db, make_company, make_user, make_operator, make_facility, make_unit) -> World:
    company = make_company(programmes_on_credit=True)
    admin = make_user(Role.COMPANY_ADMIN, company=company, name="管理者")
    employees = [make_user(Role.EMPLOYEE, company=company, name=f"社員{i}") for i in range(3)]
    org = make_operator(name="軽井沢リゾート")
    facility = make_facility(operator=org, postal_code=KARUIZAWA_POSTAL, onsen=True)
    units = [
        make_unit(facility=facility, name=f"{n}号室", base_price=price)
        for n, price in ((101, 10_000), (102, 12_000), (103, 15_000))
    ]
    tokyo_org = make_operator(name="東京ステイ")
    make_facility(operator=tokyo_org, prefecture=TOKYO_PREF, municipality="千代田区")
    town = make_operator(name="軽井沢町", kind="municipality", municipality_code=KARUIZAWA)
    suspended = make_operator(name="休止中", suspended_at=NOW)
    make_facility(operator=suspended)
    return World(
        company=company,
        admin=admin,
        employees=employees,
        org=org,
        operator=make_user(Role.OPERATOR, operator=org),
        facility=facility,
        units=units,
        tokyo_org=tokyo_org,
        tokyo_operator=make_user(Role.OPERATOR, operator=tokyo_org),
        town=town,
        town_operator=make_user(Role.OPERATOR, operator=town),
        suspended=suspended,
    )


def post(db, world: World, **changes) -> MatchRequest:
    made = matching.post_request(world.admin, request_input(**changes), NOW)
    db.session.commit()
    return made


def proposal_input(world: World, check_in=None, nights: int = 2, **changes) -> ProposalInput:
    check_in = check_in or days(12)
    return ProposalInput(
        facility_id=changes.pop("facility_id", world.facility.id),
        check_in=check_in,
        check_out=check_in + timedelta(days=nights),
        **changes,
    )


def propose(db, world: World, match: MatchRequest, **changes) -> MatchProposal:
    made = matching.propose(world.operator, match.id, proposal_input(world, **changes), NOW)
    db.session.commit()
    return made


def balance(db, company_id: int) -> int:
    db.session.expire_all()
    return ledger.account_of(company_id).credit_balance


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- the request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 4001}, "description"),
        ({"people": 0}, "people"),
        ({"people": 201}, "people"),
        ({"nights": 0}, "nights"),
        ({"nights": 31}, "nights"),
        ({"earliest": days(-1)}, "window_past"),
        ({"earliest": days(400), "latest": days(410)}, "window_horizon"),
        ({"nights": 5, "latest": days(14)}, "window_short"),
        ({"latest": days(10)}, "window_short"),
        ({"latest": days(9)}, "window_short"),
        ({"latest": days(400)}, "window_long"),
        ({"prefecture": 0}, "prefecture"),
        ({"prefecture": 48}, "prefecture"),
        ({"programme_kind": "karaoke"}, "programme_kind"),
        ({"budget": 0}, "budget"),
        ({"budget": -5}, "budget"),
        ({"budget": 2_000_000_001}, "budget"),
    ],
)
def test_a_bad_request_is_refused_and_nothing_is_posted(db, world, changes, code):
    with pytest.raises(MatchError) as refused:
        matching.post_request(world.admin, request_input(**changes), NOW)
    db.session.rollback()
    assert refused.value.code == code
    assert count(db, MatchRequest) == 0
    assert count(db, events.Event) == 0


@pytest.mark.parametrize("who", ["employee", "operator"])
def test_only_a_company_admin_posts(db, world, who):
    actor = world.employees[0] if who == "employee" else world.operator
    with pytest.raises(MatchNotFound):
        matching.post_request(actor, request_input(), NOW)


def test_a_request_at_the_limits_is_posted(db, world):
    made = post(
        db, world, people=200, nights=30, earliest=days(0), latest=days(30), budget=2_000_000_000
    )
    assert (made.people, made.nights, made.status) == (200, 30, MatchStatus.OPEN)
    assert made.company_id == world.company.id


# --- who sees which requests ------------------------------------------------------------


def told(db, match: MatchRequest) -> list[int]:
    return sorted(
        db.session.scalars(
            select(events.Event.operator_id).where(
                events.Event.type == events.MATCH_REQUESTED,
                events.Event.subject_id == match.id,
            )
        )
    )


def test_a_prefecture_request_reaches_its_facilities_and_municipalities_only(db, world):
    match = post(db, world)

    assert told(db, match) == sorted([world.org.id, world.town.id])
    event = db.session.scalar(select(events.Event).where(events.Event.operator_id == world.org.id))
    assert event.facts == {"title": "チームビルディング合宿"}
    assert event.company_id is None  # the operators hear of it, not the company
    assert [r.id for r in match_offer.open_requests_for(world.org.id, NOW)] == [match.id]
    assert [r.id for r in match_offer.open_requests_for(world.town.id, NOW)] == [match.id]
    assert match_offer.open_requests_for(world.tokyo_org.id, NOW) == []
    assert match_offer.open_requests_for(world.suspended.id, NOW) == []
    with pytest.raises(MatchNotFound):
        match_offer.request_for_operator(world.tokyo_org.id, match.id, NOW)


def test_an_anywhere_request_reaches_every_live_organisation(db, world, make_operator):
    bystander = make_operator(name="施設なし")  # no facility, no municipality
    match = post(db, world, prefecture=None)

    assert told(db, match) == sorted([world.org.id, world.tokyo_org.id, world.town.id])
    for org in (world.org, world.tokyo_org, world.town):
        assert [r.id for r in match_offer.open_requests_for(org.id, NOW)] == [match.id]
    assert match_offer.open_requests_for(bystander.id, NOW) == []
    assert match_offer.open_requests_for(world.suspended.id, NOW) == []


def test_a_request_leaves_the_list_once_its_window_is_past_or_it_is_closed(db, world):
    match = post(db, world, earliest=days(3), latest=days(8), nights=2)
    later = NOW + timedelta(days=6)  # check-in on day 6 still ends on day 8
    assert [r.id for r in match_offer.open_requests_for(world.org.id, later)] == [match.id]
    too_late = NOW + timedelta(days=7)
    assert match_offer.open_requests_for(world.org.id, too_late) == []
    with pytest.raises(MatchNotFound):
        match_offer.request_for_operator(world.org.id, match.id, too_late)

    matching.close_request(world.admin, match.id, NOW)
    db.session.commit()
    assert match_offer.open_requests_for(world.org.id, NOW) == []


# --- proposals and their price ----------------------------------------------------------


def test_the_proposal_price_is_the_cheapest_rooms_nights_and_the_fees(db, world):
    match = post(db, world, people=2)
    session = make_session(db, world.town, days(13), price_kind="local", price=3000)
    # Demand pricing moved one night of the cheapest room: the price reads it.
    db.session.add(
        NightlyPrice(unit_id=world.units[0].id, night=days(12), price=11_500, base_price=10_000)
    )
    db.session.commit()

    price = matching.price_proposal(
        world.operator, match.id, proposal_input(world, session_ids=(session.id,)), NOW
    )

    assert [r.unit.id for r in price.rooms] == [world.units[0].id, world.units[1].id]
    assert price.night_totals == [(days(12), 11_500 + 12_000), (days(13), 10_000 + 12_000)]
    assert price.rooms_total == 45_500
    assert price.fees_total == 3000 * 2
    assert price.total == 51_500

    made = propose(db, world, match, session_ids=(session.id,), message="歓迎します")
    assert (made.price, made.status, made.operator_id) == (
        51_500,
        ProposalStatus.PROPOSED,
        world.org.id,
    )
    assert [s.id for s in made.sessions] == [session.id]
    event = db.session.scalar(
        select(events.Event).where(events.Event.type == events.MATCH_PROPOSED)
    )
    assert (event.company_id, event.operator_id) == (world.company.id, None)
    assert event.facts == {"title": match.title, "proposal_id": made.id}


def test_a_moved_price_is_not_sent_unseen(db, world):
    match = post(db, world)
    with pytest.raises(MatchError) as refused:
        matching.propose(
            world.operator, match.id, proposal_input(world), NOW, expected_price=44_000 - 1
        )
    db.session.rollback()
    assert refused.value.code == "price_changed"
    assert count(db, MatchProposal) == 0


def test_too_few_free_rooms_are_refused_naming_the_nights(db, world, make_employee):
    match = post(db, world, people=2)
    for unit in world.units[:2]:  # two of three rooms taken on the second night
        book_stay(make_employee(), StayRequest(unit.id, days(13), days(14), 1), NOW)
    db.session.commit()

    with pytest.raises(NotEnoughRooms) as refused:
        matching.price_proposal(world.operator, match.id, proposal_input(world), NOW)
    assert refused.value.nights == [days(13)]
    with force_locale("en"):
        assert "2 rooms are needed but only 1 are free" in str(refused.value.message)


def test_proposal_refusals(db, world, make_facility, make_unit):
    match = post(db, world, earliest=days(10), latest=days(20), nights=2)
    theirs = make_facility()  # another organisation's, in Nagano
    other_pref = make_facility(operator=world.org, prefecture=TOKYO_PREF, municipality="港区")
    make_unit(facility=other_pref)
    office = make_facility(operator=world.org, kind="office")
    foreign_session = make_session(db, world.tokyo_org, days(12), municipality_code="131016")
    late_session = make_session(db, world.org, days(16))
    full_session = make_session(db, world.org, days(13), capacity=1)
    draft_session = make_session(db, world.org, days(13), published=False)

    cases = {
        "dates_window": proposal_input(world, check_in=days(9)),
        "dates_nights": proposal_input(world, nights=3),
        "facility": proposal_input(world, facility_id=theirs.id),
        "facility_pref": proposal_input(world, facility_id=other_pref.id),
        "facility_office": proposal_input(world, facility_id=office.id),
        "session_unknown": proposal_input(world, session_ids=(foreign_session.id,)),
        "session_draft": proposal_input(world, session_ids=(draft_session.id,)),
        "session_missing": proposal_input(world, session_ids=(999_999,)),
        "session_dates": proposal_input(world, session_ids=(late_session.id,)),
        "session_full": proposal_input(world, session_ids=(full_session.id,)),
        "message": proposal_input(world, message="x" * 2001),
    }
    codes = {}
    for name, given in cases.items():
        with pytest.raises(MatchError) as refused:
            matching.propose(world.operator, match.id, given, NOW)
        db.session.rollback()
        codes[name] = refused.value.code
    assert codes == {
        "dates_window": "dates_window",
        "dates_nights": "dates_nights",
        "facility": "facility",
        "facility_pref": "facility",
        "facility_office": "facility",
        "session_unknown": "session_unknown",
        "session_draft": "session_unknown",
        "session_missing": "session_unknown",
        "session_dates": "session_dates",
        "session_full": "session_full",
        "message": "message",
    }
    # An organisation that may not answer, and one that has no facility there.
    with pytest.raises(MatchNotFound):
        matching.propose(world.tokyo_operator, match.id, proposal_input(world), NOW)
    with pytest.raises(MatchError) as refused:
        matching.propose(world.town_operator, match.id, proposal_input(world), NOW)
    assert refused.value.code == "facility"
    db.session.rollback()
    assert count(db, MatchProposal) == 0


def test_a_municipalitys_session_goes_with_a_facility_in_it(db, world):
    """A session the town runs in the facility's municipality may be offered by the
    facility's operator; sessions it could offer are listed for the form."""
    match = post(db, world)
    session = make_session(db, world.town, days(12), price_kind="free")
    assert [s.id for s in match_offer.offerable_sessions(world.org.id, match, NOW)] == [session.id]
    made = propose(db, world, match, session_ids=(session.id,))
    assert made.price == 44_000  # free: the rooms alone


def test_withdraw_decline_and_close(db, world, make_company, make_user):
    match = post(db, world)
    first = propose(db, world, match)
    second = propose(db, world, match, check_in=days(14))
    third = propose(db, world, match, check_in=days(15))

    # Only the proposing organisation withdraws; only the company declines.
    with pytest.raises(MatchNotFound):
        matching.withdraw(world.tokyo_operator, first.id, NOW)
    stranger = make_user(Role.COMPANY_ADMIN, company=make_company())
    with pytest.raises(MatchNotFound):
        matching.decline(stranger, first.id, NOW)
    with pytest.raises(MatchNotFound):
        matching.close_request(stranger, match.id, NOW)
    db.session.rollback()

    matching.withdraw(world.operator, first.id, NOW)
    matching.decline(world.admin, second.id, NOW)
    db.session.commit()
    with pytest.raises(MatchError) as again:
        matching.withdraw(world.operator, first.id, NOW)
    assert again.value.code == "proposal_decided"
    db.session.rollback()

    matching.close_request(world.admin, match.id, NOW)
    db.session.commit()
    db.session.expire_all()
    assert [p.status for p in (first, second, third)] == [
        ProposalStatus.WITHDRAWN,
        ProposalStatus.DECLINED,
        ProposalStatus.DECLINED,
    ]
    assert match.status == MatchStatus.CLOSED


# --- accepting into stays ---------------------------------------------------------------


def test_accepting_books_exactly_the_chosen_employees(db, world):
    match = post(db, world, people=3)
    paid_session = make_session(db, world.org, days(13), price_kind="credit", price=2000)
    local_session = make_session(db, world.town, days(12), price_kind="local", price=1500)
    chosen = propose(db, world, match, session_ids=(paid_session.id, local_session.id))
    other = propose(db, world, match, check_in=days(15))
    before = balance(db, world.company.id)
    going = [world.employees[2].id, world.employees[0].id]

    plan = match_booking.plan_acceptance(world.admin, chosen.id, going, NOW)
    assert plan.rooms_total == (10_000 + 12_000) * 2
    assert plan.programme_credit == 2000 * 2
    assert plan.programme_local == 1500 * 2
    assert plan.charged_total == 44_000 + 4000
    assert plan.credit_after == before - 48_000
    assert [line[3] for line in plan.night_lines] == [22_000, 22_000]

    accepted = match_booking.accept_proposal(
        world.admin, chosen.id, going, NOW, expected_total=plan.charged_total
    )
    db.session.commit()
    db.session.expire_all()

    bookings = db.session.scalars(select(Booking).order_by(Booking.id)).all()
    assert [b.id for b in accepted.bookings] == [b.id for b in bookings]
    assert sorted(b.user_id for b in bookings) == sorted(going)
    assert len({b.unit_id for b in bookings}) == 2
    for b in bookings:
        assert (b.status, b.guests, b.employee_part) == (BookingStatus.CONFIRMED, 1, 0)
        assert (b.check_in, b.check_out) == (days(12), days(14))
        assert b.company_id == world.company.id
    assert balance(db, world.company.id) == before - 48_000
    spends = db.session.scalars(
        select(CreditEntry.amount).where(CreditEntry.kind == EntryKind.SPEND)
    ).all()
    assert sorted(spends) == [-24_000, -20_000]
    signups = db.session.scalars(select(ProgrammeSignup)).all()
    assert sorted((s.user_id, s.session_id) for s in signups) == sorted(
        (u, s) for u in going for s in (paid_session.id, local_session.id)
    )
    assert {s.status for s in signups} == {SignupStatus.JOINED}
    assert (chosen.status, other.status, match.status) == (
        ProposalStatus.ACCEPTED,
        ProposalStatus.DECLINED,
        MatchStatus.ACCEPTED,
    )
    accepted_event = db.session.scalar(
        select(events.Event).where(events.Event.type == events.MATCH_ACCEPTED)
    )
    assert accepted_event.operator_id == world.org.id
    assert accepted_event.facts == {"title": match.title, "proposal_id": chosen.id}
    assert count(db, events.Event, events.Event.type == events.BOOKING_CREATED) == 2
    assert [b.id for b in match_booking.stays_of_proposal(chosen)] != []


@pytest.mark.parametrize(
    ("pick", "code"),
    [
        (lambda w: [], "employees_none"),
        (lambda w: [e.id for e in w.employees] + [w.admin.id], "employees_too_many"),
        (lambda w: [w.operator.id], "employee_unknown"),
        (lambda w: [999_999], "employee_unknown"),
        (lambda w: [w.stranger.id], "employee_unknown"),
        (lambda w: [w.employees[1].id], "employee_inactive"),
    ],
)
def test_accepting_for_the_wrong_people_is_refused(db, world, make_employee, pick, code):
    world.stranger = make_employee()  # of another company
    world.employees[1].active = False
    db.session.commit()
    match = post(db, world, people=3)
    proposal = propose(db, world, match)

    with pytest.raises(MatchError) as refused:
        match_booking.accept_proposal(world.admin, proposal.id, pick(world), NOW)
    db.session.rollback()
    assert refused.value.code == code
    assert count(db, Booking) == 0


def test_another_companys_admin_cannot_accept(db, world, make_company, make_user):
    match = post(db, world)
    proposal = propose(db, world, match)
    stranger = make_user(Role.COMPANY_ADMIN, company=make_company())
    with pytest.raises(MatchNotFound):
        match_booking.plan_acceptance(stranger, proposal.id, [stranger.id], NOW)
    with pytest.raises(MatchNotFound):
        match_booking.accept_proposal(stranger, proposal.id, [stranger.id], NOW)


def assert_nothing_booked(db, world, match, proposal, before):
    db.session.rollback()
    db.session.expire_all()
    assert count(db, Booking, Booking.company_id == world.company.id) == 0
    assert count(db, ProgrammeSignup) == 0
    assert balance(db, world.company.id) == before
    assert db.session.get(MatchRequest, match.id).status == MatchStatus.OPEN
    assert db.session.get(MatchProposal, proposal.id).status == ProposalStatus.PROPOSED


def test_a_night_taken_meanwhile_books_nothing_and_says_which(db, world, make_employee):
    match = post(db, world, people=3)
    session = make_session(db, world.org, days(12), price_kind="free")
    proposal = propose(db, world, match, session_ids=(session.id,))
    going = [e.id for e in world.employees]
    before = balance(db, world.company.id)
    match_booking.plan_acceptance(world.admin, proposal.id, going, NOW)  # the confirm page

    # Somebody else books the dearest room's second night meanwhile.
    book_stay(make_employee(), StayRequest(world.units[2].id, days(13), days(14), 1), NOW)
    db.session.commit()

    with pytest.raises(NotEnoughRooms) as refused:
        match_booking.accept_proposal(world.admin, proposal.id, going, NOW)
    assert refused.value.nights == [days(13)]
    assert_nothing_booked(db, world, match, proposal, before)


def test_a_night_taken_in_the_race_undoes_the_stays_already_written(
    db, world, make_employee, monkeypatch
):
    """The rooms were read free, then a night was claimed before the acceptance wrote its
    own (the database's unique night refuses it): the stays written before are undone."""
    match = post(db, world, people=3)
    proposal = propose(db, world, match)
    going = [e.id for e in world.employees[:2]]
    before = balance(db, world.company.id)
    stale = match_offer.free_rooms(world.facility.id, days(12), days(14))
    book_stay(make_employee(), StayRequest(world.units[1].id, days(12), days(13), 1), NOW)
    db.session.commit()
    monkeypatch.setattr(match_offer, "free_rooms", lambda *args: stale)

    with pytest.raises(match_booking.NightsTaken) as refused:
        match_booking.accept_proposal(world.admin, proposal.id, going, NOW)
    assert refused.value.nights == [days(12)]
    with force_locale("en"):
        assert "was just taken" in str(refused.value.message)
    db.session.rollback()
    assert count(db, Booking) == 1  # the other guest's stay alone
    assert_nothing_booked(db, world, match, proposal, before)


def test_a_moved_total_is_not_charged_unseen(db, world):
    match = post(db, world)
    proposal = propose(db, world, match)
    going = [world.employees[0].id]
    before = balance(db, world.company.id)
    plan = match_booking.plan_acceptance(world.admin, proposal.id, going, NOW)
    with pytest.raises(PriceChanged) as refused:
        match_booking.accept_proposal(
            world.admin, proposal.id, going, NOW, expected_total=plan.charged_total + 1
        )
    assert refused.value.code == "price_changed"
    assert_nothing_booked(db, world, match, proposal, before)


def test_a_company_short_of_credit_is_told_before_and_refused(db, world, make_company, make_user):
    poor = make_company(credit=20_000)
    admin = make_user(Role.COMPANY_ADMIN, company=poor)
    employee = make_user(Role.EMPLOYEE, company=poor)
    match = matching.post_request(admin, request_input(), NOW)
    db.session.commit()
    proposal = propose(db, world, match)

    plan = match_booking.plan_acceptance(admin, proposal.id, [employee.id, admin.id], NOW)
    assert plan.credit_refusal is not None
    with pytest.raises(MatchError) as refused:
        match_booking.accept_proposal(admin, proposal.id, [employee.id, admin.id], NOW)
    assert refused.value.code == "credit"
    db.session.rollback()
    assert count(db, Booking) == 0


def test_a_credit_programme_needs_the_companys_policy(db, world):
    world.company.programmes_on_credit = False
    db.session.commit()
    match = post(db, world)
    session = make_session(db, world.org, days(12), price_kind="credit", price=2000)
    proposal = propose(db, world, match, session_ids=(session.id,))
    with pytest.raises(MatchError) as refused:
        match_booking.plan_acceptance(world.admin, proposal.id, [world.employees[0].id], NOW)
    assert refused.value.code == "programme_credit"


def test_a_decided_request_cannot_be_accepted_again(db, world):
    match = post(db, world, people=3)
    first = propose(db, world, match)
    second = propose(db, world, match, check_in=days(15))
    match_booking.accept_proposal(world.admin, first.id, [world.employees[0].id], NOW)
    db.session.commit()
    for proposal in (first, second):
        with pytest.raises(MatchError) as refused:
            match_booking.accept_proposal(world.admin, proposal.id, [world.employees[1].id], NOW)
        db.session.rollback()
        assert refused.value.code == "request_decided"
    assert count(db, Booking) == 1


# --- two admins at once -----------------------------------------------------------------


def accept_in_thread(app, db, admin_id: int, proposal_id: int, employee_id: int, barrier):
    with app.app_context():
        try:
            barrier.wait()  # nothing read before: on SQLite a read would hold the write lock
            admin = db.session.get(User, admin_id)
            accepted = match_booking.accept_proposal(admin, proposal_id, [employee_id], NOW)
            db.session.commit()
            return ("accepted", accepted.proposal.id)
        except MatchError as exc:
            db.session.rollback()
            return (exc.code, proposal_id)
        finally:
            db.session.remove()


def test_two_admins_accepting_two_proposals_at_once_accept_one(app, db, world, make_user):
    match = post(db, world, people=3)
    first = propose(db, world, match)
    second = propose(db, world, match, check_in=days(15))
    other_admin = make_user(Role.COMPANY_ADMIN, company=world.company)
    runs = [
        (world.admin.id, first.id, world.employees[0].id),
        (other_admin.id, second.id, world.employees[1].id),
    ]
    match_id = match.id
    db.session.remove()

    outcomes = race(2, lambda i, barrier: accept_in_thread(app, db, *runs[i], barrier))

    kinds = sorted(kind for kind, _id in outcomes)
    assert kinds == ["accepted", "request_decided"], outcomes
    (winner,) = [pid for kind, pid in outcomes if kind == "accepted"]
    proposals = {p.id: p.status for p in db.session.scalars(select(MatchProposal))}
    assert proposals[winner] == ProposalStatus.ACCEPTED
    assert [s for pid, s in proposals.items() if pid != winner] == [ProposalStatus.DECLINED]
    assert db.session.get(MatchRequest, match_id).status == MatchStatus.ACCEPTED
    bookings = db.session.scalars(select(Booking)).all()
    assert len(bookings) == 1
    assert bookings[0].request_key == f"match-{winner}"


def test_a_session_filled_meanwhile_limits_who_can_go(db, world):
    match = post(db, world, people=2)
    session = make_session(db, world.org, days(12), price_kind="free", capacity=2)
    proposal = propose(db, world, match, session_ids=(session.id,))
    session.seats_taken = 1  # somebody else joined meanwhile
    db.session.commit()
    both = [world.employees[0].id, world.employees[1].id]

    with pytest.raises(MatchError) as refused:
        match_booking.plan_acceptance(world.admin, proposal.id, both, NOW)
    assert refused.value.code == "session_full"
    with pytest.raises(MatchError):
        match_booking.accept_proposal(world.admin, proposal.id, both, NOW)
    db.session.rollback()
    assert count(db, Booking) == 0

    match_booking.accept_proposal(world.admin, proposal.id, both[:1], NOW)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ProgrammeSession, session.id).seats_taken == 2
    assert count(db, Booking) == 1
