"""Pricing writers racing bookings, with real threads, on SQLite and PostgreSQL.

Bookings never wait for pricing: the nightly run, the refresh job and bookings
run at once. Whatever the interleaving, a night that was booked keeps the
price row it was booked at (the booking froze that price), and once the queue
is drained the stored prices are exactly what a full run computes.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, select

from accounts.models import User
from booking import services as booking_services
from booking.models import Booking, BookingNight
from core.extensions import db as _db
from pricing import engine, refresh
from pricing.models import NightlyPrice
from tests.booking.test_race import race
from tests.conftest import NOW, days

BOOKERS = 6
PRICERS = 3  # two full runs (forced, so they really write) and one refresh loop


def test_bookings_racing_the_recompute_keep_their_price_rows(app, db, make_unit, make_employee):
    units = [make_unit()]
    units += [make_unit(facility=units[0].facility) for _ in range(3)]
    unit_ids = [u.id for u in units]
    guests = [make_employee().id for _ in range(BOOKERS)]
    engine.recompute(NOW)
    db.session.close()  # on SQLite an open transaction would hold the write lock

    def work(i: int, barrier):
        with app.app_context():
            try:
                barrier.wait()
                if i < BOOKERS:
                    user = _db.session.get(User, guests[i])
                    unit_id = unit_ids[i % len(unit_ids)]
                    first = days(20 + 4 * (i // len(unit_ids)))
                    for k in range(3):  # three short stays each, one after another
                        start = first + timedelta(days=10 * k)
                        booking_services.book_stay(
                            user,
                            booking_services.StayRequest(
                                unit_id, start, start + timedelta(days=2), 1
                            ),
                            NOW,
                        )
                        _db.session.commit()
                    return "booked"
                if i < BOOKERS + 2:
                    engine.recompute(NOW, force=True)
                    return "recomputed"
                for _ in range(5):
                    refresh.refresh_queued(NOW)
                return "refreshed"
            finally:
                _db.session.remove()

    outcomes = race(BOOKERS + PRICERS, work)
    assert all(isinstance(o, str) for o in outcomes), outcomes

    # Every booked night's price row is still the price the booking froze.
    booked = db.session.execute(
        select(NightlyPrice.price, BookingNight.price)
        .select_from(BookingNight)
        .join(Booking, Booking.id == BookingNight.booking_id)
        .join(
            NightlyPrice,
            and_(NightlyPrice.unit_id == Booking.unit_id, NightlyPrice.night == BookingNight.night),
        )
    ).all()
    assert len(booked) == BOOKERS * 3 * 2
    assert all(stored == frozen for stored, frozen in booked), booked

    # Once the queue is drained, nothing is left for a full run to change.
    refresh.refresh_queued(NOW)
    assert not refresh.refresh_pending()
    assert engine.recompute(NOW, force=True).changed == 0
