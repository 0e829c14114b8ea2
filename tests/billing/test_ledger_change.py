"""The ledger's side of a changed stay: the difference settled by the policy, what a stay
holds, and what cancelling it afterwards returns.

A random sequence of changes and a final cancel, driven through the real services, is
compared with a small model: shortening refunds the dropped amount by the policy,
lengthening charges the difference, and no night ever pays a fee twice.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from accounts.models import Role
from billing import ledger, refunds
from billing.models import CreditEntry, EntryKind
from booking import cancellation, changes, lookups, services
from tests.conftest import NOW, TODAY

PRICE = 10_000
CREDIT = 1_000_000
CHECK_IN = TODAY + timedelta(days=10)  # free until day 7, half back from day 8, none from 10


@pytest.mark.parametrize(
    ("added", "dropped", "today", "charged", "refunded", "kept", "percent"),
    [
        (20_000, 0, 0, 20_000, 0, 0, 100),  # a longer stay pays its new nights
        (20_000, 20_000, 0, 0, 0, 0, 100),  # moved while free: only the difference
        (0, 20_000, 0, 0, 20_000, 0, 100),
        (0, 20_000, 7, 0, 20_000, 0, 100),  # the free-cancellation date itself
        (0, 20_000, 8, 0, 10_000, 10_000, 50),  # shortened late: half of the dropped
        (0, 15_001, 9, 0, 7_500, 7_501, 50),  # half rounds down, as for a cancellation
        (0, 20_000, 10, 0, 0, 20_000, 0),
        # Moved late at the same price: the given-up nights cost their fee, as a
        # cancellation would, so moving cannot dodge it.
        (20_000, 20_000, 8, 10_000, 0, 10_000, 50),
        (30_000, 20_000, 8, 20_000, 0, 10_000, 50),
    ],
)
def test_change_money_cancels_given_up_nights_by_the_policy_and_pays_new_ones(
    added, dropped, today, charged, refunded, kept, percent
):
    money = ledger.change_money(added, dropped, CHECK_IN, TODAY, TODAY + timedelta(days=today))
    assert (money.difference, money.charged, money.refunded, money.kept) == (
        added - dropped,
        charged,
        refunded,
        kept,
    )
    assert money.refund_percent == percent
    # The policy the pages show says the same.
    policy = refunds.cancellation_policy(CHECK_IN, TODAY)
    assert policy.percent_on(TODAY + timedelta(days=today)) == percent


@pytest.mark.parametrize(
    ("total", "held", "today", "refund"),
    [
        (40_000, 40_000, 0, 40_000),
        (40_000, 40_000, 8, 20_000),
        (20_000, 30_000, 8, 10_000),  # a late shortening kept 10,000 already
        (20_000, 30_000, 0, 20_000),
        (20_000, 10_000, 0, 10_000),  # never more than the stay holds
        (20_000, 0, 0, 0),
    ],
)
def test_a_cancellation_refunds_the_nights_price_by_the_policy_within_what_is_held(
    total, held, today, refund
):
    assert (
        refunds.cancellation_refund(total, held, CHECK_IN, TODAY + timedelta(days=today)) == refund
    )


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2)


def test_a_free_stay_made_dear_spends_its_first_charge(db, make_company, make_user, make_unit):
    company = make_company(credit=CREDIT)
    user = make_user(Role.EMPLOYEE, company=company)
    free = make_unit(base_price=0)
    booking = services.book_stay(
        user, services.StayRequest(free.id, CHECK_IN, CHECK_IN + timedelta(days=2), 1), NOW
    )
    db.session.commit()
    assert ledger.paid_for([booking.id]) == {booking.id: 0}
    free.base_price = 5_000
    db.session.commit()

    changes.change_booking(
        user,
        booking.id,
        services.StayRequest(free.id, CHECK_IN, CHECK_IN + timedelta(days=3), 1),
        NOW,
    )
    db.session.commit()

    kinds = db.session.execute(
        select(CreditEntry.kind, CreditEntry.amount).where(CreditEntry.booking_id == booking.id)
    ).all()
    assert [tuple(k) for k in kinds] == [(EntryKind.SPEND, -5_000)]
    assert ledger.month_spent_by(user.id, TODAY) == 5_000
    assert ledger.paid_for([booking.id]) == {booking.id: 5_000}


def test_month_spent_counts_changes_and_refunds_of_stays_booked_that_month(
    db, make_company, make_user, room
):
    company = make_company(credit=CREDIT)
    user = make_user(Role.EMPLOYEE, company=company)
    booking = services.book_stay(
        user, services.StayRequest(room.id, CHECK_IN, CHECK_IN + timedelta(days=3), 1), NOW
    )
    db.session.commit()
    assert ledger.month_spent_by(user.id, TODAY) == 30_000

    changes.change_booking(
        user,
        booking.id,
        services.StayRequest(room.id, CHECK_IN, CHECK_IN + timedelta(days=5), 1),
        NOW,
    )
    db.session.commit()
    assert ledger.month_spent_by(user.id, TODAY) == 50_000

    cancellation.cancel_booking(user, booking.id, NOW)
    db.session.commit()
    assert ledger.month_spent_by(user.id, TODAY) == 0


# --- any sequence of changes, then a cancel ----------------------------------------------

change_steps = st.lists(
    st.tuples(
        st.integers(0, 9),  # the day of the change (check-in is day 10)
        st.integers(0, 2),  # the new check-in, days after day 10
        st.integers(1, 5),  # the new length in nights
        st.sampled_from([PRICE, 12_000, 8_000]),  # today's nightly price then
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=change_steps, cancel=st.booleans())
def test_any_changes_keep_the_ledger_whole_and_charge_no_night_twice(
    db, make_company, make_user, make_unit, steps, cancel
):
    company = make_company(credit=CREDIT)
    user = make_user(Role.EMPLOYEE, company=company)
    room = make_unit(base_price=PRICE, capacity=2)  # one per example: examples share the database
    booking = services.book_stay(
        user, services.StayRequest(room.id, CHECK_IN, CHECK_IN + timedelta(days=3), 1), NOW
    )
    db.session.commit()
    booking_id = booking.id
    expected_balance = CREDIT - 30_000
    fees = 0  # what late shortenings kept
    day = 0
    for change_day, start, length, price in sorted(steps):
        day = change_day
        now = NOW + timedelta(days=day)
        room.base_price = price
        db.session.commit()
        stay = services.StayRequest(
            room.id, CHECK_IN + timedelta(days=start), CHECK_IN + timedelta(days=start + length), 1
        )
        try:
            result = changes.change_booking(user, booking_id, stay, now)
        except services.BookingError as exc:
            db.session.rollback()
            assert exc.code in ("unchanged", "not_changeable"), exc.code
            continue
        db.session.commit()
        money = result.money
        assert money.charged - money.refunded - money.kept == money.difference
        expected_balance += money.refunded - money.charged
        fees += money.kept
        if money.kept:
            assert date.fromordinal(TODAY.toordinal() + day) >= CHECK_IN - timedelta(days=2)

    b = lookups.booking_of(user, booking_id)
    held = ledger.paid_for([booking_id])[booking_id]
    assert held == b.total_price + fees
    assert sum(n.price for n in b.nights) == b.total_price
    assert ledger.account_of(company.id).credit_balance == expected_balance
    assert ledger.ledger_sum(company.id) == expected_balance

    if cancel and b.check_in > TODAY + timedelta(days=day):
        result = cancellation.cancel_booking(user, booking_id, NOW + timedelta(days=day))
        db.session.commit()
        # Whatever the path, the company keeps at most the policy's share of the price
        # of the nights it dropped or cancelled: never a fee on a fee.
        assert result.refunded == refunds.refund_amount(
            result.booking.total_price, b.check_in, TODAY + timedelta(days=day)
        )
        assert result.refunded + result.kept == result.booking.total_price
        total_kept = fees + result.kept
        assert ledger.account_of(company.id).credit_balance == CREDIT - total_kept
    remaining = db.session.scalar(
        select(func.count()).select_from(CreditEntry).where(CreditEntry.booking_id == booking_id)
    )
    assert remaining >= 1
