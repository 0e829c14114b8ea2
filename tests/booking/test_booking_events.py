"""The booking package's domain events: a stay booked, cancelled or changed leaves one
event in the same transaction, and a booking the company's policy or credit refused
leaves a ``booking.refused`` event (committed on its own, after the refusal rolled
back) so the company admins can hear of repeated refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import events
from accounts.events import Event
from accounts.models import Role
from billing import ledger
from booking import announce, cancellation, changes, services
from booking.models import Booking, BookingStatus
from identity import members
from tests.conftest import NOW, bearer, days

PRICE = 10_000


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2)


def book(db, user, room, check_in=10, check_out=13, **kw) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(room.id, days(check_in), days(check_out), 1), NOW, **kw
    )
    db.session.commit()
    return booking


def emitted(db, type_: str | None = None) -> list[Event]:
    """The events committed so far (of one type), oldest first."""
    db.session.rollback()
    query = select(Event).order_by(Event.id)
    if type_ is not None:
        query = query.where(Event.type == type_)
    return list(db.session.scalars(query))


def bookings(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Booking))


def parties(event: Event) -> tuple:
    return (
        event.company_id,
        event.operator_id,
        event.user_id,
        event.actor_id,
        event.subject_type,
        event.subject_id,
    )


def booking_parties(booking: Booking, actor_id: int | None) -> tuple:
    return (
        booking.company_id,
        booking.unit.facility.operator_id,
        booking.user_id,
        actor_id,
        "booking",
        booking.id,
    )


def booking_body(unit_id, check_in=10, check_out=13, guests=1) -> dict:
    return {
        "unit_id": unit_id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        "guests": guests,
    }


def post_booking(client, headers, unit_id, check_in=10, check_out=13, **more_headers):
    body = booking_body(unit_id, check_in, check_out)
    return client.post("/api/v1/bookings", json=body, headers={**headers, **more_headers})


def book_form(unit_id, check_in=10, check_out=13, **extra) -> dict:
    return {**booking_body(unit_id, check_in, check_out), **extra}


# --- booking.created ------------------------------------------------------------------


def test_a_booking_leaves_one_created_event_naming_the_company_operator_and_guest(
    db, employee, room
):
    booking = book(db, employee, room)

    [event] = emitted(db)
    assert event.type == events.BOOKING_CREATED
    assert parties(event) == booking_parties(booking, employee.id)
    assert event.operator_id == room.facility.operator_id
    assert event.facts == {}
    assert event.created_at == NOW
    assert event.dispatched_at is None


def test_a_replayed_request_key_books_once_and_announces_once(db, employee, room):
    first = book(db, employee, room, request_key="k-1")
    again = book(db, employee, room, request_key="k-1")

    assert again.id == first.id
    assert [e.subject_id for e in emitted(db, events.BOOKING_CREATED)] == [first.id]


def test_a_booking_by_the_api_announces_once_however_often_it_is_retried(
    db, client, employee, room
):
    auth = bearer(db, employee)
    answers = [post_booking(client, auth, room.id, **{"Idempotency-Key": "retry-1"}) for _ in "ab"]

    assert [r.status_code for r in answers] == [201, 201]
    booking_id = answers[0].get_json()["id"]
    [event] = emitted(db, events.BOOKING_CREATED)
    booking = db.session.get(Booking, booking_id)
    assert parties(event) == booking_parties(booking, employee.id)


def test_a_booking_by_the_form_announces_once_even_when_sent_twice(
    db, client, login, employee, room
):
    login(employee)
    data = book_form(room.id, request_key="form-key-1")

    answers = [client.post("/book", data=data) for _ in "ab"]

    assert [r.status_code for r in answers] == [303, 303]
    [event] = emitted(db, events.BOOKING_CREATED)
    booking = db.session.scalar(select(Booking))
    assert parties(event) == booking_parties(booking, employee.id)


def test_a_stay_just_taken_or_a_moved_price_announces_nothing(
    db, client, make_employee, employee, room
):
    book(db, make_employee(), room, 10, 13)
    before = len(emitted(db))
    auth = bearer(db, employee)

    taken = post_booking(client, auth, room.id, 11, 14)
    body = {**booking_body(room.id, 20, 22), "expected_total": 1}
    moved = client.post("/api/v1/bookings", json=body, headers=auth)

    assert (taken.status_code, moved.status_code) == (409, 409)
    assert moved.get_json()["error"]["code"] == "price_changed"
    assert len(emitted(db)) == before


# --- booking.cancelled ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_before", "refund", "fee"),
    [(5, 3 * PRICE, 0), (2, 3 * PRICE // 2, 3 * PRICE // 2)],
    ids=["free", "half"],
)
def test_cancelling_announces_the_refund_and_the_fee(db, employee, room, days_before, refund, fee):
    booking = book(db, employee, room, 10, 13)
    when = NOW + timedelta(days=10 - days_before)

    result = cancellation.cancel_booking(employee, booking.id, when)
    db.session.commit()

    assert (result.refunded, result.kept) == (refund, fee)
    [event] = emitted(db, events.BOOKING_CANCELLED)
    assert parties(event) == booking_parties(booking, employee.id)
    assert event.facts == {"refund": refund, "fee": fee, "by": "employee"}
    assert event.created_at == when


def test_cancelling_twice_announces_once(db, employee, room):
    booking = book(db, employee, room)
    for _ in "ab":
        cancellation.cancel_booking(employee, booking.id, NOW)
        db.session.commit()

    assert len(emitted(db, events.BOOKING_CANCELLED)) == 1


def test_a_company_admin_cancelling_their_own_stay_is_by_the_guest(db, make_user, employee, room):
    admin = make_user(Role.COMPANY_ADMIN, company=employee.company)
    booking = book(db, admin, room)

    cancellation.cancel_booking(admin, booking.id, NOW)
    db.session.commit()

    [event] = emitted(db, events.BOOKING_CANCELLED)
    assert event.facts["by"] == "employee"
    assert (event.user_id, event.actor_id) == (admin.id, admin.id)


def test_cancelling_through_the_api_and_the_page_announces(db, client, login, employee, room):
    by_api = book(db, employee, room, 10, 12)
    by_page = book(db, employee, room, 20, 22)

    assert (
        client.delete(f"/api/v1/bookings/{by_api.id}", headers=bearer(db, employee)).status_code
        == 204
    )
    login(employee)
    assert client.post(f"/stays/{by_page.id}/cancel").status_code == 303

    cancelled = emitted(db, events.BOOKING_CANCELLED)
    assert [e.subject_id for e in cancelled] == [by_api.id, by_page.id]
    assert [e.facts for e in cancelled] == [{"refund": 2 * PRICE, "fee": 0, "by": "employee"}] * 2


def test_a_stay_that_cannot_be_cancelled_announces_nothing(db, employee, room):
    booking = book(db, employee, room, 10, 13)

    with pytest.raises(services.BookingError):
        cancellation.cancel_booking(employee, booking.id, NOW + timedelta(days=10))
    db.session.rollback()

    assert emitted(db, events.BOOKING_CANCELLED) == []


def test_deactivating_a_member_announces_each_future_stay_cancelled_in_full(
    db, make_user, employee, room
):
    admin = make_user(Role.COMPANY_ADMIN, company=employee.company)
    begun = book(db, employee, room, 1, 4)
    later = [book(db, employee, room, 10, 12), book(db, employee, room, 20, 23)]
    when = NOW + timedelta(days=2)  # the first stay is under way: it is left alone

    assert members.deactivate(employee.company_id, employee.id, when, actor_id=admin.id) == 2
    db.session.commit()

    cancelled = emitted(db, events.BOOKING_CANCELLED)
    assert [e.subject_id for e in cancelled] == [b.id for b in later]
    assert [e.facts["refund"] for e in cancelled] == [2 * PRICE, 3 * PRICE]
    assert {e.facts["fee"] for e in cancelled} == {0}
    assert {e.facts["by"] for e in cancelled} <= {"system", "company_admin"}
    assert {(e.user_id, e.company_id) for e in cancelled} == {(employee.id, employee.company_id)}
    assert db.session.get(Booking, begun.id).status == BookingStatus.CONFIRMED


def test_stays_ended_by_an_admin_name_the_admin_and_by_nobody_the_system(
    db, make_user, make_employee, room
):
    admin = make_user(Role.COMPANY_ADMIN)
    one = make_employee(company=admin.company)
    other = make_employee(company=admin.company)
    by_admin = book(db, one, room, 10, 12)
    by_nobody = book(db, other, room, 20, 22)

    cancellation.cancel_future_stays(one, NOW, actor_id=admin.id)
    cancellation.cancel_future_stays(other, NOW)
    db.session.commit()

    first, second = emitted(db, events.BOOKING_CANCELLED)
    assert parties(first) == booking_parties(by_admin, admin.id)
    assert first.facts == {"refund": 2 * PRICE, "fee": 0, "by": "company_admin"}
    assert parties(second) == booking_parties(by_nobody, None)
    assert second.facts == {"refund": 2 * PRICE, "fee": 0, "by": "system"}


# --- booking.changed ------------------------------------------------------------------


def test_a_change_announces_the_dates_and_room_the_stay_had(db, employee, room, make_unit):
    sibling = make_unit(facility=room.facility, base_price=PRICE, capacity=2)
    booking = book(db, employee, room, 10, 13)

    changes.change_booking(
        employee, booking.id, services.StayRequest(sibling.id, days(11), days(15), 1), NOW
    )
    db.session.commit()

    [event] = emitted(db, events.BOOKING_CHANGED)
    assert parties(event) == booking_parties(booking, employee.id)
    assert event.facts == {
        "old_check_in": days(10).isoformat(),
        "old_check_out": days(13).isoformat(),
        "old_unit_id": room.id,
        "charged": PRICE,
        "refunded": 0,
        "by": "employee",
    }


def test_a_shorter_stay_announces_what_was_refunded(db, client, employee, room):
    booking = book(db, employee, room, 10, 14)

    response = client.patch(
        f"/api/v1/bookings/{booking.id}",
        json={"check_out": days(12).isoformat()},
        headers=bearer(db, employee),
    )

    assert response.status_code == 200, response.get_json()
    [event] = emitted(db, events.BOOKING_CHANGED)
    assert (event.facts["charged"], event.facts["refunded"]) == (0, 2 * PRICE)
    assert event.facts["old_check_out"] == days(14).isoformat()


def test_a_refused_change_announces_nothing(db, make_employee, employee, room):
    book(db, make_employee(), room, 13, 15)
    booking = book(db, employee, room, 10, 13)

    with pytest.raises(services.BookingConflict):
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(10), days(14), 1), NOW
        )
    db.session.rollback()

    assert emitted(db, events.BOOKING_CHANGED) == []


# --- booking.refused ------------------------------------------------------------------


def capped_monthly(make_company, make_employee):
    """An employee whose company allows 3 nights a month."""
    return make_employee(company=make_company(max_nights_per_month=3))


def short_of_credit(make_company, make_employee):
    """An employee whose company has less credit than one night costs."""
    return make_employee(company=make_company(credit=PRICE // 2))


REFUSALS = [
    (capped_monthly, "monthly_cap", 422),
    (short_of_credit, "credit", 402),
]


@pytest.mark.parametrize(("who", "reason", "status"), REFUSALS, ids=["monthly-cap", "credit"])
def test_a_refusal_by_the_api_leaves_one_refused_event_and_no_booking(
    db, client, make_company, make_employee, room, who, reason, status
):
    employee = who(make_company, make_employee)
    if reason == "monthly_cap":
        book(db, employee, room, 10, 12)
    before = bookings(db)

    response = post_booking(client, bearer(db, employee), room.id, 20, 22)

    assert response.status_code == status, response.get_json()
    assert bookings(db) == before
    [event] = emitted(db, events.BOOKING_REFUSED)
    assert (event.user_id, event.actor_id, event.company_id) == (
        employee.id,
        employee.id,
        employee.company_id,
    )
    assert event.operator_id is None
    assert event.facts == {"reason": reason}


@pytest.mark.parametrize(("who", "reason", "status"), REFUSALS, ids=["monthly-cap", "credit"])
def test_a_refusal_by_the_form_leaves_one_refused_event_and_no_booking(
    db, client, login, make_company, make_employee, room, who, reason, status
):
    employee = who(make_company, make_employee)
    if reason == "monthly_cap":
        book(db, employee, room, 10, 12)
    before = bookings(db)
    login(employee)

    response = client.post("/book", data=book_form(room.id, 20, 22))

    assert response.status_code == 422
    assert bookings(db) == before
    [event] = emitted(db, events.BOOKING_REFUSED)
    assert (event.user_id, event.company_id) == (employee.id, employee.company_id)
    assert event.facts == {"reason": reason}


def test_the_employees_monthly_allowance_counts_as_a_refusal(db, client, employee, room):
    account = ledger.account_of(employee.company_id, lock=True)
    account.employee_monthly_cap = PRICE
    db.session.commit()

    response = post_booking(client, bearer(db, employee), room.id, 20, 22)

    assert response.status_code == 402
    [event] = emitted(db, events.BOOKING_REFUSED)
    assert event.facts == {"reason": "monthly_allowance"}


def test_each_refusal_counts_and_the_events_add_up(db, client, make_company, make_employee, room):
    employee = short_of_credit(make_company, make_employee)
    auth = bearer(db, employee)

    for offset in range(4):
        assert post_booking(client, auth, room.id, 20 + offset, 21 + offset).status_code == 402

    refused = emitted(db, events.BOOKING_REFUSED)
    assert len(refused) == 4
    assert {e.user_id for e in refused} == {employee.id}


def test_just_taken_is_not_a_refusal_by_api_or_form(
    db, client, login, make_employee, employee, room
):
    book(db, make_employee(), room, 10, 13)

    by_api = post_booking(client, bearer(db, employee), room.id, 11, 14)
    login(employee)
    by_form = client.post("/book", data=book_form(room.id, 11, 14))

    assert (by_api.status_code, by_form.status_code) == (409, 409)
    assert emitted(db, events.BOOKING_REFUSED) == []


@pytest.mark.parametrize(
    ("check_in", "check_out", "extra", "status"),
    [
        (-2, 1, {}, 400),
        (13, 10, {}, 400),
        (10, 13, {"guests": 0}, 400),
        (10, 13, {"guests": "many"}, 400),
        (10, 13, {"expected_total": 1}, 409),
    ],
    ids=["past", "order", "no-guests", "guests-not-a-number", "price-moved"],
)
def test_bad_input_or_a_moved_price_is_not_a_refusal(
    db, client, employee, room, check_in, check_out, extra, status
):
    body = {**booking_body(room.id, check_in, check_out), **extra}

    response = client.post("/api/v1/bookings", json=body, headers=bearer(db, employee))

    assert response.status_code == status
    assert bookings(db) == 0
    assert emitted(db, events.BOOKING_REFUSED) == []


def test_a_missing_room_is_not_a_refusal(db, client, employee):
    response = post_booking(client, bearer(db, employee), 999_999)

    assert response.status_code == 404
    assert emitted(db, events.BOOKING_REFUSED) == []


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (services.BookingError("x", "max_nights"), "max_nights"),
        (services.BookingError("x", "min_nights"), "min_nights"),
        (services.BookingError("x", "policy_stay"), "nights_per_stay"),
        (services.BookingError("x", "policy_month"), "monthly_cap"),
        (services.BookingError("x", "capacity"), "capacity"),
        (services.BookingForbidden("x", "company_inactive"), "company_inactive"),
        (services.BillingRefused("x", "subscription"), "subscription"),
        (services.BillingRefused("x", "employee_cap"), "monthly_allowance"),
        (services.BillingRefused("x"), "credit"),
        (services.BookingConflict("x"), None),
        (services.PriceChanged("x"), None),
        (services.BookingNotFound("x"), None),
        (services.BookingForbidden("x"), None),  # a deactivated account, an operator
        (services.BookingError("x", "dates_past"), None),
        (services.BookingError("x", "guests"), None),
        (services.BookingError("x", "idempotency_mismatch"), None),
    ],
)
def test_which_refusals_are_recorded(db, employee, exc, reason):
    event = announce.record_refusal(employee, exc, NOW)
    db.session.commit()

    assert (event.facts["reason"] if event else None) == reason
    assert len(emitted(db, events.BOOKING_REFUSED)) == (1 if reason else 0)


def test_an_operator_refused_booking_is_not_counted(db, client, make_user, room):
    operator = make_user(Role.OPERATOR)

    response = post_booking(client, bearer(db, operator), room.id)

    assert response.status_code == 403
    assert emitted(db, events.BOOKING_REFUSED) == []
