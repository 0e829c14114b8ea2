"""The operator fills in a stay's guest register (/operator/bookings/<id>/guests) and sees
its passport images; check-in waits for a complete register and records who checked
identity. Another organisation's stay, image or guest answers 404.

SQLite and PostgreSQL (the ``app`` fixture). NOW is 2026-12-01 12:00 in Tokyo."""

from __future__ import annotations

import html
import io

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts.models import Role
from booking import front_desk, services
from booking.models import Booking, BookingStatus
from lodging import register
from lodging.models import RegisteredGuest, RegisterRead
from tests.conftest import NOW, days
from tests.register_helpers import VISITOR, fill_register, image_bytes, resident

LOCAL = {
    "name": "山田 太郎",
    "address": "〒100-0001 東京都千代田区千代田1-1",
    "phone": "090-1234-5678",
}
FOREIGN = {
    "name": "Jane O'Neil",
    "address": "221B Baker Street, London NW1 6XE",
    "phone": "+44 20 7946 0958",
    "lives_abroad": "y",
    "nationality": "GB",
    "passport_number": "123456789",
}


def url(booking_id: int) -> str:
    return f"/operator/bookings/{booking_id}/guests"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def fields(n: int, **values) -> dict:
    return {f"guests-{n}-{name}": value for name, value in values.items()}


def reads(db) -> list[tuple]:
    db.session.rollback()
    rows = db.session.execute(
        select(RegisterRead.booking_id, RegisterRead.user_id, RegisterRead.action).order_by(
            RegisterRead.id
        )
    )
    return [tuple(r) for r in rows]


@pytest.fixture
def room(make_unit):
    return make_unit(capacity=2)


@pytest.fixture
def desk(make_user, room):
    return make_user(Role.OPERATOR, operator=room.facility.operator, locale="en")


@pytest.fixture
def guest(make_employee):
    return make_employee(name="山田 太郎")


@pytest.fixture
def stay(db, guest, room) -> Booking:
    booking = services.book_stay(guest, services.StayRequest(room.id, days(0), days(2), 2), NOW)
    db.session.commit()
    return booking


# --- the page ------------------------------------------------------------------------------


def test_the_operator_fills_in_the_register_in_the_console(db, client, login, desk, stay):
    login(desk)
    page = client.get(url(stay.id))
    assert page.status_code == 200
    body = text(page)
    assert "Guest register" in body and 'class="console"' in body
    assert body.count('data-testid="guest-') == 2
    assert f'href="/operator/bookings/{stay.id}"' in body  # back to the stay

    response = client.post(
        url(stay.id),
        data={
            **fields(0, **LOCAL),
            **fields(1, **FOREIGN, passport=(io.BytesIO(image_bytes("WEBP")), "p.webp")),
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 303
    assert response.location.endswith(url(stay.id))
    assert register.missing(stay.id, 2) == []
    rows = db.session.scalars(select(RegisteredGuest).order_by(RegisteredGuest.position)).all()
    assert {row.entered_by_id for row in rows} == {desk.id}
    assert reads(db) == [(stay.id, desk.id, "view"), (stay.id, desk.id, "edit")]
    assert "The guest register has been saved." in text(client.get(url(stay.id)))


def test_the_operator_sees_the_passport_image_never_cached(db, client, login, desk, stay):
    rows = register.save_guests(stay.id, [resident(0), VISITOR], entered_by_id=None, now=NOW)
    register.save_passport_image(rows[1].id, image_bytes("PNG"), NOW)
    db.session.commit()
    login(desk)

    response = client.get(f"{url(stay.id)}/{rows[1].id}/passport")

    assert response.status_code == 200
    assert response.data == image_bytes("PNG")
    assert response.headers["Cache-Control"] == "no-store, private"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert reads(db) == [(stay.id, desk.id, "passport")]
    assert f"{url(stay.id)}/{rows[1].id}/passport" in text(client.get(url(stay.id)))


def test_another_organisation_reaches_nothing(db, client, login, make_user, make_unit, stay, guest):
    rows = register.save_guests(stay.id, [resident(0), VISITOR], entered_by_id=None, now=NOW)
    register.save_passport_image(rows[1].id, image_bytes(), NOW)
    db.session.commit()
    theirs_room = make_unit()
    stranger = make_user(Role.OPERATOR, operator=theirs_room.facility.operator)
    theirs = services.book_stay(
        guest, services.StayRequest(theirs_room.id, days(0), days(1), 1), NOW
    )
    db.session.commit()
    fill_register(theirs)
    their_line = register.guests_of(theirs.id)[0].id

    login(stranger)
    for path in (url(stay.id), f"{url(stay.id)}/{rows[1].id}/passport", url(2147483648)):
        assert client.get(path).status_code == 404, path
    assert client.post(url(stay.id), data=fields(0, **LOCAL)).status_code == 404
    # Their own stay, but the image of a guest of ours: 404 too.
    assert client.get(f"{url(theirs.id)}/{rows[1].id}/passport").status_code == 404
    assert client.get(f"{url(theirs.id)}/{their_line}/passport").status_code == 404  # no image
    assert [g.details for g in register.guests_of(stay.id)] == [resident(0), VISITOR]
    assert reads(db) == []


def test_employees_never_reach_the_operators_page(db, client, login, guest, stay):
    login(guest)
    assert client.get(url(stay.id)).status_code == 403


# --- check-in waits for the register ----------------------------------------------------------


def test_check_in_is_refused_until_the_register_is_complete(db, desk, stay):
    with pytest.raises(front_desk.FrontDeskError) as refused:
        front_desk.check_in(desk, stay.id, NOW)
    db.session.rollback()
    assert refused.value.code == "register_incomplete"
    with force_locale("en"):
        assert "0 of 2 guests registered" in str(refused.value.message)

    rows = register.save_guests(stay.id, [resident(0), VISITOR], entered_by_id=None, now=NOW)
    db.session.commit()
    with pytest.raises(front_desk.FrontDeskError) as refused:
        front_desk.check_in(desk, stay.id, NOW)
    db.session.rollback()
    with force_locale("en"):
        assert "passport image of guest 2" in str(refused.value.message)
    assert db.session.get(Booking, stay.id).status == BookingStatus.CONFIRMED

    register.save_passport_image(rows[1].id, image_bytes(), NOW)
    db.session.commit()
    checked = front_desk.check_in(desk, stay.id, NOW)
    db.session.commit()

    assert checked.status == BookingStatus.CHECKED_IN
    assert (checked.identity_checked_by_id, checked.identity_checked_at) == (desk.id, NOW)
    assert reads(db) == [(stay.id, desk.id, "check")]
