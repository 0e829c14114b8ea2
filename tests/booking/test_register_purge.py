"""The guest register's purge (``booking.register_purge``): with a fixed ``now``, the
register of a stay that checked out more than 3 years ago (Japan dates) goes, one of 3
years less a day stays; a cancelled stay's goes at once; passport images go before the
lines; each purge is recorded with counts only; a second run does nothing; a run works
in batches. SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from booking import register_purge
from booking.models import Booking, BookingStatus
from booking.register_purge import purge_job, purge_registers, retention_cutoff
from lodging import register
from lodging.guests import GuestDetails
from lodging.models import PassportImage, RegisteredGuest, RegisterPurge, RegisterRead

# 2029-12-01 00:30 in Tokyo, still 30 November in UTC: "today" is the Tokyo date.
NOW = datetime(2029, 11, 30, 15, 30, tzinfo=UTC)
TODAY = date(2029, 12, 1)
CUTOFF = date(2026, 12, 1)  # 3 years before TODAY

LOCAL = GuestDetails(name="山田 花子", address="長野県松本市中央1-2-3", phone="+81263123456")
ABROAD = GuestDetails(
    name="Emma Schmidt",
    address="Hauptstraße 5, 10115 Berlin",
    phone="+4930123456",
    nationality="DE",
    passport_number="C01X00T47",
    lives_abroad=True,
)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def stay(db, make_employee, make_unit):
    """Makes a stay of ``unit`` ending on ``check_out`` (the nights before it), with a
    register of a local booker and a companion from abroad with a passport image."""
    employee = make_employee()
    unit = make_unit(capacity=2)

    def make(check_out: date, *, status: str = BookingStatus.CHECKED_OUT, nights: int = 2):
        booking = Booking(
            user_id=employee.id,
            company_id=employee.company_id,
            unit_id=unit.id,
            check_in=check_out - timedelta(days=nights),
            check_out=check_out,
            guests=2,
            status=status,
            total_price=20_000,
        )
        db.session.add(booking)
        db.session.flush()
        rows = register.save_guests(booking.id, [LOCAL, ABROAD], entered_by_id=employee.id, now=NOW)
        register.save_passport_image(rows[1].id, png(), NOW)
        register.record_read([booking.id], unit.facility_id, employee.id, "edit", NOW)
        db.session.commit()
        return booking

    make.unit = unit
    return make


def lines(db, booking_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count())
        .select_from(RegisteredGuest)
        .where(RegisteredGuest.booking_id == booking_id)
    )


def purges(db) -> list[tuple[int, int, str, int, int]]:
    db.session.rollback()
    return [
        tuple(r)
        for r in db.session.execute(
            select(
                RegisterPurge.booking_id,
                RegisterPurge.facility_id,
                RegisterPurge.reason,
                RegisterPurge.guests,
                RegisterPurge.passport_images,
            ).order_by(RegisterPurge.booking_id)
        )
    ]


def test_the_cutoff_is_three_years_back_in_japan_dates():
    assert register.RETENTION_YEARS == 3
    assert retention_cutoff(TODAY) == CUTOFF
    assert retention_cutoff(date(2028, 2, 29)) == date(2025, 2, 28)  # a day longer, not less
    assert retention_cutoff(date(2027, 3, 1)) == date(2024, 3, 1)


def test_a_register_goes_three_years_and_a_day_after_check_out_and_not_before(db, stay):
    gone = stay(CUTOFF - timedelta(days=1))  # checked out 3 years and a day ago
    exactly = stay(CUTOFF)  # exactly 3 years ago: kept one more day
    kept = stay(CUTOFF + timedelta(days=1))  # 3 years less a day
    no_show = stay(CUTOFF - timedelta(days=30), status=BookingStatus.NO_SHOW)

    assert purge_registers(NOW) == 2

    assert lines(db, gone.id) == lines(db, no_show.id) == 0
    assert lines(db, exactly.id) == lines(db, kept.id) == 2
    facility_id = stay.unit.facility_id
    assert purges(db) == [
        (gone.id, facility_id, "retention", 2, 1),
        (no_show.id, facility_id, "retention", 2, 1),
    ]
    images = db.session.scalar(select(func.count()).select_from(PassportImage))
    assert images == 2  # the kept stays' images only
    # The read log names stays only: it stays.
    assert db.session.scalar(
        select(func.count()).select_from(RegisterRead).where(RegisterRead.booking_id == gone.id)
    )
    # The next day, the one of exactly 3 years goes too.
    assert purge_registers(NOW + timedelta(days=1)) == 1
    assert lines(db, exactly.id) == 0 and lines(db, kept.id) == 2


def test_the_japan_date_decides_not_the_utc_one(db, stay):
    gone = stay(CUTOFF - timedelta(days=1))
    utc_evening_before = NOW - timedelta(hours=1)  # 23:30 in Tokyo on 30 November

    assert purge_registers(utc_evening_before) == 0
    assert purge_registers(NOW) == 1
    assert lines(db, gone.id) == 0


def test_a_cancelled_stays_register_goes_at_once(db, stay):
    future = stay(TODAY + timedelta(days=10), status=BookingStatus.CANCELLED)
    booked = stay(TODAY + timedelta(days=10), status=BookingStatus.CONFIRMED)

    assert purge_registers(NOW) == 1

    assert lines(db, future.id) == 0 and lines(db, booked.id) == 2
    assert purges(db) == [(future.id, stay.unit.facility_id, "cancelled", 2, 1)]


def test_passport_images_go_before_the_lines(db, stay):
    stay(CUTOFF - timedelta(days=1))
    deletes: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        assert purge_registers(NOW) == 1
    finally:
        event.remove(engine, "before_cursor_execute", watch)

    tables = [
        "image" if "register_passport_image" in s else "guest" if "register_guest" in s else "x"
        for s in deletes
    ]
    assert "image" in tables and "guest" in tables
    assert tables.index("image") < tables.index("guest")


def test_a_second_run_does_nothing(db, stay):
    stay(CUTOFF - timedelta(days=1))
    stay(TODAY, status=BookingStatus.CANCELLED)
    assert purge_registers(NOW) == 2
    recorded = purges(db)

    assert purge_registers(NOW) == 0
    assert purge_registers(NOW + timedelta(days=400)) == 0
    assert purges(db) == recorded


def test_a_run_works_in_batches_and_the_next_goes_on(db, stay):
    old = [stay(CUTOFF - timedelta(days=n)) for n in (1, 5, 9)]

    assert purge_registers(NOW, batch=1, max_batches=2) == 2
    assert sorted(lines(db, b.id) for b in old) == [0, 0, 2]
    assert purge_registers(NOW, batch=2) == 1
    assert [lines(db, b.id) for b in old] == [0, 0, 0]


def test_a_stay_without_a_register_is_left_alone(db, stay, make_employee):
    employee = make_employee()
    bare = Booking(
        user_id=employee.id,
        company_id=employee.company_id,
        unit_id=stay.unit.id,
        check_in=date(2020, 1, 1),
        check_out=date(2020, 1, 3),
        guests=1,
        status=BookingStatus.CHECKED_OUT,
        total_price=0,
    )
    db.session.add(bare)
    db.session.commit()

    assert purge_registers(NOW) == 0
    assert purges(db) == []


def test_the_job_says_what_it_purged(db, stay):
    stay(CUTOFF - timedelta(days=1))

    assert purge_job(NOW) == "1 guest register entries purged"
    assert purge_job(NOW) == ""
    assert register_purge.BATCH > 0 and register_purge.MAX_BATCHES > 0
