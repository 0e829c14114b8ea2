"""Any sequence of the guests' and the front desk's actions keeps the books straight.

A hypothesis state machine books, cancels and changes stays as employees; moves,
extends, shortens and cancels them, checks guests in and out, marks no-shows and
closes and reopens dates as the operator; lets days pass and prices move. After every
step:

- the nights held by stays are exactly each stay's nights up to ``held_until`` (a
  cancelled stay holds none), in the stay's room from today on (a guest moved while in
  the house leaves the nights already slept in the room they were slept in), every
  other held night belongs to a closing that wants it, and every night a closing wants
  from today on is held;
- a night that has passed never changes: its room, its price, and the stay still paid
  for (a stay begun is checked in or a no-show, never cancelled or moved back);
- no two rows share a room and a night;
- each company's balance is the sum of its ledger and never below zero (no overage
  here), and each stay the company still pays for holds at least its price.

SQLite only (the rules, not the engine, are under test) and bounded so it runs in
seconds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
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
from availability import blocks
from availability.models import Block, BlockReason, Occupancy
from billing import ledger
from booking import cancellation, changes, front_desk, operator_moves, services
from booking.models import CHARGED_STATUSES, Booking, BookingStatus
from core.dates import stay_nights
from core.db import tokyo_today
from facilities.models import Unit
from tests.conftest import NOW
from tests.register_helpers import fill_register

ROOMS = ((10_000, 2), (15_000, 4), (8_000, 2))  # base price, capacity
MAX_DAYS = 12  # how far the clock may run in one example
REFUSALS = (services.BookingError, blocks.BlockError)  # rules saying no: nothing changes

pick = st.integers(0, 40)  # which stay (or closing) of those made, modulo their number
room = st.integers(0, len(ROOMS) - 1)
offset = st.integers(-1, 8)  # days from today
length = st.integers(1, 4)


def machine(db, make_company, make_user, make_unit, make_facility):
    class FrontDesk(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            facility = make_facility()
            self.units = [
                make_unit(facility=facility, base_price=price, capacity=capacity).id
                for price, capacity in ROOMS
            ]
            self.operator = make_user(Role.OPERATOR, operator=facility.operator)
            rich = make_company(credit=150_000, max_nights_per_stay=5)
            poor = make_company(credit=40_000)
            self.companies = [rich.id, poor.id]
            self.employees = [
                make_user(Role.EMPLOYEE, company=rich),
                make_user(Role.EMPLOYEE, company=rich),
                make_user(Role.EMPLOYEE, company=poor),
            ]
            self.day = 0
            self.bookings: list[int] = []
            self.blocks: list[int] = []
            # (stay, night) → (room held in or None, price), for each night that has passed
            self.past: dict[tuple[int, object], tuple[int | None, int]] = {}

        # --- helpers ---

        @property
        def now(self):
            return NOW + timedelta(days=self.day)

        @property
        def today(self):
            return tokyo_today(self.now)

        def attempt(self, action):
            """Run one action as a request would: commit, or roll back when refused."""
            try:
                result = action()
            except REFUSALS:
                db.session.rollback()
                return None
            db.session.commit()
            return result

        def stay(self, i: int, status: str | None = None) -> Booking | None:
            """The ``i``-th stay made (modulo), or of those in ``status`` whose stay
            has begun (the front desk's daily work), or None."""
            ids = self.bookings
            if status is not None:
                ids = db.session.scalars(
                    select(Booking.id).where(
                        Booking.id.in_(ids),
                        Booking.status == status,
                        Booking.check_in <= self.today,
                    )
                ).all()
            return db.session.get(Booking, ids[i % len(ids)]) if ids else None

        def guest(self, booking: Booking) -> User:
            return db.session.get(User, booking.user_id)

        # --- the guests ---

        @initialize(
            stays=st.lists(
                st.tuples(st.integers(0, 2), room, st.integers(0, 3), length),
                min_size=2,
                max_size=4,
            )
        )
        def guests_have_booked(self, stays):
            for who, unit, start, nights in stays:
                self.book(who, unit, start, nights)

        @rule(who=st.integers(0, 2), unit=room, start=offset, nights=length)
        def book(self, who, unit, start, nights):
            check_in = self.today + timedelta(days=start)
            stay = services.StayRequest(
                self.units[unit], check_in, check_in + timedelta(days=nights), 1
            )
            booking = self.attempt(lambda: services.book_stay(self.employees[who], stay, self.now))
            if booking is not None:
                self.bookings.append(booking.id)
                fill_register(booking)  # so the front desk may check it in

        @rule(i=pick)
        def guest_cancels(self, i):
            if (b := self.stay(i)) is not None:
                self.attempt(lambda: cancellation.cancel_booking(self.guest(b), b.id, self.now))

        @rule(i=pick, unit=room, start=offset, nights=length)
        def guest_changes(self, i, unit, start, nights):
            if (b := self.stay(i)) is None:
                return
            check_in = self.today + timedelta(days=start)
            stay = services.StayRequest(
                self.units[unit], check_in, check_in + timedelta(days=nights), b.guests
            )
            self.attempt(lambda: changes.change_booking(self.guest(b), b.id, stay, self.now))

        # --- the front desk ---

        @rule(i=pick, unit=room, start=offset, nights=length)
        def operator_moves_a_stay(self, i, unit, start, nights):
            if (b := self.stay(i)) is None:
                return
            check_in = self.today + timedelta(days=start)
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

        @rule(i=pick, by=st.sampled_from([-2, -1, 1, 2]))
        def operator_resizes(self, i, by):
            """Extend or shorten in the same room, keeping the check-in."""
            if (b := self.stay(i)) is None:
                return
            check_out = b.check_out + timedelta(days=by)
            self.attempt(
                lambda: operator_moves.move_booking(
                    self.operator, b.id, b.unit_id, b.check_in, check_out, self.now
                )
            )

        @rule(i=pick, unit=room, by=st.sampled_from([-1, 0, 1]))
        def operator_moves_a_guest_in_the_house(self, i, unit, by):
            """Another room for a checked-in guest, perhaps a night shorter or longer."""
            if (b := self.stay(i, BookingStatus.CHECKED_IN)) is None:
                return
            check_out = b.check_out + timedelta(days=by)
            self.attempt(
                lambda: operator_moves.move_booking(
                    self.operator, b.id, self.units[unit], b.check_in, check_out, self.now
                )
            )

        @rule(i=pick)
        def operator_cancels(self, i):
            if (b := self.stay(i)) is not None:
                self.attempt(
                    lambda: front_desk.cancel_for_guest(self.operator, b.id, "Closed", self.now)
                )

        @rule(i=pick, action=st.sampled_from(["check_in", "check_out", "mark_no_show"]))
        def front_desk_acts(self, i, action):
            """On any stay: mostly refused, and refusals must change nothing."""
            if (b := self.stay(i)) is not None:
                act = getattr(front_desk, action)
                self.attempt(lambda: act(self.operator, b.id, self.now))

        @rule(i=pick, came=st.booleans())
        def a_guest_arrives_or_not(self, i, came):
            if (b := self.stay(i, BookingStatus.CONFIRMED)) is not None:
                act = front_desk.check_in if came else front_desk.mark_no_show
                self.attempt(lambda: act(self.operator, b.id, self.now))

        @rule(i=pick)
        def a_guest_leaves(self, i):
            if (b := self.stay(i, BookingStatus.CHECKED_IN)) is not None:
                self.attempt(lambda: front_desk.check_out(self.operator, b.id, self.now))

        @rule(unit=room, start=offset, nights=length)
        def operator_closes(self, unit, start, nights):
            first = self.today + timedelta(days=start)
            made = self.attempt(
                lambda: blocks.close_dates(
                    self.operator,
                    [db.session.get(Unit, self.units[unit])],
                    first,
                    first + timedelta(days=nights),
                    BlockReason.MAINTENANCE,
                    "",
                    self.now,
                )
            )
            if made:
                self.blocks.extend(b.id for b in made)

        @rule(i=pick)
        def operator_reopens(self, i):
            if not self.blocks:
                return
            block = db.session.get(Block, self.blocks.pop(i % len(self.blocks)))
            self.attempt(lambda: blocks.remove_block(block, self.today))

        # --- the world ---

        @rule()
        def a_day_passes(self):
            if self.day < MAX_DAYS:
                self.day += 1

        @rule(unit=room, price=st.sampled_from([7_000, 10_000, 14_000]))
        def prices_move(self, unit, price):
            db.session.get(Unit, self.units[unit]).base_price = price
            db.session.commit()

        # --- after every step ---

        @invariant()
        def nights_are_held_by_exactly_who_should_hold_them(self):
            db.session.expire_all()
            units = self.units
            stays = db.session.scalars(select(Booking).where(Booking.unit_id.in_(units))).all()
            expected = {
                b.id: set(stay_nights(b.check_in, b.held_until))
                for b in stays
                if b.status in CHARGED_STATUSES
            }
            rows = db.session.execute(
                select(
                    Occupancy.unit_id, Occupancy.night, Occupancy.booking_id, Occupancy.block_id
                ).where(Occupancy.unit_id.in_(units))
            ).all()
            held_by_stays: dict[int, set] = {}
            for _u, n, b, _blk in rows:
                if b is not None:
                    held_by_stays.setdefault(b, set()).add(n)
            assert held_by_stays == {b: nights for b, nights in expected.items() if nights}
            # From today on a stay holds its nights in its own room; the nights before
            # may be in the room a guest in the house was moved out of (checked below).
            room_of = {b.id: b.unit_id for b in stays}
            for u, n, b, _blk in rows:
                if b is not None and n >= self.today:
                    assert u == room_of[b], (b, n)
            assert len({(u, n) for u, n, _b, _blk in rows}) == len(rows)
            wanted = {}
            for block in db.session.scalars(select(Block).where(Block.unit_id.in_(units))):
                for night in stay_nights(block.start_date, block.end_date):
                    wanted.setdefault((block.unit_id, night), set()).add(block.id)
            held = {(u, n) for u, n, _b, _blk in rows}
            for u, n, _b, blk in rows:
                if blk is not None:
                    assert blk in wanted.get((u, n), ()), (u, n, blk)
            for u, n in wanted:
                if n >= self.today:
                    assert (u, n) in held, (u, n)

        @invariant()
        def a_night_that_has_passed_never_changes(self):
            stays = {
                b.id: b
                for b in db.session.scalars(
                    select(Booking).where(Booking.id.in_(self.bookings))
                ).all()
            }
            rooms = {
                (b, n): u
                for u, n, b in db.session.execute(
                    select(Occupancy.unit_id, Occupancy.night, Occupancy.booking_id).where(
                        Occupancy.booking_id.in_(self.bookings), Occupancy.night < self.today
                    )
                )
            }
            for booking_id, night in self.past:
                assert stays[booking_id].status in CHARGED_STATUSES, (booking_id, night)
            for b in stays.values():
                if b.status not in CHARGED_STATUSES:
                    continue
                for n in b.nights:
                    if n.night >= self.today:
                        continue
                    now = (rooms.get((b.id, n.night)), n.price)
                    assert self.past.setdefault((b.id, n.night), now) == now, (b.id, n.night)

        @invariant()
        def the_ledger_adds_up(self):
            for company_id in self.companies:
                account = ledger.account_of(company_id)
                assert account.credit_balance == ledger.ledger_sum(company_id) >= 0
            stays = db.session.scalars(
                select(Booking).where(
                    Booking.unit_id.in_(self.units), Booking.status.in_(CHARGED_STATUSES)
                )
            ).all()
            held = ledger.paid_for(b.id for b in stays)
            for b in stays:
                assert held[b.id] >= b.total_price == sum(n.price for n in b.nights), b.id
                assert len(b.nights) == b.night_count

    return FrontDesk


def test_any_sequence_of_guest_and_front_desk_actions_keeps_nights_and_money_straight(
    backend, db, make_company, make_user, make_unit, make_facility
):
    if backend != "sqlite":
        pytest.skip("the rules under test are the engine's on both; SQLite keeps it quick")
    run_state_machine_as_test(
        machine(db, make_company, make_user, make_unit, make_facility),
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The machine did act: stays were made and nights are held.
    assert db.session.scalar(select(func.count()).select_from(Booking)) > 0
