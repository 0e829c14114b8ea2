"""The guest register's storage (lodging.register): lines sealed at rest, replaced on
save with the passport images they still need, what a register lacks, the access log
and the purge; and the passport image's checks (lodging.passport).

SQLite and PostgreSQL (the ``app`` fixture). NOW is 2026-12-01 12:00 in Tokyo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text

from booking import services
from booking.models import Booking
from lodging import passport, register
from lodging.guests import GuestDetails
from lodging.models import PassportImage, RegisteredGuest, RegisterPurge, RegisterRead
from lodging.passport import PassportImageError
from tests.conftest import NOW, days
from tests.register_helpers import VISITOR, image_bytes, resident

LATER = NOW + timedelta(hours=1)


@pytest.fixture
def booking(db, make_employee, make_unit):
    """A stay of three guests (the booker and two companions)."""
    employee = make_employee()
    unit = make_unit(capacity=3)
    made = services.book_stay(employee, services.StayRequest(unit.id, days(3), days(5), 3), NOW)
    db.session.commit()
    return made


def english(messages) -> list[str]:
    with force_locale("en"):
        return [str(m) for m in messages]


def raw_rows(db, booking_id: int) -> list[tuple]:
    """The register's lines and images as the database holds them."""
    db.session.expire_all()
    lines = db.session.execute(
        text("SELECT id, details FROM register_guest WHERE booking_id = :b ORDER BY position"),
        {"b": booking_id},
    ).all()
    images = db.session.execute(text("SELECT guest_id, data FROM register_passport_image")).all()
    return [tuple(r) for r in lines], [(g, bytes(d)) for g, d in images]


# --- sealed at rest ------------------------------------------------------------------------


def test_details_and_images_are_sealed_at_rest(db, booking):
    rows = register.save_guests(
        booking.id, [resident(0), VISITOR], entered_by_id=booking.user_id, now=NOW
    )
    picture = image_bytes("PNG")
    register.save_passport_image(rows[1].id, picture, NOW)
    db.session.commit()

    lines, images = raw_rows(db, booking.id)
    for _id, stored in lines:
        # (Short strings such as "GB" turn up in any base64 text by chance: longer ones.)
        for plain in ("山田", "Jane O'Neil", "Baker Street", "123456789", "+442079460958"):
            assert plain not in stored
        assert stored.startswith("gAAAA")  # a Fernet token
    ((guest_id, sealed),) = images
    assert guest_id == rows[1].id
    assert sealed != picture and picture[:8] not in sealed  # not even the PNG signature
    # Read back through the register, it is all there.
    stored = register.guests_of(booking.id)
    assert [g.details for g in stored] == [resident(0), VISITOR]
    assert register.passport_image(rows[1].id) == (picture, "image/png")


def test_another_secret_key_cannot_read_the_register(app, db, booking):
    rows = register.save_guests(booking.id, [VISITOR], entered_by_id=None, now=NOW)
    register.save_passport_image(rows[0].id, image_bytes(), NOW)
    db.session.commit()

    app.config["SECRET_KEY"] = "another-secret-key"
    (line,) = register.guests_of(booking.id)
    assert (line.readable, line.complete, line.details.name) == (False, False, "")
    assert register.passport_image(rows[0].id) is None
    assert english(register.missing(booking.id, 1)) == ["details of guest 1"]


# --- saving replaces the lines ---------------------------------------------------------------


def test_saving_replaces_the_lines_and_keeps_ids_by_position(db, booking):
    first = register.save_guests(
        booking.id, [resident(0), resident(1), resident(2)], entered_by_id=1, now=NOW
    )
    ids = [row.id for row in first]
    db.session.commit()

    register.save_guests(booking.id, [resident(3), resident(0)], entered_by_id=None, now=LATER)
    db.session.commit()

    stored = register.guests_of(booking.id)
    assert [(g.id, g.position, g.details) for g in stored] == [
        (ids[0], 1, resident(3)),
        (ids[1], 2, resident(0)),
    ]
    assert db.session.scalar(select(func.count()).select_from(RegisteredGuest)) == 2


def test_an_image_stays_while_its_line_needs_it_for_the_same_passport(db, booking):
    rows = register.save_guests(
        booking.id, [resident(0), VISITOR, VISITOR], entered_by_id=None, now=NOW
    )
    for row in rows[1:]:
        register.save_passport_image(row.id, image_bytes(), NOW)
    db.session.commit()

    # Guest 2 corrects the address only: the image stays. Guest 3 has another passport
    # now: the old image goes.
    moved = GuestDetails(**{**VISITOR.as_json(), "address": "10 Downing Street, London"})
    renewed = GuestDetails(**{**VISITOR.as_json(), "passport_number": "987654321"})
    register.save_guests(booking.id, [resident(0), moved, renewed], entered_by_id=None, now=LATER)
    db.session.commit()

    stored = register.guests_of(booking.id)
    assert [g.has_passport_image for g in stored] == [False, True, False]
    assert english(register.missing(booking.id, 3)) == ["passport image of guest 3"]


def test_images_go_with_a_line_that_no_longer_needs_one_or_is_gone(db, booking):
    rows = register.save_guests(booking.id, [VISITOR, VISITOR], entered_by_id=None, now=NOW)
    for row in rows:
        register.save_passport_image(row.id, image_bytes(), NOW)
    db.session.commit()

    now_resident = GuestDetails(**{**VISITOR.as_json(), "lives_abroad": False})
    register.save_guests(booking.id, [now_resident], entered_by_id=None, now=LATER)
    db.session.commit()

    assert db.session.scalar(select(func.count()).select_from(PassportImage)) == 0
    (line,) = register.guests_of(booking.id)
    assert (line.details.passport_number, line.has_passport_image) == ("123456789", False)


def test_a_new_image_replaces_the_old_one(db, booking):
    (row,) = register.save_guests(booking.id, [VISITOR], entered_by_id=None, now=NOW)
    register.save_passport_image(row.id, image_bytes("PNG"), NOW)
    register.save_passport_image(row.id, image_bytes("JPEG"), LATER)
    db.session.commit()

    assert db.session.scalar(select(func.count()).select_from(PassportImage)) == 1
    assert register.passport_image(row.id) == (image_bytes("JPEG"), "image/jpeg")


def test_trim_drops_the_lines_above_the_count_images_first_and_records_nothing(
    db, booking, make_employee, make_unit
):
    rows = register.save_guests(
        booking.id, [VISITOR, VISITOR, VISITOR], entered_by_id=None, now=NOW
    )
    ids = [row.id for row in rows]
    for guest_id in ids:
        register.save_passport_image(guest_id, image_bytes(), NOW)
    other = services.book_stay(
        make_employee(), services.StayRequest(make_unit(capacity=3).id, days(3), days(4), 3), NOW
    )
    db.session.flush()
    elsewhere = register.save_guests(other.id, [resident(1)], entered_by_id=None, now=NOW)[0].id
    db.session.commit()

    assert register.trim(booking.id, 1, LATER) == 2
    db.session.commit()

    assert [(g.id, g.has_passport_image) for g in register.guests_of(booking.id)] == [
        (ids[0], True)
    ]
    assert register.passport_image(ids[1]) is None
    assert register.passport_image(ids[2]) is None
    assert db.session.scalar(select(func.count()).select_from(PassportImage)) == 1
    assert [g.id for g in register.guests_of(other.id)] == [elsewhere]
    for table in (RegisterPurge, RegisterRead):  # not a purge, not a read
        assert db.session.scalar(select(func.count()).select_from(table)) == 0
    assert register.is_complete(booking.id, 1)


def test_trim_to_as_many_or_more_guests_changes_nothing(db, booking):
    register.save_guests(booking.id, [resident(0), resident(1)], entered_by_id=None, now=NOW)
    db.session.commit()
    assert register.trim(booking.id, 2, LATER) == 0
    assert register.trim(booking.id, 3, LATER) == 0
    assert register.trim(2**40, 1, LATER) == 0  # no such stay: nothing to trim
    assert [g.position for g in register.guests_of(booking.id)] == [1, 2]
    for count in (0, -1):  # a stay has at least one guest
        with pytest.raises(ValueError):
            register.trim(booking.id, count, LATER)
    assert [g.position for g in register.guests_of(booking.id)] == [1, 2]


# --- what a register lacks ---------------------------------------------------------------------


def test_what_a_register_lacks_is_said_for_people(db, booking):
    assert english(register.missing(booking.id, 3)) == ["0 of 3 guests registered"]

    rows = register.save_guests(booking.id, [resident(0), VISITOR], entered_by_id=None, now=NOW)
    db.session.commit()
    assert english(register.missing(booking.id, 3)) == [
        "2 of 3 guests registered",
        "passport image of guest 2",
    ]
    assert not register.is_complete(booking.id, 3)
    # A stay changed to two guests needs two lines.
    register.save_passport_image(rows[1].id, image_bytes(), NOW)
    db.session.commit()
    assert register.missing(booking.id, 2) == []
    assert register.is_complete(booking.id, 2)
    # Lines past the stay's guests do not count.
    assert register.is_complete(booking.id, 1)


def test_completeness_of_many_stays_at_once(db, booking, make_employee, make_unit):
    other = services.book_stay(
        make_employee(), services.StayRequest(make_unit().id, days(3), days(4), 1), NOW
    )
    db.session.commit()
    register.save_guests(booking.id, [resident(0)], entered_by_id=None, now=NOW)
    register.save_guests(other.id, [resident(1)], entered_by_id=None, now=NOW)
    db.session.commit()

    assert register.completeness({booking.id: 3, other.id: 1, 999_999: 1}) == {
        booking.id: False,
        other.id: True,
        999_999: False,
    }
    assert register.completeness({}) == {}
    assert register.guests_by_booking([]) == {}
    assert register.guests_of(2**40) == []


# --- passport images ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")],
)
def test_passport_images_are_judged_by_their_bytes(fmt, content_type):
    assert passport.check_passport_image(image_bytes(fmt)) == content_type


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"%PDF-1.7 not a picture", "not_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not_image"),
        (image_bytes("PNG")[:40], "not_image"),  # cut short
        (image_bytes("GIF"), "type"),
        (image_bytes("BMP"), "type"),
    ],
)
def test_other_files_are_refused(app, data, code):
    with pytest.raises(PassportImageError) as caught:
        passport.check_passport_image(data)
    assert caught.value.code == code
    with force_locale("en"):
        assert "image" in str(caught.value.message)


def test_images_are_capped_in_size_and_pixels(app, monkeypatch):
    monkeypatch.setattr(passport, "MAX_PASSPORT_BYTES", 1000)
    with pytest.raises(PassportImageError) as caught:
        passport.check_passport_image(image_bytes("PNG", (400, 400)) + b"\0" * 1000)
    assert caught.value.code == "too_big"
    monkeypatch.setattr(passport.photos, "MAX_PHOTO_PIXELS", 100)
    with pytest.raises(PassportImageError) as caught:
        passport.check_passport_image(image_bytes("PNG", (20, 20)))
    assert caught.value.code == "too_many_pixels"


def test_a_refused_image_stores_nothing(db, booking):
    (row,) = register.save_guests(booking.id, [VISITOR], entered_by_id=None, now=NOW)
    with pytest.raises(PassportImageError):
        register.save_passport_image(row.id, b"GIF89a", NOW)
    assert db.session.scalar(select(func.count()).select_from(PassportImage)) == 0


# --- the access log and the purge -----------------------------------------------------------------


def test_reads_are_recorded_once_per_stay(db, booking):
    facility_id = booking.unit.facility_id
    register.record_read([booking.id, booking.id], facility_id, booking.user_id, "view", NOW)
    register.record_read([booking.id], facility_id, None, "csv", LATER)
    db.session.commit()

    rows = db.session.execute(
        select(RegisterRead.booking_id, RegisterRead.user_id, RegisterRead.action).order_by(
            RegisterRead.id
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        (booking.id, booking.user_id, "view"),
        (booking.id, None, "csv"),
    ]
    with pytest.raises(ValueError):
        register.record_read([booking.id], facility_id, None, "peek", NOW)


def test_the_purge_deletes_images_then_lines_and_records_counts(db, booking):
    rows = register.save_guests(
        booking.id, [resident(0), VISITOR, VISITOR], entered_by_id=None, now=NOW
    )
    register.save_passport_image(rows[1].id, image_bytes(), NOW)
    register.save_passport_image(rows[2].id, image_bytes(), NOW)
    db.session.commit()

    record = register.purge(booking.id, booking.unit.facility_id, "retention", LATER)
    db.session.commit()

    assert (record.guests, record.passport_images, record.reason, record.purged_at) == (
        3,
        2,
        "retention",
        LATER,
    )
    assert register.guests_of(booking.id) == []
    for table in (RegisteredGuest, PassportImage):
        assert db.session.scalar(select(func.count()).select_from(table)) == 0
    # Once per stay: nothing left, nothing recorded again.
    assert register.purge(booking.id, booking.unit.facility_id, "retention", LATER) is None
    assert db.session.scalar(select(func.count()).select_from(RegisterPurge)) == 1


def test_a_stay_without_a_register_is_recorded_as_purged_once(db, booking):
    assert register.purge(booking.id, booking.unit.facility_id, "cancelled", NOW) is None
    assert register.purge(booking.id, booking.unit.facility_id, "cancelled", LATER) is None
    db.session.commit()
    (record,) = db.session.scalars(select(RegisterPurge))
    assert (record.booking_id, record.guests, record.passport_images) == (booking.id, 0, 0)
    with pytest.raises(ValueError):
        register.purge(booking.id, booking.unit.facility_id, "because", NOW)


def test_the_booking_row_is_untouched_by_the_register(db, booking):
    register.save_guests(booking.id, [resident(0)], entered_by_id=None, now=NOW)
    register.purge(booking.id, booking.unit.facility_id, "retention", LATER)
    db.session.commit()
    assert db.session.get(Booking, booking.id).guests == 3
