"""The operator console's services and read models, called directly."""

from __future__ import annotations

import errno
import struct
import zlib
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from io import BytesIO, FileIO

import pytest
from PIL import Image
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from accounts.models import Role, User
from availability import closing
from availability.blocks import BlockError
from availability.models import Block, Occupancy
from booking import cancellation, lookups
from booking import services as booking
from calendars.models import CalendarFeed
from consoles.operator import operations
from facilities import photos, services
from facilities.models import FacilityPhoto
from tests.conftest import NOW, TODAY, days

# --- helpers ------------------------------------------------------------------------------


def stay(db, employee, unit, check_in: date, check_out: date, guests: int = 1):
    """A confirmed stay, booked early enough that past dates are allowed."""
    booked_at = datetime.combine(check_in - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    result = booking.book_stay(
        employee, booking.StayRequest(unit.id, check_in, check_out, guests), booked_at
    )
    db.session.commit()
    return result


def image_bytes(fmt: str = "PNG", size=(40, 30)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (120, 90, 40)).save(out, fmt)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions (a decompression bomb's header), without pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@contextmanager
def counted_queries(db):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def operator(make_user):
    return make_user(Role.OPERATOR)


@pytest.fixture
def photo_dir(tmp_path):
    return tmp_path / "photos"


@pytest.fixture
def facility(make_facility, operator):
    return make_facility(operator=operator.operator)


# --- lookups ------------------------------------------------------------------------------


def test_lookups_answer_only_within_the_operators_organisation(
    db, operator, facility, make_user, make_unit, photo_dir
):
    unit = make_unit(facility=facility)
    foreign = make_unit()
    [block] = closing.close_facility_dates(
        operator, facility, unit.id, days(3), days(4), "maintenance", "", NOW
    )
    photo = services.save_photo(facility, BytesIO(image_bytes()), "a.png", NOW, photo_dir, 10**6)
    db.session.commit()
    stranger = make_user(Role.OPERATOR)
    employee = make_user(Role.EMPLOYEE)

    assert services.operator_facility(operator, facility.id) is facility
    assert services.operator_unit(operator, unit.id) is unit
    assert closing.operator_block(operator, block.id) is block
    assert services.operator_photo(operator, photo.id) is photo
    assert [f.id for f in services.operator_facilities(operator)] == [facility.id]
    for actor in (stranger, employee):
        assert services.operator_facility(actor, facility.id) is None
        assert services.operator_unit(actor, unit.id) is None
        assert closing.operator_block(actor, block.id) is None
        assert services.operator_photo(actor, photo.id) is None
        assert services.operator_facilities(actor) == []
    assert services.operator_unit(operator, foreign.id) is None
    for impossible in (0, 2**31, 2**63):
        assert services.operator_facility(operator, impossible) is None
        assert services.operator_unit(operator, impossible) is None


def test_an_operator_without_an_organisation_sees_nothing(facility):
    orphan = User(email="x@example.com", name="x", password_hash="x", role=Role.OPERATOR)
    assert services.operator_facilities(orphan) == []
    assert services.operator_facility(orphan, facility.id) is None


# --- facilities and rooms -----------------------------------------------------------------


def test_a_facility_with_min_above_max_nights_is_refused(db, operator, facility):
    values = {name: getattr(facility, name) for name in services.FACILITY_FIELDS}
    values.update(min_nights=10, max_nights=5)
    with pytest.raises(services.ConsoleError):
        services.create_facility(operator, values, NOW)
    with pytest.raises(services.ConsoleError):
        services.update_facility(facility, values)


def test_room_names_are_unique_within_a_facility(db, facility, make_unit, make_facility):
    make_unit(facility=facility, name="101 和室")
    with pytest.raises(services.ConsoleError) as exc:
        services.create_unit(facility, {"name": "101 和室", "capacity": 2, "base_price": 9000})
    assert exc.value.code == "name_taken"
    # Another facility may have its own 101; renaming a room to its own name is fine.
    other = make_facility()
    services.create_unit(other, {"name": "101 和室", "capacity": 2, "base_price": 9000})
    room = make_unit(facility=facility, name="102")
    services.update_unit(room, {"name": "102", "capacity": 3, "base_price": 0})
    assert (room.capacity, room.base_price) == (3, 0)


def test_deactivating_counts_the_stays_still_to_come(
    db, operator, facility, make_unit, make_employee
):
    unit = make_unit(facility=facility)
    stay(db, make_employee(), unit, days(-3), days(0))  # ended this morning
    stay(db, make_employee(), unit, days(0), days(2))
    stay(db, make_employee(), unit, days(10), days(12))
    cancelled = stay(db, make_employee(), unit, days(20), days(22))
    cancellation.cancel_booking(cancelled.user, cancelled.id, NOW)

    services.set_facility_active(facility, False)
    assert facility.active is False
    assert lookups.upcoming_stay_count([u.id for u in facility.units], TODAY) == 2
    services.set_unit_active(unit, False)
    assert unit.active is False
    assert lookups.upcoming_stay_count([unit.id], TODAY) == 2
    services.set_unit_active(unit, True)
    assert unit.active is True


# --- photos -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "ext", "content_type"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp")],
)
def test_photos_are_stored_under_a_random_name_by_their_content(
    db, facility, photo_dir, fmt, ext, content_type
):
    data = image_bytes(fmt, (64, 48))
    photo = services.save_photo(
        facility, BytesIO(data), "../../etc/passwd.gif", NOW, photo_dir, 10**6, caption=" 外観 "
    )
    db.session.commit()

    assert photo.filename.endswith(f".{ext}") and len(photo.filename) == 32 + 1 + len(ext)
    assert "passwd" not in photo.filename
    assert (photo.content_type, photo.width, photo.height) == (content_type, 64, 48)
    assert (photo.size, photo.caption) == (len(data), "外観")
    assert (photo_dir / photo.filename).read_bytes() == data
    # Beside the original, only its resized copies (named after it, never after the upload).
    copies = [name for _width, name in photos.photo_copies(photo)]
    assert copies == [photo.filename.replace(f".{ext}", "-64.webp")]
    assert sorted(p.name for p in photo_dir.iterdir()) == sorted([photo.filename, *copies])


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"hello, I am a text file pretending to be a JPEG\n", "not_image"),
        (b"", "empty"),
        (image_bytes("GIF"), "type"),
        (image_bytes("BMP"), "type"),
        (image_bytes("PNG")[:40], "not_image"),  # truncated
        (png_header(100_000, 100_000), "too_many_pixels"),  # Pillow refuses: a bomb
        (png_header(7_000, 7_000), "too_many_pixels"),  # 49 MP: Pillow only warns
        (png_header(40_000, 1_001), "too_many_pixels"),  # just over our limit
    ],
    ids=["text", "empty", "gif", "bmp", "truncated", "bomb", "warned-bomb", "over-limit"],
)
def test_anything_but_a_sane_jpeg_png_or_webp_is_refused(db, facility, photo_dir, data, code):
    with pytest.raises(services.PhotoError) as exc:
        services.save_photo(facility, BytesIO(data), "photo.jpg", NOW, photo_dir, 10**6)
    assert exc.value.code == code
    assert str(exc.value.message)
    assert not photo_dir.exists() or list(photo_dir.iterdir()) == []
    assert db.session.scalar(select(func.count()).select_from(FacilityPhoto)) == 0


def test_a_photo_over_the_size_limit_is_refused_after_reading_one_byte_more(
    db, facility, photo_dir
):
    data = image_bytes("PNG", (200, 200))

    class Counting(BytesIO):
        asked: list[int] = []

        def read(self, size=-1):
            self.asked.append(size)
            return super().read(size)

    upload = Counting(data)
    with pytest.raises(services.PhotoError) as exc:
        services.save_photo(facility, upload, "big.png", NOW, photo_dir, len(data) - 1)
    assert exc.value.code == "too_big"
    assert upload.asked == [len(data)]  # never the whole stream unbounded
    services.save_photo(facility, BytesIO(data), "big.png", NOW, photo_dir, len(data))


def test_a_facility_has_a_photo_limit(db, facility, photo_dir, monkeypatch):
    monkeypatch.setattr(photos, "MAX_PHOTOS_PER_FACILITY", 2)
    for _ in range(2):
        services.save_photo(facility, BytesIO(image_bytes()), "a.png", NOW, photo_dir, 10**6)
    with pytest.raises(services.PhotoError) as exc:
        services.save_photo(facility, BytesIO(image_bytes()), "a.png", NOW, photo_dir, 10**6)
    assert exc.value.code == "too_many"


def test_a_row_the_database_refuses_leaves_no_file(db, facility, photo_dir, monkeypatch):
    def refuse():
        raise OperationalError("INSERT INTO facility_photo", {}, Exception("disk I/O error"))

    monkeypatch.setattr(db.session, "flush", refuse)
    with pytest.raises(OperationalError):
        services.save_photo(facility, BytesIO(image_bytes()), "a.png", NOW, photo_dir, 10**6)

    assert not photo_dir.exists() or list(photo_dir.iterdir()) == []


def test_a_failed_write_leaves_no_file(db, facility, photo_dir, monkeypatch):
    """A disk that fills up half-way: the half-written file goes too."""

    class FullDisk(FileIO):
        def write(self, data):
            super().write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(photos, "open", FullDisk, raising=False)
    with pytest.raises(OSError):
        services.save_photo(facility, BytesIO(image_bytes()), "a.png", NOW, photo_dir, 10**6)

    assert list(photo_dir.iterdir()) == []


def test_deleting_a_photo_removes_row_then_file(db, facility, photo_dir):
    photo = services.save_photo(facility, BytesIO(image_bytes()), "a.png", NOW, photo_dir, 10**6)
    db.session.commit()
    name = services.delete_photo(photo)
    db.session.commit()
    assert (photo_dir / name).exists()  # the file goes only after the commit
    services.discard_photo_file(photo_dir, name)
    services.discard_photo_file(photo_dir, name)  # twice is fine
    assert not (photo_dir / name).exists()
    assert db.session.scalar(select(func.count()).select_from(FacilityPhoto)) == 0


# --- closed dates -------------------------------------------------------------------------


def held_by_blocks(db, unit_id: int) -> list[date]:
    return list(
        db.session.scalars(
            select(Occupancy.night)
            .where(Occupancy.unit_id == unit_id, Occupancy.block_id.is_not(None))
            .order_by(Occupancy.night)
        )
    )


def test_closing_a_whole_facility_closes_its_rooms_on_sale(db, operator, facility, make_unit):
    a, b = make_unit(facility=facility), make_unit(facility=facility)
    off = make_unit(facility=facility, active=False)

    closed = closing.close_facility_dates(
        operator, facility, None, days(5), days(7), "private_use", "社員旅行", NOW
    )
    db.session.commit()

    assert sorted(bl.unit_id for bl in closed) == [a.id, b.id]
    assert held_by_blocks(db, a.id) == [days(5), days(6), days(7)]  # both ends included
    assert held_by_blocks(db, off.id) == []
    [period] = closing.closed_periods(facility, TODAY)
    assert (period.start, period.last_night, period.nights) == (days(5), days(7), 3)
    assert sorted(period.unit_names) == sorted([a.name, b.name])
    assert (period.reason, period.note) == ("private_use", "社員旅行")


def test_closing_over_a_booking_is_refused_and_closes_nothing(
    db, operator, facility, make_unit, make_employee
):
    a, b = make_unit(facility=facility), make_unit(facility=facility)
    stay(db, make_employee(), b, days(6), days(8))

    with pytest.raises(BlockError) as exc:
        closing.close_facility_dates(
            operator, facility, None, days(5), days(7), "maintenance", "", NOW
        )
    db.session.rollback()

    assert exc.value.code == "booked"
    assert b.name in str(exc.value.message)
    assert held_by_blocks(db, a.id) == [] and held_by_blocks(db, b.id) == []
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


@pytest.mark.parametrize(
    ("first", "last", "code"),
    [
        (days(5), days(4), "order"),
        (days(-1), days(2), "past"),
        (days(0), days(400), "too_long"),
        (days(1200), days(1201), "too_far"),
        (date(9999, 12, 30), date(9999, 12, 31), "too_far"),
    ],
    ids=["reversed", "past", "too-long", "too-far", "year-9999"],
)
def test_closing_bad_dates_is_refused(db, operator, facility, make_unit, first, last, code):
    unit = make_unit(facility=facility)
    with pytest.raises(BlockError) as exc:
        closing.close_facility_dates(
            operator, facility, unit.id, first, last, "maintenance", "", NOW
        )
    assert exc.value.code == code


def test_closing_a_room_of_another_facility_is_refused(db, operator, facility, make_unit):
    make_unit(facility=facility)
    foreign = make_unit()
    with pytest.raises(BlockError) as exc:
        closing.close_facility_dates(
            operator, facility, foreign.id, days(3), days(4), "maintenance", "", NOW
        )
    assert exc.value.code == "unit"
    assert held_by_blocks(db, foreign.id) == []


# --- arrivals, departures, in house -------------------------------------------------------


def test_days_ahead_sorts_stays_into_arrivals_departures_and_staying(
    db, facility, make_unit, make_employee, make_company
):
    unit, other_room = make_unit(facility=facility, name="101"), make_unit(facility=facility)
    guest = make_employee(name="山田 花子", company=make_company(name="Acme 株式会社"))
    long_stay = stay(db, guest, unit, days(-2), days(3))
    arriving = stay(db, make_employee(), other_room, days(0), days(2))
    later = stay(db, make_employee(), unit, days(7), days(10))
    beyond = stay(db, make_employee(), other_room, days(8), days(9))  # starts after the 8 days
    cancelled = stay(db, make_employee(), other_room, days(4), days(6))
    cancellation.cancel_booking(cancelled.user, cancelled.id, NOW)
    stay(db, make_employee(), make_unit(), days(0), days(2))  # another facility

    agenda = operations.days_ahead(facility, TODAY)

    assert [d.day for d in agenda] == [days(i) for i in range(8)]
    ids = [
        ([s.booking_id for s in d.arrivals], [s.booking_id for s in d.departures],
         [s.booking_id for s in d.staying])
        for d in agenda
    ]  # fmt: skip
    assert ids[0] == ([arriving.id], [], [long_stay.id])
    assert ids[1] == ([], [], [long_stay.id, arriving.id])
    assert ids[2] == ([], [arriving.id], [long_stay.id])
    assert ids[3] == ([], [long_stay.id], [])
    assert ids[7] == ([later.id], [], [])
    assert all(beyond.id not in sum(day, []) for day in ids)
    assert [d.in_house for d in agenda[:4]] == [2, 2, 1, 0]
    first = agenda[0].staying[0]
    assert (first.guest_name, first.company, first.unit_name, first.nights) == (
        "山田 花子",
        "Acme 株式会社",
        "101",
        5,
    )


def test_today_counts_per_facility(db, facility, make_unit, make_employee, make_facility):
    unit = make_unit(facility=facility)
    room = make_unit(facility=facility)
    stay(db, make_employee(), unit, days(-2), days(0))  # leaves today
    stay(db, make_employee(), unit, days(0), days(2))  # arrives today
    stay(db, make_employee(), room, days(-1), days(1))  # stays on
    quiet = make_facility()

    counts = operations.today_counts([facility.id, quiet.id], TODAY)

    assert counts[facility.id] == operations.TodayCounts(arrivals=1, departures=1, in_house=2)
    assert quiet.id not in counts


# --- housekeeping -------------------------------------------------------------------------

# The fixture facility's check-out time is 10:00 Tokyo = 01:00 UTC.
BEFORE_CHECKOUT = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo
AFTER_CHECKOUT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


def board_status(facility, now) -> dict[str, str]:
    return {r.unit.name: r.status for r in operations.housekeeping_board(facility, now)}


def test_a_room_becomes_dirty_when_its_guest_checks_out(db, facility, make_unit, make_employee):
    unit = make_unit(facility=facility, name="101")
    stay(db, make_employee(), unit, days(-3), days(0))

    assert board_status(facility, BEFORE_CHECKOUT) == {"101": "clean"}
    [room] = operations.housekeeping_board(facility, AFTER_CHECKOUT)
    assert (room.status, room.stored, room.departing_today) == ("dirty", "clean", True)
    assert room.checked_out_at == AFTER_CHECKOUT

    # Staff clean it; it stays clean until the next check-out.
    operations.set_housekeeping(unit, "clean", AFTER_CHECKOUT + timedelta(hours=2))
    db.session.commit()
    assert board_status(facility, AFTER_CHECKOUT + timedelta(hours=3)) == {"101": "clean"}
    operations.set_housekeeping(unit, "inspected", AFTER_CHECKOUT + timedelta(hours=4))
    assert board_status(facility, AFTER_CHECKOUT + timedelta(hours=5)) == {"101": "inspected"}

    stay(db, make_employee(), unit, days(0), days(2))
    assert board_status(facility, AFTER_CHECKOUT + timedelta(days=1)) == {"101": "inspected"}
    assert board_status(facility, AFTER_CHECKOUT + timedelta(days=2)) == {"101": "dirty"}


def test_a_room_nobody_marked_counts_earlier_departures_as_turned_over(
    db, facility, make_unit, make_employee
):
    yesterday = make_unit(facility=facility, name="yesterday")
    stay(db, make_employee(), yesterday, days(-3), days(-1))
    make_unit(facility=facility, name="marked", housekeeping="dirty")
    cancelled = make_unit(facility=facility, name="cancelled")
    gone = stay(db, make_employee(), cancelled, days(-2), days(0))
    cancellation.cancel_booking(gone.user, gone.id, datetime(2026, 11, 28, tzinfo=UTC))
    db.session.commit()

    assert board_status(facility, AFTER_CHECKOUT) == {
        "yesterday": "clean",
        "marked": "dirty",  # as staff left it
        "cancelled": "clean",  # a cancelled stay never checked out
    }


def test_the_board_shows_who_is_in_the_room(db, facility, make_unit, make_employee):
    occupied = make_unit(facility=facility, name="a")
    make_unit(facility=facility, name="b")
    make_unit(facility=facility, name="off", active=False)
    stay(db, make_employee(), occupied, days(0), days(2))

    rooms = {r.unit.name: r for r in operations.housekeeping_board(facility, NOW)}

    assert set(rooms) == {"a", "b"}
    assert rooms["a"].occupied_tonight and rooms["a"].arriving_today
    assert not rooms["b"].occupied_tonight and not rooms["b"].departing_today


def test_an_unknown_housekeeping_status_is_refused(db, facility, make_unit):
    unit = make_unit(facility=facility)
    with pytest.raises(ValueError):
        operations.set_housekeeping(unit, "sparkling", NOW)
    assert unit.housekeeping == "clean" and unit.housekeeping_at is None


# --- occupancy and export -----------------------------------------------------------------


def test_month_occupancy_counts_sold_closed_and_available(
    db, operator, facility, make_unit, make_employee
):
    a, b = make_unit(facility=facility), make_unit(facility=facility)
    off = make_unit(facility=facility)
    stay(db, make_employee(), off, days(1), days(3))
    services.set_unit_active(off, False)  # off sale: not counted at all
    stay(db, make_employee(), a, days(0), days(3))  # Dec 1, 2, 3
    stay(db, make_employee(), a, days(30), days(33))  # Dec 31, then January
    closing.close_facility_dates(
        operator, facility, b.id, days(1), days(2), "maintenance", "", NOW
    )  # Dec 2, 3
    db.session.commit()

    december = operations.month_occupancy(facility, 2026, 12)

    assert (december.first, december.units, len(december.nights)) == (date(2026, 12, 1), 2, 31)
    by_night = {n.night: n for n in december.nights}
    assert (by_night[days(0)].sold, by_night[days(0)].closed, by_night[days(0)].available) == (
        1,
        0,
        2,
    )
    assert (by_night[days(1)].sold, by_night[days(1)].closed, by_night[days(1)].available) == (
        1,
        1,
        1,
    )
    assert by_night[days(1)].free == 0
    assert (december.sold, december.closed, december.available) == (4, 2, 60)
    assert december.rate == 6.7
    january = operations.month_occupancy(facility, 2027, 1)
    assert (january.sold, january.available, len(january.nights)) == (2, 62, 31)
    february = operations.month_occupancy(facility, 2027, 2)
    assert (february.sold, february.rate, len(february.nights)) == (0, 0.0, 28)


def test_month_occupancy_without_rooms_has_no_rate(db, facility):
    empty = operations.month_occupancy(facility, 2026, 12)
    assert (empty.units, empty.available, empty.rate) == (0, 0, None)


def test_bookings_for_csv_are_those_with_a_night_in_the_month(
    db, facility, make_unit, make_employee
):
    unit = make_unit(facility=facility)
    ends_on_the_first = stay(db, make_employee(), unit, date(2026, 11, 28), date(2026, 12, 1))
    across_the_start = stay(db, make_employee(), unit, date(2026, 12, 1), date(2026, 12, 3))
    inside = stay(db, make_employee(), unit, date(2026, 12, 10), date(2026, 12, 12))
    across_the_end = stay(db, make_employee(), unit, date(2026, 12, 31), date(2027, 1, 2))
    cancelled = stay(db, make_employee(), unit, date(2026, 12, 20), date(2026, 12, 22))
    cancellation.cancel_booking(cancelled.user, cancelled.id, NOW)
    stay(db, make_employee(), make_unit(), date(2026, 12, 10), date(2026, 12, 12))
    db.session.commit()

    rows = operations.bookings_for_csv(facility, date(2026, 12, 1), date(2027, 1, 1))

    assert [r.booking_id for r in rows] == [
        across_the_start.id,
        inside.id,
        cancelled.id,
        across_the_end.id,
    ]
    assert ends_on_the_first.id not in [r.booking_id for r in rows]
    first = rows[0]
    assert (first.nights, first.total_yen, first.status, first.unit) == (
        2,
        22000,
        "confirmed",
        unit.name,
    )
    assert rows[2].status == "cancelled"


# --- facility calendar --------------------------------------------------------------------


def test_the_month_grid_shows_booked_closed_external_and_free_nights(
    db, operator, facility, make_unit, make_employee
):
    unit = make_unit(facility=facility, name="101")
    other = make_unit(facility=facility, name="102")
    guest = make_employee(name="鈴木 一郎")
    booked = stay(db, guest, unit, days(2), days(4))
    closing.close_facility_dates(
        operator, facility, unit.id, days(5), days(5), "maintenance", "畳替え", NOW
    )
    feed = CalendarFeed(unit_id=other.id, label="Airbnb", url="https://example.com/a.ics")
    db.session.add(feed)
    db.session.flush()
    external = Block(
        unit_id=other.id,
        start_date=days(9),
        end_date=days(10),
        source="import",
        reason="external",
        feed_id=feed.id,
        event_key="uid-1",
        summary="Reserved",
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(external)
    db.session.flush()
    db.session.add(Occupancy(unit_id=other.id, night=days(9), block_id=external.id))
    db.session.commit()

    grid = operations.facility_month_grid(facility, 2026, 12)

    assert grid.first == date(2026, 12, 1) and len(grid.nights) == 31
    rows = {row.unit.name: {c.night: c for c in row.cells} for row in grid.rows}
    assert list(rows) == ["101", "102"]
    assert (rows["101"][days(2)].status, rows["101"][days(2)].booking_id) == ("booked", booked.id)
    assert rows["101"][days(2)].guest_name == "鈴木 一郎"
    assert rows["101"][days(4)].status == "free"  # the check-out day
    closed = rows["101"][days(5)]
    assert (closed.status, closed.reason, closed.note) == ("closed", "maintenance", "畳替え")
    ext = rows["102"][days(9)]
    assert (ext.status, ext.reason, ext.note) == ("external", "external", "Reserved")
    statuses = [c.status for r in grid.rows for c in r.cells]
    assert statuses.count("free") == 62 - 4


def test_read_models_use_the_same_few_queries_however_many_rooms(
    db, operator, make_facility, make_unit, make_employee
):
    def queries_for(rooms: int) -> list[int]:
        facility = make_facility(operator=operator.operator)
        for n in range(rooms):
            unit = make_unit(facility=facility)
            stay(db, make_employee(), unit, days(n % 3), days(n % 3 + 2))
            stay(db, make_employee(), unit, days(-4), days(0))
        db.session.expire_all()
        counts = []
        for read in (
            lambda f: operations.days_ahead(f, TODAY),
            lambda f: operations.housekeeping_board(f, AFTER_CHECKOUT),
            lambda f: operations.month_occupancy(f, 2026, 12),
            lambda f: operations.facility_month_grid(f, 2026, 12),
            lambda f: operations.today_counts([f.id], TODAY),
            lambda f: closing.closed_periods(f, TODAY),
        ):
            facility = db.session.get(type(facility), facility.id)
            with counted_queries(db) as statements:
                read(facility)
            counts.append(len(statements))
            db.session.expire_all()
        return counts

    few, many = queries_for(2), queries_for(12)
    assert few == many
    assert max(many) <= 4
