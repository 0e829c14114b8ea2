"""Facility photos called directly: resized copies at upload, order, cover, captions,
rooms, and the one-query covers for result cards."""

from __future__ import annotations

import secrets
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts.models import Role
from facilities import photos
from facilities.models import FacilityPhoto
from tests.conftest import NOW
from tests.facilities.test_services import counted_queries, png_header

# --- helpers ------------------------------------------------------------------------------


def picture(size=(40, 30), fmt="JPEG", colour=(120, 90, 40), exif=None, mode="RGB") -> bytes:
    out = BytesIO()
    extra = {"exif": exif} if exif is not None else {}
    Image.new(mode, size, colour).save(out, fmt, **extra)
    return out.getvalue()


def camera_exif(orientation: int | None = None) -> bytes:
    """EXIF as a phone writes it: the camera, and where the picture was taken."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (35.0, 39.0, 0.0)}  # GPS: a place nobody should learn
    if orientation:
        exif[0x0112] = orientation
    return exif.tobytes()


@pytest.fixture
def operator(make_user):
    return make_user(Role.OPERATOR)


@pytest.fixture
def facility(make_facility, operator):
    return make_facility(operator=operator.operator)


@pytest.fixture
def photo_dir(tmp_path):
    return tmp_path / "photos"


def save(facility, photo_dir, data: bytes, caption: str = "") -> FacilityPhoto:
    return photos.save_photo(facility, BytesIO(data), "x.jpg", NOW, photo_dir, 10**7, caption)


def files(photo_dir) -> list[str]:
    return sorted(p.name for p in photo_dir.iterdir()) if photo_dir.exists() else []


# --- resized copies -----------------------------------------------------------------------------


def test_an_upload_keeps_its_original_and_gets_webp_copies_at_three_widths(db, facility, photo_dir):
    data = picture((2400, 1600))

    photo = save(facility, photo_dir, data)
    db.session.commit()

    stem = photo.filename.removesuffix(".jpg")
    assert photo.widths == "480,960,1600"
    assert files(photo_dir) == sorted(
        [photo.filename, f"{stem}-480.webp", f"{stem}-960.webp", f"{stem}-1600.webp"]
    )
    assert (photo_dir / photo.filename).read_bytes() == data
    for width, name in photos.photo_copies(photo):
        with Image.open(photo_dir / name) as copy:
            assert (copy.format, copy.size) == ("WEBP", (width, round(width * 2 / 3)))


def test_a_small_picture_is_never_enlarged(db, facility, photo_dir):
    photo = save(facility, photo_dir, picture((700, 350), "PNG"))

    assert photo.widths == "480,700"
    with Image.open(photo_dir / photos.copy_name(photo.filename, 700)) as copy:
        assert copy.size == (700, 350)
    tiny = save(facility, photo_dir, picture((40, 30), "PNG"))
    assert tiny.widths == "40"


def test_copies_are_turned_upright_and_carry_no_camera_metadata(db, facility, photo_dir):
    # A phone held upright stores 1200×800 pixels and "turn a quarter" (orientation 6).
    data = picture((1200, 800), exif=camera_exif(orientation=6))

    photo = save(facility, photo_dir, data)

    assert (photo.width, photo.height) == (800, 1200)  # as people see it
    assert photo.widths == "480,800"
    for width, name in photos.photo_copies(photo):
        with Image.open(photo_dir / name) as copy:
            assert copy.size == (width, width * 3 // 2)
            assert not copy.getexif() and "exif" not in copy.info and "xmp" not in copy.info


def test_a_transparent_png_keeps_its_transparency_in_the_copies(db, facility, photo_dir):
    photo = save(facility, photo_dir, picture((600, 400), "PNG", (0, 0, 0, 0), mode="RGBA"))

    with Image.open(photo_dir / photos.copy_name(photo.filename, 480)) as copy:
        assert copy.mode == "RGBA" and copy.getpixel((10, 10))[3] == 0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (picture((800, 600))[:600], "not_image"),  # a JPEG cut short: only decoding tells
        (b"not a picture at all", "not_image"),
        (b"", "empty"),
        (png_header(8_000, 6_000), "too_many_pixels"),
    ],
    ids=["truncated-jpeg", "text", "empty", "too-many-pixels"],
)
def test_a_refused_file_leaves_no_row_and_no_file(db, facility, photo_dir, data, code):
    with pytest.raises(photos.PhotoError) as refused:
        save(facility, photo_dir, data)

    assert refused.value.code == code
    assert files(photo_dir) == []
    assert db.session.scalar(select(func.count()).select_from(FacilityPhoto)) == 0


def test_a_disk_failing_on_a_copy_removes_the_files_already_written(
    db, facility, photo_dir, monkeypatch
):
    real_write = photos._write_new_file

    def write(folder, name, data):
        if name.endswith("-960.webp"):
            raise OSError(28, "No space left on device")
        real_write(folder, name, data)

    monkeypatch.setattr(photos, "_write_new_file", write)
    with pytest.raises(OSError):
        save(facility, photo_dir, picture((2000, 1000)))

    assert files(photo_dir) == []


def test_discarding_a_photo_removes_the_original_and_every_copy(db, facility, photo_dir):
    keep = save(facility, photo_dir, picture((1000, 500)))
    gone = save(facility, photo_dir, picture((1000, 500)))
    db.session.commit()

    name = photos.delete_photo(gone)
    db.session.commit()
    photos.discard_photo_file(photo_dir, name)

    kept = [keep.filename] + [n for _w, n in photos.photo_copies(keep)]
    assert files(photo_dir) == sorted(kept)


# --- order, cover, captions, rooms -------------------------------------------------------------


def test_new_photos_come_last_and_move_one_place_at_a_time(db, facility, photo_dir):
    a, b, c = (save(facility, photo_dir, picture(), caption) for caption in "abc")
    assert [p.caption for p in photos.facility_photos(facility)] == ["a", "b", "c"]

    assert photos.move_photo(c, -1)
    assert [p.caption for p in photos.facility_photos(facility)] == ["a", "c", "b"]
    assert photos.move_photo(a, +1)
    assert [p.caption for p in photos.facility_photos(facility)] == ["c", "a", "b"]
    # At either end nothing moves.
    assert not photos.move_photo(c, -1) and not photos.move_photo(b, +1)
    db.session.commit()
    assert [p.position for p in photos.facility_photos(facility)] == [0, 1, 2]


def test_a_facility_has_one_cover_and_the_first_photo_stands_in_without_one(
    db, facility, photo_dir, make_facility
):
    a, b = save(facility, photo_dir, picture()), save(facility, photo_dir, picture())
    other = make_facility()
    db.session.commit()
    assert photos.cover_photos([facility.id, other.id]) == {facility.id: a}

    photos.set_cover(b)
    photos.set_cover(a)
    photos.set_cover(b)
    db.session.commit()

    covers = db.session.scalars(select(FacilityPhoto.id).where(FacilityPhoto.is_cover)).all()
    assert covers == [b.id]
    assert photos.cover_photos([facility.id]) == {facility.id: b}


def test_the_database_refuses_a_second_cover(db, facility, photo_dir):
    a, b = save(facility, photo_dir, picture()), save(facility, photo_dir, picture())
    a.is_cover = b.is_cover = True
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_covers_of_many_facilities_take_one_query(db, make_facility, operator, photo_dir):
    facilities = [make_facility(operator=operator.operator) for _ in range(4)]
    for facility in facilities[:3]:
        for _ in range(3):
            save(facility, photo_dir, picture())
    chosen = photos.facility_photos(facilities[1])[2]
    photos.set_cover(chosen)
    db.session.commit()
    facility_ids = [f.id for f in facilities]

    with counted_queries(db) as statements:
        covers = photos.cover_photos(facility_ids)
        ids = {fid: p.id for fid, p in covers.items()}

    assert len(statements) == 1
    assert set(ids) == {f.id for f in facilities[:3]}
    assert ids[facilities[1].id] == chosen.id
    assert ids[facilities[0].id] == photos.facility_photos(facilities[0])[0].id


def test_caption_and_room_are_saved_and_a_room_elsewhere_is_refused(
    db, facility, photo_dir, make_unit
):
    room = make_unit(facility=facility)
    elsewhere = make_unit()
    photo = save(facility, photo_dir, picture(), "old")

    photos.update_photo(photo, "  和室からの眺め  ", room.id)
    assert (photo.caption, photo.unit_id) == ("和室からの眺め", room.id)
    for foreign in (elsewhere.id, 10**6, 2**70):
        with pytest.raises(photos.PhotoError) as refused:
            photos.update_photo(photo, "changed", foreign)
        assert refused.value.code == "unit"
    assert (photo.caption, photo.unit_id) == ("和室からの眺め", room.id)
    photos.update_photo(photo, "", None)
    assert (photo.caption, photo.unit_id) == ("", None)


def test_deleting_a_room_keeps_its_photos_for_the_facility(db, facility, photo_dir, make_unit):
    room = make_unit(facility=facility)
    photo = save(facility, photo_dir, picture())
    photos.update_photo(photo, "", room.id)
    db.session.commit()

    db.session.delete(room)
    db.session.commit()
    db.session.expire_all()

    assert db.session.get(FacilityPhoto, photo.id).unit_id is None


# --- who may see which file -----------------------------------------------------------------------


def test_a_copy_is_served_to_whoever_may_see_its_photo_and_nobody_else(
    db, facility, photo_dir, operator, make_user, make_employee
):
    photo = save(facility, photo_dir, picture((1000, 500)))
    db.session.commit()
    stem = photo.filename.removesuffix(".jpg")
    employee, stranger = make_employee(), make_user(Role.OPERATOR)

    assert photos.visible_file(employee, f"{stem}-480.webp") == "image/webp"
    # The original may carry where it was taken: its operator's alone.
    assert photos.visible_file(employee, photo.filename) is None
    assert photos.visible_file(make_user(Role.PLATFORM_ADMIN), photo.filename) is None
    assert photos.visible_file(stranger, photo.filename) is None
    assert photos.visible_file(operator, photo.filename) == "image/jpeg"
    for name in (f"{stem}-1600.webp", f"{stem}-480.png", f"{stem}-0480.webp", "x" * 32 + ".jpg"):
        assert photos.visible_file(employee, name) is None, name

    facility.active = False
    db.session.commit()
    assert photos.visible_file(employee, f"{stem}-480.webp") is None
    assert photos.visible_file(stranger, f"{stem}-480.webp") is None
    assert photos.visible_file(operator, f"{stem}-480.webp") == "image/webp"


# --- copies for photos stored before copies were made ---------------------------------------------


def store_as_before_copies(db, facility, photo_dir, data: bytes, size=(1200, 800)) -> FacilityPhoto:
    """A photo as uploads stored it before copies existed: the original alone, its size
    as stored (not turned upright), no copies listed."""
    photo_dir.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.jpg"
    (photo_dir / name).write_bytes(data)
    photo = FacilityPhoto(
        facility_id=facility.id, filename=name, content_type="image/jpeg", size=len(data),
        width=size[0], height=size[1], caption="", created_at=NOW,
    )  # fmt: skip
    db.session.add(photo)
    db.session.commit()
    return photo


def test_an_old_photo_shows_its_original_until_its_copies_are_made(
    db, facility, photo_dir, operator, make_employee
):
    data = picture((1200, 800), exif=camera_exif(orientation=6))
    assert b"PhoneMaker" in data
    photo = store_as_before_copies(db, facility, photo_dir, data)
    employee = make_employee()
    # Without copies, the original is all a guest can be shown.
    assert photos.visible_file(employee, photo.filename) == "image/jpeg"
    assert photos.lacks_copies(photo, photo_dir)

    written = photos.make_copies(photo, photo_dir)
    db.session.commit()

    stem = photo.filename.removesuffix(".jpg")
    assert sorted(written) == [f"{stem}-480.webp", f"{stem}-800.webp"]
    assert (photo.widths, photo.width, photo.height) == ("480,800", 800, 1200)  # upright now
    assert files(photo_dir) == sorted([photo.filename, *written])
    assert (photo_dir / photo.filename).read_bytes() == data  # the original is kept
    for width, name in photos.photo_copies(photo):
        with Image.open(photo_dir / name) as copy:
            assert copy.size == (width, width * 3 // 2)
            assert not copy.getexif().get_ifd(0x8825)
        assert b"PhoneMaker" not in (photo_dir / name).read_bytes()
    assert not photos.lacks_copies(photo, photo_dir)
    assert photos.visible_file(employee, photo.filename) is None
    assert photos.visible_file(operator, photo.filename) == "image/jpeg"


def test_making_copies_writes_only_those_missing(db, facility, photo_dir):
    photo = save(facility, photo_dir, picture((900, 450)))
    db.session.commit()
    small, large = (photo_dir / name for _w, name in photos.photo_copies(photo))
    kept = small.stat().st_ino, small.read_bytes()
    large.unlink()
    assert photos.lacks_copies(photo, photo_dir)

    assert photos.make_copies(photo, photo_dir) == [large.name]
    db.session.commit()

    assert large.exists() and (small.stat().st_ino, small.read_bytes()) == kept
    assert photos.make_copies(photo, photo_dir) == []  # nothing left to make


def test_an_interrupted_run_leaves_a_copy_that_is_replaced(db, facility, photo_dir):
    photo = store_as_before_copies(db, facility, photo_dir, picture((600, 400)))
    leftover = photo_dir / photos.copy_name(photo.filename, 480)
    leftover.write_bytes(b"RIFF half a webp")

    assert leftover.name in photos.make_copies(photo, photo_dir)
    with Image.open(leftover) as copy:
        assert (copy.format, copy.size) == ("WEBP", (480, 320))


def test_copies_are_not_made_of_an_original_that_is_no_picture_or_gone(db, facility, photo_dir):
    broken = store_as_before_copies(db, facility, photo_dir, b"not a picture at all")
    with pytest.raises(photos.PhotoError) as exc:
        photos.make_copies(broken, photo_dir)
    assert exc.value.code == "not_image"
    gone = store_as_before_copies(db, facility, photo_dir, picture())
    (photo_dir / gone.filename).unlink()
    with pytest.raises(FileNotFoundError):
        photos.make_copies(gone, photo_dir)
    db.session.rollback()
    assert files(photo_dir) == [broken.filename]
    assert (broken.widths, gone.widths) == ("", "")


def make_copies_command(app):
    return app.test_cli_runner().invoke(args=["photos", "make-copies"])


def test_the_command_makes_the_missing_copies_once(app, db, facility, photo_dir):
    app.instance_path = str(photo_dir.parent)
    old = [store_as_before_copies(db, facility, photo_dir, picture((700, 350))) for _ in range(2)]
    new = save(facility, photo_dir, picture((700, 350)))
    db.session.commit()
    # The command never looks inside copies it finds: a marker in one survives.
    marked = photo_dir / photos.copy_name(new.filename, 480)
    marked.write_bytes(b"made at upload")

    result = make_copies_command(app)

    assert result.exit_code == 0, result.output
    assert "Copies made for 2 photo(s)." in result.output
    db.session.expire_all()
    assert [p.widths for p in old] == ["480,700", "480,700"]
    assert files(photo_dir) == sorted(
        name for p in [*old, new] for name in [p.filename, *dict(photos.photo_copies(p)).values()]
    )
    assert marked.read_bytes() == b"made at upload"
    again = make_copies_command(app)
    assert (again.exit_code, again.output.strip()) == (0, "Copies made for 0 photo(s).")


def test_the_command_names_the_photos_it_could_not_give_copies_and_goes_on(
    app, db, facility, photo_dir
):
    app.instance_path = str(photo_dir.parent)
    broken = store_as_before_copies(db, facility, photo_dir, b"not a picture at all")
    gone = store_as_before_copies(db, facility, photo_dir, picture())
    (photo_dir / gone.filename).unlink()
    fine = store_as_before_copies(db, facility, photo_dir, picture((300, 200)))

    result = make_copies_command(app)

    assert result.exit_code == 1
    assert f"Photo {broken.id}: no copies made" in result.output
    assert f"Photo {gone.id}: no copies made (the original is missing)." in result.output
    assert "Copies made for 1 photo(s)." in result.output
    assert "2 photo(s) could not be given copies" in result.output
    db.session.expire_all()
    assert (broken.widths, gone.widths, fine.widths) == ("", "", "300")
