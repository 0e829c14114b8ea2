"""Any sequence of bookings, changes, moves, cancellations, no-shows and check-outs in
Kyoto keeps the accommodation tax straight.

A hypothesis state machine acts as employees and as the front desk of a Kyoto house
while the clock runs over 2026-03-01, the night Kyoto's rates changed, and prices
move. After every step:

- each company's balance is the sum of its ledger entries and never below zero;
- each stay holds, in ``accommodation_tax`` entries, exactly the tax of the nights it
  keeps (all of them while booked or in the house, those before an early check-out,
  none after a no-show or a cancellation), never a negative amount;
- each night's tax is the one the table gives for its frozen price and the stay's
  guests by the rule of that night, and the stay's tax is the sum of its nights'.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from accounts.models import Role, User
from billing import ledger, tax_ledger
from billing.models import CreditEntry, EntryKind
from booking import cancellation, changes, front_desk, operator_moves, services
from booking.models import Booking, BookingStatus
from booking.stay_tax import kept_tax
from core.db import tokyo_today
from facilities.models import Unit
from lodging.tax import TaxTable

KYOTO = {"prefecture": 26, "municipality": "京都市東山区"}
START = datetime(2026, 2, 24, 3, 0, tzinfo=UTC)  # a week before Kyoto's new rates
ROOMS = (11_000, 22_000, 0)  # base prices (a free room: the lowest bracket still taxes)
MAX_DAYS = 10

pick = st.integers(0, 40)  # which stay of those made, modulo their number
room = st.integers(0, len(ROOMS) - 1)
offset = st.integers(-1, 7)  # days from today
length = st.integers(1, 4)
guests = st.integers(1, 4)


def machine(db, make_company, make_user, make_unit, make_facility):
    class TaxBooks(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            facility = make_facility(**KYOTO)
            self.units = [
                make_unit(facility=facility, base_price=price, capacity=4).id for price in ROOMS
            ]
            self.operator = make_user(Role.OPERATOR, operator=facility.operator)
            rich = make_company(credit=300_000, max_nights_per_stay=6)
            poor = make_company(credit=30_000)
            self.companies = [rich.id, poor.id]
            self.employees = [
                make_user(Role.EMPLOYEE, company=rich),
                make_user(Role.EMPLOYEE, company=rich),
                make_user(Role.EMPLOYEE, company=poor),
            ]
            self.day = 0
            self.bookings: list[int] = []
            self.table = TaxTable.load()

        @property
        def now(self):
            return START + timedelta(days=self.day)

        @property
        def today(self):
            return tokyo_today(self.now)

        def attempt(self, action):
            """Run one action as a request would: commit, or roll back when refused."""
            try:
                result = action()
            except services.BookingError:
                db.session.rollback()
                return None
            db.session.commit()
            return result

        def stay(self, i: int) -> Booking | None:
            ids = self.bookings
            return db.session.get(Booking, ids[i % len(ids)]) if ids else None

        def guest(self, booking: Booking) -> User:
            return db.session.get(User, booking.user_id)

        # --- employees ---

        @initialize(
            stays=st.lists(
                st.tuples(st.integers(0, 2), room, st.integers(0, 5), length, guests),
                min_size=2,
                max_size=4,
            )
        )
        def employees_have_booked(self, stays):
            for who, unit, start, nights, count in stays:
                self.book(who, unit, start, nights, count)

        @rule(who=st.integers(0, 2), unit=room, start=offset, nights=length, count=guests)
        def book(self, who, unit, start, nights, count):
            check_in = self.today + timedelta(days=start)
            stay = services.StayRequest(
                self.units[unit], check_in, check_in + timedelta(days=nights), count
            )
            booking = self.attempt(lambda: services.book_stay(self.employees[who], stay, self.now))
            if booking is not None:
                self.bookings.append(booking.id)

        @rule(i=pick)
        def employee_cancels(self, i):
            if (b := self.stay(i)) is not None:
                self.attempt(lambda: cancellation.cancel_booking(self.guest(b), b.id, self.now))

        @rule(i=pick, unit=room, start=offset, nights=length, count=guests)
        def employee_changes(self, i, unit, start, nights, count):
            if (b := self.stay(i)) is None:
                return
            check_in = self.today + timedelta(days=start)
            stay = services.StayRequest(
                self.units[unit], check_in, check_in + timedelta(days=nights), count
            )
            self.attempt(lambda: changes.change_booking(self.guest(b), b.id, stay, self.now))

        # --- the front desk ---

        @rule(i=pick, unit=room, start=offset, nights=length)
        def operator_moves_a_stay(self, i, unit, start, nights):
            if (b := self.stay(i)) is None:
                return
            check_in = b.check_in if start < 0 else self.today + timedelta(days=start)
            self.attempt(
                lambda: operator_moves.move_booking(
                    self.operator,
                    b.id,
                    self.units[unit],
                    check_in,
                    check_in + timedelta(days=nights),
                    self.now,
                )
            )

        @rule(i=pick)
        def operator_cancels(self, i):
            if (b := self.stay(i)) is not None:
                self.attempt(
                    lambda: front_desk.cancel_for_guest(self.operator, b.id, "Closed", self.now)
                )

        @rule(i=pick, came=st.booleans())
        def a_guest_arrives_or_not(self, i, came):
            b = self.stay(i)
            if b is None or b.status != BookingStatus.CONFIRMED:
                return
            if not came:
                self.attempt(lambda: front_desk.mark_no_show(self.operator, b.id, self.now))
            elif b.check_in <= self.today < b.check_out:
                # In the house (check-in with its guest register is tested elsewhere).
                b.status, b.checked_in_at = BookingStatus.CHECKED_IN, self.now
                db.session.commit()

        @rule(i=pick)
        def a_guest_leaves(self, i):
            if (b := self.stay(i)) is not None:
                self.attempt(lambda: front_desk.check_out(self.operator, b.id, self.now))

        # --- the world ---

        @rule()
        def a_day_passes(self):
            if self.day < MAX_DAYS:
                self.day += 1

        @rule(unit=room, price=st.sampled_from([0, 6_600, 11_000, 33_000]))
        def prices_move(self, unit, price):
            db.session.get(Unit, self.units[unit]).base_price = price
            db.session.commit()

        # --- after every step ---

        @invariant()
        def every_company_balance_is_its_ledger(self):
            db.session.expire_all()
            for company_id in self.companies:
                account = ledger.account_of(company_id)
                assert account.credit_balance == ledger.ledger_sum(company_id) >= 0

        @invariant()
        def every_stay_holds_the_tax_of_the_nights_it_keeps(self):
            stays = db.session.scalars(select(Booking).where(Booking.id.in_(self.bookings))).all()
            held = tax_ledger.tax_held(b.id for b in stays)
            for b in stays:
                assert held[b.id] == kept_tax(b) >= 0, (b.id, b.status)
                assert b.accommodation_tax == sum(n.accommodation_tax for n in b.nights)
                for n in b.nights:
                    due = self.table.night_tax(
                        KYOTO["prefecture"], KYOTO["municipality"], n.night, n.price, b.guests
                    )
                    assert n.accommodation_tax == due, (b.id, n.night, n.price, b.guests)

        @invariant()
        def no_stay_gets_back_more_tax_than_it_paid(self):
            overpaid = db.session.scalar(
                select(func.count()).select_from(
                    select(CreditEntry.booking_id)
                    .where(CreditEntry.kind == EntryKind.ACCOMMODATION_TAX)
                    .group_by(CreditEntry.booking_id)
                    .having(func.sum(CreditEntry.amount) > 0)
                    .subquery()
                )
            )
            assert overpaid == 0

    return TaxBooks


def test_any_sequence_keeps_the_accommodation_tax_in_the_books(
    db, make_company, make_user, make_unit, make_facility, tax_rules
):
    run_state_machine_as_test(
        machine(db, make_company, make_user, make_unit, make_facility),
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The machine did act: stays were booked and tax was paid.
    assert db.session.scalar(select(func.count()).select_from(Booking)) > 0
    assert db.session.scalar(
        select(func.count())
        .select_from(CreditEntry)
        .where(CreditEntry.kind == EntryKind.ACCOMMODATION_TAX)
    )
