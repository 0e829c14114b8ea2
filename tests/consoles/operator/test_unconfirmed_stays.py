"""The operator's pages and API on stays that were never confirmed (waiting for their
approval or the employee's payment, refused, expired): every front-desk action answers a
refusal in words (a flash, 422, 409), never a server error, and changes nothing; the
operator reads a neutral label for a stay waiting for the guest's payment; the guest
register lists only stays that were confirmed. And a co-paid stay the operator cancels:
the card's share is shown before, said after, sent to the card at once and told to the
employee in the cancellation mail.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from flask import current_app
from sqlalchemy import func, select

from accounts import events
from accounts.mail import OutgoingMail, body_of, html_of
from accounts.models import Role
from availability.models import Occupancy
from billing.models import CreditEntry, EntryKind, StayPayment
from billing.providers import local_gateway
from booking import approvals, holds, register_listing, services
from booking.models import Booking, BookingStatus
from hr.models import GroupPolicy
from notifications.dispatch import dispatch_events
from tests.conftest import NOW, bearer, days, signed_in
from tests.register_helpers import fill_register

PRICE = 11_000
SUBSIDY = 5_000
WAITING = "This stay is waiting for approval and is not confirmed yet."


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def flashes(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found)).strip()
        for found in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)
    ]


def snapshot(db, booking_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    return (
        (b.status, b.unit_id, b.check_in, b.check_out, b.total_price, b.cancel_reason),
        db.session.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == b.id)
        ),
        db.session.scalar(
            select(func.count()).select_from(CreditEntry).where(CreditEntry.booking_id == b.id)
        ),
    )


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    """A company whose stays wait for its admin's approval; an employee; a room (¥11,000)
    and another of the same facility; its operator, reading English."""
    company = make_company(name="Acme Works")
    unit = make_unit(base_price=PRICE, capacity=2)
    other = make_unit(facility=unit.facility, base_price=9_000, capacity=2)
    world = SimpleNamespace(
        company=company,
        policy=GroupPolicy(company_id=company.id, employee_group="", approval_all=True),
        employee=make_user(Role.EMPLOYEE, company=company, locale="en"),
        admin=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
        operator=make_user(Role.OPERATOR, operator=unit.facility.operator, locale="en"),
        unit=unit,
        other=other,
    )
    db.session.add(world.policy)
    db.session.commit()
    return world


def book(db, world, start: int = 0, end: int = 2) -> Booking:
    booking = services.book_stay(
        world.employee, services.StayRequest(world.unit.id, days(start), days(end), 1), NOW
    )
    db.session.commit()
    return booking


# --- the pages on a stay waiting for approval ----------------------------------------------


def test_the_front_desk_pages_refuse_a_waiting_stay_in_words(db, world):
    booking = book(db, world)
    assert booking.status == BookingStatus.PENDING_APPROVAL
    bid = booking.id
    desk = signed_in(current_app, world.operator)
    before = snapshot(db, bid)

    page = text(desk.get(f"/operator/bookings/{bid}"))
    assert WAITING in page and 'data-testid="state-note"' in page
    assert 'data-testid="front-desk"' not in page  # no button to press

    for action in ("check-in", "no-show", "check-out"):
        pressed = desk.post(f"/operator/bookings/{bid}/{action}", data={"identity_checked": "y"})
        assert pressed.status_code == 303, action
        told = flashes(text(desk.get(pressed.headers["Location"])))
        assert any(WAITING in f for f in told), (action, told)

    cancel_page = text(desk.get(f"/operator/bookings/{bid}/cancel"))
    assert 'data-testid="not-cancellable"' in cancel_page
    assert "It can be cancelled once it is confirmed" in cancel_page
    cancelled = desk.post(f"/operator/bookings/{bid}/cancel", data={"reason": "Boiler broken."})
    assert cancelled.status_code == 422
    assert WAITING + " It can be cancelled once it is confirmed" in text(cancelled)

    quoted = desk.get(
        f"/operator/bookings/{bid}/move",
        query_string={
            "unit_id": world.other.id,
            "check_in": days(0).isoformat(),
            "check_out": days(3).isoformat(),
        },
    )
    assert quoted.status_code == 422
    assert WAITING + " It can be moved once it is confirmed." in text(quoted)
    moved = desk.post(
        f"/operator/bookings/{bid}/move",
        data={
            "unit_id": world.other.id,
            "check_in": days(0).isoformat(),
            "check_out": days(3).isoformat(),
        },
    )
    assert moved.status_code == 422
    assert snapshot(db, bid) == before


def test_the_employees_api_refuses_the_register_of_a_waiting_stay(db, world):
    booking = book(db, world)
    guest = {"name": "山田 太郎", "address": "東京都千代田区千代田1-1", "phone": "+81312345678"}

    answer = current_app.test_client().put(
        f"/api/v1/bookings/{booking.id}/guests",
        json={"guests": [guest]},
        headers=bearer(db, world.employee),
    )

    assert answer.status_code == 409, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == "not_editable"
    assert error["message"].startswith(WAITING)


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("check-in", None, "not_confirmed"),
        ("no-show", None, "not_confirmed"),
        ("check-out", None, "not_checked_in"),
        ("cancel", {"reason": "Boiler broken."}, "not_cancellable"),
        ("move", "move", "not_movable"),
    ],
)
def test_the_operator_api_refuses_a_waiting_stay_with_422(db, world, action, body, code):
    booking = book(db, world)
    bid = booking.id
    if body == "move":
        body = {
            "unit_id": world.other.id,
            "check_in": days(0).isoformat(),
            "check_out": days(3).isoformat(),
        }
    before = snapshot(db, bid)

    answer = current_app.test_client().post(
        f"/api/v1/operator/bookings/{bid}/{action}",
        json=body or {},
        headers=bearer(db, world.operator),
    )

    assert answer.status_code == 422, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(WAITING)
    assert snapshot(db, bid) == before


def test_a_foreign_operator_still_gets_404_for_a_waiting_stay(db, world, make_user):
    booking = book(db, world)
    stranger = make_user(Role.OPERATOR, locale="en")

    page = signed_in(current_app, stranger).get(f"/operator/bookings/{booking.id}")
    api = current_app.test_client().post(
        f"/api/v1/operator/bookings/{booking.id}/no-show", headers=bearer(db, stranger)
    )

    assert page.status_code == 404
    assert api.status_code == 404


# --- the operator's words for the statuses ---------------------------------------------------


def test_the_operator_reads_a_stay_waiting_for_the_guests_payment_neutrally(db, world):
    world.policy.approval_all = False
    world.policy.subsidy_kind, world.policy.subsidy_amount = "fixed", SUBSIDY
    db.session.commit()
    booking = book(db, world, 3, 5)
    assert booking.status == BookingStatus.AWAITING_PAYMENT
    facility_id, bid = world.unit.facility_id, booking.id
    desk = signed_in(current_app, world.operator)

    stay = text(desk.get(f"/operator/bookings/{bid}"))
    listing = text(desk.get(f"/operator/facilities/{facility_id}/bookings"))
    csv = text(desk.get(f"/operator/facilities/{facility_id}/bookings.csv"))

    for read in (stay, listing, csv):
        assert "Waiting for the guest's payment" in read
        assert "Waiting for your payment" not in read
    assert "This stay is waiting for payment and is not confirmed yet." in stay
    # The employee still reads it as theirs to pay.
    own = text(signed_in(current_app, world.employee).get(f"/stays/{bid}"))
    assert "Waiting for your payment" in own


# --- the guest register lists stays that were confirmed ---------------------------------------


def test_the_register_lists_only_stays_that_were_confirmed(db, world, make_user, make_unit):
    """Confirmed and no-show stays are the register's; a stay waiting, refused, expired
    or cancelled is not (it never comes, or may never come, to the facility)."""
    world.policy.approval_all = False
    db.session.commit()
    confirmed = book(db, world, 1, 2)
    no_show = book(db, world, 2, 3)
    cancelled = book(db, world, 3, 4)
    world.policy.approval_all = True
    db.session.commit()
    waiting = book(db, world, 4, 5)
    rejected = book(db, world, 5, 6)
    expired = book(db, world, 6, 7)
    ids = SimpleNamespace(
        confirmed=confirmed.id,
        no_show=no_show.id,
        cancelled=cancelled.id,
        waiting=waiting.id,
        rejected=rejected.id,
        expired=expired.id,
    )
    db.session.get(Booking, ids.no_show).status = BookingStatus.NO_SHOW
    db.session.get(Booking, ids.cancelled).status = BookingStatus.CANCELLED
    db.session.get(Booking, ids.expired).hold_expires_at = NOW  # its hold ran out now
    db.session.commit()
    approvals.reject(world.admin, ids.rejected, None, NOW)
    db.session.commit()
    holds.expire_holds(NOW)
    db.session.commit()
    assert db.session.get(Booking, ids.waiting).status == BookingStatus.PENDING_APPROVAL
    assert db.session.get(Booking, ids.expired).status == BookingStatus.EXPIRED
    fill_register(db.session.get(Booking, ids.confirmed))
    facility_id = world.unit.facility_id

    found = register_listing.entries(world.operator, facility_id, days(0), days(10))
    assert [e.booking.id for e in found] == [ids.confirmed, ids.no_show]

    desk = signed_in(current_app, world.operator)
    period = {"from": days(0).isoformat(), "to": days(10).isoformat()}
    page = text(desk.get(f"/operator/facilities/{facility_id}/register", query_string=period))
    csv = text(desk.get(f"/operator/facilities/{facility_id}/register.csv", query_string=period))
    api = current_app.test_client().get(
        f"/api/v1/operator/facilities/{facility_id}/register",
        query_string=period,
        headers=bearer(db, world.operator),
    )
    listed = [e["booking_id"] for e in api.get_json()["entries"]]
    assert listed == [ids.confirmed, ids.no_show]
    csv_ids = {int(line.split(",", 1)[0]) for line in csv.splitlines()[1:] if line}
    assert csv_ids == {ids.confirmed, ids.no_show}
    for left_out in (ids.waiting, ids.rejected, ids.expired, ids.cancelled):
        assert f'/operator/bookings/{left_out}"' not in page
    assert "Waiting for approval" not in page and "Not approved" not in page


# --- the operator cancels a co-paid stay ------------------------------------------------------


@pytest.fixture
def co_paid(db, world):
    """A stay the employee paid ¥18,000 of by card (the company ¥15,000 of ¥33,000)."""
    world.policy.approval_all = False
    world.policy.subsidy_kind, world.policy.subsidy_amount = "fixed", SUBSIDY
    db.session.commit()
    booking = book(db, world, 10, 13)
    pay_locally(signed_in(current_app, world.employee), booking.id)
    db.session.rollback()
    booking = db.session.get(Booking, booking.id)
    assert (booking.status, booking.employee_part) == (BookingStatus.CONFIRMED, 18_000)
    return SimpleNamespace(world=world, id=booking.id, company=15_000, card=18_000)


def pay_locally(browser, booking_id: int) -> None:
    """The employee pays their part in the local backend's test-mode Checkout."""
    checkout = browser.post(f"/stays/{booking_id}/pay").location
    assert checkout.startswith("/billing/local/pay/cs_local_")
    paid = browser.post(checkout, data={"action": "pay"})
    assert paid.status_code == 303
    browser.get(paid.location)  # the return page confirms the stay


def card_refunded(db, booking_id: int) -> int:
    db.session.rollback()
    payment = db.session.scalar(select(StayPayment).where(StayPayment.booking_id == booking_id))
    intent = payment.stripe_payment_intent_id
    db.session.rollback()
    return local_gateway().refunded_amount(intent)


def credit_entries(db, booking_id: int) -> list[tuple[str, int]]:
    db.session.rollback()
    return [
        tuple(row)
        for row in db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount)
            .where(CreditEntry.booking_id == booking_id)
            .order_by(CreditEntry.id)
        )
    ]


def cancelled_event(db, booking_id: int) -> events.Event:
    db.session.rollback()
    return db.session.scalar(
        select(events.Event).where(
            events.Event.type == events.BOOKING_CANCELLED,
            events.Event.subject_id == booking_id,
        )
    )


def employees_mail(db, world) -> OutgoingMail:
    dispatch_events(NOW)
    return db.session.scalars(
        select(OutgoingMail)
        .where(OutgoingMail.user_id == world.employee.id)
        .order_by(OutgoingMail.id.desc())
    ).first()


def test_the_operator_cancels_a_co_paid_stay_and_the_card_is_refunded_at_once(db, co_paid):
    world, bid = co_paid.world, co_paid.id
    desk = signed_in(current_app, world.operator)

    page = text(desk.get(f"/operator/bookings/{bid}/cancel"))
    assert "the whole ¥15,000 (tax incl.) returns to the company's credit" in page
    assert (
        "The ¥18,000 (tax incl.) the employee paid by card is refunded to their card in full."
        in page
    )

    done = desk.post(f"/operator/bookings/{bid}/cancel", data={"reason": "Boiler broken."})
    told = flashes(text(desk.get(done.headers["Location"])))

    assert (
        "The stay has been cancelled and its nights released. ¥15,000 (tax incl.) was"
        " returned to the company's credit. The ¥18,000 (tax incl.) the employee paid by card"
        " is refunded to their card in full." in told
    )
    assert card_refunded(db, bid) == co_paid.card  # sent at once, not by the job
    assert credit_entries(db, bid) == [(EntryKind.SPEND, -15_000), (EntryKind.REFUND, 15_000)]
    facts = cancelled_event(db, bid).facts
    assert (facts["refund"], facts["employee_refund"], facts["fee"]) == (
        co_paid.company,
        co_paid.card,
        0,
    )
    mail = employees_mail(db, world)
    for body in (body_of(mail), html.unescape(html_of(mail))):
        assert "The facility cancelled this stay." in body
        assert "¥15,000 (tax incl.) returns to your company's stay credit" in body
        assert "¥18,000 (tax incl.) of the part you paid is refunded to your card." in body


def test_the_operator_api_cancels_a_co_paid_stay_and_refunds_the_card_at_once(db, co_paid):
    world, bid = co_paid.world, co_paid.id

    answer = current_app.test_client().post(
        f"/api/v1/operator/bookings/{bid}/cancel",
        json={"reason": "Boiler broken."},
        headers=bearer(db, world.operator),
    )

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["status"] == "cancelled"
    assert card_refunded(db, bid) == co_paid.card
    assert cancelled_event(db, bid).facts["employee_refund"] == co_paid.card


def test_a_stay_paid_by_the_company_alone_says_nothing_of_a_card(db, world):
    world.policy.approval_all = False
    db.session.commit()
    booking = book(db, world, 10, 12)
    desk = signed_in(current_app, world.operator)

    page = text(desk.get(f"/operator/bookings/{booking.id}/cancel"))
    done = desk.post(f"/operator/bookings/{booking.id}/cancel", data={"reason": "Flood."})
    told = " ".join(flashes(text(desk.get(done.headers["Location"]))))

    assert "by card" not in page and "by card" not in told
    assert "employee_refund" not in cancelled_event(db, booking.id).facts
    assert "refunded to your card" not in body_of(employees_mail(db, world))
