"""The operator console through its pages: what an operator sees, posts and downloads.

The operator here reads the console in English (their own choice, ``locale="en"``),
so flash texts are stable whether or not the Japanese catalogue has been compiled;
one test checks that Japanese is what an operator sees by default.
"""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from accounts.models import Role
from availability.models import Block, Occupancy
from booking import cancellation, front_desk
from facilities import photos
from facilities.models import Facility, FacilityPhoto, Unit
from tests.conftest import NOW, PASSWORD, TODAY, days
from tests.facilities.test_services import image_bytes, png_header, stay
from tests.register_helpers import fill_register

# --- helpers ------------------------------------------------------------------------------


def flashes(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)
    ]


def follow(client, response):
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def count(db, model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def noise_png(megabytes: int) -> bytes:
    """A real PNG of random pixels, so it does not compress below ``megabytes``."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5) + 1
    out = BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        out, "PNG", compress_level=0
    )
    return out.getvalue()


FACILITY_FORM = {
    "name_ja": "蓼科 森の保養所",
    "name_en": "Tateshina Forest Retreat",
    "kind": "both",
    "prefecture": "20",
    "municipality": "茅野市",
    "address": "北山 4035",
    "latitude": "36.1042",
    "longitude": "138.3125",
    "wifi_mbps": "300",
    "work_desks": "6",
    "onsen": "y",
    "kitchen": "y",
    "check_in_time": "15:00",
    "check_out_time": "10:30",
    "min_nights": "2",
    "max_nights": "21",
    "description_ja": "森の中の静かな宿です。",
    "description_en": "A quiet house in the forest.",
}


@pytest.fixture
def console(app, db, client, make_user, make_facility, make_unit, tmp_path):
    """An operator (reading English) signed in, with one facility of two rooms."""
    app.instance_path = str(tmp_path / "instance")
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, name_ja="白樺の宿", name_en="Birch Inn")
    room_a = make_unit(facility=facility, name="101 和室", base_price=12000)
    room_b = make_unit(facility=facility, name="102 洋室", base_price=9000)
    response = client.post("/login", data={"email": operator.email, "password": PASSWORD})
    assert response.status_code == 302
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        a=room_a,
        b=room_b,
        photos=Path(app.instance_path) / "photos",
    )


# --- dashboard ----------------------------------------------------------------------------


def test_dashboard_lists_own_facilities_with_todays_counts(
    db, client, console, make_facility, make_unit, make_employee
):
    stay(db, make_employee(), console.a, days(0), days(3))
    stay(db, make_employee(), console.b, days(-2), days(0))
    other = make_facility(name_en="Someone Else's House")
    make_unit(facility=other)

    response = client.get("/operator/")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "Birch Inn" in page and "Someone Else" not in page
    card = page[page.index(f'data-facility-id="{console.facility.id}"') :]
    assert re.search(r'data-testid="arrivals">1<', card)
    assert re.search(r'data-testid="departures">1<', card)
    assert re.search(r'data-testid="in-house">1<', card)
    assert f"/operator/facilities/{console.facility.id}/today" in card


def test_the_console_reads_japanese_by_default(db, client, console):
    console.operator.locale = None
    db.session.commit()

    page = client.get(f"/operator/facilities/{console.facility.id}/today").get_data(as_text=True)

    assert '<html lang="ja">' in page
    assert "2026年12月1日(火)" in page


# --- facilities ---------------------------------------------------------------------------


def test_operator_creates_a_facility(db, client, console):
    response = client.post("/operator/facilities/new", data=FACILITY_FORM)
    page = follow(client, response)

    assert "The facility has been created. Add its rooms next." in flashes(page)
    created = db.session.scalar(
        select(Facility).where(Facility.name_en == FACILITY_FORM["name_en"])
    )
    assert created.operator_id == console.operator.operator_id
    assert (created.prefecture, created.kind, created.wifi_mbps) == (20, "both", 300)
    assert (created.onsen, created.kitchen, created.parking) == (True, True, False)
    assert (created.min_nights, created.max_nights, created.active) == (2, 21, True)
    assert created.check_out_time.strftime("%H:%M") == "10:30"
    assert created.latitude == pytest.approx(36.1042)
    assert response.headers["Location"].endswith(f"/operator/facilities/{created.id}")


BAD_FACILITY = [
    ({"name_ja": ""}, "name_ja"),
    ({"name_en": "x" * 201}, "name_en"),
    ({"kind": "castle"}, "kind"),
    ({"prefecture": "0"}, "prefecture"),
    ({"prefecture": "48"}, "prefecture"),
    ({"prefecture": "tokyo"}, "prefecture"),
    ({"latitude": "91"}, "latitude"),
    ({"latitude": "nan"}, "latitude"),
    ({"latitude": "inf"}, "latitude"),
    ({"latitude": "1e999"}, "latitude"),
    ({"latitude": ""}, "latitude"),
    ({"longitude": "-180.5"}, "longitude"),
    ({"longitude": "東経138度"}, "longitude"),
    ({"wifi_mbps": "-1"}, "wifi_mbps"),
    ({"work_desks": "99999999999999999999"}, "work_desks"),
    ({"min_nights": "0"}, "min_nights"),
    ({"min_nights": "5", "max_nights": "3"}, "max_nights"),
    ({"max_nights": "10000"}, "max_nights"),
    ({"check_in_time": "25:00"}, "check_in_time"),
    ({"check_out_time": "garbage"}, "check_out_time"),
    ({"description_en": "x" * 5001}, "description_en"),
]


@pytest.mark.parametrize(("change", "field"), BAD_FACILITY, ids=[f for _c, f in BAD_FACILITY])
def test_bad_facility_input_is_a_form_error_and_nothing_is_created(
    db, client, console, change, field
):
    before = count(db, Facility)

    response = client.post("/operator/facilities/new", data={**FACILITY_FORM, **change})
    page = response.get_data(as_text=True)

    assert response.status_code == 400
    assert 'data-testid="form-error"' in page
    assert re.search(rf'name="{field}"[^>]*>.*?<p class="field-error">', page, re.S), field
    assert count(db, Facility) == before


def test_operator_edits_a_facility_and_bad_input_changes_nothing(db, client, console):
    url = f"/operator/facilities/{console.facility.id}/edit"
    form = client.get(url).get_data(as_text=True)
    assert 'value="白樺の宿"' in form

    bad = client.post(url, data={**FACILITY_FORM, "latitude": "123"})
    assert bad.status_code == 400
    db.session.refresh(console.facility)
    assert console.facility.name_ja == "白樺の宿"

    page = follow(client, client.post(url, data={**FACILITY_FORM, "name_ja": "白樺の宿 別館"}))
    assert "The facility has been saved." in flashes(page)
    db.session.refresh(console.facility)
    assert console.facility.name_ja == "白樺の宿 別館"
    assert console.facility.min_nights == 2


def test_closing_a_facility_hides_it_from_employees_and_keeps_its_stays(
    app, db, client, console, make_employee
):
    guest = make_employee()
    booked = stay(db, guest, console.a, days(10), days(12))
    url = f"/operator/facilities/{console.facility.id}"

    page = follow(client, client.post(f"{url}/deactivate"))

    assert "The facility is closed: it no longer appears in search." in flashes(page)
    assert any("1 booked stay is still to come" in text for text in flashes(page))
    assert 'data-testid="facility-closed"' in page
    db.session.refresh(console.facility)
    assert console.facility.active is False
    employee = app.test_client()
    employee.post("/login", data={"email": guest.email, "password": PASSWORD})
    assert employee.get(f"/facilities/{console.facility.id}").status_code == 404
    db.session.refresh(booked)
    assert booked.status == "confirmed"

    page = follow(client, client.post(f"{url}/reactivate"))
    assert "The facility is open for booking again." in flashes(page)
    assert employee.get(f"/facilities/{console.facility.id}").status_code == 200


# --- rooms --------------------------------------------------------------------------------


def test_operator_adds_edits_and_takes_a_room_off_sale(db, client, console):
    facility_id = console.facility.id
    new = client.post(
        f"/operator/facilities/{facility_id}/units/new",
        data={"name": "201 離れ", "capacity": "4", "base_price": "18000"},
    )
    assert "Room 201 離れ has been added." in flashes(follow(client, new))
    room = db.session.scalar(select(Unit).where(Unit.name == "201 離れ"))
    assert (room.facility_id, room.capacity, room.base_price, room.active) == (
        facility_id,
        4,
        18000,
        True,
    )

    edit = client.post(
        f"/operator/units/{room.id}/edit",
        data={"name": "201 離れ", "capacity": "5", "base_price": "0"},
    )
    assert "Room 201 離れ has been saved." in flashes(follow(client, edit))
    db.session.refresh(room)
    assert (room.capacity, room.base_price) == (5, 0)

    off = follow(client, client.post(f"/operator/units/{room.id}/deactivate"))
    assert "Room 201 離れ is off sale." in flashes(off)
    db.session.refresh(room)
    assert room.active is False
    on = follow(client, client.post(f"/operator/units/{room.id}/reactivate"))
    assert "Room 201 離れ is on sale again." in flashes(on)


BAD_ROOMS = [
    ({"name": ""}, "name", 400),
    ({"name": "x" * 101}, "name", 400),
    ({"capacity": "0"}, "capacity", 400),
    ({"capacity": "51"}, "capacity", 400),
    ({"capacity": "two"}, "capacity", 400),
    ({"base_price": "-1"}, "base_price", 400),
    ({"base_price": "11000.5"}, "base_price", 400),
    ({"base_price": "12345"}, "base_price", 400),  # prices go in steps of ¥100
    ({"base_price": "99999999999999999999"}, "base_price", 400),
    ({"base_price": ""}, "base_price", 400),
    ({"name": "102 洋室"}, None, 422),  # the other room's name
]


@pytest.mark.parametrize(
    ("change", "field", "status"), BAD_ROOMS, ids=[str(i) for i in range(len(BAD_ROOMS))]
)
def test_bad_room_input_is_refused_and_changes_nothing(db, client, console, change, field, status):
    data = {"name": "101 和室", "capacity": "2", "base_price": "12000", **change}

    response = client.post(f"/operator/units/{console.a.id}/edit", data=data)
    added = client.post(f"/operator/facilities/{console.facility.id}/units/new", data=data)

    assert (response.status_code, added.status_code) == (status, status)
    page = response.get_data(as_text=True)
    if field:
        assert re.search(rf'name="{field}"[^>]*>.*?<p class="field-error">', page, re.S)
    else:
        assert "This facility already has a room with that name." in page
    db.session.refresh(console.a)
    assert (console.a.name, console.a.capacity, console.a.base_price) == ("101 和室", 2, 12000)
    assert count(db, Unit) == 2


# --- photos -------------------------------------------------------------------------------


def upload(client, facility_id: int, data: bytes, name: str = "photo.jpg", caption: str = ""):
    return client.post(
        f"/operator/facilities/{facility_id}/photos",
        data={"photo": (BytesIO(data), name), "caption": caption},
        content_type="multipart/form-data",
    )


def test_operator_uploads_sees_and_deletes_a_photo(app, db, client, console, make_employee):
    data = image_bytes("JPEG", (120, 80))

    page = follow(client, upload(client, console.facility.id, data, "外観.jpg", "冬の外観"))

    assert "The photo has been added." in flashes(page)
    photo = db.session.scalar(select(FacilityPhoto))
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", photo.filename)
    assert (photo.width, photo.height, photo.caption) == (120, 80, "冬の外観")
    assert (console.photos / photo.filename).read_bytes() == data
    # Pages show the resized copy (one, as wide as the picture), never the original.
    copy_url = f"/photos/{photo.filename.removesuffix('.jpg')}-120.webp"
    assert f'src="{copy_url}"' in page

    url = f"/photos/{photo.filename}"
    with client.get(url) as served:  # the original, to its own operator only
        assert (served.status_code, served.mimetype, served.data) == (200, "image/jpeg", data)
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "private" in served.headers["Cache-Control"]
    # Any signed-in member sees the copies of an open facility's photos (for the
    # facility pages), not the original (it may carry where it was taken).
    employee = app.test_client()
    employee.post("/login", data={"email": make_employee().email, "password": PASSWORD})
    with employee.get(copy_url) as seen:
        assert (seen.status_code, seen.mimetype) == (200, "image/webp")
    with employee.get(url) as original:
        assert original.status_code == 404
    # ... and the employee's facility page shows it.
    facility_page = employee.get(f"/facilities/{console.facility.id}").get_data(as_text=True)
    assert f'src="{copy_url}"' in facility_page and 'alt="冬の外観"' in facility_page
    assert url not in facility_page

    gone = follow(client, client.post(f"/operator/photos/{photo.id}/delete"))
    assert "The photo has been deleted." in flashes(gone)
    assert count(db, FacilityPhoto) == 0
    assert not console.photos.exists() or list(console.photos.iterdir()) == []
    assert client.get(url).status_code == 404
    assert client.get(copy_url).status_code == 404


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"just text, not a picture\n", "photo.jpg", "This file is not a JPEG, PNG or WebP image"),
        (png_header(100_000, 100_000), "bomb.png", "This image has too many pixels."),
        (image_bytes("GIF"), "anim.gif", "Upload a JPEG, PNG or WebP image."),
        (b"", "empty.jpg", "The file is empty."),
    ],
    ids=["text-as-jpg", "png-bomb", "gif", "empty"],
)
def test_a_file_that_is_not_a_photo_is_refused(db, client, console, data, name, message):
    page = follow(client, upload(client, console.facility.id, data, name))

    # Each refused file is named, so that one of several uploaded at once is found.
    expected = f"“{name}” was not added: {message}"
    assert any(text.startswith(expected) for text in flashes(page)), flashes(page)
    assert count(db, FacilityPhoto) == 0
    assert not console.photos.exists() or list(console.photos.iterdir()) == []


def test_a_form_without_a_file_asks_for_one(db, client, console):
    response = client.post(
        f"/operator/facilities/{console.facility.id}/photos",
        data={"caption": "no file"},
        content_type="multipart/form-data",
    )
    assert "Choose a photo to upload." in flashes(follow(client, response))
    assert count(db, FacilityPhoto) == 0


def test_a_six_megabyte_photo_is_refused_with_a_message(db, client, console):
    data = noise_png(6)
    assert len(data) > 6 * 1024 * 1024

    # A body built by hand: the test client would spool a body this big to a temporary
    # file that nobody closes when the app refuses to read it.
    boundary = "engawa-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="huge.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        f"/operator/facilities/{console.facility.id}/photos",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    page = follow(client, response)

    assert "“huge.png” was not added: Photos can be at most 5 MB." in flashes(page)
    assert count(db, FacilityPhoto) == 0
    assert not console.photos.exists() or list(console.photos.iterdir()) == []


def test_a_photo_just_over_the_limit_is_refused_by_the_service(app, db, client, console):
    app.config["PHOTO_MAX_BYTES"] = 2048
    data = image_bytes("PNG", (10, 10)) + b"\0" * 2100  # under the request cap, over the photo cap

    page = follow(client, upload(client, console.facility.id, data, "pad.png"))

    assert "“pad.png” was not added: Photos can be at most 1 MB." in flashes(page)
    assert count(db, FacilityPhoto) == 0
    assert not console.photos.exists() or list(console.photos.iterdir()) == []


@pytest.mark.parametrize("failing", ["before_flush", "before_commit"], ids=["flush", "commit"])
def test_a_failed_upload_leaves_no_photo_file(db, client, console, monkeypatch, failing):
    """The database refuses the row (flush) or the transaction (commit): the upload
    answers an error and leaves neither a row nor a file behind."""
    real_save = photos.save_photo

    def refuse(*_args):
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    def save_with_a_failure(*args, **kwargs):
        if failing == "before_flush":
            event.listen(db.session(), failing, refuse, once=True)
            return real_save(*args, **kwargs)
        photo = real_save(*args, **kwargs)
        assert (console.photos / photo.filename).exists()  # written before the commit
        event.listen(db.session(), failing, refuse, once=True)
        return photo

    monkeypatch.setattr(photos, "save_photo", save_with_a_failure)
    response = upload(client, console.facility.id, image_bytes("PNG"), "a.png", "外観")

    assert response.status_code == 500
    assert count(db, FacilityPhoto) == 0
    assert not console.photos.exists() or list(console.photos.iterdir()) == []


@pytest.mark.parametrize(
    "name", ["../instance/engawa.db", "..%2F..%2Fetc%2Fpasswd", "abc.jpg", "A" * 32 + ".jpg"]
)
def test_photo_serving_takes_only_stored_random_names(client, console, name):
    assert client.get(f"/photos/{name}").status_code == 404


# --- closed dates -------------------------------------------------------------------------


def close(client, facility_id, unit="all", first=5, last=7, reason="maintenance", note=""):
    first = days(first).isoformat() if isinstance(first, int) else first
    last = days(last).isoformat() if isinstance(last, int) else last
    return client.post(
        f"/operator/facilities/{facility_id}/close",
        data={
            "unit": str(unit),
            "first_night": first,
            "last_night": last,
            "reason": reason,
            "note": note,
        },
    )


def closed_nights(db, unit_id: int) -> list:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(Occupancy.night)
            .where(Occupancy.unit_id == unit_id, Occupancy.block_id.is_not(None))
            .order_by(Occupancy.night)
        )
    )


def test_operator_closes_a_room_and_sees_it_on_the_calendar(db, client, console):
    response = close(client, console.facility.id, console.a.id, 5, 7, "maintenance", "畳替え")

    assert response.headers["Location"].endswith(
        f"/operator/facilities/{console.facility.id}/calendar?month=2026-12"
    )
    page = follow(client, response)
    assert "Closed the nights of Sun 6 Dec to Tue 8 Dec for 101 和室." in flashes(page)
    assert closed_nights(db, console.a.id) == [days(5), days(6), days(7)]
    assert closed_nights(db, console.b.id) == []
    row = page[page.index(f'data-unit-id="{console.a.id}"') :].split('<div class="tape-row')[0]
    bar = re.search(r'<a class="bar closed [^"]*"[^>]*>', row).group(0)
    assert 'data-reason="maintenance"' in bar and "Maintenance: 畳替え" in bar
    assert f'data-start="{days(5)}" data-end="{days(8)}"' in bar
    assert 'data-day="2026-12-09"' in row


def test_operator_closes_a_whole_facility_and_reopens_it(db, client, console):
    page = follow(client, close(client, console.facility.id, "all", 3, 4, "private_use"))
    assert "Closed the nights of Fri 4 Dec to Sat 5 Dec for 2 rooms." in flashes(page)
    assert closed_nights(db, console.b.id) == [days(3), days(4)]

    listing = client.get(f"/operator/facilities/{console.facility.id}/close")
    text = listing.get_data(as_text=True)
    [block_id] = re.findall(r'<li data-block-id="(\d+)"', text)
    assert "Private use" in text and "101 和室, 102 洋室" in text

    reopened = follow(client, client.post(f"/operator/blocks/{block_id}/reopen"))
    assert "The nights are open again (2 rooms)." in flashes(reopened)
    assert closed_nights(db, console.a.id) == [] and closed_nights(db, console.b.id) == []
    assert count(db, Block) == 0


def test_closing_nights_a_guest_has_booked_is_refused_with_a_clear_message(
    db, client, console, make_employee
):
    stay(db, make_employee(), console.b, days(6), days(8))

    response = close(client, console.facility.id, "all", 5, 7)
    page = response.get_data(as_text=True)

    assert response.status_code == 409
    assert "Guests are booked on 102 洋室" in page
    assert "nothing was closed" in page
    assert count(db, Block) == 0
    assert closed_nights(db, console.a.id) == []


# Closing reaches from today to MAX_CLOSE_AHEAD_DAYS (1,098 days: 2029-12-03) ahead.
HORIZON = "Choose a date from Tue 1 Dec 2026 to Mon 3 Dec 2029."
BAD_CLOSE = [
    ("", 7, 400, "This field is required."),
    ("garbage", 7, 400, "Not a valid date value."),
    ("2026/12/06", 7, 400, "Not a valid date value."),
    ("2026-02-30", 7, 400, "Not a valid date value."),
    (7, 5, 400, "The last night cannot be before the first night."),
    (-1, 2, 400, HORIZON),  # yesterday: just outside the horizon
    (0, 400, 422, "Close at most 366 nights at a time."),
    (1098, 1099, 400, HORIZON),  # the last night just outside the horizon
    ("9999-12-30", "9999-12-31", 400, HORIZON),
    ("0001-01-01", "0001-01-02", 400, HORIZON),
    ("0001-01-01", "9999-12-31", 400, HORIZON),
    ("10000-01-01", 2, 400, "Not a valid date value."),
]


@pytest.mark.parametrize(
    ("first", "last", "status", "message"), BAD_CLOSE, ids=[str(b[:2]) for b in BAD_CLOSE]
)
def test_bad_close_dates_are_refused_and_close_nothing(
    db, client, console, first, last, status, message
):
    response = close(client, console.facility.id, console.a.id, first, last)

    page = response.get_data(as_text=True)
    assert response.status_code == status, page[:2000]
    assert 'data-testid="form-error"' in page
    assert message in page
    assert count(db, Block) == 0


@pytest.mark.parametrize(("first", "last"), [(0, 0), (1097, 1098)], ids=["today", "last-day"])
def test_dates_just_inside_the_horizon_are_closed(db, client, console, first, last):
    response = close(client, console.facility.id, console.a.id, first, last)

    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert closed_nights(db, console.a.id) == [days(n) for n in range(first, last + 1)]


@pytest.mark.parametrize(
    "change", [{"reason": "external"}, {"reason": "party"}, {"unit": "999999"}, {"unit": "x"}]
)
def test_close_form_takes_only_its_own_choices(db, client, console, change):
    data = {
        "unit": str(console.a.id),
        "first_night": days(5).isoformat(),
        "last_night": days(6).isoformat(),
        "reason": "maintenance",
        **change,
    }
    response = client.post(f"/operator/facilities/{console.facility.id}/close", data=data)
    assert response.status_code == 400
    assert count(db, Block) == 0


# --- the daily pages ----------------------------------------------------------------------


def test_today_page_lists_arrivals_departures_and_staying_guests(
    db, client, console, make_employee, make_company
):
    guest = make_employee(name="佐藤 健", company=make_company(name="Globex 株式会社"))
    arriving = stay(db, guest, console.a, days(0), days(2), guests=2)
    leaving = stay(db, make_employee(), console.b, days(-3), days(0))

    page = client.get(f"/operator/facilities/{console.facility.id}/today").get_data(as_text=True)

    today = page[page.index(f'data-day="{TODAY.isoformat()}"') :].split("</section>")[0]
    arrivals = today[today.index('data-testid="arrivals"') :].split("</ul>")[0]
    departures = today[today.index('data-testid="departures"') :].split("</ul>")[0]
    assert f'data-booking-id="{arriving.id}"' in arrivals
    assert "佐藤 健" in arrivals and "Globex 株式会社" in arrivals and "2 guests" in arrivals
    assert f'data-booking-id="{leaving.id}"' in departures
    assert len(re.findall(r'<section class="card day-ops', page)) == 8
    tomorrow = page[page.index(f'data-day="{days(1).isoformat()}"') :].split("</section>")[0]
    staying = tomorrow[tomorrow.index('data-testid="staying"') :].split("</ul>")[0]
    assert f'data-booking-id="{arriving.id}"' in staying
    assert "@" not in today  # no e-mail addresses on the front desk's page


def test_housekeeping_board_turns_dirty_at_check_out_and_staff_mark_it(
    app, db, client, console, make_employee
):
    stay(db, make_employee(), console.a, days(-2), days(0))  # leaves this morning at 10:00
    url = f"/operator/facilities/{console.facility.id}/housekeeping"

    def status_of(page: str, unit) -> str:
        return re.search(rf'data-unit-id="{unit.id}" data-status="(\w+)"', page).group(1)

    page = client.get(url).get_data(as_text=True)  # NOW is 12:00 in Tokyo
    assert (status_of(page, console.a), status_of(page, console.b)) == ("dirty", "clean")

    marked = client.post(f"/operator/units/{console.a.id}/housekeeping", data={"status": "clean"})
    page = follow(client, marked)
    assert "Room 101 和室: Clean." in flashes(page)
    assert status_of(page, console.a) == "clean"
    db.session.refresh(console.a)
    assert (console.a.housekeeping, console.a.housekeeping_at) == ("clean", NOW)

    follow(
        client,
        client.post(f"/operator/units/{console.a.id}/housekeeping", data={"status": "inspected"}),
    )
    assert status_of(client.get(url).get_data(as_text=True), console.a) == "inspected"

    bad = client.post(f"/operator/units/{console.a.id}/housekeeping", data={"status": "shiny"})
    assert bad.status_code == 400
    db.session.refresh(console.a)
    assert console.a.housekeeping == "inspected"


def test_occupancy_page_shows_totals_and_a_chart(db, client, console, make_employee):
    stay(db, make_employee(), console.a, days(0), days(3))
    close(client, console.facility.id, console.b.id, 0, 1)

    page = client.get(
        f"/operator/facilities/{console.facility.id}/occupancy?month=2026-12"
    ).get_data(as_text=True)

    assert re.search(r'data-testid="sold">3<', page)
    assert re.search(r'data-testid="available">60<', page)  # 2 rooms × 31 nights − 2 closed
    assert re.search(r'data-testid="rate">5\.0%<', page)
    assert re.search(r'data-testid="closed">2<', page)
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert 'role="img"' in svg
    assert len(re.findall(r"<g class=\"night", svg)) == 31
    assert 'data-night="2026-12-01" data-sold="1" data-available="1"' in svg
    assert svg.count('class="bar-sold"') == 3 and svg.count('class="bar-closed"') == 2
    assert "?month=2026-11" in page and "?month=2027-01" in page
    assert "bookings.csv?month=2026-12" in page
    assert "<script" not in page[page.index("<main") :].split("</main>")[0]


@pytest.mark.parametrize(
    "month",
    ["garbage", "2026-13", "2026-00", "1999-01", "99999-01", "", "9999-12", "0001-01", "0000-01"],
)
def test_a_bad_month_shows_this_month(client, console, month):
    for page in ("occupancy", "calendar"):
        response = client.get(f"/operator/facilities/{console.facility.id}/{page}?month={month}")
        assert response.status_code == 200
        assert 'data-testid="month">December 2026<' in response.get_data(as_text=True)


# Month navigation reaches 60 months (MONTHS_AROUND) either side of December 2026.
MONTH_HORIZON = [
    ("2031-12", "December 2031", "2031-12"),  # just inside
    ("2032-01", "December 2026", "2026-12"),  # just outside: this month
    ("2021-12", "December 2021", "2021-12"),
    ("2021-11", "December 2026", "2026-12"),
    ("9999-12", "December 2026", "2026-12"),
    ("0001-01", "December 2026", "2026-12"),
]


@pytest.mark.parametrize(("month", "shown", "csv_month"), MONTH_HORIZON)
def test_month_navigation_stays_within_its_horizon(client, console, month, shown, csv_month):
    base = f"/operator/facilities/{console.facility.id}"
    for page in ("occupancy", "calendar"):
        response = client.get(f"{base}/{page}?month={month}")
        assert response.status_code == 200
        assert f'data-testid="month">{shown}<' in response.get_data(as_text=True)
    with client.get(f"{base}/bookings.csv?month={month}") as response:
        assert response.status_code == 200
        assert f"-{csv_month}.csv" in response.headers["Content-Disposition"]


def test_bookings_csv_is_a_safe_utf8_spreadsheet_for_excel(
    db, client, console, make_employee, make_company
):
    evil = make_company(name='=HYPERLINK("http://evil.example","見て")')
    guest = make_employee(name="@SUM(1+1)", company=evil)
    in_month = stay(db, guest, console.a, days(5), days(8), guests=2)
    cancelled = stay(db, make_employee(name="-田中"), console.b, days(10), days(11))
    cancellation.cancel_booking(cancelled.user, cancelled.id, NOW)
    db.session.commit()
    stay(db, make_employee(), console.a, days(40), days(41))  # January

    response = client.get(f"/operator/facilities/{console.facility.id}/bookings.csv?month=2026-12")

    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="engawa-bookings-{console.facility.id}-2026-12.csv"'
    )
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == [
        "Booking number",
        "Room",
        "Check-in",
        "Check-out",
        "Nights",
        "Guests",
        "Company",
        "Guest name",
        "Total (yen, tax included)",
        "Status",
    ]
    assert rows[1] == [
        str(in_month.id),
        "101 和室",
        "2026-12-06",
        "2026-12-09",
        "3",
        "2",
        '\'=HYPERLINK("http://evil.example","見て")',
        "'@SUM(1+1)",
        "36000",
        "Confirmed",
    ]
    assert rows[2][0] == str(cancelled.id) and rows[2][7] == "'-田中"
    assert rows[2][-1] == "Cancelled"
    assert len(rows) == 3


def test_bookings_csv_names_every_status_in_the_readers_words(db, client, console, make_employee):
    here = stay(db, make_employee(), console.a, days(-2), days(1))
    gone = stay(db, make_employee(), console.b, days(-3), days(-1))
    absent = stay(db, make_employee(), console.b, days(0), days(2))
    fill_register(here)
    fill_register(gone)
    front_desk.check_in(console.operator, here.id, NOW - timedelta(days=1))
    front_desk.check_in(console.operator, gone.id, NOW - timedelta(days=3))
    front_desk.check_out(console.operator, gone.id, NOW - timedelta(days=2))
    front_desk.mark_no_show(console.operator, absent.id, NOW)
    db.session.commit()

    response = client.get(f"/operator/facilities/{console.facility.id}/bookings.csv?month=2026-11")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    december = client.get(f"/operator/facilities/{console.facility.id}/bookings.csv?month=2026-12")
    rows += list(csv.reader(io.StringIO(december.data.decode("utf-8-sig"))))[1:]

    status = {row[0]: row[-1] for row in rows[1:]}
    assert status == {
        str(here.id): "Checked in",
        str(gone.id): "Checked out",
        str(absent.id): "No-show",
    }


# --- CSRF ---------------------------------------------------------------------------------


def csrf_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_every_console_form_requires_a_csrf_token(app, db, client, console, make_employee):
    facility_id = console.facility.id
    app.config["WTF_CSRF_ENABLED"] = True
    # With the token, the forms work (a photo and a closing to act on below) ...
    photo = upload_with_token(db, client, facility_id)
    close_with_token(client, facility_id, console.a.id)
    block = db.session.scalar(select(Block))
    snapshot = facility_snapshot(db, console)

    # ... without it, every one of them is refused and nothing changes.
    refused = {
        "new facility": client.post("/operator/facilities/new", data=FACILITY_FORM),
        "edit facility": client.post(
            f"/operator/facilities/{facility_id}/edit", data=FACILITY_FORM
        ),
        "deactivate": client.post(f"/operator/facilities/{facility_id}/deactivate"),
        "reactivate": client.post(f"/operator/facilities/{facility_id}/reactivate"),
        "new room": client.post(
            f"/operator/facilities/{facility_id}/units/new",
            data={"name": "x", "capacity": "1", "base_price": "1"},
        ),
        "edit room": client.post(
            f"/operator/units/{console.a.id}/edit",
            data={"name": "x", "capacity": "1", "base_price": "1"},
        ),
        "room off": client.post(f"/operator/units/{console.a.id}/deactivate"),
        "room on": client.post(f"/operator/units/{console.a.id}/reactivate"),
        "upload": upload(client, facility_id, image_bytes()),
        "delete photo": client.post(f"/operator/photos/{photo.id}/delete"),
        "close": close(client, facility_id, console.b.id, 20, 21),
        "reopen": client.post(f"/operator/blocks/{block.id}/reopen"),
        "housekeeping": client.post(
            f"/operator/units/{console.a.id}/housekeeping", data={"status": "dirty"}
        ),
    }

    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 400)
    assert facility_snapshot(db, console) == snapshot


def upload_with_token(db, client, facility_id: int) -> FacilityPhoto:
    token = csrf_token(client, f"/operator/facilities/{facility_id}")
    response = client.post(
        f"/operator/facilities/{facility_id}/photos",
        data={"photo": (BytesIO(image_bytes()), "a.png"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert "The photo has been added." in flashes(follow(client, response))
    return db.session.scalar(select(FacilityPhoto))


def close_with_token(client, facility_id: int, unit_id: int) -> None:
    token = csrf_token(client, f"/operator/facilities/{facility_id}/close")
    response = client.post(
        f"/operator/facilities/{facility_id}/close",
        data={
            "unit": str(unit_id),
            "first_night": days(5).isoformat(),
            "last_night": days(6).isoformat(),
            "reason": "maintenance",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303


def facility_snapshot(db, console) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    units = db.session.execute(
        select(
            Unit.id, Unit.name, Unit.capacity, Unit.base_price, Unit.active, Unit.housekeeping
        ).order_by(Unit.id)
    ).all()
    facilities = db.session.execute(
        select(Facility.id, Facility.name_ja, Facility.active).order_by(Facility.id)
    ).all()
    return (
        units,
        facilities,
        count(db, Block),
        count(db, FacilityPhoto),
        closed_nights(db, console.a.id),
        closed_nights(db, console.b.id),
    )
