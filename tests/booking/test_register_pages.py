"""The employee's guest register page (/stays/<id>/guests) and passport images: one
block per guest, prefilled; a save with a foreign companion and a passport image;
refusals field by field with nothing saved; until check-out only; tenant walls (somebody
else's stay, image or guest: 404); every read and write in the access log.

SQLite and PostgreSQL (the ``app`` fixture). NOW is 2026-12-01 12:00 in Tokyo."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.models import Role
from booking import cancellation, front_desk, services
from booking.models import Booking
from lodging import register
from lodging.models import PassportImage, RegisterRead
from tests.conftest import NOW, days
from tests.register_helpers import VISITOR, fill_register, image_bytes, resident


def url(booking_id: int) -> str:
    return f"/stays/{booking_id}/guests"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def guest_fields(n: int, **values) -> dict:
    """The form fields of block ``n`` (0-based)."""
    return {f"guests-{n}-{name}": value for name, value in values.items()}


LOCAL = {
    "name": "山田 太郎",
    "address": "〒100-0001 東京都千代田区千代田1-1",
    "phone": "03-1234-5678",
}
FOREIGN = {
    "name": "Jane O'Neil",
    "address": "221B Baker Street, London NW1 6XE",
    "phone": "+44 20 7946 0958",
    "lives_abroad": "y",
    "nationality": "GB",
    "passport_number": "123456789",
}


def upload(data: bytes, name: str = "passport.png") -> tuple:
    return (io.BytesIO(data), name)


def reads(db) -> list[tuple]:
    db.session.rollback()
    rows = db.session.execute(
        select(RegisterRead.booking_id, RegisterRead.user_id, RegisterRead.action).order_by(
            RegisterRead.id
        )
    )
    return [tuple(r) for r in rows]


@pytest.fixture
def employee(make_employee):
    return make_employee(name="山田 太郎", locale="en")


@pytest.fixture
def room(make_unit):
    return make_unit(capacity=3)


@pytest.fixture
def stay(db, employee, room) -> Booking:
    booking = services.book_stay(employee, services.StayRequest(room.id, days(3), days(5), 2), NOW)
    db.session.commit()
    return booking


# --- the page ------------------------------------------------------------------------------


def test_the_page_has_a_block_per_guest_with_the_booker_first(db, client, login, employee, stay):
    login(employee)
    response = client.get(url(stay.id))

    assert response.status_code == 200
    page = text(response)
    assert page.count('data-testid="guest-') == 2
    assert 'value="山田 太郎"' in page  # the booker's name, before anything is saved
    assert "Guest 1: the booker" in page and "Guest 2" in page
    assert "0 of 2 guests registered" in page
    assert 'enctype="multipart/form-data"' in page
    assert page.count('type="file"') == 2
    # Every input has its label (keyboard and screen readers), and no inline style (CSP).
    for field_id in re.findall(r'<(?:input|select)[^>]* id="(guests-[^"]+)"', page):
        assert f'for="{field_id}"' in page, field_id
    assert "style=" not in page
    assert reads(db) == [(stay.id, employee.id, "view")]


def test_saving_two_guests_with_a_foreign_companion_and_a_passport_image(
    db, client, login, employee, stay
):
    login(employee)
    picture = image_bytes("JPEG")
    response = client.post(
        url(stay.id),
        data={
            **guest_fields(0, **LOCAL),
            **guest_fields(1, **FOREIGN, passport=upload(picture, "scan.jpg")),
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 303
    assert response.location.endswith(url(stay.id))
    db.session.expire_all()
    lines = register.guests_of(stay.id)
    assert [g.details.name for g in lines] == ["山田 太郎", "Jane O'Neil"]
    assert lines[0].details.phone == "+81312345678"  # stored as E.164
    assert (lines[1].details.nationality, lines[1].details.passport_number) == ("GB", "123456789")
    assert register.passport_image(lines[1].id) == (picture, "image/jpeg")
    assert register.missing(stay.id, 2) == []
    assert reads(db) == [(stay.id, employee.id, "edit")]

    page = text(client.get(response.location))
    assert "The guest register has been saved." in page
    assert "The guest register is complete." in page
    assert 'value="03-1234-5678"' in page  # shown as people write it
    assert f"/stays/{stay.id}/guests/{lines[1].id}/passport" in page


def test_a_guest_left_empty_is_saved_as_not_registered_yet(db, client, login, employee, stay):
    login(employee)
    response = client.post(
        url(stay.id), data=guest_fields(0, **LOCAL), content_type="multipart/form-data"
    )

    assert response.status_code == 303
    assert len(register.guests_of(stay.id)) == 1
    page = text(client.get(response.location))
    assert "Still missing before check-in: 1 of 2 guests registered." in page


def test_a_foreign_guest_without_the_image_is_saved_and_the_image_asked_for(
    db, client, login, employee, stay
):
    login(employee)
    client.post(
        url(stay.id),
        data={**guest_fields(0, **LOCAL), **guest_fields(1, **FOREIGN)},
        content_type="multipart/form-data",
    )
    page = text(client.get(url(stay.id)))
    assert "passport image of guest 2" in page


def test_bad_input_is_refused_field_by_field_and_nothing_is_saved(
    db, client, login, employee, stay
):
    fill_register(stay, guests=1)
    login(employee)
    before = register.guests_of(stay.id)

    response = client.post(
        url(stay.id),
        data={
            **guest_fields(0, name="Taro 2", address="東京", phone="12345"),
            **guest_fields(1, **{**FOREIGN, "passport_number": "12", "nationality": "XX"}),
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 422
    page = text(response)
    assert "Nothing was saved" in page
    for message in (
        "A name cannot contain digits.",
        "Enter the full postal address.",
        "such as 03-1234-5678",
        "Choose a nationality from the list.",
    ):
        assert message in page
    assert 'value="Taro 2"' in page  # what was typed stays on the page
    assert 'aria-invalid="true"' in page
    assert register.guests_of(stay.id) == before


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (image_bytes("GIF"), "passport.gif", "JPEG, PNG or WebP"),
        (b"%PDF-1.4 a scan", "passport.pdf", "JPEG, PNG or WebP"),
        (b"", "empty.png", "The passport image file is empty."),
        (b"", "", None),  # no file chosen: no image given
    ],
)
def test_a_passport_file_that_is_not_an_image_is_refused(
    db, client, login, employee, stay, data, name, says
):
    login(employee)
    response = client.post(
        url(stay.id),
        data={
            **guest_fields(0, **LOCAL),
            **guest_fields(1, **FOREIGN, passport=upload(data, name)),
        },
        content_type="multipart/form-data",
    )
    if says is None:
        assert response.status_code == 303
        assert [g.has_passport_image for g in register.guests_of(stay.id)] == [False, False]
        return
    assert response.status_code == 422
    assert says in text(response)
    assert register.guests_of(stay.id) == []
    assert db.session.scalar(select(PassportImage.id)) is None


def test_an_image_for_a_guest_who_needs_no_passport_is_refused(db, client, login, employee, stay):
    login(employee)
    response = client.post(
        url(stay.id),
        data=guest_fields(0, **LOCAL, passport=upload(image_bytes())),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Only a foreign guest who lives abroad needs a passport image." in text(response)
    assert register.guests_of(stay.id) == []


def test_a_body_past_the_upload_cap_saves_nothing(db, client, login, employee, stay, monkeypatch):
    from lodging import passport

    monkeypatch.setattr(passport, "MAX_PASSPORT_BYTES", 2000)
    login(employee)
    response = client.post(
        url(stay.id),
        data={
            **guest_fields(0, **LOCAL),
            **guest_fields(1, **FOREIGN, passport=upload(b"x" * 800_000)),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Nothing was saved: upload at most" in text(response)
    assert register.guests_of(stay.id) == []


def test_the_form_needs_the_csrf_token(app, db, client, login, employee, stay):
    login(employee)
    app.config["WTF_CSRF_ENABLED"] = True
    forged = client.post(url(stay.id), data=guest_fields(0, **LOCAL))
    assert forged.status_code == 400
    assert register.guests_of(stay.id) == []

    token = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', text(client.get(url(stay.id))))[1]
    real = client.post(url(stay.id), data={**guest_fields(0, **LOCAL), "csrf_token": token})
    assert real.status_code == 303
    assert len(register.guests_of(stay.id)) == 1


# --- until check-out -------------------------------------------------------------------------


def test_a_cancelled_stays_register_is_shown_but_not_changed(db, client, login, employee, stay):
    fill_register(stay)
    cancellation.cancel_booking(employee, stay.id, NOW)
    db.session.commit()
    login(employee)

    page = text(client.get(url(stay.id)))
    assert "can no longer be changed" in page and "<form" not in page.split("</header>")[-1]
    assert "山田 太郎" in page

    response = client.post(
        url(stay.id), data=guest_fields(0, **{**LOCAL, "name": "別人"}), follow_redirects=True
    )
    assert "can no longer be changed" in text(response)
    assert register.guests_of(stay.id)[0].details.name == "山田 太郎"


def test_the_register_can_be_corrected_in_the_house_until_check_out(
    app, db, client, login, employee, stay, room, make_user
):
    desk = make_user(Role.OPERATOR, operator=room.facility.operator)
    fill_register(stay)
    front_desk.check_in(desk, stay.id, NOW + timedelta(days=3))
    db.session.commit()

    app.config["FIXED_NOW"] = NOW + timedelta(days=4)  # the last night
    login(employee)
    changed = {**guest_fields(0, **LOCAL), **guest_fields(1, **{**LOCAL, "name": "山田 花子"})}
    assert client.post(url(stay.id), data=changed).status_code == 303
    assert register.guests_of(stay.id)[1].details.name == "山田 花子"

    app.config["FIXED_NOW"] = NOW + timedelta(days=5)  # check-out day
    login(employee)
    response = client.post(url(stay.id), data=guest_fields(0, **LOCAL), follow_redirects=True)
    assert "can no longer be changed" in text(response)
    assert len(register.guests_of(stay.id)) == 2


def test_a_satellite_office_stay_needs_no_register(
    db, client, login, employee, make_facility, make_unit
):
    office = make_unit(facility=make_facility(kind="office"))
    booking = services.book_stay(
        employee, services.StayRequest(office.id, days(3), days(4), 1), NOW
    )
    db.session.commit()
    login(employee)

    page = text(client.get(url(booking.id)))
    assert "needs no guest register" in page and "<form" not in page.split("</header>")[-1]
    response = client.post(url(booking.id), data=guest_fields(0, **LOCAL), follow_redirects=True)
    assert "can no longer be changed" in text(response)
    assert register.guests_of(booking.id) == []
    assert reads(db) == []


# --- passport images and tenant walls -----------------------------------------------------------


@pytest.fixture
def with_image(db, stay):
    rows = register.save_guests(stay.id, [resident(0), VISITOR], entered_by_id=None, now=NOW)
    register.save_passport_image(rows[1].id, image_bytes("PNG"), NOW)
    db.session.commit()
    return rows[1].id


def test_the_booker_sees_the_passport_image_never_cached(
    db, client, login, employee, stay, with_image
):
    login(employee)
    response = client.get(f"{url(stay.id)}/{with_image}/passport")

    assert response.status_code == 200
    assert response.data == image_bytes("PNG")
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store, private"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert reads(db) == [(stay.id, employee.id, "passport")]


def test_nobody_else_reaches_the_register_or_its_images(
    db, client, login, make_employee, make_user, stay, with_image, employee
):
    colleague = make_employee(company=employee.company)
    admin = make_user(Role.COMPANY_ADMIN, company=employee.company)
    other_operator = make_user(Role.OPERATOR)
    other_stay = services.book_stay(
        colleague, services.StayRequest(stay.unit_id, days(8), days(9), 1), NOW
    )
    db.session.commit()
    fill_register(other_stay)
    other_line = register.guests_of(other_stay.id)[0].id

    for outsider in (colleague, admin, other_operator):
        login(outsider)
        for path in (url(stay.id), f"{url(stay.id)}/{with_image}/passport"):
            assert client.get(path).status_code == 404, (outsider.role, path)
        post = client.post(url(stay.id), data=guest_fields(0, **LOCAL))
        assert post.status_code == 404
        client.post("/logout")

    login(employee)
    # A guest of another stay, a line without an image, ids out of range: 404 alike.
    lines = register.guests_of(stay.id)
    for path in (
        f"{url(stay.id)}/{other_line}/passport",
        f"{url(stay.id)}/{lines[0].id}/passport",
        f"{url(stay.id)}/2147483648/passport",
        f"{url(other_stay.id)}/{other_line}/passport",
        url(2147483648),
    ):
        assert client.get(path).status_code == 404, path
    assert [g.details for g in register.guests_of(stay.id)] == [resident(0), VISITOR]
    assert reads(db) == []  # refused reads read nothing
