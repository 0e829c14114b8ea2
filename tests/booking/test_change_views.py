"""Changing a stay through the pages: the form, the preview that states the money, the
confirmation, and the refusals shown on the form with the values kept."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from availability.models import Occupancy
from billing import ledger
from billing.models import CreditEntry
from booking import cancellation, services
from booking.models import Booking
from tests.conftest import NOW, days

PRICE = 10_000


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2, name="201 洋室")


@pytest.fixture
def stay(db, employee, room):
    booking = services.book_stay(
        employee, services.StayRequest(room.id, days(10), days(13), 1), NOW
    )
    db.session.commit()
    return booking


def page(response) -> str:
    return response.get_data(as_text=True)


def preview_url(booking_id: int, unit_id: int, check_in: int, check_out: int, guests=1) -> str:
    return (
        f"/stays/{booking_id}/change/preview?unit_id={unit_id}"
        f"&check_in={days(check_in).isoformat()}&check_out={days(check_out).isoformat()}"
        f"&guests={guests}"
    )


def confirm_data(unit_id: int, check_in: int, check_out: int, difference: int, guests=1) -> dict:
    return {
        "unit_id": unit_id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        "guests": guests,
        "expected_difference": difference,
    }


def stored(db, booking_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    claimed = db.session.scalar(
        select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == booking_id)
    )
    entries = db.session.scalar(
        select(func.count()).select_from(CreditEntry).where(CreditEntry.booking_id == booking_id)
    )
    return (b.unit_id, b.check_in, b.check_out, b.guests, b.total_price, claimed, entries)


def test_the_change_form_shows_the_stay_and_offers_only_rooms_of_its_facility(
    client, login, employee, stay, room, make_unit
):
    sibling = make_unit(facility=room.facility, name="301 和室", capacity=4)
    elsewhere = make_unit(name="別の宿の部屋")
    login(employee)

    html = page(client.get(f"/stays/{stay.id}/change"))

    assert 'data-testid="current-stay"' in html
    assert "¥30,000" in html
    assert f'value="{days(10).isoformat()}"' in html and f'value="{days(13).isoformat()}"' in html
    assert f'<option value="{room.id}" selected>' in html
    assert f'<option value="{sibling.id}"' in html
    assert f'value="{elsewhere.id}"' not in html
    assert f'action="/stays/{stay.id}/change/preview"' in html


def test_the_preview_states_the_charge_and_each_new_nights_price_and_writes_nothing(
    db, client, login, employee, stay, room
):
    room.base_price = 12_000
    db.session.commit()
    login(employee)
    before = stored(db, stay.id)

    response = client.get(preview_url(stay.id, room.id, 10, 15))

    assert response.status_code == 200
    html = page(response)
    money = re.search(r'data-testid="change-money"><strong>(.*?)</strong>', html, re.S).group(1)
    assert "¥24,000" in money
    assert re.search(r'data-testid="new-total">¥54,000', html)
    new_nights = re.findall(r'<tr data-night="([0-9-]+)" class="new-night">', html)
    assert new_nights == [days(13).isoformat(), days(14).isoformat()]
    assert 'name="expected_difference" value="24000"' in html
    assert stored(db, stay.id) == before


def test_confirming_changes_the_stay_and_says_what_was_charged(
    db, client, login, employee, stay, room
):
    login(employee)

    response = client.post(f"/stays/{stay.id}/change", data=confirm_data(room.id, 10, 14, PRICE))

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/stays/{stay.id}")
    assert stored(db, stay.id)[:5] == (room.id, days(10), days(14), 1, 40_000)
    assert "¥10,000" in page(client.get(response.headers["Location"]))


def test_a_late_shortening_states_what_is_returned_and_what_is_kept(
    app, db, client, login, employee, stay, room
):
    app.config["FIXED_NOW"] = NOW + timedelta(days=8)
    login(employee)

    preview = page(client.get(preview_url(stay.id, room.id, 10, 12)))
    money = re.search(r'data-testid="change-money"><strong>(.*?)</strong>', preview, re.S).group(1)
    assert "¥5,000" in money and money.count("¥5,000") == 2  # returned, and kept

    response = client.post(f"/stays/{stay.id}/change", data=confirm_data(room.id, 10, 12, -10_000))
    after = page(client.get(response.headers["Location"]))
    assert after.count("¥5,000") >= 2
    db.session.rollback()
    assert ledger.account_of(employee.company_id).credit_balance == 10_000_000 - 25_000


@pytest.mark.parametrize(
    ("args", "status", "kept_value"),
    [
        ({"guests": 3}, 422, 'name="guests" min="1" max="20" required value="3"'),
        ({"check_in": 13, "check_out": 11}, 400, 'value="{check_out}"'),
        ({"check_in": -2, "check_out": 2}, 422, 'value="{check_in}"'),
    ],
    ids=["too-many-guests", "check-out-first", "past"],
)
def test_refusals_appear_on_the_change_form_with_the_values_kept(
    db, client, login, employee, stay, room, args, status, kept_value
):
    login(employee)
    check_in, check_out = args.get("check_in", 10), args.get("check_out", 13)
    before = stored(db, stay.id)

    response = client.get(preview_url(stay.id, room.id, check_in, check_out, args.get("guests", 1)))

    assert response.status_code == status
    html = page(response)
    assert 'data-testid="change-error"' in html and 'role="alert"' in html
    assert 'id="change-error"' in html  # the fields point at it
    assert (
        kept_value.format(
            check_in=days(check_in).isoformat(), check_out=days(check_out).isoformat()
        )
        in html
    )
    assert 'action="/stays/' in html and 'data-testid="change-preview"' not in html
    assert stored(db, stay.id) == before


def test_a_room_of_another_facility_is_refused_on_the_form(
    db, client, login, employee, stay, make_unit
):
    login(employee)
    response = client.get(preview_url(stay.id, make_unit().id, 10, 13))
    assert response.status_code == 422
    assert 'aria-invalid="true"' in page(response)


def test_the_same_stay_again_is_refused_as_unchanged(client, login, employee, stay, room):
    login(employee)
    response = client.get(preview_url(stay.id, room.id, 10, 13))
    assert response.status_code == 422
    assert 'data-testid="change-error"' in page(response)


def test_a_moved_price_is_refused_and_the_new_price_shown(db, client, login, employee, stay, room):
    login(employee)
    room.base_price = 11_000  # after the preview showed +¥10,000
    db.session.commit()
    before = stored(db, stay.id)

    response = client.post(f"/stays/{stay.id}/change", data=confirm_data(room.id, 10, 14, PRICE))

    assert response.status_code == 409
    html = page(response)
    assert 'data-testid="change-error"' in html
    assert 'name="expected_difference" value="11000"' in html  # confirm the new price
    assert stored(db, stay.id) == before


def test_nights_just_taken_refuse_the_change_and_keep_the_form(
    db, client, login, employee, make_employee, stay, room
):
    services.book_stay(make_employee(), services.StayRequest(room.id, days(13), days(15), 1), NOW)
    db.session.commit()
    login(employee)
    before = stored(db, stay.id)

    preview = page(client.get(preview_url(stay.id, room.id, 10, 14)))
    assert 'data-testid="change-unavailable"' in preview
    assert f'action="/stays/{stay.id}/change"' not in preview  # nothing to confirm
    response = client.post(f"/stays/{stay.id}/change", data=confirm_data(room.id, 10, 14, PRICE))

    assert response.status_code == 409
    assert f'value="{days(14).isoformat()}"' in page(response)
    assert stored(db, stay.id) == before


def test_sending_the_confirmation_twice_changes_once(db, client, login, employee, stay, room):
    login(employee)
    data = confirm_data(room.id, 10, 14, PRICE)
    assert client.post(f"/stays/{stay.id}/change", data=data).status_code == 303
    again = client.post(f"/stays/{stay.id}/change", data=data)
    assert again.status_code == 303
    assert stored(db, stay.id)[4] == 40_000
    db.session.rollback()
    assert ledger.account_of(employee.company_id).credit_balance == 10_000_000 - 40_000


def test_a_begun_or_cancelled_stay_sends_the_employee_back_to_it(
    app, db, client, login, employee, stay
):
    login(employee)
    cancellation.cancel_booking(employee, stay.id, NOW)
    db.session.commit()
    for path in (f"/stays/{stay.id}/change", preview_url(stay.id, stay.unit_id, 10, 14)):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/stays/{stay.id}")


def test_the_confirmation_needs_the_csrf_token(app, db, client, login, employee, stay, room):
    login(employee)
    app.config["WTF_CSRF_ENABLED"] = True
    before = stored(db, stay.id)

    response = client.post(f"/stays/{stay.id}/change", data=confirm_data(room.id, 10, 14, PRICE))

    assert response.status_code == 400
    assert stored(db, stay.id) == before


DOORS = [
    ("GET", "/stays/{id}/change"),
    ("GET", "/stays/{id}/change/preview?unit_id={unit}&check_in={a}&check_out={b}&guests=1"),
    ("POST", "/stays/{id}/change"),
    ("GET", "/stays/{id}/cancel"),
    ("POST", "/stays/{id}/cancel"),
]


@pytest.mark.parametrize(
    ("method", "path"), DOORS, ids=["form", "preview", "confirm", "cancel-page", "cancel"]
)
def test_somebody_elses_stay_is_404_on_every_door_and_untouched(
    db, client, login, make_employee, employee, stay, room, method, path
):
    colleague = make_employee(company=employee.company)
    login(colleague)
    before = stored(db, stay.id)
    url = path.format(id=stay.id, unit=room.id, a=days(10).isoformat(), b=days(14).isoformat())

    response = client.open(url, method=method, data=confirm_data(room.id, 10, 14, PRICE))

    assert response.status_code == 404
    assert stored(db, stay.id) == before
    for unknown in (999_999, 2**31):
        missing = path.format(id=unknown, unit=room.id, a="x", b="y")
        assert client.open(missing, method=method).status_code == 404
