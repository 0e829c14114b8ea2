"""The operator's workspace day timeline and utilisation (``/operator/facilities/<id>/
workspace/day``, ``consoles.operator.workspace_timeline``): who booked which time of a
day, what is closed, booked elsewhere or free; booked hours ÷ open hours by hour and by
weekday; the yen the period's bookings kept. Bad dates and periods, other tenants and
other roles are refused.

The bookings are made, checked in, released and cancelled through the real services,
with the fixed clock (tests.conftest.NOW: Tuesday 1 December 2026, 12:00 in Tokyo). The
chosen day is Tuesday 8 December; its four weeks run from Wednesday 11 November, with
one national holiday (Monday 23 November, 勤労感謝の日). The operator reads English.
Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import event

from accounts.models import Role
from availability.workspace import WorkspaceBlock, WorkspaceBlockSource, claim
from booking.workspace import WorkspaceRequest, book_workspace, cancel_workspace
from booking.workspace_checkin import check_in, release_no_shows
from calendars.workspace_models import WorkspaceFeed
from consoles.operator import workspace_timeline as wt
from consoles.operator.workspace_views import facility_units
from tests.booking.workspace_helpers import TUESDAY, WEDNESDAY, at, make_space
from tests.conftest import NOW, signed_in

MONDAY = TUESDAY.replace(day=7)
# Booth B: 10:00–18:00, closed on Tuesdays and at weekends; a holiday opens as a Monday.
BOOTH_HOURS = {"week": [[600, 1080], None, *[[600, 1080]] * 3, None, None], "holiday": 0}
# Room C: Tuesdays 10:00–14:00 only.
ROOM_HOURS = {"week": [None, [600, 840], None, None, None, None, None], "holiday": None}


def book(actor, unit, start, end, now=NOW):
    (booking,) = book_workspace(actor, [WorkspaceRequest(unit.id, start, end)], now)
    return booking


def hold_block(db, unit, start, end, **kw) -> WorkspaceBlock:
    block = WorkspaceBlock(unit_id=unit.id, starts_at=start, ends_at=end, **kw)
    db.session.add(block)
    db.session.flush()
    claim(unit, start, end, block_id=block.id)
    block.held = True
    db.session.commit()
    return block


@pytest.fixture
def hub(app, db, make_user, make_facility, make_company, make_employee):
    """An operator's office with four units and a Tuesday of bookings:

    Desk A (weekdays 09:00–20:00, ¥1,000 an hour) on Tuesday 8 December:
      09:00–10:30 Aiko (Acme), checked in                           ¥1,500
      11:00–13:00 Ben (Borealis), a no-show released at 11:31: held to 12:00, ¥1,000 kept
      14:00–15:00 Aiko, cancelled the same morning: half refunded,  ¥500 kept
      15:30–17:00 Ben, confirmed (across the 16:00 hour)            ¥1,500
      18:00–19:00 closed by the operator (cleaning); 19:00–19:30 an imported event
    and 10:00–11:00 on Wednesday 9 December (Aiko), ¥1,000: the next day.
    Booth B: closed on Tuesdays. Room C: Tuesdays 10:00–14:00, booked 10:00–12:00
    (Aiko, ¥2,000), then taken off sale. Old D: off sale, never booked."""
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, kind="office", name_en="Desk Hub")
    desk = make_space(db, facility, name="Desk A")
    booth = make_space(db, facility, name="Booth B", kind="phone_booth", hours=BOOTH_HOURS)
    room = make_space(
        db,
        facility,
        name="Room C",
        kind="meeting_room",
        hours=ROOM_HOURS,
        release_after_minutes=0,
    )
    old = make_space(db, facility, name="Old D", active=False)
    aiko = make_employee(name="Aiko Sato", company=make_company(name="Acme"))
    ben = make_employee(name="Ben Ito", company=make_company(name="Borealis"))

    checked = book(aiko, desk, at(TUESDAY, 9), at(TUESDAY, 10, 30))
    no_show = book(ben, desk, at(TUESDAY, 11), at(TUESDAY, 13))
    cancelled = book(aiko, desk, at(TUESDAY, 14), at(TUESDAY, 15))
    later = book(ben, desk, at(TUESDAY, 15, 30), at(TUESDAY, 17))
    next_day = book(aiko, desk, at(WEDNESDAY, 10), at(WEDNESDAY, 11))
    meeting = book(aiko, room, at(TUESDAY, 10), at(TUESDAY, 12))
    db.session.commit()
    assert cancel_workspace(cancelled, at(TUESDAY, 9), aiko) == 500
    db.session.commit()
    check_in(aiko, checked.id, at(TUESDAY, 9, 5))
    db.session.commit()
    release_no_shows(at(TUESDAY, 11, 31))  # commits
    room.active = False
    db.session.commit()

    hold_block(
        db,
        desk,
        at(TUESDAY, 18),
        at(TUESDAY, 19),
        source=WorkspaceBlockSource.MANUAL,
        note="Cleaning",
    )
    feed = WorkspaceFeed(unit_id=desk.id, url="https://calendar.example/desk.ics", label="Google")
    db.session.add(feed)
    db.session.flush()
    hold_block(
        db,
        desk,
        at(TUESDAY, 19),
        at(TUESDAY, 19, 30),
        source=WorkspaceBlockSource.IMPORT,
        feed_id=feed.id,
        event_key="evt-1",
        summary="Board meeting",
    )
    return SimpleNamespace(
        db=db,
        operator=operator,
        facility=facility,
        client=signed_in(app, operator),
        desk=desk,
        booth=booth,
        room=room,
        old=old,
        ids=SimpleNamespace(
            checked=checked.id,
            no_show=no_show.id,
            cancelled=cancelled.id,
            later=later.id,
            next_day=next_day.id,
            meeting=meeting.id,
        ),
    )


def url(hub, **args) -> str:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/operator/facilities/{hub.facility.id}/workspace/day" + (f"?{query}" if query else "")


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def row_of(page: str, unit_id: int) -> str:
    found = re.search(
        rf'<section class="wt-row[^"]*"[^>]*data-unit-id="{unit_id}".*?</section>', page, re.S
    )
    assert found, f"no timeline row for unit {unit_id}"
    return squash(found[0])


def segments(row: str) -> list[tuple[str, str, str, str]]:
    """(kind, start, end, status) of each stretch of a row, in order."""
    return [
        (kind, start, end, status or "")
        for kind, start, end, status in re.findall(
            r'<li class="seg [^"]*"\s*data-kind="(\w+)" data-start="([\d:]+)" data-end="([\d:]+)"'
            r'(?: data-status="(\w+)")?',
            row,
        )
    ]


def cell(page: str, testid: str, row_attr: str, col_attr: str) -> str:
    table = re.search(rf'data-testid="{testid}".*?</table>', page, re.S)
    assert table, testid
    tr = re.search(rf"<tr {row_attr}>.*?</tr>", table[0], re.S)
    assert tr, (testid, row_attr)
    td = re.search(rf"<td [^>]*{col_attr}[^>]*>(.*?)</td>", tr[0], re.S)
    assert td, (testid, row_attr, col_attr)
    return squash(re.sub(r"<[^>]+>", " ", td[1])).strip()


# --- the day's timeline ----------------------------------------------------------------------


def test_the_day_shows_each_units_bookings_blocks_and_free_time(hub):
    response = hub.client.get(url(hub, date=TUESDAY.isoformat()))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-testid="wt-day">Tue 8 Dec 2026</h2>' in page

    desk = row_of(page, hub.desk.id)
    assert segments(desk) == [
        ("booking", "09:00", "10:30", "checked_in"),
        ("free", "10:30", "11:00", ""),
        # The no-show held its time only until the slot after its release (11:31).
        ("booking", "11:00", "12:00", "no_show"),
        # The cancelled 14:00–15:00 is free again and not shown.
        ("free", "12:00", "15:30", ""),
        ("booking", "15:30", "17:00", "confirmed"),
        ("free", "17:00", "18:00", ""),
        ("block", "18:00", "19:00", ""),
        ("block", "19:00", "19:30", ""),
        ("free", "19:30", "20:00", ""),
    ]
    # The operator's guest and company, the status in words, the blocks' reasons.
    for text in (
        "Aiko Sato · Acme",
        "Ben Ito · Borealis",
        "Checked in",
        "No-show",
        "Confirmed",
        "Closed: Cleaning",
        "Booked elsewhere: Google",
    ):
        assert text in desk, text
    assert f'data-booking-id="{hub.ids.cancelled}"' not in page
    assert f'data-booking-id="{hub.ids.next_day}"' not in page

    # The grid runs 09:00–20:00 (the earliest opening, the latest closing): 44 quarters.
    assert 'class="wt-timeline cols-44"' in page
    assert re.search(r'class="seg booking checked_in at-1 span-6"', desk)
    assert re.search(r'class="seg booking confirmed at-27 span-6"', desk)


def test_a_unit_closed_that_weekday_and_an_off_sale_unit_with_bookings(hub):
    page = hub.client.get(url(hub, date=TUESDAY.isoformat())).get_data(as_text=True)
    booth = row_of(page, hub.booth.id)
    assert "Closed this day" in booth
    assert segments(booth) == [("closed", "09:00", "20:00", "")]

    # Off sale, but booked that day: listed, marked, within its own hours.
    room = row_of(page, hub.room.id)
    assert "Off sale" in room and "10:00–14:00" in room
    assert segments(room) == [
        ("closed", "09:00", "10:00", ""),
        ("booking", "10:00", "12:00", "confirmed"),
        ("free", "12:00", "14:00", ""),
        ("closed", "14:00", "20:00", ""),
    ]
    # Off sale and nothing booked: not on the timeline.
    assert f'data-unit-id="{hub.old.id}"' not in page

    # On Wednesday Room C has no booking: it is left out.
    wednesday = hub.client.get(url(hub, date=WEDNESDAY.isoformat())).get_data(as_text=True)
    assert (
        f'<section class="wt-row off-sale" aria-labelledby="wt-unit-{hub.room.id}"' not in wednesday
    )
    assert segments(row_of(wednesday, hub.desk.id))[:2] == [
        ("free", "09:00", "10:00", ""),
        ("booking", "10:00", "11:00", "confirmed"),
    ]


def test_previous_and_next_day_links_keep_the_period(hub):
    page = hub.client.get(url(hub, date=TUESDAY.isoformat(), weeks=8)).get_data(as_text=True)
    base = f"/operator/facilities/{hub.facility.id}/workspace/day"
    assert f'href="{base}?date=2026-12-07&amp;weeks=8" rel="prev"' in page
    assert f'href="{base}?date=2026-12-09&amp;weeks=8" rel="next"' in page
    assert '<option value="8" selected>8 weeks</option>' in page
    assert 'value="2026-12-08"' in page  # the date picker shows the day


def test_without_a_date_the_page_shows_today(hub):
    page = hub.client.get(url(hub)).get_data(as_text=True)
    assert 'data-testid="wt-day">Tue 1 Dec 2026</h2>' in page
    assert 'value="2026-12-01"' in page
    assert 'data-testid="wt-today"' not in page  # already today


def test_a_day_when_nothing_opens(hub):
    saturday = TUESDAY.replace(day=12)
    page = hub.client.get(url(hub, date=saturday.isoformat())).get_data(as_text=True)
    assert 'data-testid="wt-all-closed"' in page
    assert "No workspace unit opens on this day." in page


def test_the_units_page_links_to_the_day(hub):
    page = hub.client.get(f"/operator/facilities/{hub.facility.id}/workspace").get_data(
        as_text=True
    )
    assert f'href="/operator/facilities/{hub.facility.id}/workspace/day"' in page


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"date": "2026-02-30"}, "Choose a date as YYYY-MM-DD"),
        ({"date": "tomorrow"}, "Choose a date as YYYY-MM-DD"),
        ({"date": "2026-W49-2"}, "Choose a date as YYYY-MM-DD"),
        ({"date": "１２０２６-12-08"}, "Choose a date as YYYY-MM-DD"),
        ({"date": "9999-12-31"}, "Choose a date within five years of today."),
        ({"date": "2026-12-08", "weeks": "5"}, "Choose a period of 4, 8 or 12 weeks."),
        ({"date": "2026-12-08", "weeks": "-4"}, "Choose a period of 4, 8 or 12 weeks."),
        ({"weeks": "４"}, "Choose a period of 4, 8 or 12 weeks."),
    ],
)
def test_a_bad_date_or_period_answers_400_with_its_message(hub, args, message):
    response = hub.client.get(
        f"/operator/facilities/{hub.facility.id}/workspace/day", query_string=args
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page and message in page
    assert 'aria-invalid="true"' in page
    assert 'data-testid="wt-timeline"' not in page  # no figures under a refused date


# --- utilisation and revenue -----------------------------------------------------------------


def test_revenue_counts_what_the_periods_bookings_kept(hub):
    page = hub.client.get(url(hub, date=TUESDAY.isoformat())).get_data(as_text=True)
    # Desk A: 1,500 checked in + 1,000 kept of a no-show + 500 kept of a cancellation
    # + 1,500 confirmed; Room C 2,000. Wednesday's booking is after the period.
    assert (
        squash(re.search(r'data-testid="wt-revenue">(.*?)</dd>', page)[1]) == "¥6,500 (tax incl.)"
    )
    by_unit = re.search(r'data-testid="wt-by-unit".*?</table>', page, re.S)[0]
    desk = squash(re.search(rf'<tr data-unit-id="{hub.desk.id}">.*?</tr>', by_unit, re.S)[0])
    assert re.search(r'data-testid="revenue">¥4,500<', desk)
    assert f'data-unit-id="{hub.old.id}"' not in by_unit  # off sale, nothing booked

    # A day later the period takes Wednesday in (and still reaches back past Tuesday).
    later = hub.client.get(url(hub, date=WEDNESDAY.isoformat())).get_data(as_text=True)
    assert (
        squash(re.search(r'data-testid="wt-revenue">(.*?)</dd>', later)[1]) == "¥7,500 (tax incl.)"
    )


def test_utilisation_by_weekday_and_hour_on_the_page(hub):
    page = hub.client.get(url(hub, date=TUESDAY.isoformat())).get_data(as_text=True)
    room, booth = f'data-unit-id="{hub.room.id}"', f'data-unit-id="{hub.booth.id}"'
    # Room C opened on four Tuesdays, 4 hours each; booked 2 hours: 12.5 % → 13 %.
    assert cell(page, "wt-by-weekday", 'data-weekday="1"', room) == "13%"
    assert cell(page, "wt-by-weekday", 'data-weekday="0"', room) == "– Closed"
    # Booth B never opens on Tuesdays; it was never booked on the other days.
    assert cell(page, "wt-by-weekday", 'data-weekday="1"', booth) == "– Closed"
    assert cell(page, "wt-by-weekday", 'data-weekday="2"', booth) == "0%"
    # By hour: Room C's 10:00 and 11:00 hours were booked one Tuesday in four.
    assert cell(page, "wt-by-hour", 'data-hour="10"', room) == "25%"
    assert cell(page, "wt-by-hour", 'data-hour="12"', room) == "0%"
    assert cell(page, "wt-by-hour", 'data-hour="9"', room) == "– Closed"
    # The table's headings are headings of their rows and columns.
    table = re.search(r'data-testid="wt-by-hour".*?</table>', page, re.S)[0]
    assert '<th scope="col">Hour</th>' in table
    assert (
        '<th scope="row">09:00–10:00</th>' in table and '<th scope="row">19:00–20:00</th>' in table
    )
    assert '<th scope="row">08:00–09:00</th>' not in table  # nothing opens before 09:00


def test_the_figures_by_hour_weekday_and_holiday(hub):
    units = facility_units(hub.facility)
    figures = wt.workspace_day(hub.facility, units, TUESDAY)
    use = {u.unit.name: u for u in figures.use.units}
    assert set(use) == {"Desk A", "Booth B", "Room C"}  # Old D: off sale, nothing booked
    assert (figures.use.first, figures.use.last) == (TUESDAY.replace(month=11, day=11), TUESDAY)

    desk = use["Desk A"]
    # 09:00–10:30, 11:00–12:00 (the no-show's held hour), 15:30–17:00; cancelled: none.
    assert [desk.booked_by_hour[h] for h in range(9, 18)] == [60, 30, 60, 0, 0, 0, 30, 60, 0]
    assert desk.booked_minutes == 240 and desk.booked_by_weekday[1] == 240
    assert (desk.bookings, desk.no_shows, desk.cancelled, desk.revenue) == (3, 1, 1, 4500)
    # 19 weekdays open 09:00–20:00: 20 weekdays less Monday 23 November, a holiday
    # (a desk is closed on holidays); three Mondays open of the four.
    assert desk.open_by_hour[9] == 19 * 60 and desk.open_by_hour[8] == 0
    assert desk.open_by_weekday[0] == 3 * 11 * 60
    assert desk.open_by_weekday[1] == 4 * 11 * 60
    # Booth B opens on a holiday with Monday's hours: all four Mondays; no Tuesday.
    booth = use["Booth B"]
    assert booth.open_by_weekday[0] == 4 * 8 * 60 and booth.open_by_weekday[1] == 0
    assert booth.weekday_share(1) is None
    assert figures.use.hours == list(range(9, 20))
    assert figures.use.revenue == 6500

    # Eight weeks reach back to 14 October; the figures stay the same here.
    eight = wt.workspace_day(hub.facility, units, TUESDAY, 8).use
    assert eight.first == TUESDAY.replace(month=10, day=14) and eight.revenue == 6500
    with pytest.raises(ValueError):
        wt.workspace_day(hub.facility, units, TUESDAY, 5)


def test_the_figures_take_two_queries_however_many_bookings(hub, make_employee):
    def queries_for(day) -> int:
        statements = []
        engine = hub.db.engine

        def count(*_args):
            statements.append(1)

        hub.db.session.expire_all()
        units = facility_units(hub.facility)  # loaded by the view before the figures
        event.listen(engine, "before_cursor_execute", count)
        try:
            wt.workspace_day(hub.facility, units, day)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    before = queries_for(TUESDAY)
    extra = make_employee()
    for hour in (9, 10, 11):
        book(extra, hub.desk, at(MONDAY, hour), at(MONDAY, hour, 30))
    hub.db.session.commit()
    assert queries_for(TUESDAY) == before == 2


def test_percent_and_hours_round_half_up():
    assert wt.percent(1, 8) == 13 and wt.percent(1, 3) == 33 and wt.percent(2, 3) == 67
    assert wt.percent(0, 60) == 0 and wt.percent(5, 0) is None
    assert [wt.hours_text(m) for m in (0, 3, 90, 100, 660)] == ["0.0", "0.1", "1.5", "1.7", "11.0"]


# --- tenants and roles -----------------------------------------------------------------------


def test_another_operators_facility_answers_404(hub, make_facility):
    foreign = make_facility(kind="office")
    make_space(hub.db, foreign, name="Theirs")
    for path in (
        f"/operator/facilities/{foreign.id}/workspace/day",
        f"/operator/facilities/{foreign.id}/workspace/day?date=2026-12-08&weeks=12",
        f"/operator/facilities/{foreign.id}/workspace/day?date=bad",
        "/operator/facilities/999999/workspace/day",
    ):
        assert hub.client.get(path).status_code == 404, path


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN])
def test_other_roles_are_refused(app, hub, make_user, role):
    other = signed_in(app, make_user(role))
    assert other.get(url(hub, date=TUESDAY.isoformat())).status_code == 403


def test_strangers_are_sent_to_sign_in(app, hub):
    response = app.test_client().get(url(hub))
    assert response.status_code == 302 and "/login" in response.location


def test_a_facility_without_units(app, make_user, make_facility):
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, kind="office")
    page = signed_in(app, operator).get(f"/operator/facilities/{facility.id}/workspace/day")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "This facility has no workspace units on sale." in text
    assert "No workspace units to count." in text
