"""Joining a region's programmes (regions.places) and reading them (regions.programmes):
seats never oversold, the waitlist in order, a credit-paid fee charged once and given
back before the deadline only, stays required where asked, and what the pages and the
search read."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts.events import Event
from accounts.models import User
from billing import ledger
from billing.models import CreditEntry, EntryKind
from booking import services
from regions import places, programme_money, programmes
from regions.models import ProgrammeSession, ProgrammeSignup, SessionStatus, SignupStatus
from regions.programmes import ProgrammeError, SessionFull
from tests.booking.test_race import race
from tests.conftest import NOW
from tests.regions.programme_fixtures import FIRST_START, NEAR_LAT, NEAR_LNG, make_programme

GRACE = 7
RACERS = 12


def join(session_id: int, user: User, participants: int = 1, **kw):
    kw.setdefault("booking_id", None)
    kw.setdefault("has_stay", True)
    kw.setdefault("waitlist", False)
    kw.setdefault("grace_days", GRACE)
    kw.setdefault("now", NOW)
    now = kw.pop("now")
    return places.join(session_id, user, participants, now, **kw)


def session_of(programme) -> ProgrammeSession:
    return programme.sessions[0]


def seats_taken(db, session_id: int) -> int:
    return db.session.scalar(
        select(ProgrammeSession.seats_taken).where(ProgrammeSession.id == session_id)
    )


def events_of(db, type_: str) -> list[Event]:
    return db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)).all()


def credit_entries(db, signup_id: int) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(CreditEntry.kind, CreditEntry.amount)
        .where(CreditEntry.programme_signup_id == signup_id)
        .order_by(CreditEntry.id)
    ).all()
    return [(kind, amount) for kind, amount in rows]


@pytest.fixture
def organiser(make_operator):
    return make_operator(name="長野市", kind="municipality")


# -- joining -------------------------------------------------------------------------------


def test_joining_takes_seats_and_tells_the_organiser(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser, capacity=5))
    employee = make_employee()
    signup = join(session.id, employee, 3)
    db.session.commit()
    assert (signup.status, signup.participants, signup.fee) == (SignupStatus.JOINED, 3, 0)
    assert signup.company_id == employee.company_id
    assert seats_taken(db, session.id) == 3
    (event,) = events_of(db, "programme.joined")
    assert (event.user_id, event.company_id, event.operator_id) == (
        employee.id,
        employee.company_id,
        organiser.id,
    )
    assert (event.subject_type, event.subject_id) == ("programme_signup", signup.id)
    facts = json.loads(event.data)
    assert facts["session_id"] == session.id
    assert facts["participants"] == 3
    assert facts["title_en"] == "Snow-clearing volunteers"
    assert facts["starts_at"] == FIRST_START.isoformat()


@pytest.mark.parametrize(
    ("participants", "code"), [(0, "participants"), (21, "participants"), (-1, "participants")]
)
def test_participants_out_of_bounds_are_refused(db, organiser, make_employee, participants, code):
    session = session_of(make_programme(db, organiser, capacity=20))
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, make_employee(), participants)
    assert refused.value.code == code


def test_more_participants_than_the_session_has_seats_is_refused(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser, capacity=5))
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, make_employee(), 6, waitlist=True)
    assert refused.value.code == "capacity"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ProgrammeSignup)) == 0


def test_a_stay_is_required_where_the_programme_says_so(db, organiser, make_employee):
    required = session_of(make_programme(db, organiser, stay_required=True))
    open_to_all = session_of(make_programme(db, organiser, stay_required=False))
    employee = make_employee()
    with pytest.raises(ProgrammeError) as refused:
        join(required.id, employee, has_stay=False)
    assert refused.value.code == "stay_required"
    db.session.rollback()
    assert join(open_to_all.id, employee, has_stay=False).status == SignupStatus.JOINED
    assert join(required.id, employee, has_stay=True).status == SignupStatus.JOINED


def test_a_full_session_refuses_or_waitlists(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser, capacity=2))
    join(session.id, make_employee(), 2)
    db.session.commit()
    with pytest.raises(SessionFull) as refused:
        join(session.id, make_employee())
    assert refused.value.code == "full"
    db.session.rollback()
    waiting = join(session.id, make_employee(), waitlist=True)
    db.session.commit()
    assert (waiting.status, waiting.waitlisted_at, waiting.joined_at) == (
        SignupStatus.WAITLISTED,
        NOW,
        None,
    )
    assert seats_taken(db, session.id) == 2
    assert programmes.waitlist_position(waiting) == 1
    assert len(events_of(db, "programme.waitlisted")) == 1


def test_joining_twice_is_refused(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser))
    employee = make_employee()
    join(session.id, employee)
    db.session.commit()
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, employee, 2)
    assert refused.value.code == "already_joined"


def test_sessions_not_open_are_refused(db, organiser, make_employee):
    employee = make_employee()
    hidden = session_of(make_programme(db, organiser, published=False))
    begun = session_of(make_programme(db, organiser, starts_at=NOW - timedelta(minutes=1)))
    cancelled = session_of(make_programme(db, organiser))
    cancelled.status = SessionStatus.CANCELLED
    db.session.commit()
    for session_id, code in [
        (hidden.id, "not_found"),
        (begun.id, "started"),
        (cancelled.id, "cancelled"),
        (10**9, "not_found"),
        (2**40, "not_found"),
    ]:
        with pytest.raises(ProgrammeError) as refused:
            join(session_id, employee)
        assert refused.value.code == code
        db.session.rollback()


def test_a_suspended_organisers_programmes_are_not_offered(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser))
    organiser.suspended_at = NOW
    db.session.commit()
    assert programmes.published_sessions(now=NOW) == []
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, make_employee())
    assert refused.value.code == "not_found"


def test_only_people_of_an_active_company_join(db, organiser, make_user, make_employee):
    session = session_of(make_programme(db, organiser, stay_required=False))
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, make_user("operator"))
    assert refused.value.code == "forbidden"
    db.session.rollback()
    deactivated = make_employee(active=False)
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, deactivated)
    assert refused.value.code == "inactive"


# -- leaving and the waitlist ----------------------------------------------------------------


def test_leaving_frees_seats_and_can_join_again(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser, capacity=3))
    employee = make_employee()
    signup = join(session.id, employee, 2)
    db.session.commit()
    assert places.leave(signup.id, employee.id, NOW) == 0
    db.session.commit()
    assert (signup.status, signup.left_at) == (SignupStatus.LEFT, NOW)
    assert seats_taken(db, session.id) == 0
    facts = json.loads(events_of(db, "programme.left")[0].data)
    assert facts["refund"] == 0
    again = join(session.id, employee, 3)
    db.session.commit()
    assert again.id == signup.id  # one row per person and session
    assert (again.status, again.participants, again.left_at) == (SignupStatus.JOINED, 3, None)
    assert seats_taken(db, session.id) == 3


def test_leaving_someone_elses_signup_is_not_found(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser))
    owner, other = make_employee(), make_employee()
    signup = join(session.id, owner)
    db.session.commit()
    with pytest.raises(ProgrammeError) as refused:
        places.leave(signup.id, other.id, NOW)
    assert refused.value.code == "not_found"
    db.session.rollback()
    with pytest.raises(ProgrammeError) as refused:
        places.leave(signup.id, owner.id, FIRST_START)  # once begun
    assert refused.value.code == "started"
    db.session.rollback()
    places.leave(signup.id, owner.id, NOW)
    db.session.commit()
    with pytest.raises(ProgrammeError) as refused:
        places.leave(signup.id, owner.id, NOW)
    assert refused.value.code == "not_joined"


def test_the_waitlist_fills_freed_places_in_order_skipping_those_that_do_not_fit(
    db, organiser, make_employee
):
    session = session_of(make_programme(db, organiser, capacity=5))
    a, b, c, d, e = (make_employee() for _ in range(5))
    first = join(session.id, a, 4)
    second = join(session.id, b, 1)
    third = join(session.id, c, 3, waitlist=True, now=NOW)
    fourth = join(session.id, d, 1, waitlist=True, now=NOW + timedelta(minutes=1))
    fifth = join(session.id, e, 1, waitlist=True, now=NOW + timedelta(minutes=2))
    db.session.commit()
    assert [programmes.waitlist_position(s) for s in (third, fourth, fifth)] == [1, 2, 3]

    # One seat frees: the first in line needs three and waits on; the next fits.
    places.leave(second.id, b.id, NOW + timedelta(hours=1))
    db.session.commit()
    assert [s.status for s in (third, fourth, fifth)] == [
        SignupStatus.WAITLISTED,
        SignupStatus.JOINED,
        SignupStatus.WAITLISTED,
    ]
    assert programmes.waitlist_position(third) == 1
    assert programmes.waitlist_position(fifth) == 2
    # Four seats free: the first in line now fits, then the last.
    places.leave(first.id, a.id, NOW + timedelta(hours=2))
    db.session.commit()
    assert [s.status for s in (third, fourth, fifth)] == [SignupStatus.JOINED] * 3
    assert seats_taken(db, session.id) == 5
    promoted = [e.subject_id for e in events_of(db, "programme.promoted")]
    assert promoted == [fourth.id, third.id, fifth.id]


def test_promote_waitlist_after_a_capacity_is_raised(db, organiser, make_employee):
    """The organiser's way: raise the capacity under the lock, then promote."""
    session = session_of(make_programme(db, organiser, capacity=2))
    join(session.id, make_employee(), 2)
    waiting = [join(session.id, make_employee(), 2, waitlist=True) for _ in range(2)]
    db.session.commit()
    locked = db.session.scalar(
        select(ProgrammeSession).where(ProgrammeSession.id == session.id).with_for_update()
    )
    locked.capacity = 5
    promoted = places.promote_waitlist(locked, NOW)
    db.session.commit()
    assert promoted == [waiting[0]]
    assert [s.status for s in waiting] == [SignupStatus.JOINED, SignupStatus.WAITLISTED]
    assert seats_taken(db, session.id) == 4


# -- money ---------------------------------------------------------------------------------


@pytest.fixture
def paying_employee(make_employee, make_company):
    def make(**company):
        return make_employee(company=make_company(programmes_on_credit=True, **company))

    return make


def test_a_credit_fee_is_charged_once_and_refunded_before_the_deadline(
    db, organiser, paying_employee
):
    session = session_of(make_programme(db, organiser, price_kind="credit", price=3000))
    employee = paying_employee()
    signup = join(session.id, employee, 2)
    db.session.commit()
    assert signup.fee == 6000
    assert credit_entries(db, signup.id) == [(EntryKind.PROGRAMME, -6000)]
    before = session.starts_at - timedelta(hours=25)
    assert places.leave_preview(signup, before) == 6000
    assert places.leave(signup.id, employee.id, before) == 6000
    db.session.commit()
    assert credit_entries(db, signup.id) == [
        (EntryKind.PROGRAMME, -6000),
        (EntryKind.PROGRAMME_REFUND, 6000),
    ]
    assert json.loads(events_of(db, "programme.left")[0].data)["refund"] == 6000
    # Paid and given back once: the credit way is closed for this place.
    with pytest.raises(programme_money.ProgrammeCreditRefused) as refused:
        join(session.id, employee, 2)
    assert refused.value.code == "already_refunded"


def test_leaving_after_the_deadline_gives_nothing_back(db, organiser, paying_employee):
    session = session_of(make_programme(db, organiser, price_kind="credit", price=3000))
    employee = paying_employee()
    signup = join(session.id, employee)
    db.session.commit()
    late = programme_money.refund_deadline(session.starts_at) + timedelta(seconds=1)
    assert places.leave_preview(signup, late) == 0
    assert places.leave(signup.id, employee.id, late) == 0
    db.session.commit()
    assert credit_entries(db, signup.id) == [(EntryKind.PROGRAMME, -3000)]
    # Joining again with as many participants costs nothing more; with more, refused.
    with pytest.raises(ProgrammeError) as refused:
        join(session.id, employee, 2, now=late)
    assert refused.value.code == "rejoin_participants"
    db.session.rollback()
    again = join(session.id, employee, 1, now=late)
    db.session.commit()
    assert again.status == SignupStatus.JOINED
    assert credit_entries(db, signup.id) == [(EntryKind.PROGRAMME, -3000)]


def test_a_company_that_does_not_pay_programmes_is_refused_and_nothing_is_left(
    db, organiser, make_employee
):
    session = session_of(make_programme(db, organiser, price_kind="credit", price=3000))
    employee = make_employee()  # programmes_on_credit is off by default
    with pytest.raises(programme_money.ProgrammeCreditRefused) as refused:
        join(session.id, employee)
    assert refused.value.code == "policy"
    db.session.commit()  # what the savepoint left: nothing
    assert seats_taken(db, session.id) == 0
    assert db.session.scalar(select(func.count()).select_from(ProgrammeSignup)) == 0
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(CreditEntry)
            .where(CreditEntry.kind == EntryKind.PROGRAMME)
        )
        == 0
    )
    assert events_of(db, "programme.joined") == []


def test_a_local_fee_is_recorded_but_never_charged(db, organiser, make_employee):
    session = session_of(make_programme(db, organiser, price_kind="local", price=1500))
    signup = join(session.id, make_employee(), 2)
    db.session.commit()
    assert signup.fee == 3000
    assert credit_entries(db, signup.id) == []


def test_a_promotion_the_company_will_not_pay_waits_on(
    db, organiser, make_employee, paying_employee
):
    session = session_of(make_programme(db, organiser, capacity=1, price_kind="credit", price=1000))
    first = paying_employee()
    held = join(session.id, first)
    refuses = join(session.id, make_employee(), waitlist=True)  # no credit way
    pays = join(session.id, paying_employee(), waitlist=True)
    db.session.commit()
    assert credit_entries(db, refuses.id) == []  # waiting is not charged
    places.leave(held.id, first.id, NOW)
    db.session.commit()
    assert (refuses.status, pays.status) == (SignupStatus.WAITLISTED, SignupStatus.JOINED)
    assert credit_entries(db, pays.id) == [(EntryKind.PROGRAMME, -1000)]
    assert credit_entries(db, refuses.id) == []
    assert seats_taken(db, session.id) == 1


# -- under concurrency ---------------------------------------------------------------------


def join_in_thread(app, db, user_id: int, session_id: int, waitlist: bool, barrier):
    """One racer: its own app context and session, commit at the edge."""
    with app.app_context():
        try:
            barrier.wait()  # nothing read before: on SQLite a read holds the write lock
            user = db.session.get(User, user_id)
            signup = places.join(
                session_id,
                user,
                1,
                NOW,
                booking_id=None,
                has_stay=True,
                waitlist=waitlist,
                grace_days=GRACE,
            )
            outcome = (signup.status, signup.id)
            db.session.commit()
            return outcome
        except ProgrammeError as exc:
            db.session.rollback()
            return (exc.code, None)
        finally:
            db.session.remove()


def test_concurrent_signups_take_exactly_the_seats(app, db, organiser, make_employee):
    session_id = session_of(make_programme(db, organiser, capacity=5)).id
    racers = [make_employee().id for _ in range(RACERS)]
    db.session.remove()  # release the connection (and, on SQLite, the write lock)
    outcomes = race(
        RACERS, lambda i, barrier: join_in_thread(app, db, racers[i], session_id, False, barrier)
    )
    statuses = sorted(status for status, _id in outcomes)
    assert statuses == ["full"] * 7 + [SignupStatus.JOINED] * 5, outcomes
    assert seats_taken(db, session_id) == 5
    joined = db.session.scalar(
        select(func.sum(ProgrammeSignup.participants)).where(
            ProgrammeSignup.session_id == session_id, ProgrammeSignup.status == "joined"
        )
    )
    assert joined == 5


def test_concurrent_signups_wait_in_line_and_move_up_in_order(app, db, organiser, make_employee):
    session_id = session_of(make_programme(db, organiser, capacity=5)).id
    racers = [make_employee().id for _ in range(RACERS)]
    db.session.remove()
    outcomes = race(
        RACERS, lambda i, barrier: join_in_thread(app, db, racers[i], session_id, True, barrier)
    )
    joined = [i for status, i in outcomes if status == SignupStatus.JOINED]
    waiting = [i for status, i in outcomes if status == SignupStatus.WAITLISTED]
    assert (len(joined), len(waiting)) == (5, 7), outcomes
    assert seats_taken(db, session_id) == 5
    line = db.session.scalars(
        select(ProgrammeSignup.id)
        .where(ProgrammeSignup.session_id == session_id, ProgrammeSignup.status == "waitlisted")
        .order_by(ProgrammeSignup.waitlisted_at, ProgrammeSignup.id)
    ).all()
    assert sorted(line) == sorted(waiting)
    # Two leave at once: the first two in line get their places, nobody else.
    leavers = [db.session.get(ProgrammeSignup, i) for i in joined[:2]]
    pairs = [(s.id, s.user_id) for s in leavers]
    db.session.remove()

    def leave(i: int, barrier: threading.Barrier):
        with app.app_context():
            try:
                barrier.wait()
                refund = places.leave(*pairs[i], NOW)
                db.session.commit()
                return refund
            finally:
                db.session.remove()

    assert race(2, leave) == [0, 0]
    promoted = db.session.scalars(
        select(ProgrammeSignup.id).where(
            ProgrammeSignup.id.in_(line), ProgrammeSignup.status == "joined"
        )
    ).all()
    assert sorted(promoted) == sorted(line[:2])
    assert seats_taken(db, session_id) == 5


# -- what the pages read -------------------------------------------------------------------


def test_published_sessions_filter_by_place_kind_and_tokyo_dates(db, organiser, make_operator):
    nagano = make_programme(db, organiser, sessions=3)  # 12-11, 12-12, 12-13 at 10:00 JST
    matsumoto = make_programme(
        db, make_operator(), municipality_code="202029", kind="tour", starts_at=FIRST_START
    )
    make_programme(db, make_operator(), prefecture=13, municipality_code="131016")
    make_programme(db, organiser, published=False)
    gone = make_programme(db, organiser, starts_at=NOW - timedelta(hours=1))
    assert gone.sessions[0] not in programmes.published_sessions(now=NOW)

    def ids(**kw):
        return [s.id for s in programmes.published_sessions(now=NOW, **kw)]

    assert ids(municipality_code="202011") == [s.id for s in nagano.sessions]
    assert ids(prefecture=20, kind="tour") == [matsumoto.sessions[0].id]
    assert len(ids(prefecture=20)) == 4
    assert len(ids()) == 5
    # Tokyo dates: 12-12 only (its session starts 2026-12-12 01:00 UTC, 10:00 JST).
    assert ids(municipality_code="202011", start=date(2026, 12, 12), end=date(2026, 12, 12)) == [
        nagano.sessions[1].id
    ]
    # A session at 08:00 JST on 12-20 is 12-19 23:00 UTC: it belongs to the 20th.
    early = make_programme(db, organiser, starts_at=datetime(2026, 12, 19, 23, 0, tzinfo=UTC))
    assert ids(start=date(2026, 12, 20), end=date(2026, 12, 20)) == [early.sessions[0].id]
    assert ids(start=date(2026, 12, 19), end=date(2026, 12, 19)) == []


def test_sessions_near_a_facility_within_the_stay(db, organiser, make_facility):
    near = make_programme(db, organiser, sessions=2, every=timedelta(days=7))
    far = make_programme(db, organiser, latitude=NEAR_LAT + 0.5, longitude=NEAR_LNG)  # ~55 km
    facility = make_facility()
    found = programmes.sessions_near(
        facility.latitude, facility.longitude, date(2026, 12, 10), date(2026, 12, 12), NOW
    )
    assert found == [near.sessions[0]]
    assert far.sessions[0] in programmes.sessions_near(
        facility.latitude, facility.longitude, date(2026, 12, 10), date(2026, 12, 12), NOW, km=60
    )
    elsewhere = make_facility(latitude=35.0, longitude=135.0)
    ids = programmes.facility_ids_with_sessions(
        [(f.id, f.latitude, f.longitude) for f in (facility, elsewhere)],
        date(2026, 12, 10),
        date(2026, 12, 31),
        NOW,
    )
    assert ids == {facility.id}
    assert (
        programmes.facility_ids_with_sessions(
            [(facility.id, facility.latitude, facility.longitude)],
            date(2027, 1, 10),
            date(2027, 1, 12),
            NOW,
        )
        == set()
    )
    assert (
        programmes.facility_ids_with_sessions([], date(2026, 12, 1), date(2026, 12, 31), NOW)
        == set()
    )


def test_signups_for_a_stay_and_of_a_person(db, organiser, make_employee, make_unit):
    employee = make_employee()
    unit = make_unit()
    booking = services.book_stay(
        employee, services.StayRequest(unit.id, date(2026, 12, 10), date(2026, 12, 13), 1), NOW
    )
    db.session.commit()
    first, second = make_programme(db, organiser, sessions=2).sessions
    with_stay = join(first.id, employee, booking_id=booking.id)
    without = join(second.id, employee)
    db.session.commit()
    assert programmes.signups_for_booking(booking.id) == [with_stay]
    places.leave(with_stay.id, employee.id, NOW)
    db.session.commit()
    assert programmes.signups_for_booking(booking.id) == []
    assert programmes.signups_for_booking(booking.id, statuses=("left",)) == [with_stay]
    assert programmes.signups_of_user(employee.id) == [without, with_stay]


def test_a_fee_beyond_the_credit_is_overage_within_the_company_limit(
    db, organiser, paying_employee
):
    """A company that may go over its credit pays the fee as for a stay: the missing yen
    is overage, billed with the next invoice, and the balance never goes below zero."""
    session = session_of(make_programme(db, organiser, price_kind="credit", price=3000))
    employee = paying_employee(credit=1000)
    account = ledger.account_of(employee.company_id)
    account.overage_allowed, account.overage_monthly_limit = True, 10_000
    db.session.commit()
    signup = join(session.id, employee, 1)
    db.session.commit()
    assert signup.status == SignupStatus.JOINED
    kinds = db.session.execute(
        select(CreditEntry.kind, CreditEntry.amount)
        .where(CreditEntry.company_id == employee.company_id, CreditEntry.kind != EntryKind.GRANT)
        .order_by(CreditEntry.id)
    ).all()
    assert [tuple(k) for k in kinds] == [(EntryKind.OVERAGE, 2000), (EntryKind.PROGRAMME, -3000)]
    assert ledger.account_of(employee.company_id).credit_balance == 0
    # Beyond the limit: refused, and nothing is written.
    other = paying_employee(credit=0)
    with pytest.raises(programme_money.ProgrammeCreditRefused):
        join(session.id, other, 1)
