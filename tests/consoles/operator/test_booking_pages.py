"""The operator's stay pages: the list, one stay, the front desk (check in, check out,
no-show), notes, moving a stay with its confirm step, cancelling on the guest's behalf,
and direct stays (walk-ins); what each shows, does and refuses.

The operator reads English (``locale="en"``) so flash texts are stable. NOW is
2026-12-01 12:00 in Tokyo; rooms cost their base price (no pricing run), so a night of
room A is ¥10,000 and of room B ¥8,000.
"""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability.models import Block, DirectStay, Occupancy
from billing import ledger
from booking import cancellation, services
from booking.models import Booking, BookingStatus
from core.i18n import format_yen_plain
from tests.conftest import NOW, days, post_sign_in
from tests.register_helpers import fill_register

CREDIT = 1_000_000
PRICE_A = 10_000
PRICE_B = 8_000


# --- helpers ------------------------------------------------------------------------------


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def flashes(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found)).strip()
        for found in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)
    ]


def follow(client, response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    return text(client.get(response.headers["Location"]))


def yen(amount: int) -> str:
    return f"{format_yen_plain(amount)} (tax incl.)"


def book(db, user, unit, check_in: int, check_out: int, guests: int = 1) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), guests), NOW
    )
    db.session.commit()
    fill_register(booking)  # check-in waits for a complete guest register
    return booking


def balance(company) -> int:
    return ledger.ledger_sum(company.id)


def snapshot(db, booking_id: int) -> tuple:
    """What an action on the stay may touch, to prove a refused one touched nothing."""
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    occupancy = db.session.execute(
        select(
            Occupancy.unit_id, Occupancy.night, Occupancy.booking_id, Occupancy.block_id
        ).order_by(Occupancy.unit_id, Occupancy.night)
    ).all()
    return (
        (b.status, b.unit_id, b.check_in, b.check_out, b.total_price, b.released_on),
        (b.cancel_reason, b.operator_note),
        [(n.night, n.price) for n in b.nights],
        [tuple(r) for r in occupancy],
        ledger.ledger_sum(b.company_id),
        db.session.scalar(select(func.count()).select_from(DirectStay)),
    )


def status_of(db, booking_id: int) -> str:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Booking, booking_id).status


def check_in(client, booking_id: int, **data):
    """Check in as the stay page's front desk does: identity checked against the register."""
    return client.post(
        f"/operator/bookings/{booking_id}/check-in", data={"identity_checked": "y", **data}
    )


def hidden(page: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def desk(app, db, client, login, make_user, make_company, make_facility, make_unit):
    """An operator (reading English) signed in; a facility of two rooms; an employee of a
    company with credit; another facility of the same organisation."""
    operator = make_user(Role.OPERATOR, locale="en")
    org = operator.operator
    facility = make_facility(operator=org, name_en="Birch Inn")
    room_a = make_unit(facility=facility, name="101 Washitsu", base_price=PRICE_A, capacity=2)
    room_b = make_unit(facility=facility, name="102 Yoshitsu", base_price=PRICE_B, capacity=2)
    elsewhere = make_unit(facility=make_facility(operator=org), name="201 Annex")
    company = make_company(name="Acme Works", credit=CREDIT)
    employee = make_user(
        Role.EMPLOYEE, company=company, name="Hanako Yamada", email="hanako@acme.example"
    )
    login(operator)
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        a=room_a,
        b=room_b,
        elsewhere=elsewhere,
        company=company,
        employee=employee,
    )


# --- the list -----------------------------------------------------------------------------


def test_the_list_shows_the_facilitys_stays_in_the_dates_and_filters_them(
    db, client, desk, make_user, make_unit
):
    soon = book(db, desk.employee, desk.a, 2, 4)
    other_guest = make_user(Role.EMPLOYEE, company=desk.company, name="Taro Suzuki")
    later = book(db, other_guest, desk.b, 10, 12)
    far = book(db, desk.employee, desk.a, 40, 42)
    annex = book(db, desk.employee, desk.elsewhere, 2, 3)
    cancellation.cancel_booking(other_guest, later.id, NOW)
    db.session.commit()
    url = f"/operator/facilities/{desk.facility.id}/bookings"

    page = text(client.get(url))

    rows = re.findall(r'data-booking-id="(\d+)"', page)
    assert rows == [str(soon.id), str(later.id)]  # today → 30 days, this facility only
    assert "Hanako Yamada" in page and "Acme Works" in page and yen(2 * PRICE_A) in page
    assert f'href="/operator/bookings/{soon.id}"' in page
    assert "Cancelled" in page
    # The state, a name, a number, other dates.
    confirmed = text(client.get(url, query_string={"status": "confirmed"}))
    assert re.findall(r'data-booking-id="(\d+)"', confirmed) == [str(soon.id)]
    by_name = text(client.get(url, query_string={"q": "suzuki"}))
    assert re.findall(r'data-booking-id="(\d+)"', by_name) == [str(later.id)]
    by_number = text(client.get(url, query_string={"q": f"#{far.id}", "end": days(60)}))
    assert re.findall(r'data-booking-id="(\d+)"', by_number) == [str(far.id)]
    ahead = text(client.get(url, query_string={"start": days(35), "end": days(50)}))
    assert re.findall(r'data-booking-id="(\d+)"', ahead) == [str(far.id)]
    assert str(annex.id) not in re.findall(r'data-booking-id="(\d+)"', page + ahead)
    none = text(client.get(url, query_string={"q": "nobody"}))
    assert 'data-testid="no-bookings"' in none


def test_the_list_says_when_its_dates_are_wrong(db, client, desk):
    book(db, desk.employee, desk.a, 2, 4)
    url = f"/operator/facilities/{desk.facility.id}/bookings"

    backwards = client.get(url, query_string={"start": days(5), "end": days(1)})
    garbage = client.get(url, query_string={"start": "someday"})
    too_long = client.get(url, query_string={"start": days(0), "end": days(800)})

    assert backwards.status_code == garbage.status_code == too_long.status_code == 400
    assert "The end must be after the start." in text(backwards)
    assert 'data-testid="form-error"' in text(garbage)
    assert "Choose at most 366 days." in text(too_long)
    # The default dates are shown instead.
    assert re.findall(r'data-booking-id="(\d+)"', text(backwards))


def test_the_list_is_paged(db, client, desk, make_user):
    for n in range(52):
        guest = make_user(Role.EMPLOYEE, company=desk.company)
        room = desk.a if n % 2 else desk.b
        book(db, guest, room, n // 2, n // 2 + 1)
    url = f"/operator/facilities/{desk.facility.id}/bookings"

    first = text(client.get(url))
    second = text(client.get(url, query_string={"page": 2}))

    assert len(re.findall(r"data-booking-id=", first)) == 50
    assert len(re.findall(r"data-booking-id=", second)) == 2
    assert "Page 1 of 2" in first and "page=2" in first


# --- one stay -----------------------------------------------------------------------------


def test_the_stay_page_shows_guest_company_nights_history_and_what_can_be_done(db, client, desk):
    booking = book(db, desk.employee, desk.a, 2, 5, guests=2)

    response = client.get(f"/operator/bookings/{booking.id}")
    page = text(response)

    assert response.status_code == 200
    for fact in ("Hanako Yamada", "hanako@acme.example", "Acme Works", "101 Washitsu"):
        assert fact in page
    assert "2 guests" in page and "3 nights" in page and "Confirmed" in page
    assert len(re.findall(r"<tr data-night=", page)) == 3
    assert yen(PRICE_A) in page and yen(3 * PRICE_A) in page
    assert re.search(r'data-type="booking.created"', page)
    # A stay still ahead: moved or cancelled, not checked in yet.
    assert 'data-testid="front-desk"' not in page
    assert f"/operator/bookings/{booking.id}/move" in page
    assert f"/operator/bookings/{booking.id}/cancel" in page
    assert 'data-testid="extend-one"' in page


def test_todays_arrival_offers_check_in_and_says_what_a_no_show_does(db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 3)

    page = text(client.get(f"/operator/bookings/{booking.id}"))

    assert f'action="/operator/bookings/{booking.id}/check-in"' in page
    assert f'action="/operator/bookings/{booking.id}/no-show"' in page
    assert f'action="/operator/bookings/{booking.id}/check-out"' not in page
    note = re.search(r'data-testid="no-show-note">(.*?)<', page, re.S).group(1)
    assert "the nights from Tue 1 Dec are given back" in note
    assert "nothing is refunded" in note


def test_check_in_then_leaving_early_gives_the_nights_back(db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 3)
    before = balance(desk.company)

    checked_in = check_in(client, booking.id)
    page = follow(client, checked_in)

    assert checked_in.headers["Location"] == f"/operator/bookings/{booking.id}"
    assert "Hanako Yamada has checked in (room 101 Washitsu)." in flashes(page)
    assert status_of(db, booking.id) == BookingStatus.CHECKED_IN
    assert f'action="/operator/bookings/{booking.id}/check-out"' in page
    assert "Leaving early: the nights from Tue 1 Dec are given back" in page

    page = follow(client, client.post(f"/operator/bookings/{booking.id}/check-out"))

    assert (
        "Hanako Yamada has checked out (room 101 Washitsu). The nights from Tue 1 Dec are"
        " free again; nothing is refunded." in flashes(page)
    )
    assert status_of(db, booking.id) == BookingStatus.CHECKED_OUT
    assert db.session.get(Booking, booking.id).released_on == days(0)
    assert balance(desk.company) == before
    assert 'data-testid="released-on"' in page
    assert 'data-type="booking.checked_in"' in page and 'data-type="booking.checked_out"' in page


def test_a_no_show_pressed_on_the_today_page_returns_there(db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 2)
    today_url = f"/operator/facilities/{desk.facility.id}/today"
    before = balance(desk.company)

    today = text(client.get(today_url))
    assert f'action="/operator/bookings/{booking.id}/no-show"' in today
    assert f'name="next" type="hidden" value="{today_url}"' in today
    response = client.post(f"/operator/bookings/{booking.id}/no-show", data={"next": today_url})
    page = follow(client, response)

    assert response.headers["Location"] == today_url
    assert (
        "Hanako Yamada is marked as a no-show (room 101 Washitsu). The nights from Tue 1 Dec"
        " are free again; nothing is refunded." in flashes(page)
    )
    assert status_of(db, booking.id) == BookingStatus.NO_SHOW
    assert balance(desk.company) == before
    assert db.session.scalar(select(func.count()).select_from(Occupancy)) == 0


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/logout", "/\\evil.example"]
)
def test_a_button_never_returns_outside_the_console(db, client, desk, target):
    booking = book(db, desk.employee, desk.a, 0, 2)

    response = check_in(client, booking.id, next=target)

    assert response.status_code == 303
    assert response.headers["Location"] == f"/operator/bookings/{booking.id}"


def test_the_today_page_offers_the_buttons_that_apply(db, client, desk, make_user):
    arriving = book(db, desk.employee, desk.a, 0, 2)
    other = make_user(Role.EMPLOYEE, company=desk.company)
    in_house = book(db, other, desk.b, 0, 3)
    check_in(client, in_house.id)

    page = text(client.get(f"/operator/facilities/{desk.facility.id}/today"))

    # Check in happens on the stay page, where the identity check is ticked: a link there.
    assert f'href="/operator/bookings/{arriving.id}#desk-heading">Check in</a>' in page
    assert f'action="/operator/bookings/{arriving.id}/no-show"' in page
    assert f"/operator/bookings/{arriving.id}/check-out" not in page
    assert "/check-in" not in page  # no button that checks in without the identity check
    assert f'href="/operator/bookings/{in_house.id}#desk-heading"' not in page
    assert f'action="/operator/bookings/{in_house.id}/no-show"' not in page
    assert f'action="/operator/bookings/{in_house.id}/check-out"' in page
    assert re.search(rf'data-booking-id="{in_house.id}" data-status="checked_in"', page)
    assert f'href="/operator/bookings/{arriving.id}"' in page


def test_a_refused_front_desk_action_says_why_and_changes_nothing(db, client, desk):
    booking = book(db, desk.employee, desk.a, 3, 5)
    before = snapshot(db, booking.id)

    page = follow(client, check_in(client, booking.id))
    check_out = follow(client, client.post(f"/operator/bookings/{booking.id}/check-out"))

    assert (
        "This stay begins on Fri 4 Dec 2026: the guest can be checked in from that day."
        in flashes(page)
    )
    assert any(
        "Only a guest who is checked in can be checked out." in f for f in flashes(check_out)
    )
    assert snapshot(db, booking.id) == before


def test_notes_are_saved_and_too_long_notes_are_refused(db, client, desk):
    booking = book(db, desk.employee, desk.a, 3, 5)
    url = f"/operator/bookings/{booking.id}/note"

    page = follow(client, client.post(url, data={"note": "  Late arrival, about 22:00.  "}))

    assert "The notes have been saved." in flashes(page)
    assert db.session.get(Booking, booking.id).operator_note == "Late arrival, about 22:00."
    assert "Late arrival, about 22:00." in page
    before = snapshot(db, booking.id)

    too_long = client.post(url, data={"note": "x" * 2001})

    assert too_long.status_code == 400
    assert "Field cannot be longer than 2000 characters." in text(too_long)
    assert snapshot(db, booking.id) == before


# --- move, extend, shorten ----------------------------------------------------------------


def move_url(booking, unit, check_in: int, check_out: int) -> str:
    return (
        f"/operator/bookings/{booking.id}/move?unit_id={unit.id}"
        f"&check_in={days(check_in)}&check_out={days(check_out)}"
    )


def confirm(client, booking, page: str):
    return client.post(
        f"/operator/bookings/{booking.id}/move",
        data={
            "unit_id": hidden(page, "unit_id"),
            "check_in": hidden(page, "check_in"),
            "check_out": hidden(page, "check_out"),
            "expected_net": hidden(page, "expected_net"),
        },
    )


def test_extending_shows_the_charge_then_takes_it_from_the_credit(db, client, desk):
    booking = book(db, desk.employee, desk.a, 5, 7)
    before = balance(desk.company)

    response = client.get(move_url(booking, desk.a, 5, 8))
    page = text(response)

    assert response.status_code == 200
    kinds = re.findall(r'data-kind="(\w+)"', page)
    assert kinds == ["kept", "kept", "added"]
    assert f"{yen(PRICE_A)} will be charged to the company's credit." in page
    assert re.search(rf'data-testid="new-total">{re.escape(yen(3 * PRICE_A))}<', page)
    assert re.search(rf'data-testid="old-total">{re.escape(yen(2 * PRICE_A))}<', page)
    assert hidden(page, "expected_net") == str(PRICE_A)

    moved = confirm(client, booking, page)
    done = follow(client, moved)

    assert moved.headers["Location"] == f"/operator/bookings/{booking.id}"
    assert (
        f"The stay has been moved to 101 Washitsu, Sun 6 Dec – Wed 9 Dec. {yen(PRICE_A)} was"
        " charged to the company's credit." in flashes(done)
    )
    assert balance(desk.company) == before - PRICE_A
    stay = db.session.get(Booking, booking.id)
    assert (stay.check_out, stay.total_price) == (days(8), 3 * PRICE_A)
    assert 'data-type="booking.changed"' in done
    assert "was 101 Washitsu, Sun 6 Dec – Tue 8 Dec" in done
    assert f"{yen(PRICE_A)} charged to the company's credit" in done


def test_moving_to_a_cheaper_room_returns_the_difference(db, client, desk):
    booking = book(db, desk.employee, desk.a, 5, 7)
    before = balance(desk.company)
    refund = 2 * (PRICE_A - PRICE_B)

    page = text(client.get(move_url(booking, desk.b, 5, 7)))

    assert re.findall(r'data-kind="(\w+)"', page) == ["moved", "moved"]
    assert f"{yen(refund)} will be returned to the company's credit." in page
    done = follow(client, confirm(client, booking, page))

    assert f"{yen(refund)} was returned to the company's credit." in " ".join(flashes(done))
    assert balance(desk.company) == before + refund
    assert db.session.get(Booking, booking.id).unit_id == desk.b.id


def test_shortening_returns_the_nights_dropped(db, client, desk):
    booking = book(db, desk.employee, desk.a, 5, 8)
    before = balance(desk.company)
    stay_page = text(client.get(f"/operator/bookings/{booking.id}"))
    link = html.unescape(re.search(r'href="([^"]+)" data-testid="shorten-one"', stay_page)[1])

    page = text(client.get(link))

    assert f"{yen(PRICE_A)} will be returned to the company's credit." in page
    follow(client, confirm(client, booking, page))
    assert balance(desk.company) == before + PRICE_A
    assert db.session.get(Booking, booking.id).check_out == days(7)


def test_taken_nights_are_shown_and_nothing_moves(db, client, desk, make_user):
    booking = book(db, desk.employee, desk.a, 5, 7)
    book(db, make_user(Role.EMPLOYEE, company=desk.company), desk.b, 6, 8)
    before = snapshot(db, booking.id)

    page = text(client.get(move_url(booking, desk.b, 5, 7)))

    assert 'data-testid="move-unavailable"' in page
    assert "These nights are taken in that room." in page
    assert 'data-testid="confirm-move"' not in page
    forced = client.post(
        f"/operator/bookings/{booking.id}/move",
        data={"unit_id": desk.b.id, "check_in": days(5), "check_out": days(7)},
    )
    assert forced.status_code == 409
    assert 'data-testid="move-error"' in text(forced)
    assert snapshot(db, booking.id) == before


def test_a_changed_amount_shows_the_new_quote_and_moves_nothing(db, client, desk):
    booking = book(db, desk.employee, desk.a, 5, 7)
    before = snapshot(db, booking.id)

    response = client.post(
        f"/operator/bookings/{booking.id}/move",
        data={
            "unit_id": desk.a.id,
            "check_in": days(5),
            "check_out": days(8),
            "expected_net": "0",
        },
    )
    page = text(response)

    assert response.status_code == 409
    assert "has changed since it was shown" in page
    assert hidden(page, "expected_net") == str(PRICE_A)  # confirm the new amount
    assert snapshot(db, booking.id) == before


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        ({"check_in": 7, "check_out": 5}, 400, "Check-out must be after check-in."),
        ({"check_in": "someday"}, 400, "Please check the fields below."),
        ({"unit_id": "abc"}, 400, "Please check the fields below."),
        ({"unit_id": 999_999}, 422, "Choose a room of this facility that is on sale."),
        ({"unit_id": "elsewhere"}, 422, "Choose a room of this facility that is on sale."),
        ({"check_in": -3, "check_out": -1}, 422, "Check-in cannot be in the past."),
        ({"check_in": 5, "check_out": 7}, 422, "That is the room and the dates"),
    ],
    ids=["backwards", "not-a-date", "not-an-id", "unknown-room", "other-facility", "past", "same"],
)
def test_bad_moves_say_why_and_change_nothing(db, client, desk, args, status, message):
    booking = book(db, desk.employee, desk.a, 5, 7)
    before = snapshot(db, booking.id)
    values = {"unit_id": desk.a.id, "check_in": 5, "check_out": 7, **args}
    if values["unit_id"] == "elsewhere":
        values["unit_id"] = desk.elsewhere.id
    for key in ("check_in", "check_out"):
        if isinstance(values[key], int):
            values[key] = days(values[key]).isoformat()

    shown = client.get(f"/operator/bookings/{booking.id}/move", query_string=values)
    posted = client.post(f"/operator/bookings/{booking.id}/move", data=values)

    assert shown.status_code == status, text(shown)[:2000]
    assert message in text(shown)
    assert posted.status_code in (400, 409, 422) or posted.status_code == 303
    if posted.status_code == 303:  # the same stay sent twice: nothing to do
        assert "The stay already has this room and these dates." in flashes(follow(client, posted))
    else:
        assert message in text(posted) or status == 400
    assert snapshot(db, booking.id) == before


def test_the_move_page_without_choices_shows_the_stay_and_the_form(db, client, desk):
    booking = book(db, desk.employee, desk.a, 5, 7)

    response = client.get(f"/operator/bookings/{booking.id}/move")
    page = text(response)

    assert response.status_code == 200
    assert 'data-testid="current-stay"' in page and 'data-testid="move-preview"' not in page
    assert f'value="{days(5)}"' in page and "102 Yoshitsu" in page


def test_a_checked_out_stay_offers_no_move_and_refuses_one(db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 2)
    check_in(client, booking.id)
    client.post(f"/operator/bookings/{booking.id}/check-out")
    page = text(client.get(f"/operator/bookings/{booking.id}"))

    assert f"/operator/bookings/{booking.id}/move" not in page
    assert f"/operator/bookings/{booking.id}/cancel" not in page
    refused = client.get(move_url(booking, desk.b, 0, 2))
    assert refused.status_code == 422
    assert "It can no longer be moved." in text(refused)


# --- cancel on the guest's behalf ---------------------------------------------------------


def test_cancelling_for_the_guest_shows_and_returns_everything(db, client, desk):
    booking = book(db, desk.employee, desk.a, 1, 4)  # within the policy's fee period
    before = balance(desk.company)
    url = f"/operator/bookings/{booking.id}/cancel"

    page = text(client.get(url))

    assert f"the whole {yen(3 * PRICE_A)} returns to the company's credit" in page
    done = follow(client, client.post(url, data={"reason": "  Boiler broken.  "}))

    assert (
        "The stay has been cancelled and its nights released. "
        f"{yen(3 * PRICE_A)} was returned to the company's credit." in flashes(done)
    )
    assert balance(desk.company) == before + 3 * PRICE_A
    stay = db.session.get(Booking, booking.id)
    assert (stay.status, stay.cancel_reason) == (BookingStatus.CANCELLED, "Boiler broken.")
    assert db.session.scalar(select(func.count()).select_from(Occupancy)) == 0
    assert "Boiler broken." in done and 'data-type="booking.cancelled"' in done
    # Sent again: nothing more happens.
    again = follow(client, client.post(url, data={"reason": "again"}))
    assert "This stay was already cancelled." in flashes(again)
    assert balance(desk.company) == before + 3 * PRICE_A


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Say why the stay is cancelled."), ("   ", "Say why"), ("x" * 301, "300")],
    ids=["empty", "blank", "too-long"],
)
def test_a_cancel_without_a_good_reason_changes_nothing(db, client, desk, reason, message):
    booking = book(db, desk.employee, desk.a, 1, 4)
    before = snapshot(db, booking.id)

    response = client.post(f"/operator/bookings/{booking.id}/cancel", data={"reason": reason})

    assert response.status_code in (400, 422)
    assert message in text(response)
    assert snapshot(db, booking.id) == before


def test_a_checked_in_stay_cannot_be_cancelled_here(db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 2)
    check_in(client, booking.id)
    before = snapshot(db, booking.id)

    page = text(client.get(f"/operator/bookings/{booking.id}/cancel"))
    posted = client.post(f"/operator/bookings/{booking.id}/cancel", data={"reason": "x"})

    assert 'data-testid="not-cancellable"' in page
    assert posted.status_code == 422
    assert "The guest is checked in: check them out instead." in text(posted)
    assert snapshot(db, booking.id) == before


# --- direct stays -------------------------------------------------------------------------


def direct_form(desk, **change) -> dict:
    return {
        "unit": desk.b.id,
        "check_in": days(3).isoformat(),
        "check_out": days(5).isoformat(),
        "guest_name": "Walk-in Guest",
        "guests": "2",
        "nightly_price": "7000",
        "note": "Paid cash",
        **change,
    }


def test_a_direct_stay_is_recorded_shown_listed_and_removed(db, client, desk):
    url = f"/operator/facilities/{desk.facility.id}/direct-stays/new"

    form = text(
        client.get(url, query_string={"unit_id": desk.b.id, "start": days(3), "end": days(5)})
    )
    assert re.search(rf'<option selected value="{desk.b.id}">|value="{desk.b.id}" selected', form)
    assert f'value="{days(3)}"' in form and f'value="{days(5)}"' in form
    assert "only your figures" in form.lower() or "Only your figures" in form

    response = client.post(url, data=direct_form(desk))
    page = follow(client, response)

    recorded = db.session.scalar(select(DirectStay))
    assert response.headers["Location"] == f"/operator/direct-stays/{recorded.id}"
    assert (
        "The stay of Walk-in Guest has been recorded: 102 Yoshitsu, Fri 4 Dec – Sun 6 Dec."
        in flashes(page)
    )
    assert (recorded.guest_name, recorded.guests, recorded.nightly_price) == (
        "Walk-in Guest",
        2,
        7000,
    )
    assert "Paid cash" in page and yen(14_000) in page
    nights = db.session.execute(
        select(Occupancy.night).where(Occupancy.block_id == recorded.block_id)
    ).all()
    assert [n for (n,) in nights] == [days(3), days(4)]
    listed = text(client.get(f"/operator/facilities/{desk.facility.id}/bookings"))
    assert f'data-direct-id="{recorded.id}"' in listed

    removed = client.post(f"/operator/direct-stays/{recorded.id}/cancel")
    page = follow(client, removed)

    assert "The direct stay has been removed; its nights are free again." in flashes(page)
    assert db.session.scalar(select(func.count()).select_from(DirectStay)) == 0
    assert db.session.scalar(select(func.count()).select_from(Occupancy)) == 0
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


def test_a_direct_stay_without_a_price_is_free(db, client, desk):
    url = f"/operator/facilities/{desk.facility.id}/direct-stays/new"

    follow(client, client.post(url, data=direct_form(desk, nightly_price="")))

    assert db.session.scalar(select(DirectStay.nightly_price)) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"guest_name": ""}, "This field is required."),
        ({"guest_name": "x" * 101}, "Field cannot be longer than 100 characters."),
        ({"check_out": days(2).isoformat()}, "Check-out must be after check-in."),
        ({"check_in": "tomorrow"}, "Not a valid date value."),
        ({"check_in": days(-5).isoformat(), "check_out": days(-2).isoformat()}, "already ended"),
        ({"unit": "999999"}, "Choose one of this facility's rooms."),
        ({"unit": "elsewhere"}, "Choose one of this facility's rooms."),
        ({"unit": "abc"}, "Choose one of this facility's rooms."),
        ({"guests": "3"}, "This room sleeps 1 to 2 guests."),
        ({"guests": "0"}, "Number must be between 1 and 50."),
        ({"nightly_price": "-1"}, "Number must be between 0 and 10000000."),
        ({"note": "x" * 301}, "Field cannot be longer than 300 characters."),
        ({"check_in": days(6).isoformat(), "check_out": days(8).isoformat()}, "already taken"),
        ({"check_in": "9999-12-01", "check_out": "9999-12-03"}, "Choose a date from"),
    ],
    ids=[
        "no-name",
        "long-name",
        "backwards",
        "not-a-date",
        "past",
        "unknown-room",
        "other-facility",
        "not-an-id",
        "too-many",
        "no-guests",
        "negative-price",
        "long-note",
        "taken",
        "far-ahead",
    ],
)
def test_bad_direct_stays_say_why_and_record_nothing(db, client, desk, change, message):
    booking = book(db, desk.employee, desk.b, 7, 9)
    before = snapshot(db, booking.id)
    if change.get("unit") == "elsewhere":
        change["unit"] = str(desk.elsewhere.id)

    response = client.post(
        f"/operator/facilities/{desk.facility.id}/direct-stays/new",
        data=direct_form(desk, **change),
    )

    assert response.status_code in (400, 409, 422)
    assert message in text(response), text(response)[:3000]
    assert snapshot(db, booking.id) == before


# --- CSRF and roles -----------------------------------------------------------------------


def test_every_action_needs_the_csrf_token(app, db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 3)
    ahead = book(db, desk.employee, desk.b, 5, 7)
    follow(
        client,
        client.post(
            f"/operator/facilities/{desk.facility.id}/direct-stays/new",
            data=direct_form(desk, check_in=days(10).isoformat(), check_out=days(11).isoformat()),
        ),
    )
    direct_id = db.session.scalar(select(DirectStay.id))
    app.config["WTF_CSRF_ENABLED"] = True
    before = (snapshot(db, booking.id), snapshot(db, ahead.id))

    refused = {
        "check-in": check_in(client, booking.id),
        "no-show": client.post(f"/operator/bookings/{booking.id}/no-show"),
        "check-out": client.post(f"/operator/bookings/{booking.id}/check-out"),
        "note": client.post(f"/operator/bookings/{booking.id}/note", data={"note": "x"}),
        "move": client.post(
            f"/operator/bookings/{ahead.id}/move",
            data={"unit_id": desk.a.id, "check_in": days(5), "check_out": days(7)},
        ),
        "cancel": client.post(f"/operator/bookings/{ahead.id}/cancel", data={"reason": "x"}),
        "direct": client.post(
            f"/operator/facilities/{desk.facility.id}/direct-stays/new", data=direct_form(desk)
        ),
        "remove direct": client.post(f"/operator/direct-stays/{direct_id}/cancel"),
    }

    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 400)
    assert (snapshot(db, booking.id), snapshot(db, ahead.id)) == before
    # With the token (as the pages give it), the button works.
    page = text(client.get(f"/operator/bookings/{booking.id}"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    done = check_in(client, booking.id, csrf_token=token)
    assert done.status_code == 303
    assert status_of(db, booking.id) == BookingStatus.CHECKED_IN


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN])
def test_employees_and_company_admins_are_refused(app, db, desk, make_user, role):
    booking = book(db, desk.employee, desk.a, 5, 7)
    before = snapshot(db, booking.id)
    person = make_user(role, company=desk.company)
    browser = app.test_client()
    post_sign_in(browser, person.email)
    gets = [
        f"/operator/facilities/{desk.facility.id}/bookings",
        f"/operator/bookings/{booking.id}",
        f"/operator/bookings/{booking.id}/move",
        f"/operator/bookings/{booking.id}/cancel",
        f"/operator/facilities/{desk.facility.id}/direct-stays/new",
        "/operator/direct-stays/1",
    ]
    posts = [
        f"/operator/bookings/{booking.id}/{action}"
        for action in ("check-in", "check-out", "no-show", "note", "move", "cancel")
    ] + [
        f"/operator/facilities/{desk.facility.id}/direct-stays/new",
        "/operator/direct-stays/1/cancel",
    ]

    statuses = [browser.get(u).status_code for u in gets]
    statuses += [browser.post(u, data={"reason": "x", "note": "x"}).status_code for u in posts]

    assert statuses == [403] * (len(gets) + len(posts))
    assert snapshot(db, booking.id) == before


def test_the_facility_nav_links_the_bookings(db, client, desk):
    page = text(client.get(f"/operator/facilities/{desk.facility.id}"))

    assert f'href="/operator/facilities/{desk.facility.id}/bookings"' in page


def test_dates_in_the_list_default_to_thirty_days(db, client, desk):
    page = text(client.get(f"/operator/facilities/{desk.facility.id}/bookings"))

    assert f'value="{days(0)}"' in page and f'value="{days(30)}"' in page


def test_a_guest_in_the_house_can_stay_a_night_longer(db, client, desk):
    booking = book(db, desk.employee, desk.a, 0, 2)
    check_in(client, booking.id)
    before = balance(desk.company)
    stay_page = text(client.get(f"/operator/bookings/{booking.id}"))

    assert f'<input type="hidden" name="check_in" value="{days(0)}">' in stay_page
    link = html.unescape(re.search(r'href="([^"]+)" data-testid="extend-one"', stay_page)[1])
    page = text(client.get(link))
    assert f"{yen(PRICE_A)} will be charged to the company's credit." in page
    follow(client, confirm(client, booking, page))

    stay = db.session.get(Booking, booking.id)
    assert (stay.status, stay.check_out) == (BookingStatus.CHECKED_IN, days(3))
    assert balance(desk.company) == before - PRICE_A
    moved_in = client.get(move_url(booking, desk.a, 1, 3))
    assert moved_in.status_code == 422
    assert "The guest is checked in, so the stay still begins on" in text(moved_in)
