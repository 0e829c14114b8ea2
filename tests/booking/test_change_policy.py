"""A change of a stay obeys the company's HR rules (issue 18): the stay it would become is
split again by the subsidy and what is left of the yearly cap, and judged by the approval
rules. A change that would leave the employee a part to pay, or that would wait for
approval, is refused (``rebook``: cancel and book again), on the change page before
anything is confirmed and by the API; a shorter stay within the one already paid for
needs no new approval. The companions stay as booked, so the guests cannot drop below
them (``companions``). A company without a policy changes stays as before.

TODAY is Tuesday 2026-12-01 (fiscal year April 2026 – March 2027); each night costs
¥10,000 unless told otherwise; the New Year peak begins on 29 December, days(28)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from availability.models import Occupancy
from billing.models import CreditEntry
from booking import changes, services
from booking.models import Booking, BookingStatus
from booking.subsidy_use import subsidy_used
from hr.models import DEFAULT_GROUP, GroupPolicy
from hr.subsidy import Companions
from tests.booking.test_api import error_code
from tests.conftest import NOW, TODAY, bearer, days

PRICE = 10_000
FISCAL_YEAR = (TODAY.replace(month=4, day=1), TODAY.replace(year=TODAY.year + 1, month=4, day=1))


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=4)


def set_policy(db, company_id: int, **settings) -> GroupPolicy:
    row = GroupPolicy(company_id=company_id, employee_group=DEFAULT_GROUP, **settings)
    db.session.add(row)
    db.session.commit()
    return row


# The reviewer's example: ¥12,000 a night covers the price, ¥30,000 a year, approval
# over 2 nights.
REVIEWED = {
    "subsidy_kind": "fixed",
    "subsidy_amount": 12_000,
    "annual_cap": 30_000,
    "approval_over_nights": 2,
}


def request(room, check_in: int, check_out: int, guests: int = 1, **kw):
    return services.StayRequest(room.id, days(check_in), days(check_out), guests, **kw)


def book(db, employee, stay) -> Booking:
    booking = services.book_stay(employee, stay, NOW)
    db.session.commit()
    assert booking.status == BookingStatus.CONFIRMED and booking.employee_part == 0
    return booking


def change(db, employee, booking, stay, now=NOW) -> changes.ChangeResult:
    result = changes.change_booking(employee, booking.id, stay, now)
    db.session.commit()
    return result


def stored(db, booking_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    claimed = db.session.scalars(
        select(Occupancy.night).where(Occupancy.booking_id == booking_id).order_by(Occupancy.night)
    ).all()
    entries = db.session.scalar(
        select(func.count()).select_from(CreditEntry).where(CreditEntry.booking_id == booking_id)
    )
    return (
        b.unit_id,
        b.check_in,
        b.check_out,
        b.guests,
        b.status,
        b.total_price,
        b.employee_part,
        list(claimed),
        entries,
    )


def refused(db, employee, booking, stay, code: str, now=NOW) -> None:
    """Both the preview and the change refuse ``stay`` with ``code``; nothing moves."""
    before = stored(db, booking.id)
    with pytest.raises(services.BookingError) as quoted:
        changes.quote_change(employee, booking.id, stay, now)
    assert quoted.value.code == code
    with pytest.raises(services.BookingError) as changed:
        changes.change_booking(employee, booking.id, stay, now)
    assert changed.value.code == code
    assert stored(db, booking.id) == before


# --- the service ----------------------------------------------------------------------


def test_a_longer_stay_than_the_cap_and_approval_allow_is_refused(db, employee, room):
    set_policy(db, employee.company_id, **REVIEWED)
    booking = book(db, employee, request(room, 10, 12))
    # A new booking of the same six nights would be split and wait for approval:
    fresh = services.quote_stay(employee, request(room, 20, 26), NOW)
    assert (fresh.split.company, fresh.split.employee) == (10_000, 50_000)
    assert fresh.approval_reasons

    refused(db, employee, booking, request(room, 10, 16), "rebook")
    assert subsidy_used(employee.id, *FISCAL_YEAR) == 20_000


def test_the_refusal_says_to_cancel_and_book_again(app, db, employee, room):
    set_policy(db, employee.company_id, **REVIEWED)
    booking = book(db, employee, request(room, 10, 12))
    with pytest.raises(services.BookingError) as refusal:
        changes.quote_change(employee, booking.id, request(room, 10, 16), NOW)
    with app.test_request_context(), force_locale("en"):
        message = str(refusal.value.message)
    assert message == (
        "This change needs your company's approval or a part paid by you: cancel this"
        " stay and book the new dates instead."
    )


def test_the_cap_refuses_a_change_the_employee_would_pay_part_of(db, employee, room):
    set_policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=12_000,
               annual_cap=30_000)  # fmt: skip
    booking = book(db, employee, request(room, 10, 12))

    refused(db, employee, booking, request(room, 10, 14), "rebook")  # ¥40,000 > ¥30,000

    # Up to the cap, the stay's own ¥20,000 not counted twice: the company pays it all.
    result = change(db, employee, booking, request(room, 10, 13))
    assert result.new_total == 30_000
    assert stored(db, booking.id)[4:7] == (BookingStatus.CONFIRMED, 30_000, 0)
    assert subsidy_used(employee.id, *FISCAL_YEAR) == 30_000


def test_what_other_stays_used_of_the_cap_counts_but_not_this_stay_itself(
    db, employee, room, make_unit
):
    set_policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=20_000,
               annual_cap=40_000)  # fmt: skip
    dearer = make_unit(facility=room.facility, base_price=12_000, capacity=2)
    book(db, employee, request(room, 30, 32))  # ¥20,000 of the cap
    booking = book(db, employee, request(room, 10, 12))  # the other ¥20,000

    change(db, employee, booking, request(room, 14, 16))  # other dates, the same price
    assert stored(db, booking.id)[4:7] == (BookingStatus.CONFIRMED, 20_000, 0)

    refused(db, employee, booking, request(dearer, 14, 16), "rebook")  # ¥24,000
    assert subsidy_used(employee.id, *FISCAL_YEAR) == 40_000


def test_a_change_into_the_peak_that_needs_approval_is_refused(db, employee, room):
    set_policy(db, employee.company_id, approval_peak=True)
    booking = book(db, employee, request(room, 20, 23))
    refused(db, employee, booking, request(room, 26, 29), "rebook")  # 29 December
    change(db, employee, booking, request(room, 24, 27))  # no peak night: as before
    assert stored(db, booking.id)[1:3] == (days(24), days(27))


@pytest.mark.parametrize(
    ("check_in", "check_out", "guests"),
    [(11, 15, 2), (10, 14, 2), (11, 14, 1)],
    ids=["first-night", "last-night", "both-ends-fewer-guests"],
)
def test_a_shorter_stay_within_the_approved_one_needs_no_new_approval(
    db, employee, room, check_in, check_out, guests
):
    booking = book(db, employee, request(room, 10, 15, guests=2))
    set_policy(db, employee.company_id, approval_all=True, approval_over_nights=2)

    change(db, employee, booking, request(room, check_in, check_out, guests=guests))

    after = stored(db, booking.id)
    assert after[1:7] == (
        days(check_in),
        days(check_out),
        guests,
        BookingStatus.CONFIRMED,
        PRICE * (check_out - check_in),
        0,
    )


@pytest.mark.parametrize(
    ("check_in", "check_out", "guests", "other_room"),
    [(11, 16, 2, False), (9, 14, 2, False), (10, 14, 2, True), (10, 14, 3, False)],
    ids=["moved", "earlier", "another-room", "more-guests"],
)
def test_anything_but_a_shorter_stay_waits_for_the_rules_approval(
    db, employee, room, make_unit, check_in, check_out, guests, other_room
):
    booking = book(db, employee, request(room, 10, 15, guests=2))
    set_policy(db, employee.company_id, approval_all=True)
    unit = make_unit(facility=room.facility, base_price=PRICE, capacity=4) if other_room else room
    refused(db, employee, booking, request(unit, check_in, check_out, guests=guests), "rebook")


def test_a_shorter_stay_the_employee_would_pay_part_of_is_refused(db, employee, room):
    booking = book(db, employee, request(room, 10, 15))
    set_policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=5_000)
    refused(db, employee, booking, request(room, 10, 12), "rebook")


def test_what_the_cancellation_policy_keeps_counts_against_the_cap(db, employee, room):
    """Past the free-cancellation date a move keeps half of the night given up: the
    company holds ¥25,000 for a stay of ¥20,000, as after a cancellation and a booking."""
    policy = set_policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=12_000,
                        annual_cap=24_000)  # fmt: skip
    booking = book(db, employee, request(room, 10, 12))
    late = NOW + timedelta(days=8)

    refused(db, employee, booking, request(room, 11, 13), "rebook", now=late)

    policy.annual_cap = 25_000
    db.session.commit()
    result = change(db, employee, booking, request(room, 11, 13), now=late)
    assert (result.new_total, result.money.kept) == (20_000, 5_000)
    assert subsidy_used(employee.id, *FISCAL_YEAR) == 25_000


def test_without_a_policy_a_company_paid_stay_changes_as_before(db, employee, room, make_unit):
    other = make_unit(facility=room.facility, base_price=8_000, capacity=2)
    booking = book(db, employee, request(room, 10, 12))

    change(db, employee, booking, request(room, 10, 20))  # ten nights, all the company's
    assert stored(db, booking.id)[4:7] == (BookingStatus.CONFIRMED, 100_000, 0)
    change(db, employee, booking, request(other, 28, 31, guests=2))  # into the New Year
    assert stored(db, booking.id)[:7] == (
        other.id,
        days(28),
        days(31),
        2,
        BookingStatus.CONFIRMED,
        24_000,
        0,
    )


def test_a_policy_without_limits_lets_a_change_through(db, employee, room):
    set_policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=12_000)
    booking = book(db, employee, request(room, 10, 12))
    change(db, employee, booking, request(room, 20, 26))
    assert stored(db, booking.id)[4:7] == (BookingStatus.CONFIRMED, 60_000, 0)


# --- companions -------------------------------------------------------------------------


@pytest.fixture
def family_stay(db, employee, room):
    """Three guests: the employee, an adult and a child companion (no policy)."""
    return book(db, employee, request(room, 10, 12, 3, companions=Companions(adults=1, children=1)))


@pytest.mark.parametrize("guests", [1, 2])
def test_the_guests_cannot_drop_below_the_companions(db, employee, room, family_stay, guests):
    refused(db, employee, family_stay, request(room, 10, 12, guests), "companions")


def test_the_companions_refusal_names_the_least_guests(app, db, employee, room, family_stay):
    with pytest.raises(services.BookingError) as refusal:
        changes.quote_change(employee, family_stay.id, request(room, 10, 12, 2), NOW)
    with app.test_request_context(), force_locale("en"):
        message = str(refusal.value.message)
    assert message == (
        "You booked this stay with 2 companions, so it needs at least 3 guests. To change"
        " who comes along, cancel this stay and book again."
    )


def test_a_stay_with_companions_changes_its_dates_and_adds_a_guest(db, employee, room, family_stay):
    change(db, employee, family_stay, request(room, 14, 17, 4))
    db.session.expire_all()
    booking = db.session.get(Booking, family_stay.id)
    assert (booking.check_in, booking.guests) == (days(14), 4)
    assert (booking.companion_adults, booking.companion_children) == (1, 1)


# --- the change page -----------------------------------------------------------------------


def preview_url(booking_id: int, unit_id: int, check_in: int, check_out: int, guests=1) -> str:
    return (
        f"/stays/{booking_id}/change/preview?unit_id={unit_id}"
        f"&check_in={days(check_in).isoformat()}&check_out={days(check_out).isoformat()}"
        f"&guests={guests}"
    )


def test_the_change_page_refuses_before_the_employee_confirms(db, client, login, employee, room):
    set_policy(db, employee.company_id, **REVIEWED)
    booking = book(db, employee, request(room, 10, 12))
    login(employee)
    before = stored(db, booking.id)

    response = client.get(preview_url(booking.id, room.id, 10, 16))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-testid="change-error"' in html and 'role="alert"' in html
    assert "cancel this stay and book the new dates instead" in html
    assert 'data-testid="change-preview"' not in html  # no new price to confirm
    assert "Confirm the change" not in html
    assert f'href="/stays/{booking.id}/cancel"' in html
    assert f"/book?unit_id={room.id}&amp;check_in={days(10).isoformat()}" in html
    assert stored(db, booking.id) == before


def test_the_change_page_refuses_a_confirmation_sent_anyway(db, client, login, employee, room):
    set_policy(db, employee.company_id, **REVIEWED)
    booking = book(db, employee, request(room, 10, 12))
    login(employee)
    before = stored(db, booking.id)

    response = client.post(
        f"/stays/{booking.id}/change",
        data={
            "unit_id": room.id,
            "check_in": days(10).isoformat(),
            "check_out": days(16).isoformat(),
            "guests": 1,
            "expected_difference": 40_000,
        },
    )

    assert response.status_code == 422
    assert 'data-testid="change-error"' in response.get_data(as_text=True)
    assert stored(db, booking.id) == before


def test_the_change_page_marks_the_guests_below_the_companions(
    db, client, login, employee, room, family_stay
):
    login(employee)
    form = client.get(f"/stays/{family_stay.id}/change").get_data(as_text=True)
    assert 'name="guests" min="3"' in form
    before = stored(db, family_stay.id)

    response = client.get(preview_url(family_stay.id, room.id, 10, 12, guests=1))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "it needs at least 3 guests" in html
    assert (
        'name="guests" min="3" max="20" required value="1" aria-describedby="change-error"' in html
    )
    assert 'aria-invalid="true"' in html
    assert stored(db, family_stay.id) == before


def test_the_change_page_still_changes_a_stay_without_a_policy(db, client, login, employee, room):
    booking = book(db, employee, request(room, 10, 12))
    login(employee)
    preview = client.get(preview_url(booking.id, room.id, 10, 16))
    assert preview.status_code == 200 and "Confirm the change" in preview.get_data(as_text=True)

    response = client.post(
        f"/stays/{booking.id}/change",
        data={
            "unit_id": room.id,
            "check_in": days(10).isoformat(),
            "check_out": days(16).isoformat(),
            "guests": 1,
            "expected_difference": 40_000,
        },
    )

    assert response.status_code == 303
    assert stored(db, booking.id)[2:7] == (days(16), 1, BookingStatus.CONFIRMED, 60_000, 0)


# --- the API -----------------------------------------------------------------------------


def patch(client, headers, booking_id: int, **body):
    return client.patch(f"/api/v1/bookings/{booking_id}", json=body, headers=headers)


def test_the_api_refuses_a_change_past_the_rules_with_422_rebook(db, client, employee, room):
    set_policy(db, employee.company_id, **REVIEWED)
    booking = book(db, employee, request(room, 10, 12))
    auth = bearer(db, employee)
    before = stored(db, booking.id)

    response = patch(client, auth, booking.id, check_out=days(16).isoformat())

    assert response.status_code == 422
    assert error_code(response) == "rebook"
    assert stored(db, booking.id) == before


def test_the_api_refuses_fewer_guests_than_the_companions_with_422(
    db, client, employee, family_stay
):
    auth = bearer(db, employee)
    before = stored(db, family_stay.id)

    response = patch(client, auth, family_stay.id, guests=1)

    assert response.status_code == 422
    assert error_code(response) == "companions"
    assert stored(db, family_stay.id) == before


def test_the_api_shortens_a_stay_within_the_approved_one(db, client, employee, room):
    booking = book(db, employee, request(room, 10, 15))
    set_policy(db, employee.company_id, approval_over_nights=2)
    auth = bearer(db, employee)

    response = patch(client, auth, booking.id, check_out=days(14).isoformat())

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["total_price"], body["employee_part"]) == (
        "confirmed",
        40_000,
        0,
    )


def test_the_api_changes_a_stay_without_a_policy(db, client, employee, room):
    booking = book(db, employee, request(room, 10, 12))
    auth = bearer(db, employee)
    response = patch(client, auth, booking.id, check_out=days(16).isoformat())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["change"]["charged"] == 40_000
