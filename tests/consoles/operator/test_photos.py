"""The operator's photo page through HTTP: several files at once, order, cover,
captions and rooms, the tenant wall, and the resized copies as guests fetch them."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import render_template_string
from PIL import Image
from sqlalchemy import func, select

from accounts.models import Role
from consoles.operator.photo_views import MAX_FILES_PER_UPLOAD
from facilities import photos
from facilities.models import FacilityPhoto
from tests.conftest import NOW, PASSWORD
from tests.facilities.test_services import png_header

# --- helpers ------------------------------------------------------------------------------


def flashes(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)
    ]


def follow(client, response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def picture(size=(1200, 800), fmt="JPEG") -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (40, 110, 160)).save(out, fmt)
    return out.getvalue()


def rows(db) -> list[FacilityPhoto]:
    db.session.rollback()
    db.session.expire_all()
    return list(
        db.session.scalars(select(FacilityPhoto).order_by(FacilityPhoto.position, FacilityPhoto.id))
    )


def stored_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def expected_files(photo_rows) -> list[str]:
    names = []
    for photo in photo_rows:
        names += [photo.filename] + [name for _w, name in photos.photo_copies(photo)]
    return sorted(names)


def upload(client, facility_id: int, *files, caption: str = ""):
    return client.post(
        f"/operator/facilities/{facility_id}/photos",
        data={"photo": [(BytesIO(data), name) for data, name in files], "caption": caption},
        content_type="multipart/form-data",
    )


def sign_in(app, user):
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return browser


@pytest.fixture
def console(app, db, make_user, make_facility, make_unit, tmp_path):
    """An operator (reading English) signed in, with one facility of two rooms."""
    app.instance_path = str(tmp_path / "instance")
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, name_ja="白樺の宿", name_en="Birch Inn")
    room = make_unit(facility=facility, name="101 和室")
    make_unit(facility=facility, name="102 洋室")
    db.session.commit()
    return SimpleNamespace(
        client=sign_in(app, operator),
        operator=operator,
        facility=facility,
        room=room,
        folder=Path(app.instance_path) / "photos",
    )


def add_photos(db, console, n: int) -> list[FacilityPhoto]:
    for i in range(n):
        photos.save_photo(
            console.facility, BytesIO(picture((600, 400))), "a.jpg", NOW, console.folder,
            10**7, caption=f"photo {i}",
        )  # fmt: skip
    db.session.commit()
    return rows(db)


# --- several files at once ---------------------------------------------------------------------


def test_several_files_at_once_each_accepted_or_refused_by_name(app, db, console):
    app.config["PHOTO_MAX_BYTES"] = 200_000
    big = picture((40, 30), "PNG") + b"\0" * 200_001  # a real PNG, padded over the limit
    page = follow(
        console.client,
        upload(
            console.client,
            console.facility.id,
            (picture((2000, 1000)), "外観.jpg"),
            (b"this is a letter, not a photo", "letter.jpg"),
            (picture((800, 600), "PNG"), "ロビー.png"),
            (b"", "empty.jpg"),
            (png_header(8_000, 6_000), "bomb.png"),
            (big, "huge.png"),
            (picture((300, 200), "WEBP"), "garden.webp"),
        ),
    )

    assert flashes(page) == [
        "3 photos have been added.",
        "“letter.jpg” was not added: This file is not a JPEG, PNG or WebP image, or it is damaged.",
        "“empty.jpg” was not added: The file is empty.",
        "“bomb.png” was not added: This image has too many pixels.",
        "“huge.png” was not added: Photos can be at most 1 MB.",
    ]
    stored = rows(db)
    assert [(p.content_type, p.width, p.widths) for p in stored] == [
        ("image/jpeg", 2000, "480,960,1600"),
        ("image/png", 800, "480,800"),
        ("image/webp", 300, "300"),
    ]
    assert [p.position for p in stored] == [0, 1, 2]
    # The originals and their copies, and nothing of the refused files.
    assert stored_files(console.folder) == expected_files(stored)
    for photo in stored:
        for width, name in photos.photo_copies(photo):
            with Image.open(console.folder / name) as copy:
                assert (copy.format, copy.width) == ("WEBP", width)
    # The page shows each photo by its copies for the browser to choose from (the
    # largest as src), never by the original.
    for photo in stored:
        largest = photos.photo_copies(photo)[-1][1]
        assert f'src="/photos/{largest}"' in page and f"/photos/{photo.filename}" not in page
    stem = stored[0].filename.removesuffix(".jpg")
    assert f"/photos/{stem}-960.webp 960w" in page


def test_one_good_file_says_so_in_the_singular(db, console):
    page = follow(console.client, upload(console.client, console.facility.id, (picture(), "a.jpg")))
    assert flashes(page) == ["The photo has been added."]


def test_only_so_many_files_are_taken_from_one_upload(db, console):
    files = [(picture((60, 40)), f"p{i}.jpg") for i in range(MAX_FILES_PER_UPLOAD + 2)]

    page = follow(console.client, upload(console.client, console.facility.id, *files))

    assert len(rows(db)) == MAX_FILES_PER_UPLOAD
    refused = [text for text in flashes(page) if "was not added" in text]
    assert [text.split("”")[0].strip("“") for text in refused] == [
        f"p{MAX_FILES_PER_UPLOAD}.jpg",
        f"p{MAX_FILES_PER_UPLOAD + 1}.jpg",
    ]


def test_the_facility_limit_refuses_the_files_beyond_it(db, console, monkeypatch):
    monkeypatch.setattr(photos, "MAX_PHOTOS_PER_FACILITY", 2)
    add_photos(db, console, 1)

    page = follow(
        console.client,
        upload(console.client, console.facility.id, (picture(), "a.jpg"), (picture(), "b.jpg")),
    )

    assert "“b.jpg” was not added: A facility can have at most 2 photos." in flashes(page)
    assert len(rows(db)) == 2


# --- the page and its controls ------------------------------------------------------------------


def test_the_facility_page_shows_the_cover_and_links_to_the_photo_page(db, console):
    overview = console.client.get(f"/operator/facilities/{console.facility.id}")
    assert f'href="/operator/facilities/{console.facility.id}/photos"' in overview.get_data(
        as_text=True
    )
    first, second = add_photos(db, console, 2)
    photos.set_cover(db.session.get(FacilityPhoto, second.id))
    db.session.commit()

    page = console.client.get(f"/operator/facilities/{console.facility.id}").get_data(as_text=True)
    assert f'src="/photos/{second.filename}"' in page
    assert f'src="/photos/{first.filename}"' not in page
    assert "2 photos; guests see this cover first." in page


def test_photos_move_up_and_down_without_javascript(db, console):
    a, b, c = add_photos(db, console, 3)

    page = follow(
        console.client,
        console.client.post(f"/operator/photos/{c.id}/move", data={"direction": "up"}),
    )
    assert "The order of the photos has been changed." in flashes(page)
    assert [p.id for p in rows(db)] == [a.id, c.id, b.id]
    console.client.post(f"/operator/photos/{a.id}/move", data={"direction": "down"})
    assert [p.id for p in rows(db)] == [c.id, a.id, b.id]
    # The page lists them in that order, the first without "earlier", the last without "later".
    page = console.client.get(f"/operator/facilities/{console.facility.id}/photos").get_data(
        as_text=True
    )
    order = [int(i) for i in re.findall(r'<li id="photo-\d+" data-photo-id="(\d+)"', page)]
    assert order == [c.id, a.id, b.id]
    assert page.count('value="up"') == 2 and page.count('value="down"') == 2
    # Nothing else is a direction.
    refused = console.client.post(f"/operator/photos/{c.id}/move", data={"direction": "sideways"})
    assert refused.status_code == 400


def test_one_cover_per_facility_chosen_on_the_page(db, console):
    a, b, _c = add_photos(db, console, 3)

    page = follow(console.client, console.client.post(f"/operator/photos/{b.id}/cover"))
    assert "This photo is now the cover." in flashes(page)
    follow(console.client, console.client.post(f"/operator/photos/{a.id}/cover"))

    assert [p.id for p in rows(db) if p.is_cover] == [a.id]
    page = console.client.get(f"/operator/facilities/{console.facility.id}/photos").get_data(
        as_text=True
    )
    assert page.count('data-testid="cover-badge"') == 1
    card = page[page.index(f'data-photo-id="{a.id}"') :]
    assert card.index('data-testid="cover-badge"') < card.index("data-photo-id", 5)


def test_caption_and_room_are_saved_and_a_room_of_another_facility_is_refused(
    db, console, make_unit
):
    (photo,) = add_photos(db, console, 1)
    elsewhere = make_unit()
    db.session.commit()
    url = f"/operator/photos/{photo.id}/edit"

    page = follow(
        console.client,
        console.client.post(
            url, data={"caption": " 和室からの眺め ", "unit": str(console.room.id)}
        ),
    )
    assert "The photo has been saved." in flashes(page)
    assert (rows(db)[0].caption, rows(db)[0].unit_id) == ("和室からの眺め", console.room.id)

    for foreign in (str(elsewhere.id), "999999", "abc"):
        page = follow(
            console.client, console.client.post(url, data={"caption": "x", "unit": foreign})
        )
        assert any(text.startswith("Shows:") for text in flashes(page)), flashes(page)
    too_long = follow(console.client, console.client.post(url, data={"caption": "長" * 201}))
    assert any(text.startswith("Caption:") for text in flashes(too_long))
    assert (rows(db)[0].caption, rows(db)[0].unit_id) == ("和室からの眺め", console.room.id)

    follow(console.client, console.client.post(url, data={"caption": "", "unit": "all"}))
    assert (rows(db)[0].caption, rows(db)[0].unit_id) == ("", None)


def test_deleting_a_photo_removes_its_copies_too(db, console):
    keep, gone = add_photos(db, console, 2)

    page = follow(console.client, console.client.post(f"/operator/photos/{gone.id}/delete"))

    assert "The photo has been deleted." in flashes(page)
    assert stored_files(console.folder) == expected_files([keep])


def test_the_photo_controls_need_the_csrf_token(app, db, console):
    a, b = add_photos(db, console, 2)
    app.config["WTF_CSRF_ENABLED"] = True

    refused = {
        "move": console.client.post(f"/operator/photos/{b.id}/move", data={"direction": "up"}),
        "cover": console.client.post(f"/operator/photos/{b.id}/cover"),
        "edit": console.client.post(f"/operator/photos/{b.id}/edit", data={"caption": "x"}),
        "upload": upload(console.client, console.facility.id, (picture(), "a.jpg")),
    }

    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 400)
    assert [(p.id, p.is_cover, p.caption) for p in rows(db)] == [
        (a.id, False, "photo 0"),
        (b.id, False, "photo 1"),
    ]


# --- the tenant wall ----------------------------------------------------------------------------


def test_another_operators_ids_answer_404_and_change_nothing(
    app, db, console, make_user, make_facility, make_unit
):
    (theirs,) = add_photos(db, console, 1)
    stranger = make_user(Role.OPERATOR, locale="en")
    own = make_facility(operator=stranger.operator)
    own_room = make_unit(facility=own)
    db.session.commit()
    browser = sign_in(app, stranger)
    before = stored_files(console.folder)

    doors = {
        "page": browser.get(f"/operator/facilities/{console.facility.id}/photos"),
        "upload": upload(browser, console.facility.id, (picture(), "a.jpg")),
        "move": browser.post(f"/operator/photos/{theirs.id}/move", data={"direction": "up"}),
        "cover": browser.post(f"/operator/photos/{theirs.id}/cover"),
        "edit": browser.post(
            f"/operator/photos/{theirs.id}/edit", data={"caption": "x", "unit": str(own_room.id)}
        ),
        "delete": browser.post(f"/operator/photos/{theirs.id}/delete"),
        "unknown photo": browser.post("/operator/photos/999999/cover"),
        "huge id": browser.post(f"/operator/photos/{2**70}/cover"),
    }

    assert {name: r.status_code for name, r in doors.items()} == dict.fromkeys(doors, 404)
    [photo] = rows(db)
    assert (photo.caption, photo.is_cover, photo.unit_id) == ("photo 0", False, None)
    assert stored_files(console.folder) == before


# --- serving the copies -------------------------------------------------------------------------


def test_copies_are_served_like_their_original(app, db, console, make_employee):
    (photo,) = add_photos(db, console, 1)
    stem = photo.filename.removesuffix(".jpg")
    employee = sign_in(app, make_employee())

    with employee.get(f"/photos/{stem}-480.webp") as served:
        assert (served.status_code, served.mimetype) == (200, "image/webp")
        assert served.data == (console.folder / f"{stem}-480.webp").read_bytes()
        assert "private" in served.headers["Cache-Control"]
    wrong = [f"{stem}-960.webp", f"{stem}-480.jpg", f"{stem}-480.webp.png"]
    wrong += [f"../{stem}-480.webp", f"..%2F{stem}-480.webp", f"{stem}-480%00.webp"]
    for name in wrong:
        assert employee.get(f"/photos/{name}").status_code in (400, 404), name

    console.facility.active = False
    db.session.commit()
    assert employee.get(f"/photos/{stem}-480.webp").status_code == 404
    with console.client.get(f"/photos/{stem}-480.webp") as own:  # its operator still sees it
        assert own.status_code == 200


def gps_photo() -> bytes:
    """A JPEG as a phone writes it: the camera's make and where it was taken (EXIF GPS)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (35.0, 39.0, 0.0), 3: "E", 4: (139.0, 44.0, 0.0)}
    out = BytesIO()
    Image.new("RGB", (1200, 800), (40, 110, 160)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_only_its_operator_gets_the_original_everybody_else_the_copies_without_gps(
    app, db, console, make_employee, make_user
):
    data = gps_photo()
    follow(console.client, upload(console.client, console.facility.id, (data, "IMG_0001.jpg")))
    (photo,) = rows(db)
    original = f"/photos/{photo.filename}"
    employee = sign_in(app, make_employee())
    admin = sign_in(app, make_user(Role.PLATFORM_ADMIN))

    with console.client.get(original) as own:  # the operator's own file, as uploaded
        assert (own.status_code, own.data) == (200, data)
        with Image.open(BytesIO(own.data)) as picture_:
            assert picture_.getexif().get_ifd(0x8825)
    assert employee.get(original).status_code == 404
    assert admin.get(original).status_code == 404
    for width, name in photos.photo_copies(photo):
        with employee.get(f"/photos/{name}") as served:
            assert (served.status_code, served.mimetype) == (200, "image/webp")
            assert b"PhoneMaker" not in served.data
            with Image.open(BytesIO(served.data)) as copy:
                assert copy.width == width
                assert not copy.getexif() and not copy.getexif().get_ifd(0x8825)

    page = employee.get(f"/facilities/{console.facility.id}").get_data(as_text=True)
    assert f'src="/photos/{photos.copy_name(photo.filename, 1200)}"' in page
    assert original not in page


def render_macros(app, photo) -> str:
    template = (
        '{% from "booking/_photos.html" import photo_img, cover_img, gallery, room_photos %}'
        "{{ photo_img(photo, '10rem', 'a') }}{{ cover_img(photo, 'b') }}"
        "{{ gallery([photo], 'c') }}{{ room_photos([photo], 'd') }}"
    )
    with app.test_request_context():
        return render_template_string(template, photo=photo)


def test_guest_pages_name_the_copies_and_an_original_only_for_a_photo_without_them(
    app, db, console
):
    (photo,) = add_photos(db, console, 1)
    stem = photo.filename.removesuffix(".jpg")

    html = render_macros(app, photo)
    # photo_img, cover_img, gallery: the largest copy as src; room_photos also links to it.
    assert html.count(f'src="/photos/{stem}-600.webp"') == 3 + 1
    assert f'href="/photos/{stem}-600.webp"' in html
    assert f'srcset="/photos/{stem}-480.webp 480w, /photos/{stem}-600.webp 600w"' in html
    assert f"/photos/{photo.filename}" not in html

    photo.widths = ""  # as stored before copies were made
    old = render_macros(app, photo)
    assert old.count(f'src="/photos/{photo.filename}"') == 4 and "srcset" not in old
    assert f'href="/photos/{photo.filename}"' in old
    db.session.rollback()


def test_nothing_is_left_on_disk_when_every_file_is_refused(db, console):
    page = follow(
        console.client,
        upload(console.client, console.facility.id, (b"nope", "a.jpg"), (b"", "b.jpg")),
    )
    assert len([t for t in flashes(page) if "was not added" in t]) == 2
    assert db.session.scalar(select(func.count()).select_from(FacilityPhoto)) == 0
    assert not console.folder.exists()
