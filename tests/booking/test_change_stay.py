"""Changing a stay without cancelling it: money and nights, rules, and a race.

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture). The price of a
night not stored by the pricing engine is the room's base price, so raising the base
price after booking is how "today's price" differs from the frozen one.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import Role, User
from availability.models import Block, ChangedNights, Occupancy
from billing import ledger
from billing.models import CreditEntry, EntryKind
from booking import cancellation, changes, services
from booking.models import Booking, BookingNight, BookingStatus
from booking.terms import cancellation_terms
from tests.booking.test_race import assert_no_double_claim, nights_of, race
from tests.conftest import NOW, days

CREDIT = 1_000_000
PRICE = 10_000


def at(n: int):
    """The instant ``n`` days after NOW (noon in Tokyo)."""
    return NOW + timedelta(days=n)


@pytest.fixture
def company(make_company):
    return make_company(credit=CREDIT)


@pytest.fixture
def employee(make_user, company):
    return make_user(Role.EMPLOYEE, company=company)


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2)


@pytest.fixture
def other_room(make_unit, room):
    return make_unit(facility=room.facility, base_price=15_000, capacity=4)


def book(db, user, unit, check_in: int, check_out: int, guests: int = 1) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), guests), NOW
    )
    db.session.commit()
    return booking


def change(db, user, booking, unit, check_in: int, check_out: int, guests: int = 1, now=NOW, **kw):
    result = changes.change_booking(
        user,
        booking.id,
        services.StayRequest(unit.id, days(check_in), days(check_out), guests),
        now,
        **kw,
    )
    db.session.commit()
    return result


def balance(company) -> int:
    return ledger.account_of(company.id).credit_balance


def entries(db, booking_id: int) -> list[tuple[str, int]]:
    return [
        (kind, amount)
        for kind, amount in db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount)
            .where(CreditEntry.booking_id == booking_id)
            .order_by(CreditEntry.id)
        )
    ]


def claimed(db, booking_id: int) -> list[tuple[int, object]]:
    rows = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night)
        .where(Occupancy.booking_id == booking_id)
        .order_by(Occupancy.night)
    )
    return [tuple(r) for r in rows]


def priced_nights(db, booking_id: int) -> list[tuple[object, int]]:
    rows = db.session.execute(
        select(BookingNight.night, BookingNight.price)
        .where(BookingNight.booking_id == booking_id)
        .order_by(BookingNight.night)
    )
    return [tuple(r) for r in rows]


def snapshot(db, company, booking_id: int) -> tuple:
    """Everything a change may touch, to prove a refused one touched nothing (the last
    item counts every claimed night, anybody's)."""
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    return (
        (b.unit_id, b.check_in, b.check_out, b.guests, b.total_price, b.status),
        priced_nights(db, booking_id),
        claimed(db, booking_id),
        entries(db, booking_id),
        balance(company),
        db.session.scalar(select(func.count()).select_from(Occupancy)),
    )


# --- money and nights -----------------------------------------------------------------


def test_a_longer_stay_keeps_its_frozen_nights_and_pays_todays_price_for_new_ones(
    db, company, employee, room
):
    booking = book(db, employee, room, 10, 13)
    room.base_price = 12_000  # today's price has moved since the booking
    db.session.commit()
    queued = db.session.scalar(select(func.count()).select_from(ChangedNights))

    result = change(db, employee, booking, room, 10, 15)

    assert (result.old_total, result.new_total) == (30_000, 54_000)
    assert (result.money.difference, result.money.charged, result.money.refunded) == (
        24_000,
        24_000,
        0,
    )
    assert priced_nights(db, booking.id) == [
        (days(10), 10_000),
        (days(11), 10_000),
        (days(12), 10_000),
        (days(13), 12_000),
        (days(14), 12_000),
    ]
    assert claimed(db, booking.id) == [(room.id, days(n)) for n in range(10, 15)]
    assert entries(db, booking.id) == [(EntryKind.SPEND, -30_000), (EntryKind.CHANGE, -24_000)]
    assert balance(company) == CREDIT - 54_000 == ledger.ledger_sum(company.id)
    b = db.session.get(Booking, booking.id)
    assert (b.check_in, b.check_out, b.total_price) == (days(10), days(15), 54_000)
    # Pricing hears about the old and the new nights.
    assert db.session.scalar(select(func.count()).select_from(ChangedNights)) == queued + 2


def test_a_shorter_stay_before_the_free_date_is_refunded_in_full(db, company, employee, room):
    booking = book(db, employee, room, 10, 14)

    result = change(db, employee, booking, room, 10, 12)

    assert (result.money.difference, result.money.refunded, result.money.kept) == (
        -20_000,
        20_000,
        0,
    )
    assert claimed(db, booking.id) == [(room.id, days(10)), (room.id, days(11))]
    assert priced_nights(db, booking.id) == [(days(10), PRICE), (days(11), PRICE)]
    assert entries(db, booking.id) == [(EntryKind.SPEND, -40_000), (EntryKind.CHANGE, 20_000)]
    assert balance(company) == CREDIT - 20_000
    # The released nights can be booked by somebody else at once.
    book(db, employee, room, 12, 14)


def test_shortening_late_refunds_half_of_the_dropped_nights(db, company, employee, room):
    booking = book(db, employee, room, 10, 14)  # free until days(7), half from days(8)

    result = change(db, employee, booking, room, 10, 12, now=at(8))

    assert (result.money.refunded, result.money.kept, result.money.refund_percent) == (
        10_000,
        10_000,
        50,
    )
    assert entries(db, booking.id) == [(EntryKind.SPEND, -40_000), (EntryKind.CHANGE, 10_000)]
    assert balance(company) == CREDIT - 30_000
    assert db.session.get(Booking, booking.id).total_price == 20_000


def test_a_late_shortening_then_a_late_cancel_costs_what_a_late_cancel_would(
    db, company, employee, room
):
    """Shortening late is a late cancellation of the dropped nights: no night pays twice."""
    booking = book(db, employee, room, 10, 14)
    change(db, employee, booking, room, 10, 12, now=at(8))

    terms = cancellation_terms(db.session.get(Booking, booking.id), days(8))
    assert (terms.paid, terms.refund_if_cancelled_now, terms.kept_if_cancelled_now) == (
        30_000,
        10_000,
        10_000,
    )
    result = cancellation.cancel_booking(employee, booking.id, at(8))
    db.session.commit()

    assert (result.paid, result.refunded, result.kept, result.refund_percent) == (
        30_000,
        10_000,
        10_000,
        50,
    )
    # 40,000 cancelled late at once would keep 20,000; in two steps it keeps the same.
    assert balance(company) == CREDIT - 20_000
    assert entries(db, booking.id)[-1] == (EntryKind.REFUND, 10_000)


def test_a_dearer_stay_then_a_free_cancel_returns_everything_paid(db, company, employee, room):
    booking = book(db, employee, room, 10, 13)
    change(db, employee, booking, room, 10, 15)
    assert balance(company) == CREDIT - 50_000

    result = cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()

    assert (result.paid, result.refunded, result.kept) == (50_000, 50_000, 0)
    assert balance(company) == CREDIT
    assert claimed(db, booking.id) == []


def test_moving_dates_keeps_the_overlap_and_frees_the_rest(db, company, employee, room):
    booking = book(db, employee, room, 10, 13)
    room.base_price = 8_000
    db.session.commit()

    result = change(db, employee, booking, room, 12, 15)

    assert priced_nights(db, booking.id) == [
        (days(12), 10_000),
        (days(13), 8_000),
        (days(14), 8_000),
    ]
    assert claimed(db, booking.id) == [(room.id, days(n)) for n in (12, 13, 14)]
    assert (result.money.difference, result.money.refunded) == (-4_000, 4_000)
    assert balance(company) == CREDIT - 26_000
    # days(10) and days(11) are free again.
    assert (
        db.session.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.night < days(12))
        )
        == 0
    )


def test_another_room_prices_every_night_today_and_frees_the_old_room(
    db, company, employee, room, other_room
):
    booking = book(db, employee, room, 10, 13)

    result = change(db, employee, booking, other_room, 10, 13, guests=3)

    assert priced_nights(db, booking.id) == [(days(n), 15_000) for n in (10, 11, 12)]
    assert claimed(db, booking.id) == [(other_room.id, days(n)) for n in (10, 11, 12)]
    assert (
        db.session.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.unit_id == room.id)
        )
        == 0
    )
    assert result.money.charged == 15_000
    b = db.session.get(Booking, booking.id)
    assert (b.unit_id, b.guests, b.total_price) == (other_room.id, 3, 45_000)


def test_changing_only_the_guests_moves_no_money(db, company, employee, room):
    booking = book(db, employee, room, 10, 13)
    room.base_price = 99_000  # irrelevant: every night is kept
    db.session.commit()

    result = change(db, employee, booking, room, 10, 13, guests=2)

    assert (result.money.difference, result.money.charged, result.money.refunded) == (0, 0, 0)
    assert entries(db, booking.id) == [(EntryKind.SPEND, -30_000)]
    assert db.session.get(Booking, booking.id).guests == 2


def test_a_released_night_goes_to_the_block_that_wanted_it(db, company, employee, room):
    booking = book(db, employee, room, 10, 13)
    db.session.add(
        Block(
            unit_id=room.id, start_date=days(10), end_date=days(11), source="manual", reason="other"
        )
    )
    db.session.commit()

    change(db, employee, booking, room, 11, 13)

    holder = db.session.execute(
        select(Occupancy.booking_id, Occupancy.block_id).where(
            Occupancy.unit_id == room.id, Occupancy.night == days(10)
        )
    ).one()
    assert holder.booking_id is None and holder.block_id is not None


def test_an_increase_the_credit_cannot_cover_is_refused_and_changes_nothing(
    db, make_company, make_user, room
):
    company = make_company(credit=35_000)
    employee = make_user(Role.EMPLOYEE, company=company)
    booking = book(db, employee, room, 10, 13)
    before = snapshot(db, company, booking.id)

    with pytest.raises(services.BillingRefused) as refused:
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(10), days(14), 1), NOW
        )
    assert refused.value.code == "credit"
    assert snapshot(db, company, booking.id) == before


def test_overage_covers_an_increase_as_it_covers_a_booking(db, make_company, make_user, room):
    company = make_company(credit=35_000)
    account = ledger.account_of(company.id, lock=True)
    account.overage_allowed, account.overage_monthly_limit = True, 50_000
    db.session.commit()
    employee = make_user(Role.EMPLOYEE, company=company)
    booking = book(db, employee, room, 10, 13)

    change(db, employee, booking, room, 10, 14)

    assert entries(db, booking.id) == [
        (EntryKind.SPEND, -30_000),
        (EntryKind.OVERAGE, 5_000),
        (EntryKind.CHANGE, -10_000),
    ]
    assert balance(company) == 0


def test_the_employee_cap_counts_the_change_but_not_the_stay_twice(
    db, make_company, make_user, room
):
    company = make_company(credit=CREDIT)
    account = ledger.account_of(company.id, lock=True)
    account.employee_monthly_cap = 50_000
    db.session.commit()
    employee = make_user(Role.EMPLOYEE, company=company)
    booking = book(db, employee, room, 10, 14)  # 40,000 of the 50,000

    change(db, employee, booking, room, 10, 15)  # +10,000: exactly the cap
    assert ledger.month_spent_by(employee.id, days(0)) == 50_000
    before = snapshot(db, company, booking.id)
    with pytest.raises(services.BillingRefused) as refused:
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(10), days(16), 1), NOW
        )
    assert refused.value.code == "employee_cap"
    assert snapshot(db, company, booking.id) == before
    # A refund of a change counts against the month the stay was booked in, too.
    change(db, employee, booking, room, 10, 12)
    assert ledger.month_spent_by(employee.id, days(0)) == 20_000


def test_a_change_made_next_month_counts_in_the_month_the_stay_was_booked(
    db, make_company, make_user, room
):
    company = make_company(credit=CREDIT)
    account = ledger.account_of(company.id, lock=True)
    account.employee_monthly_cap = 50_000
    db.session.commit()
    employee = make_user(Role.EMPLOYEE, company=company)
    booking = book(db, employee, room, 40, 44)  # booked in December, 40,000
    january = at(31)

    with pytest.raises(services.BillingRefused):  # December would reach 60,000
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(40), days(46), 1), january
        )
    db.session.rollback()
    change(db, employee, booking, room, 40, 45, now=january)

    assert ledger.month_spent_by(employee.id, days(0)) == 50_000
    assert ledger.month_spent_by(employee.id, days(31)) == 0


def test_the_monthly_nights_cap_does_not_count_the_stay_being_changed(
    db, make_company, make_user, room
):
    company = make_company(credit=CREDIT, max_nights_per_month=5)
    employee = make_user(Role.EMPLOYEE, company=company)
    booking = book(db, employee, room, 10, 14)  # 4 of the 5 nights of December

    change(db, employee, booking, room, 10, 15)  # 5 nights: allowed, not 4 + 5
    with pytest.raises(services.BookingError) as refused:
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(10), days(16), 1), NOW
        )
    assert refused.value.code == "policy_month"


def test_a_moved_price_is_refused_when_the_shown_difference_is_given(db, company, employee, room):
    booking = book(db, employee, room, 10, 13)
    stay = services.StayRequest(room.id, days(10), days(14), 1)
    shown = changes.quote_change(employee, booking.id, stay, NOW).money.difference
    assert shown == PRICE
    room.base_price = 11_000
    db.session.commit()
    before = snapshot(db, company, booking.id)

    with pytest.raises(services.PriceChanged):
        changes.change_booking(employee, booking.id, stay, NOW, expected_difference=shown)
    assert snapshot(db, company, booking.id) == before
    result = changes.change_booking(employee, booking.id, stay, NOW, expected_difference=11_000)
    assert result.new_total == 41_000


# --- the preview --------------------------------------------------------------------------


def test_the_preview_states_the_money_and_writes_nothing(db, company, employee, room):
    booking = book(db, employee, room, 10, 14)
    room.base_price = 12_000
    db.session.commit()
    before = snapshot(db, company, booking.id)

    quote = changes.quote_change(
        employee, booking.id, services.StayRequest(room.id, days(12), days(16), 1), at(8)
    )

    assert quote.available
    assert (quote.old_total, quote.new_total) == (40_000, 44_000)
    assert [(n.night, n.price, n.kept) for n in quote.nights] == [
        (days(12), 10_000, True),
        (days(13), 10_000, True),
        (days(14), 12_000, False),
        (days(15), 12_000, False),
    ]
    assert [n.night for n in quote.new_nights] == [days(14), days(15)]
    # Late (day 8 of a stay from day 10): the two nights given up are cancelled at 50%
    # (¥10,000 kept of ¥20,000) and the two new ones paid in full (¥24,000).
    assert (quote.money.charged, quote.money.refunded, quote.money.kept) == (14_000, 0, 10_000)
    assert snapshot(db, company, booking.id) == before


def test_the_preview_says_when_a_new_night_is_taken(db, company, employee, make_employee, room):
    booking = book(db, employee, room, 10, 13)
    book(db, make_employee(), room, 13, 15)

    quote = changes.quote_change(
        employee, booking.id, services.StayRequest(room.id, days(10), days(14), 1), NOW
    )
    assert not quote.available
    # Its own nights never count as taken.
    quote = changes.quote_change(
        employee, booking.id, services.StayRequest(room.id, days(11), days(13), 1), NOW
    )
    assert quote.available


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_in", "check_out", "guests", "code"),
    [
        (13, 10, 1, "dates_order"),
        (12, 12, 1, "dates_order"),
        (-1, 3, 1, "dates_past"),
        (200, 203, 1, "dates_horizon"),
        (10, 13, 3, "capacity"),
        (10, 13, 0, "guests"),
        (10, 13, 1, "unchanged"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(
    db, company, employee, room, check_in, check_out, guests, code
):
    booking = book(db, employee, room, 10, 13)
    before = snapshot(db, company, booking.id)

    with pytest.raises(services.BookingError) as refused:
        changes.change_booking(
            employee,
            booking.id,
            services.StayRequest(room.id, days(check_in), days(check_out), guests),
            NOW,
        )
    assert refused.value.code == code
    assert snapshot(db, company, booking.id) == before


def test_a_room_of_another_facility_is_refused(db, company, employee, room, make_unit):
    booking = book(db, employee, room, 10, 13)
    elsewhere = make_unit()
    with pytest.raises(services.BookingError) as refused:
        changes.change_booking(
            employee, booking.id, services.StayRequest(elsewhere.id, days(10), days(13), 1), NOW
        )
    assert refused.value.code == "other_facility"


def test_somebody_elses_stay_is_not_found(db, company, employee, room, make_employee):
    booking = book(db, employee, room, 10, 13)
    colleague = make_employee(company=company)
    before = snapshot(db, company, booking.id)
    for call in (changes.change_booking, changes.quote_change):
        with pytest.raises(services.BookingNotFound):
            call(colleague, booking.id, services.StayRequest(room.id, days(10), days(14), 1), NOW)
    assert snapshot(db, company, booking.id) == before


def test_a_begun_or_cancelled_stay_cannot_be_changed(db, company, employee, room):
    begun = book(db, employee, room, 2, 5)
    cancelled = book(db, employee, room, 10, 13)
    cancellation.cancel_booking(employee, cancelled.id, NOW)
    db.session.commit()

    for booking, now in ((begun, at(2)), (begun, at(3)), (cancelled, NOW)):
        with pytest.raises(services.BookingError) as refused:
            changes.change_booking(
                employee,
                booking.id,
                services.StayRequest(
                    room.id, booking.check_in, booking.check_out + timedelta(1), 1
                ),
                now,
            )
        assert refused.value.code == "not_changeable"
        db.session.rollback()


def test_nights_taken_by_somebody_else_refuse_the_change_and_change_nothing(
    db, company, employee, make_employee, room
):
    booking = book(db, employee, room, 10, 13)
    book(db, make_employee(), room, 13, 15)
    before = snapshot(db, company, booking.id)

    with pytest.raises(services.BookingConflict):
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(10), days(14), 1), NOW
        )
    assert snapshot(db, company, booking.id) == before


# --- the race: a change and a booking want the same nights ------------------------------


ROUNDS = 4


def test_a_change_racing_a_booking_for_the_same_nights_has_one_winner(
    app, db, make_company, make_user, make_unit
):
    """Two real threads, each with its own session, meet at a barrier: one moves a stay
    onto nights another employee books at the same moment. Exactly one wins; a losing
    change leaves the stay, its nights, its prices and the ledger as they were."""
    outcomes_seen = Counter()
    for _round in range(ROUNDS):
        company = make_company(credit=CREDIT)
        mover_id = make_user(Role.EMPLOYEE, company=company).id
        # The same company: both sides also contend for its account lock.
        booker_id = make_user(Role.EMPLOYEE, company=company).id
        unit = make_unit(base_price=PRICE)
        unit_id = unit.id
        mover = db.session.get(User, mover_id)
        booking_id = book(db, mover, unit, 10, 13).id
        before = snapshot(db, company, booking_id)
        db.session.remove()  # release the connection (and, on SQLite, the write lock)

        def work(
            i: int,
            barrier: threading.Barrier,
            unit_id=unit_id,
            booking_id=booking_id,
            mover_id=mover_id,
            booker_id=booker_id,
        ):
            with app.app_context():
                try:
                    barrier.wait()
                    if i == 0:
                        actor = db.session.get(User, mover_id)
                        changes.change_booking(
                            actor,
                            booking_id,
                            services.StayRequest(unit_id, days(20), days(23), 1),
                            NOW,
                        )
                    else:
                        actor = db.session.get(User, booker_id)
                        services.book_stay(
                            actor, services.StayRequest(unit_id, days(21), days(24), 1), NOW
                        )
                    db.session.commit()
                    return "won"
                except services.BookingConflict as exc:
                    db.session.rollback()
                    return exc.code
                finally:
                    db.session.remove()

        outcomes = race(2, work)

        assert sorted(outcomes) == ["taken", "won"], outcomes
        assert_no_double_claim(db)
        moved = outcomes[0] == "won"
        outcomes_seen["change" if moved else "booking"] += 1
        changed = db.session.get(Booking, booking_id)
        assert changed.status == BookingStatus.CONFIRMED
        if moved:
            assert (changed.check_in, changed.check_out) == (days(20), days(23))
            assert claimed(db, booking_id) == [(unit_id, n) for n in nights_of(days(20), days(23))]
            assert (
                db.session.scalar(
                    select(func.count()).select_from(Booking).where(Booking.unit_id == unit_id)
                )
                == 1
            )
        else:
            other = db.session.scalars(
                select(Booking).where(Booking.unit_id == unit_id, Booking.id != booking_id)
            ).one()
            after = snapshot(db, company, booking_id)
            # The stay, its nights, claims and entries as they were; the balance moved
            # by the other booking only.
            assert after[:4] == before[:4]
            assert after[4] == before[4] - other.total_price
            assert claimed(db, other.id) == [(unit_id, n) for n in nights_of(days(21), days(24))]
    assert sum(outcomes_seen.values()) == ROUNDS


def test_a_change_and_a_booking_of_one_company_at_once_both_go_through(
    app, db, make_company, make_user, make_unit
):
    """On other nights, a change and a booking of the same company take the same locks
    (employee, stay, prices, nights, then the account) and neither waits forever."""
    for _round in range(ROUNDS):
        company = make_company(credit=CREDIT)
        mover_id = make_user(Role.EMPLOYEE, company=company).id
        booker_id = make_user(Role.EMPLOYEE, company=company).id
        unit = make_unit(base_price=PRICE)
        unit_id = unit.id
        booking_id = book(db, db.session.get(User, mover_id), unit, 10, 13).id
        start = balance(company)
        db.session.remove()

        def work(
            i: int,
            barrier: threading.Barrier,
            unit_id=unit_id,
            booking_id=booking_id,
            mover_id=mover_id,
            booker_id=booker_id,
        ):
            with app.app_context():
                try:
                    barrier.wait()
                    if i == 0:
                        changes.change_booking(
                            db.session.get(User, mover_id),
                            booking_id,
                            services.StayRequest(unit_id, days(20), days(24), 1),
                            NOW,
                        )
                    else:
                        services.book_stay(
                            db.session.get(User, booker_id),
                            services.StayRequest(unit_id, days(30), days(32), 1),
                            NOW,
                        )
                    db.session.commit()
                    return "won"
                finally:
                    db.session.remove()

        assert race(2, work) == ["won", "won"]
        assert_no_double_claim(db)
        # One more night for the mover (¥10,000) and two for the booker (¥20,000).
        assert start - balance(company) == 30_000


def test_moving_a_late_stay_to_later_dates_does_not_escape_the_cancellation_fee(
    db, company, employee, room
):
    """Day 8 of a stay from day 10 is past its free date: cancelling keeps half. Moving it
    to dates that are free to cancel, then cancelling, must cost the same half."""
    start = balance(company)
    direct = book(db, employee, room, 10, 14)
    cancellation.cancel_booking(employee, direct.id, at(8))
    db.session.commit()
    fee = start - balance(company)
    assert fee == 20_000

    start = balance(company)
    moved = book(db, employee, room, 10, 14)
    result = change(db, employee, moved, room, 30, 34, now=at(8))
    assert (result.money.charged, result.money.kept) == (20_000, 20_000)
    outcome = cancellation.cancel_booking(employee, moved.id, at(8))
    db.session.commit()
    assert outcome.refunded == 40_000 and outcome.kept == 0  # the fee was kept when it moved
    assert start - balance(company) == fee
