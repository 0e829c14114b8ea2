"""The booking rules, called directly with a fixed ``now``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability.models import Occupancy
from booking import cancellation, services
from booking.models import Booking, BookingNight
from tests.conftest import NOW, days


def occupancy_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Occupancy))


def test_booking_claims_each_night_and_freezes_prices(db, make_employee, make_unit):
    unit = make_unit(base_price=12300)
    employee = make_employee()

    booking = services.book_stay(
        employee, services.StayRequest(unit.id, days(10), days(13), 2), NOW
    )
    db.session.commit()

    assert booking.total_price == 3 * 12300
    assert [(n.night, n.price) for n in booking.nights] == [
        (days(10), 12300),
        (days(11), 12300),
        (days(12), 12300),
    ]
    nights = db.session.scalars(select(Occupancy.night).where(Occupancy.unit_id == unit.id)).all()
    assert sorted(nights) == [days(10), days(11), days(12)]

    # A later change of the base price does not touch the frozen booking.
    unit.base_price = 99000
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).total_price == 3 * 12300


def test_overlapping_stay_is_refused_as_just_taken(db, make_employee, make_unit):
    unit = make_unit()
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(10), days(14), 1), NOW)
    db.session.commit()

    with pytest.raises(services.BookingConflict):
        services.book_stay(
            make_employee(), services.StayRequest(unit.id, days(13), days(16), 1), NOW
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
    assert occupancy_count(db) == 4


def test_back_to_back_stays_coexist(db, make_employee, make_unit):
    unit = make_unit()
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(10), days(12), 1), NOW)
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(12), days(14), 1), NOW)
    db.session.commit()
    assert occupancy_count(db) == 4


@pytest.mark.parametrize(
    ("check_in", "check_out", "code"),
    [
        (12, 10, "dates_order"),
        (10, 10, "dates_order"),
        (-1, 3, "dates_past"),
        (181, 183, "dates_horizon"),
    ],
)
def test_dates_are_checked(db, make_employee, make_unit, check_in, check_out, code):
    unit = make_unit()
    with pytest.raises(services.BookingError) as exc:
        services.book_stay(
            make_employee(), services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
        )
    assert exc.value.code == code
    assert occupancy_count(db) == 0


def test_today_and_the_last_day_of_the_horizon_are_bookable(db, make_employee, make_unit):
    unit = make_unit()
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(0), days(1), 1), NOW)
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(180), days(182), 1), NOW)
    db.session.commit()
    assert occupancy_count(db) == 3


def test_facility_min_and_max_nights(db, make_employee, make_unit, make_facility):
    unit = make_unit(facility=make_facility(min_nights=2, max_nights=5))
    employee = make_employee()
    with pytest.raises(services.BookingError) as short:
        services.book_stay(employee, services.StayRequest(unit.id, days(10), days(11), 1), NOW)
    with pytest.raises(services.BookingError) as long:
        services.book_stay(employee, services.StayRequest(unit.id, days(10), days(16), 1), NOW)
    assert (short.value.code, long.value.code) == ("min_nights", "max_nights")


def test_company_caps_per_stay_and_per_month(db, make_employee, make_unit, make_company):
    company = make_company(max_nights_per_stay=5, max_nights_per_month=6)
    employee = make_employee(company=company)
    unit = make_unit()
    with pytest.raises(services.BookingError) as stay:
        services.book_stay(employee, services.StayRequest(unit.id, days(40), days(46), 1), NOW)
    assert stay.value.code == "policy_stay"

    # January 2027: 4 nights, then 3 more would make 7 > 6.
    services.book_stay(
        employee, services.StayRequest(unit.id, days(35), days(39), 1), NOW
    )  # 2027-01-05..09
    db.session.commit()
    with pytest.raises(services.BookingError) as month:
        services.book_stay(employee, services.StayRequest(unit.id, days(45), days(48), 1), NOW)
    assert month.value.code == "policy_month"
    # Two more in January are fine (6 of 6).
    services.book_stay(employee, services.StayRequest(unit.id, days(45), days(47), 1), NOW)
    db.session.commit()
    # A stay over the month end counts per month: Jan 31 would be January's 7th night.
    with pytest.raises(services.BookingError) as over_the_end:
        services.book_stay(employee, services.StayRequest(unit.id, days(61), days(63), 1), NOW)
    assert over_the_end.value.code == "policy_month"
    services.book_stay(
        employee, services.StayRequest(unit.id, days(62), days(65), 1), NOW
    )  # Feb 1..3
    db.session.commit()
    assert occupancy_count(db) == 9


def test_cancelled_stays_do_not_count_against_the_monthly_cap(
    db, make_employee, make_unit, make_company
):
    employee = make_employee(company=make_company(max_nights_per_month=4))
    unit = make_unit()
    first = services.book_stay(employee, services.StayRequest(unit.id, days(35), days(39), 1), NOW)
    db.session.commit()
    cancellation.cancel_booking(employee, first.id, NOW)
    db.session.commit()
    services.book_stay(employee, services.StayRequest(unit.id, days(40), days(44), 1), NOW)
    db.session.commit()


def test_guests_and_capacity(db, make_employee, make_unit):
    unit = make_unit(capacity=2)
    employee = make_employee()
    for guests, code in ((3, "capacity"), (0, "guests")):
        with pytest.raises(services.BookingError) as exc:
            services.book_stay(
                employee, services.StayRequest(unit.id, days(10), days(12), guests), NOW
            )
        assert exc.value.code == code


def test_inactive_company_cannot_book(db, make_employee, make_unit, make_company):
    employee = make_employee(company=make_company(active=False))
    with pytest.raises(services.BookingForbidden) as exc:
        services.book_stay(
            employee, services.StayRequest(make_unit().id, days(10), days(12), 1), NOW
        )
    assert exc.value.code == "company_inactive"


def test_operators_and_platform_admins_do_not_book(db, make_user, make_unit):
    unit = make_unit()
    for role in (Role.OPERATOR, Role.PLATFORM_ADMIN):
        with pytest.raises(services.BookingForbidden):
            services.book_stay(
                make_user(role), services.StayRequest(unit.id, days(10), days(12), 1), NOW
            )


def test_unknown_or_inactive_unit_is_not_found(db, make_employee, make_unit):
    employee = make_employee()
    with pytest.raises(services.BookingNotFound):
        services.book_stay(employee, services.StayRequest(999_999, days(10), days(12), 1), NOW)
    with pytest.raises(services.BookingNotFound):
        services.book_stay(
            employee, services.StayRequest(make_unit(active=False).id, days(10), days(12), 1), NOW
        )


def test_same_request_key_books_once(db, make_employee, make_unit):
    unit = make_unit()
    employee = make_employee()
    first = services.book_stay(
        employee, services.StayRequest(unit.id, days(10), days(12), 1), NOW, request_key="k1"
    )
    db.session.commit()
    again = services.book_stay(
        employee, services.StayRequest(unit.id, days(10), days(12), 1), NOW, request_key="k1"
    )
    db.session.commit()
    assert again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_cancel_frees_the_nights_at_once(db, make_employee, make_unit):
    unit = make_unit()
    employee = make_employee()
    booking = services.book_stay(
        employee, services.StayRequest(unit.id, days(10), days(12), 1), NOW
    )
    db.session.commit()

    cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()
    assert booking.status == "cancelled"
    assert booking.cancelled_at == NOW
    assert occupancy_count(db) == 0
    # The frozen nights stay with the cancelled booking as its history.
    assert db.session.scalar(select(func.count()).select_from(BookingNight)) == 2
    # Someone else can now book the same nights.
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(10), days(12), 1), NOW)
    db.session.commit()
    assert occupancy_count(db) == 2


def test_only_the_owner_cancels_and_only_before_check_in(db, make_employee, make_unit):
    unit = make_unit()
    owner, stranger = make_employee(), make_employee()
    booking = services.book_stay(owner, services.StayRequest(unit.id, days(0), days(2), 1), NOW)
    db.session.commit()
    with pytest.raises(services.BookingNotFound):
        cancellation.cancel_booking(stranger, booking.id, NOW)
    with pytest.raises(services.BookingError) as exc:
        cancellation.cancel_booking(owner, booking.id, NOW)  # check-in is today
    assert exc.value.code == "not_cancellable"
    assert occupancy_count(db) == 2


def test_quote_lists_each_night_and_sees_taken_nights(db, make_employee, make_unit):
    unit = make_unit(base_price=8800)
    employee = make_employee()
    quote = services.quote_stay(employee, services.StayRequest(unit.id, days(10), days(13), 1), NOW)
    assert quote.available and quote.total == 26400 and len(quote.nights) == 3
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(12), days(14), 1), NOW)
    db.session.commit()
    assert not services.quote_stay(
        employee, services.StayRequest(unit.id, days(10), days(13), 1), NOW
    ).available


def test_a_request_key_reused_for_another_stay_is_refused(db, make_employee, make_unit):
    unit = make_unit()
    employee = make_employee()
    services.book_stay(
        employee, services.StayRequest(unit.id, days(10), days(12), 1), NOW, request_key="k1"
    )
    db.session.commit()
    with pytest.raises(services.BookingError) as exc:
        services.book_stay(
            employee, services.StayRequest(unit.id, days(20), days(22), 1), NOW, request_key="k1"
        )
    assert exc.value.code == "idempotency_mismatch"
    assert occupancy_count(db) == 2
