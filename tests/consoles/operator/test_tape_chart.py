"""The tape chart (``/operator/facilities/<id>/calendar``) and its selection page.

What the operator sees: each stay a bar with the guest's name and party in the colour
of its state, closings, imported events and direct stays as bars of their own, open
calendar conflicts in red, weekends and holidays, bars clipped at the range's edges,
rooms off sale; the two views and their navigation; bad query values falling back;
another organisation's ids answering 404; closing nights from the selection page; and
a fixed number of queries however many rooms the facility has.

The operator reads English (``locale="en"``) so the words are stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, select

from accounts.models import Role
from availability.blocks import close_dates
from availability.models import Block, DirectStay, Occupancy
from booking.models import Booking
from calendars.models import CalendarConflict, CalendarFeed
from consoles.operator import tape_chart
from tests.conftest import NOW, PASSWORD, TODAY, days, signed_in
from tests.facilities.test_services import counted_queries, stay

# --- reading the chart --------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict
    unit_id: int | None
    text: str = ""

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    @property
    def column(self) -> int:
        return int(next(c[1:] for c in self.classes if re.fullmatch(r"c\d+", c)))

    @property
    def span(self) -> int:
        return int(next(c[1:] for c in self.classes if re.fullmatch(r"s\d+", c)))


@dataclass
class Chart(HTMLParser):
    """The chart's header days, and per room its bars, free nights and bands."""

    elements: list[Element] = field(default_factory=list)
    unit_id: int | None = None
    _open: Element | None = None
    _depth: int = 0

    def __post_init__(self):
        HTMLParser.__init__(self)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if "tape-row" in classes:
            self.unit_id = int(attrs["data-unit-id"])
        kinds = {"bar", "free", "conflict", "released-band", "day", "today-col"}
        if self._open is None and kinds & set(classes) and "key" not in classes:
            element = Element(tag, attrs, self.unit_id)
            self.elements.append(element)
            self._open, self._depth = element, 1
        elif self._open is not None and tag == self._open.tag:
            self._depth += 1

    def handle_data(self, data):
        if self._open is not None:
            self._open.text += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == self._open.tag:
            self._depth -= 1
            if self._depth == 0:
                self._open.text = " ".join(self._open.text.split())
                self._open = None

    def of(self, kind: str, unit=None) -> list[Element]:
        return [
            e for e in self.elements if kind in e.classes and (unit is None or e.unit_id == unit.id)
        ]

    def bar(self, **attrs) -> Element:
        found = [
            e
            for e in self.of("bar")
            if all(e.attrs.get(f"data-{k.replace('_', '-')}") == str(v) for k, v in attrs.items())
        ]
        assert len(found) == 1, (attrs, found)
        return found[0]

    def days(self) -> dict[str, Element]:
        return {e.attrs["data-day"]: e for e in self.of("day")}


def chart(client, facility, query: str = "view=month&month=2026-12") -> Chart:
    response = client.get(f"/operator/facilities/{facility.id}/calendar?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    parsed = Chart()
    parsed.feed(response.get_data(as_text=True))
    return parsed


def column(day: date, first: date = TODAY) -> int:
    """The grid column of ``day`` in a range that starts on ``first``."""
    return tape_chart.FIRST_DAY_COLUMN + (day - first).days


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def house(app, db, client, make_user, make_facility, make_unit):
    """An operator (reading English) signed in, with one facility of three rooms."""
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, name_en="Birch Inn")
    rooms = [
        make_unit(facility=facility, name=name, capacity=4)
        for name in ("101 和室", "102 洋室", "103 離れ")
    ]
    response = client.post("/login", data={"email": operator.email, "password": PASSWORD})
    assert response.status_code == 302
    return SimpleNamespace(operator=operator, facility=facility, a=rooms[0], b=rooms[1], c=rooms[2])


def give_back(db, booking, status: str, from_day: date) -> None:
    """A no-show or an early check-out: the nights from ``from_day`` on are given back."""
    row = db.session.get(Booking, booking.id)
    row.status, row.released_on = status, from_day
    db.session.execute(
        delete(Occupancy).where(Occupancy.booking_id == booking.id, Occupancy.night >= from_day)
    )
    db.session.commit()


def hold(db, unit, block: Block, first: date, end: date) -> Block:
    db.session.add(block)
    db.session.flush()
    for n in range((end - first).days):
        db.session.add(
            Occupancy(unit_id=unit.id, night=first + timedelta(days=n), block_id=block.id)
        )
    db.session.commit()
    return block


def feed_of(db, unit, label: str = "Airbnb") -> CalendarFeed:
    feed = CalendarFeed(unit_id=unit.id, label=label, url="https://ical.example/u/1.ics")
    db.session.add(feed)
    db.session.commit()
    return feed


def imported(db, unit, first: date, end: date, *, holds: bool = True, key: str = "uid-1"):
    feed = feed_of(db, unit)
    block = Block(
        unit_id=unit.id,
        start_date=first,
        end_date=end,
        source="import",
        reason="external",
        feed_id=feed.id,
        event_key=key,
        summary="Reserved",
        created_at=NOW,
        updated_at=NOW,
    )
    if holds:
        return feed, hold(db, unit, block, first, end)
    db.session.add(block)
    db.session.commit()
    return feed, block


def direct_stay(db, unit, first: date, end: date, guest: str = "山田 花子", guests: int = 3):
    block = hold(
        db,
        unit,
        Block(
            unit_id=unit.id,
            start_date=first,
            end_date=end,
            source="direct",
            reason="direct",
            created_at=NOW,
            updated_at=NOW,
        ),
        first,
        end,
    )
    direct = DirectStay(block_id=block.id, guest_name=guest, guests=guests, nightly_price=9000)
    db.session.add(direct)
    db.session.commit()
    return direct


def closing(db, house, unit, first: date, end: date, note: str = "畳替え") -> Block:
    [block] = close_dates(house.operator, [unit], first, end, "maintenance", note, NOW)
    db.session.commit()
    return block


# --- bars ---------------------------------------------------------------------------------


def test_each_stay_is_a_bar_with_its_guest_party_and_state(db, client, house, make_employee):
    confirmed = stay(db, make_employee(name="高橋 陽子"), house.a, days(5), days(8), guests=2)
    arrived = stay(db, make_employee(name="佐藤 健"), house.b, days(0), days(3), guests=1)
    db.session.get(Booking, arrived.id).status = "checked_in"
    db.session.commit()
    left = stay(db, make_employee(name="鈴木 一郎"), house.c, days(-3), days(4), guests=3)
    give_back(db, left, "checked_out", days(2))
    missed = stay(db, make_employee(name="田中 実"), house.a, days(10), days(14), guests=2)
    give_back(db, missed, "no_show", days(11))
    gone = stay(db, make_employee(name="伊藤 取消"), house.b, days(20), days(22))
    db.session.get(Booking, gone.id).status = "cancelled"
    db.session.execute(delete(Occupancy).where(Occupancy.booking_id == gone.id))
    db.session.commit()

    page = chart(client, house.facility)

    bar = page.bar(booking_id=confirmed.id)
    assert "confirmed" in bar.classes and bar.unit_id == house.a.id
    assert bar.text == "高橋 陽子 2 guests"
    assert (bar.column, bar.span) == (column(days(5)), 3)
    assert bar.attrs["href"] == f"/operator/bookings/{confirmed.id}"
    assert "Confirmed" in bar.attrs["title"] and "Sun 6 Dec – Wed 9 Dec" in bar.attrs["title"]
    assert bar.attrs["data-move"] == f"/operator/bookings/{confirmed.id}/move"
    assert bar.attrs["data-check-out"] == days(8).isoformat()

    bar = page.bar(booking_id=arrived.id)
    assert "checked_in" in bar.classes and bar.text == "佐藤 健 1 guest"
    assert "data-move" in bar.attrs  # a guest in the house may change rooms

    # An early check-out: the bar ends where the stay stopped holding nights (clipped
    # at the month's start too), and the nights given back are a band of their own.
    bar = page.bar(booking_id=left.id)
    assert {"checked_out", "released", "clip-start"} <= set(bar.classes)
    assert (bar.column, bar.span) == (column(days(0)), 2)
    assert "data-move" not in bar.attrs
    assert "nights from Thu 3 Dec given back" in bar.attrs["title"]
    [band] = [b for b in page.of("released-band") if b.attrs["data-booking-id"] == str(left.id)]
    assert (band.column, band.span) == (column(days(2)), 2)
    assert band.attrs["href"] == f"/operator/bookings/{left.id}"

    bar = page.bar(booking_id=missed.id)
    assert {"no_show", "released"} <= set(bar.classes)
    assert (bar.column, bar.span) == (column(days(10)), 1) and bar.text == "田中 実 2 guests"
    [band] = [b for b in page.of("released-band") if b.attrs["data-booking-id"] == str(missed.id)]
    assert (band.column, band.span) == (column(days(11)), 3)
    assert "No-show" in band.attrs["aria-label"]

    assert not [b for b in page.of("bar") if b.attrs.get("data-booking-id") == str(gone.id)]
    assert "伊藤 取消" not in str(page.elements)


def test_closings_imported_events_and_direct_stays_are_bars(db, client, house):
    block = closing(db, house, house.a, days(2), days(5), note="畳替え")
    feed, event = imported(db, house.b, days(3), days(6))
    direct = direct_stay(db, house.c, days(1), days(4))

    page = chart(client, house.facility)

    bar = page.bar(block_id=block.id)
    assert "closed" in bar.classes and bar.attrs["data-reason"] == "maintenance"
    assert bar.text == "停 Maintenance"
    assert "Maintenance: 畳替え" in bar.attrs["title"]
    assert (bar.column, bar.span) == (column(days(2)), 3)
    assert bar.attrs["href"] == f"/operator/facilities/{house.facility.id}/close"

    bar = page.bar(block_id=event.id)
    assert "imported" in bar.classes and bar.text == "Airbnb"
    assert "Booked elsewhere · Airbnb · Reserved" in bar.attrs["title"]
    assert bar.attrs["href"] == f"/operator/facilities/{house.facility.id}/calendars"
    assert "data-move" not in bar.attrs

    bar = page.bar(block_id=direct.block_id)
    assert "direct" in bar.classes and bar.text == "山田 花子 3 guests"
    assert "Direct stay" in bar.attrs["title"]
    assert bar.attrs["href"] == f"/operator/direct-stays/{direct.id}"
    # every other night of the month is a free night, once
    free = page.of("free")
    assert len(free) == 3 * 31 - (3 + 3 + 3)


def test_nights_in_an_open_conflict_are_marked_red(db, client, house, make_employee):
    booked = stay(db, make_employee(name="高橋 陽子"), house.a, days(5), days(8))
    feed, event = imported(db, house.a, days(6), days(9), holds=False)
    # the event holds only the night the booking does not
    db.session.add(Occupancy(unit_id=house.a.id, night=days(8), block_id=event.id))
    for key, resolved in (("uid-1", None), ("uid-old", NOW)):
        db.session.add(
            CalendarConflict(
                feed_id=feed.id,
                unit_id=house.a.id,
                booking_id=booked.id,
                event_key=key,
                event_start=days(6),
                event_end=days(9),
                first_night=days(6),
                nights=2,
                detected_at=NOW,
                resolved_at=resolved,
                resolution="operator" if resolved else None,
            )
        )
    db.session.commit()

    page = chart(client, house.facility)

    [band] = page.of("conflict")  # the resolved one is not shown
    assert band.unit_id == house.a.id
    assert (band.column, band.span) == (column(days(6)), 2)
    bar = page.bar(booking_id=booked.id)
    assert "has-conflict" in bar.classes
    assert "in conflict with Airbnb" in bar.attrs["title"]
    assert (page.bar(block_id=event.id).column, page.bar(block_id=event.id).span) == (
        column(days(8)),
        1,
    )


def test_weekends_holidays_and_today_are_marked(client, house):
    january = chart(client, house.facility, "view=month&month=2027-01").days()
    assert len(january) == 31
    new_year = january["2027-01-01"]
    assert "sun" in new_year.classes and new_year.attrs["title"] == "元日"
    assert "元日" in new_year.text
    assert "sat" in january["2027-01-02"].classes
    assert "sun" in january["2027-01-03"].classes and "title" not in january["2027-01-03"].attrs
    assert "sun" in january["2027-01-11"].classes  # 成人の日, a Monday
    assert january["2027-01-11"].attrs["title"] == "成人の日"
    assert not {"sat", "sun"} & set(january["2027-01-05"].classes)
    assert not [d for d in january.values() if "today" in d.classes]

    december = chart(client, house.facility)
    today = december.days()[TODAY.isoformat()]
    assert "today" in today.classes and "Today" in today.text
    today_cols = december.of("today-col")
    assert len(today_cols) == 3 and {t.column for t in today_cols} == {column(TODAY)}


def test_bars_are_clipped_at_the_edges_of_the_range(db, client, house, make_employee):
    early = stay(db, make_employee(), house.a, date(2026, 11, 28), date(2026, 12, 3))
    late = stay(db, make_employee(), house.b, date(2026, 12, 30), date(2027, 1, 2))
    inside = stay(db, make_employee(), house.c, days(10), days(12))

    month = chart(client, house.facility)
    bar = month.bar(booking_id=early.id)
    assert "clip-start" in bar.classes and "clip-end" not in bar.classes
    assert (bar.column, bar.span) == (2, 2)
    assert "Sat 28 Nov – Thu 3 Dec" in bar.attrs["title"]
    bar = month.bar(booking_id=late.id)
    assert "clip-end" in bar.classes and "clip-start" not in bar.classes
    assert (bar.column, bar.span) == (column(date(2026, 12, 30)), 2)
    assert not {"clip-start", "clip-end"} & set(month.bar(booking_id=inside.id).classes)

    two_weeks = chart(client, house.facility, "view=2w&start=2026-12-02")
    bar = two_weeks.bar(booking_id=early.id)
    assert "clip-start" in bar.classes and (bar.column, bar.span) == (2, 1)
    assert bar.attrs["data-start"] == "2026-11-28"  # a drag moves the whole stay
    assert not [b for b in two_weeks.of("bar") if b.attrs.get("data-booking-id") == str(late.id)]


# --- views and navigation -----------------------------------------------------------------


def test_two_weeks_from_today_by_default(client, house):
    response = client.get(f"/operator/facilities/{house.facility.id}/calendar")
    text = response.get_data(as_text=True)
    page = Chart()
    page.feed(text)

    assert list(page.days()) == [days(n).isoformat() for n in range(14)]
    assert 'data-testid="range">Tue 1 Dec – Mon 14 Dec<' in text
    assert "<title>Calendar · Birch Inn | Engawa</title>" in text
    base = f"/operator/facilities/{house.facility.id}/calendar"
    assert f'href="{base}?view=2w&amp;start=2026-11-24" rel="prev"' in text
    assert f'href="{base}?view=2w&amp;start=2026-12-08" rel="next"' in text
    assert f'href="{base}?view=month&amp;month=2026-12"' in text
    assert 'data-testid="from-today"' not in text  # already from today
    assert len(page.of("free")) == 3 * 14
    assert "<script" not in text[text.index("<main") :]  # the script is a file


def test_two_weeks_from_a_date_and_the_month_view(client, house):
    later = chart(client, house.facility, "view=2w&start=2027-01-25")
    assert list(later.days())[0] == "2027-01-25" and list(later.days())[-1] == "2027-02-07"

    text = client.get(
        f"/operator/facilities/{house.facility.id}/calendar?view=month&month=2027-02"
    ).get_data(as_text=True)
    assert 'data-testid="month">February 2027<' in text
    assert "days-28" in text and "?month=2027-01" in text and "?month=2027-03" in text
    # a month alone means the month view (the close page sends the operator there)
    alone = chart(client, house.facility, "month=2027-03")
    assert len(alone.days()) == 31 and "2027-03-31" in alone.days()


@pytest.mark.parametrize(
    ("query", "first", "count"),
    [
        ("view=month&month=garbage", "2026-12-01", 31),
        ("view=month&month=2026-13", "2026-12-01", 31),
        ("view=month&month=9999-12", "2026-12-01", 31),
        ("month=", "2026-12-01", 31),
        ("view=2w&start=garbage", "2026-12-01", 14),
        ("view=2w&start=2026-02-30", "2026-12-01", 14),
        ("view=2w&start=9999-12-31", "2026-12-01", 14),
        ("view=2w&start=0001-01-01", "2026-12-01", 14),
        ("view=2w&start=2026-W49", "2026-12-01", 14),
        ("view=sideways&start=2026-12-05", "2026-12-05", 14),
    ],
)
def test_bad_query_values_fall_back(client, house, query, first, count):
    page = chart(client, house.facility, query)
    assert list(page.days())[0] == first and len(page.days()) == count


def test_another_organisations_chart_and_selection_answer_404(
    app, db, house, make_user, make_facility, make_unit
):
    stranger = make_user(Role.OPERATOR)
    theirs = make_facility(operator=stranger.operator)
    their_room = make_unit(facility=theirs)
    mine = f"/operator/facilities/{house.facility.id}"
    other = signed_in(app, stranger)

    assert other.get(f"{mine}/calendar").status_code == 404
    assert other.get(f"{mine}/calendar?view=month&month=2026-12").status_code == 404
    query = f"unit_id={house.a.id}&start={days(3)}&end={days(5)}"
    assert other.get(f"{mine}/calendar/selection?{query}").status_code == 404
    response = other.post(f"{mine}/calendar/selection?{query}", data={"reason": "maintenance"})
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0
    # their own room through my facility's address: 404 too
    mixed = f"/operator/facilities/{theirs.id}/calendar/selection?unit_id={house.a.id}"
    assert other.get(f"{mixed}&start={days(3)}&end={days(5)}").status_code == 404
    assert other.get(f"/operator/facilities/{theirs.id}/calendar").status_code == 200
    assert their_room.name in other.get(f"/operator/facilities/{theirs.id}/calendar").get_data(
        as_text=True
    )


def test_a_room_off_sale_is_marked_and_its_nights_not_offered(db, client, house):
    house.c.active = False
    db.session.commit()

    text = client.get(f"/operator/facilities/{house.facility.id}/calendar").get_data(as_text=True)

    assert (
        f'<div class="tape-row off-sale" role="group" aria-labelledby="room-{house.c.id}"' in text
    )
    assert (
        f'id="room-{house.c.id}"><span class="name">103 離れ</span>'
        ' <span class="badge off">Off sale</span>'
    ) in text
    page = chart(client, house.facility, "")
    assert [f.tag for f in page.of("free", house.c)] == ["span"] * 14
    assert {f.tag for f in page.of("free", house.a)} == {"a"}
    selection = f"/operator/facilities/{house.facility.id}/calendar/selection"
    query = f"?unit_id={house.c.id}&start={days(3)}&end={days(5)}"
    assert "This room is off sale." in client.get(selection + query).get_data(as_text=True)
    refused = client.post(selection + query, data={"reason": "maintenance"})
    assert refused.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


def test_free_nights_link_to_the_selection_page_and_past_ones_do_not(client, house):
    page = chart(client, house.facility, "view=2w&start=2026-11-28")

    free = page.of("free", house.a)
    past = [f for f in free if f.tag == "span"]
    links = [f for f in free if f.tag == "a"]
    assert len(past) == 3 and len(links) == 11  # 28, 29, 30 November are over
    first = links[0]
    assert first.attrs["href"] == (
        f"/operator/facilities/{house.facility.id}/calendar/selection?view=2w&at=2026-11-28"
        f"&unit_id={house.a.id}&start=2026-12-01&end=2026-12-02"
    )
    assert first.attrs["aria-label"] == "Free night Tue 1 Dec"


# --- the selection page -------------------------------------------------------------------


def selection_url(house, unit, first: date, end: date, extra: str = "") -> str:
    return (
        f"/operator/facilities/{house.facility.id}/calendar/selection"
        f"?unit_id={unit.id}&start={first}&end={end}{extra}"
    )


def manual_nights(db, unit) -> list[date]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(Occupancy.night)
            .join(Block, Block.id == Occupancy.block_id)
            .where(Occupancy.unit_id == unit.id, Block.source == "manual")
            .order_by(Occupancy.night)
        )
    )


def test_the_selection_page_closes_two_nights(db, client, house):
    url = selection_url(house, house.b, days(9), days(11), "&view=2w&at=2026-12-05")

    page = client.get(url).get_data(as_text=True)
    assert "102 洋室" in page
    assert "Thu 10 Dec 2026 – Fri 11 Dec 2026" in page
    assert "(2 nights)" in page
    direct = f"/operator/facilities/{house.facility.id}/direct-stays/new?unit_id={house.b.id}"
    assert f'href="{direct}&amp;start={days(9)}&amp;end={days(11)}"' in page
    for reason in ("maintenance", "private_use", "other"):
        assert f'value="{reason}"' in page
    assert 'value="external"' not in page and 'value="direct"' not in page

    response = client.post(url, data={"reason": "private_use", "note": "オーナー利用"})

    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/operator/facilities/{house.facility.id}/calendar?view=2w&start=2026-12-05"
    )
    assert manual_nights(db, house.b) == [days(9), days(10)]
    block = db.session.scalar(select(Block))
    assert (block.unit_id, block.source, block.reason, block.note) == (
        house.b.id,
        "manual",
        "private_use",
        "オーナー利用",
    )
    assert (block.start_date, block.end_date) == (days(9), days(11))
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Closed 2 nights of 102 洋室, Thu 10 Dec to Fri 11 Dec." in after
    page = Chart()
    page.feed(after)
    bar = page.bar(block_id=block.id)
    assert bar.text == "停 Private use" and bar.unit_id == house.b.id
    assert (bar.column, bar.span) == (column(days(9), date(2026, 12, 5)), 2)


def test_the_selection_page_accepts_a_last_night_and_goes_back_to_the_month(db, client, house):
    url = (
        f"/operator/facilities/{house.facility.id}/calendar/selection?unit_id={house.a.id}"
        f"&start={days(3)}&last={days(3)}&view=month&at=2026-12"
    )
    assert "(1 night)" in client.get(url).get_data(as_text=True)
    response = client.post(url, data={"reason": "maintenance"})
    assert response.headers["Location"].endswith("/calendar?view=month&month=2026-12")
    assert manual_nights(db, house.a) == [days(3)]


def test_closing_over_a_booked_night_is_refused_and_changes_nothing(
    db, client, house, make_employee
):
    stay(db, make_employee(), house.a, days(4), days(6))
    url = selection_url(house, house.a, days(2), days(5))

    response = client.post(url, data={"reason": "maintenance", "note": "x"})

    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert 'data-testid="form-error"' in page
    assert "Guests are booked on 101 和室" in page and "nothing was closed" in page
    assert manual_nights(db, house.a) == []
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


def test_the_selection_page_needs_its_csrf_token(app, db, client, house):
    app.config["WTF_CSRF_ENABLED"] = True
    url = selection_url(house, house.a, days(2), days(4))
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    refused = client.post(url, data={"reason": "maintenance"})
    assert refused.status_code == 400
    assert manual_nights(db, house.a) == []

    accepted = client.post(url, data={"reason": "maintenance", "csrf_token": token})
    assert accepted.status_code == 303
    assert manual_nights(db, house.a) == [days(2), days(3)]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("unit_id={a}&start={d3}&end={d3}", 400),  # no night
        ("unit_id={a}&start={d5}&end={d3}", 400),  # reversed
        ("unit_id={a}&start=garbage&end={d3}", 400),
        ("unit_id={a}&end={d3}", 400),
        ("unit_id={a}&start={d3}", 400),
        ("unit_id={a}&start=2026-11-20&end=2026-12-01", 400),  # over before today
        ("unit_id={a}&start={d3}&end=2028-01-10", 400),  # more than 366 nights
        ("unit_id={a}&start=2030-01-01&end=2030-01-03", 400),  # beyond the closing horizon
        ("unit_id=999999&start={d3}&end={d5}", 404),
        ("unit_id=garbage&start={d3}&end={d5}", 404),
        ("start={d3}&end={d5}", 404),
    ],
)
def test_bad_selections_are_refused(db, client, house, query, status):
    query = query.format(a=house.a.id, d3=days(3), d5=days(5))
    url = f"/operator/facilities/{house.facility.id}/calendar/selection?{query}"
    assert client.get(url).status_code == status
    assert client.post(url, data={"reason": "maintenance"}).status_code == status
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


def test_a_selection_starting_before_today_may_be_shown_but_not_closed(db, client, house):
    url = selection_url(house, house.a, days(-2), days(2))
    page = client.get(url).get_data(as_text=True)
    assert "Nights before today cannot be closed." in page
    response = client.post(url, data={"reason": "maintenance"})
    assert response.status_code == 422
    assert "Nights in the past cannot be closed." in response.get_data(as_text=True)
    assert manual_nights(db, house.a) == []


def test_a_bad_form_shows_the_page_again(db, client, house):
    url = selection_url(house, house.a, days(2), days(4))
    response = client.post(url, data={"reason": "external", "note": "x" * 301})
    assert response.status_code == 400
    assert 'data-testid="form-error"' in response.get_data(as_text=True)
    assert manual_nights(db, house.a) == []


# --- queries ------------------------------------------------------------------------------


def furnished(db, make_facility, make_unit, make_employee, operator, rooms: int):
    """A facility of ``rooms`` rooms, each with stays in every state, a closing, an
    imported event, a direct stay and a conflict."""
    facility = make_facility(operator=operator.operator)
    for n in range(rooms):
        unit = make_unit(facility=facility)
        stay(db, make_employee(), unit, days(-2), days(1))
        booked = stay(db, make_employee(), unit, days(2), days(5), guests=2)
        missed = stay(db, make_employee(), unit, days(6), days(9))
        give_back(db, missed, "no_show", days(7))
        close_dates(operator, [unit], days(10), days(12), "other", "", NOW)
        feed, event = imported(db, unit, days(13), days(15), key=f"uid-{n}")
        direct_stay(db, unit, days(16), days(18))
        db.session.add(
            CalendarConflict(
                feed_id=feed.id,
                unit_id=unit.id,
                booking_id=booked.id,
                event_key=f"c-{n}",
                event_start=days(3),
                event_end=days(4),
                first_night=days(3),
                nights=1,
                detected_at=NOW,
            )
        )
        db.session.commit()
    db.session.expire_all()
    return facility


def test_the_chart_takes_the_same_few_queries_however_many_rooms(
    app, db, make_user, make_facility, make_unit, make_employee
):
    operator = make_user(Role.OPERATOR, locale="en")
    browser = signed_in(app, operator)

    def queries(rooms: int) -> tuple[int, int, int]:
        facility = furnished(db, make_facility, make_unit, make_employee, operator, rooms)
        with counted_queries(db) as statements:
            chart = tape_chart.load(facility, TODAY, days(31), TODAY)
        assert len(chart.rows) == rooms
        assert sum(isinstance(i, tape_chart.Bar) for r in chart.rows for i in r.items) == 6 * rooms
        read = len(statements)
        db.session.expire_all()
        pages = []
        for query in ("view=month&month=2026-12", "view=2w"):
            with counted_queries(db) as statements:
                response = browser.get(f"/operator/facilities/{facility.id}/calendar?{query}")
            assert response.status_code == 200
            pages.append(len(statements))
        return read, *pages

    few, many = queries(2), queries(12)
    assert few == many
    # SQLite's BEGIN, the facility (expired above), its rooms, then the chart's four
    assert few[0] <= 7
