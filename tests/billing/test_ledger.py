"""The credit ledger: every yen comes and goes by the rules, and adds up.

Property tests drive random sequences of grants (period ends), bookings and
cancellations through the real services and compare with a small model of the
rules; the race test spends one company's last credit from many threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from accounts.models import Role
from billing import ledger
from billing.models import CreditEntry, EntryKind, Invoice
from booking import cancellation, services
from booking.models import Booking, BookingStatus
from tests.booking.test_race import race
from tests.conftest import NOW, TODAY

NIGHT_PRICE = 10_000  # the test rooms' base price, no demand pricing run


@pytest.fixture
def rooms(make_unit):
    return [make_unit(base_price=NIGHT_PRICE, capacity=2).id for _ in range(3)]


def _grant(db, company_id: int, amount: int, seq: int) -> None:
    account = ledger.account_of(company_id, lock=True)
    invoice = Invoice(
        company_id=company_id,
        stripe_invoice_id=f"in_test_{company_id}_{seq}",
        status="paid",
        total=amount,
        created_at=NOW,
    )
    db.session.add(invoice)
    db.session.flush()
    ledger.grant_period(account, amount, NOW, invoice_id=invoice.id, period_start=TODAY)
    db.session.commit()


@dataclass
class Model:
    """The rules, written out plainly, to compare the ledger with."""

    balance: int = 0
    last_grant: int | None = None
    overage_allowed: bool = False
    overage_limit: int = 0
    overage_used: int = 0
    spent: dict[int, int] = field(default_factory=dict)  # booking id -> total
    refunded: dict[int, int] = field(default_factory=dict)

    def grant(self, amount: int) -> None:
        if amount <= 0:
            return
        if self.last_grant is not None and self.balance > 0:
            self.balance -= max(0, self.balance - self.last_grant)  # expiry
        self.balance += amount
        self.last_grant = amount

    def can_spend(self, total: int) -> bool:
        missing = max(0, total - self.balance)
        return missing == 0 or (
            self.overage_allowed and self.overage_used + missing <= self.overage_limit
        )

    def spend(self, booking_id: int, total: int) -> None:
        missing = max(0, total - self.balance)
        self.overage_used += missing
        self.balance += missing - total
        self.spent[booking_id] = total

    def cancel(self, booking_id: int, days_before: int) -> None:
        total = self.spent[booking_id]
        refund = total if days_before >= 3 else total // 2 if days_before > 0 else 0
        self.balance += refund
        if refund:
            self.refunded[booking_id] = refund


operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.sampled_from([0, 15_000, 30_000, 75_000])),
        st.tuples(
            st.just("book"),
            st.tuples(st.integers(0, 2), st.integers(5, 60), st.integers(1, 6)),
        ),
        st.tuples(st.just("cancel"), st.tuples(st.integers(0, 30), st.integers(1, 6))),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=operations,
    overage=st.one_of(st.none(), st.sampled_from([10_000, 50_000])),
)
def test_any_sequence_keeps_the_ledger_summed_non_negative_and_matching_bookings(
    db, make_company, make_user, rooms, ops, overage
):
    company = make_company(credit=0)
    user = make_user(Role.EMPLOYEE, company=company)
    model = Model(overage_allowed=overage is not None, overage_limit=overage or 0)
    if overage:
        account = ledger.account_of(company.id, lock=True)
        account.overage_allowed, account.overage_monthly_limit = True, overage
        db.session.commit()
    booked: list[tuple[int, date]] = []
    for seq, (op, arg) in enumerate(ops):
        if op == "grant":
            _grant(db, company.id, arg, seq)
            model.grant(arg)
        elif op == "book":
            room, start, nights = arg
            check_in = TODAY + timedelta(days=start)
            total = nights * NIGHT_PRICE
            try:
                booking = services.book_stay(
                    user,
                    services.StayRequest(
                        rooms[room], check_in, check_in + timedelta(days=nights), 1
                    ),
                    NOW,
                )
            except services.BookingConflict:
                db.session.rollback()
                continue
            except services.BillingRefused:
                db.session.rollback()
                assert not model.can_spend(total), "refused although the rules allow it"
                continue
            assert model.can_spend(total), "booked although the rules refuse it"
            booked.append((booking.id, check_in))
            db.session.commit()
            model.spend(booked[-1][0], total)
        elif op == "cancel" and booked:
            index, days_before = arg
            booking_id, check_in = booked.pop(index % len(booked))
            cancellation.cancel_booking(
                user, booking_id, NOW + (check_in - TODAY - timedelta(days=days_before))
            )
            db.session.commit()
            model.cancel(booking_id, days_before)

        account = ledger.account_of(company.id)
        assert account.credit_balance == ledger.ledger_sum(company.id) == model.balance
        assert account.credit_balance >= 0
        db.session.rollback()

    # The ledger matches the bookings: one spend per booking at its frozen total,
    # refunds only for cancelled ones, never more than was spent.
    rows = db.session.execute(
        select(Booking.id, Booking.total_price, Booking.status).where(
            Booking.company_id == company.id
        )
    ).all()
    for booking_id, total, status in rows:
        entries = dict(
            db.session.execute(
                select(CreditEntry.kind, func.sum(CreditEntry.amount))
                .where(CreditEntry.booking_id == booking_id)
                .group_by(CreditEntry.kind)
            ).all()
        )
        assert entries.get(EntryKind.SPEND) == -total
        assert entries.get(EntryKind.REFUND, 0) == model.refunded.get(booking_id, 0)
        if status == BookingStatus.CONFIRMED:
            assert EntryKind.REFUND not in entries
        assert 0 <= entries.get(EntryKind.REFUND, 0) <= total


@pytest.mark.parametrize(
    ("days_before", "refund"), [(10, 30_000), (3, 30_000), (2, 15_000), (1, 15_000)]
)
def test_cancellation_refunds_by_the_policy(
    db, make_company, make_user, rooms, days_before, refund
):
    company = make_company(credit=100_000)
    user = make_user(Role.EMPLOYEE, company=company)
    check_in = TODAY + timedelta(days=20)
    booking = services.book_stay(
        user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=3), 1), NOW
    )
    db.session.commit()
    assert ledger.account_of(company.id).credit_balance == 70_000
    cancellation.cancel_booking(user, booking.id, NOW + timedelta(days=20 - days_before))
    db.session.commit()
    assert ledger.account_of(company.id).credit_balance == 70_000 + refund
    # Cancelling again refunds nothing more.
    cancellation.cancel_booking(user, booking.id, NOW + timedelta(days=20 - days_before))
    db.session.commit()
    assert ledger.account_of(company.id).credit_balance == 70_000 + refund


def test_booking_is_refused_when_credit_is_short_and_nothing_is_kept(
    db, make_company, make_user, rooms
):
    company = make_company(credit=25_000)
    user = make_user(Role.EMPLOYEE, company=company)
    check_in = TODAY + timedelta(days=5)
    with pytest.raises(services.BillingRefused) as refused:
        services.book_stay(
            user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=3), 1), NOW
        )
    db.session.rollback()
    assert "¥25,000" in str(refused.value.message)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
    assert ledger.account_of(company.id).credit_balance == 25_000


def test_overage_covers_the_missing_credit_up_to_the_monthly_limit(
    db, make_company, make_user, rooms
):
    company = make_company(credit=25_000)
    account = ledger.account_of(company.id, lock=True)
    account.overage_allowed, account.overage_monthly_limit = True, 10_000
    db.session.commit()
    user = make_user(Role.EMPLOYEE, company=company)
    check_in = TODAY + timedelta(days=5)
    booking = services.book_stay(
        user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=3), 1), NOW
    )
    db.session.commit()
    kinds = dict(
        db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount).where(CreditEntry.booking_id == booking.id)
        ).all()
    )
    assert kinds == {"overage": 5_000, "spend": -30_000}
    assert ledger.account_of(company.id).credit_balance == 0
    with pytest.raises(services.BillingRefused):  # 10,000 more would pass the limit
        services.book_stay(
            user, services.StayRequest(rooms[1], check_in, check_in + timedelta(days=1), 1), NOW
        )


def test_employee_monthly_cap(db, make_company, make_user, rooms):
    company = make_company(credit=1_000_000)
    account = ledger.account_of(company.id, lock=True)
    account.employee_monthly_cap = 50_000
    db.session.commit()
    user = make_user(Role.EMPLOYEE, company=company)
    check_in = TODAY + timedelta(days=5)
    services.book_stay(
        user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=4), 1), NOW
    )
    db.session.commit()
    with pytest.raises(services.BillingRefused) as refused:
        services.book_stay(
            user, services.StayRequest(rooms[1], check_in, check_in + timedelta(days=2), 1), NOW
        )
    assert refused.value.code == "employee_cap"
    db.session.rollback()
    other = make_user(Role.EMPLOYEE, company=company)  # a colleague has a cap of their own
    services.book_stay(
        other, services.StayRequest(rooms[1], check_in, check_in + timedelta(days=2), 1), NOW
    )
    db.session.commit()


@pytest.mark.parametrize(
    ("status", "past_due_days", "allowed"),
    [
        ("active", 0, True),
        ("trialing", 0, True),
        ("past_due", 3, True),
        ("past_due", 8, False),
        ("unpaid", 0, False),
        ("canceled", 0, False),
        ("incomplete", 0, False),
        ("incomplete_expired", 0, False),
    ],
)
def test_subscription_state_gates_booking(
    db, make_company, make_user, rooms, status, past_due_days, allowed
):
    company = make_company(status=status)
    if past_due_days:
        account = ledger.account_of(company.id)
        account.subscription.past_due_since = NOW - timedelta(days=past_due_days)
        db.session.commit()
    admin = make_user(Role.COMPANY_ADMIN, company=company, email=f"admin-{status}@acme.example")
    user = make_user(Role.EMPLOYEE, company=company)
    check_in = TODAY + timedelta(days=5)
    if allowed:
        services.book_stay(
            user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=2), 1), NOW
        )
        return
    with pytest.raises(services.BillingRefused) as refused:
        services.book_stay(
            user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=2), 1), NOW
        )
    # The employee learns why and whom to ask.
    assert admin.email in str(refused.value.message)
    with pytest.raises(services.BillingRefused):
        services.quote_stay(
            user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=2), 1), NOW
        )


def test_no_subscription_cannot_book(db, make_company, make_user, rooms):
    company = make_company(subscribed=False)
    user = make_user(Role.EMPLOYEE, company=company)
    with pytest.raises(services.BillingRefused):
        services.book_stay(
            user,
            services.StayRequest(rooms[0], TODAY + timedelta(days=3), TODAY + timedelta(days=4), 1),
            NOW,
        )


def test_racing_bookings_never_spend_more_than_the_credit(app, db, make_company, make_user, rooms):
    """Eight employees book different rooms at once; credit for three stays only."""
    company = make_company(credit=3 * 20_000)
    company_id = company.id
    users = [make_user(Role.EMPLOYEE, company=company).id for _ in range(8)]
    more_rooms = rooms + [r for r in rooms]  # three rooms, many dates
    db.session.commit()
    db.session.close()

    def work(i: int, barrier: threading.Barrier):
        from accounts.models import User

        with app.app_context():
            check_in = TODAY + timedelta(days=10 + 3 * i)
            barrier.wait()
            user = db.session.get(User, users[i])
            try:
                services.book_stay(
                    user,
                    services.StayRequest(
                        more_rooms[i % 3], check_in, check_in + timedelta(days=2), 1
                    ),
                    NOW,
                )
                db.session.commit()
                return "booked"
            except services.BillingRefused:
                db.session.rollback()
                return "refused"
            finally:
                db.session.remove()

    outcomes = race(8, work)
    assert sorted(outcomes) == ["booked"] * 3 + ["refused"] * 5
    account = ledger.account_of(company_id)
    assert account.credit_balance == 0 == ledger.ledger_sum(company_id)


def test_credit_of_an_ended_subscription_expires_after_its_carry_over_period(db, make_company):
    company = make_company(credit=0)
    company_id = company.id
    account = ledger.account_of(company_id, lock=True)
    invoice = Invoice(
        company_id=company_id,
        stripe_invoice_id="in_last",
        status="paid",
        total=8_000,
        period_start=NOW - timedelta(days=30),
        period_end=NOW,
        created_at=NOW,
    )
    db.session.add(invoice)
    db.session.flush()
    ledger.grant_period(account, 15_000, NOW, invoice_id=invoice.id, period_start=TODAY)
    account.subscription.status = "canceled"
    db.session.commit()

    assert ledger.expire_lapsed(NOW + timedelta(days=29)) == 0  # still in its carry-over period
    assert ledger.account_of(company_id).credit_balance == 15_000
    assert ledger.expire_lapsed(NOW + timedelta(days=31)) == 1
    db.session.commit()
    assert ledger.account_of(company_id).credit_balance == 0 == ledger.ledger_sum(company_id)
    assert ledger.expire_lapsed(NOW + timedelta(days=40)) == 0


def test_credit_of_a_live_subscription_never_lapses(db, make_company):
    company = make_company(credit=15_000)
    assert ledger.expire_lapsed(NOW + timedelta(days=400)) == 0
    assert ledger.account_of(company.id).credit_balance == 15_000


def test_a_refund_counts_against_the_month_its_stay_was_booked_in(
    db, make_company, make_user, rooms
):
    """A stay booked in December and cancelled in January gives January no extra room."""
    company = make_company(credit=1_000_000)
    account = ledger.account_of(company.id, lock=True)
    account.employee_monthly_cap = 30_000
    db.session.commit()
    user = make_user(Role.EMPLOYEE, company=company)
    january = NOW + timedelta(days=31)  # 2027-01-01
    check_in = TODAY + timedelta(days=60)
    booking = services.book_stay(
        user, services.StayRequest(rooms[0], check_in, check_in + timedelta(days=3), 1), NOW
    )
    db.session.commit()
    cancellation.cancel_booking(user, booking.id, january)
    db.session.commit()
    assert ledger.month_spent_by(user.id, TODAY + timedelta(days=31)) == 0
    later = check_in + timedelta(days=5)
    with pytest.raises(services.BillingRefused):  # ¥40,000 > the ¥30,000 cap in January
        services.book_stay(
            user, services.StayRequest(rooms[1], later, later + timedelta(days=4), 1), january
        )
