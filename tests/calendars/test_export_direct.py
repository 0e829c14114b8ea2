"""What the export feeds say of a direct stay and of a stay that gave nights back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from availability import direct
from booking import services as booking_services
from booking.models import BookingStatus
from calendars import export as calendar_export
from tests.conftest import NOW, days

UID_KEY = calendar_export.uid_key("test-secret")
DOMAIN = "engawa.example"


def events(body: str) -> list[dict[str, str]]:
    """Each VEVENT of an unfolded feed as {property: value}."""
    out = []
    for chunk in re.findall(r"BEGIN:VEVENT\r\n(.*?)END:VEVENT", body, re.DOTALL):
        lines = chunk.replace("\r\n ", "").split("\r\n")
        out.append(dict(line.split(":", 1) for line in lines if ":" in line))
    return out


def spans(body: str) -> set[tuple[str, str, str]]:
    return {(e["DTSTART;VALUE=DATE"], e["DTEND;VALUE=DATE"], e["SUMMARY"]) for e in events(body)}


def feed(db, export) -> str:
    db.session.commit()
    return calendar_export.render(export, NOW, UID_KEY, DOMAIN).body.decode()


def ymd(n: int) -> str:
    return f"{days(n):%Y%m%d}"


def test_a_direct_stay_is_reserved_without_the_guests_name(db, unit, operator, make_unit):
    direct.record_direct_stay(
        operator,
        unit,
        days(3),
        days(6),
        guest_name="Taro Walkin",
        guests=2,
        nightly_price=15000,
        note="pays cash at the desk",
        now=NOW,
    )
    db.session.commit()
    for export in (
        calendar_export.export_for_unit(unit, NOW),
        calendar_export.export_for_facility(unit.facility, NOW),
    ):
        body = feed(db, export)
        assert spans(body) == {(ymd(3), ymd(6), "Reserved")}
        for secret in ("Taro", "Walkin", "cash", "15000", "15,000", "direct"):
            assert secret not in body


def test_a_cancelled_direct_stay_leaves_the_feed(db, unit, operator):
    stay = direct.record_direct_stay(
        operator,
        unit,
        days(3),
        days(6),
        guest_name="Taro",
        guests=1,
        nightly_price=0,
        note="",
        now=NOW,
    )
    export = calendar_export.export_for_unit(unit, NOW)
    assert spans(feed(db, export)) == {(ymd(3), ymd(6), "Reserved")}
    direct.cancel_direct_stay(stay, NOW)
    assert spans(feed(db, export)) == set()


@pytest.mark.parametrize(
    ("status", "released", "shown_until"),
    [
        (BookingStatus.CHECKED_OUT, 2, 2),  # left early: nights from the 2nd given back
        (BookingStatus.NO_SHOW, 1, 1),  # never came, marked on the 2nd night
        (BookingStatus.NO_SHOW, 0, None),  # marked on the check-in day: holds no night
        (BookingStatus.CHECKED_IN, None, 4),  # in the house: the whole stay
    ],
)
def test_a_stay_that_gave_nights_back_ends_where_it_stops_holding_them(
    db, unit, make_user, status, released, shown_until
):
    booking = booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, days(0), days(4), 1), NOW
    )
    booking.status = status
    booking.released_on = None if released is None else days(released)
    if status == BookingStatus.NO_SHOW:
        booking.no_show_at = NOW + timedelta(days=max(released, 0))
    elif status == BookingStatus.CHECKED_OUT:
        booking.checked_in_at = NOW
        booking.checked_out_at = NOW + timedelta(days=released)
    else:
        booking.checked_in_at = NOW
    export = calendar_export.export_for_unit(unit, NOW)
    expected = set() if shown_until is None else {(ymd(0), ymd(shown_until), "Reserved")}
    assert spans(feed(db, export)) == expected
