"""Workspace units' calendars: timed events of external feeds block slots (their time
zones converted), and each unit's held time is exported as UTC timed events.

Feeds come from a real HTTP server on 127.0.0.1 (tests/calendars/feedserver.py); the
job runs as the scheduler runs it. NOW is 2026-12-01 12:00 in Tokyo (03:00 UTC).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability.workspace import (
    SlotHold,
    WorkspaceBlock,
    claim,
    holds_between,
    is_free,
    release,
)
from booking.workspace_models import WorkspaceBooking
from calendars import workspace_export, workspace_feeds, workspace_sync
from calendars.workspace_models import WorkspaceExport, WorkspaceFeed
from calendars.workspace_sync import sync_workspace_calendars
from core import scheduler
from core.db import TOKYO
from facilities.workspace import WorkspaceUnit
from tests.conftest import NOW, signed_in

pytestmark = pytest.mark.usefixtures("sync_config")

FEED = (Path(__file__).parent / "workspace_feed.ics").read_bytes()


def jst(text: str) -> datetime:
    """A Tokyo wall-clock time, e.g. "2026-12-03 09:00", as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO).astimezone(UTC)


def calendar(*events: str, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n"
        + extra
        + "".join(events)
        + "END:VCALENDAR\r\n"
    )


def vevent(uid: str, start: str, end: str, summary: str = "Meeting", more: str = "") -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261130T000000Z\r\n{start}\r\n{end}\r\n"
        f"SUMMARY:{summary}\r\n{more}END:VEVENT\r\n"
    )


@pytest.fixture
def make_space(db, make_facility):
    def make(**kw) -> WorkspaceUnit:
        unit = WorkspaceUnit(
            facility=kw.pop("facility", None) or make_facility(kind="office"),
            name=kw.pop("name", "Meeting room 3F"),
            kind=kw.pop("kind", "meeting_room"),
            capacity=6,
            hourly_price=2000,
            day_price=12000,
            slot_minutes=kw.pop("slot_minutes", 30),
            **kw,
        )
        db.session.add(unit)
        db.session.commit()
        return unit

    return make


@pytest.fixture
def space(make_space):
    return make_space()


@pytest.fixture
def space_operator(make_user, space):
    return make_user(Role.OPERATOR, operator=space.facility.operator)


def add(db, space, url: str, label: str = "Google") -> WorkspaceFeed:
    feed = workspace_feeds.add_feed(space, url, label, NOW)
    db.session.commit()
    return feed


def sync(db, now=NOW, **kw) -> str:
    summary = sync_workspace_calendars(now, **kw)
    db.session.expire_all()
    return summary


def held_spans(db, unit_id: int) -> set[tuple[datetime, datetime]]:
    return {
        (h.starts_at, h.ends_at)
        for h in db.session.scalars(select(SlotHold).where(SlotHold.unit_id == unit_id))
    }


def blocks_of(db, feed_id: int) -> dict[str, WorkspaceBlock]:
    rows = db.session.scalars(select(WorkspaceBlock).where(WorkspaceBlock.feed_id == feed_id))
    return {b.event_key: b for b in rows}


def book(db, make_employee, space, start: datetime, end: datetime) -> WorkspaceBooking:
    employee = make_employee()
    booking = WorkspaceBooking(
        user_id=employee.id,
        company_id=employee.company_id,
        unit_id=space.id,
        starts_at=start,
        ends_at=end,
        total_price=2000,
        base_price=2000,
    )
    db.session.add(booking)
    db.session.flush()
    claim(space, start, end, booking_id=booking.id)
    db.session.commit()
    return booking


# --- import -----------------------------------------------------------------------------


def test_a_feed_with_vtimezone_blocks_the_right_tokyo_slots(db, space, feed_server):
    feed = add(db, space, feed_server.serve("/room3f/basic.ics", FEED))
    summary = sync(db)
    assert summary.startswith("1 workspace feeds: 1 changed, 0 unchanged, 0 failed")
    assert held_spans(db, space.id) == {
        # New York 2026-12-02 19:00–20:30 (EST, UTC-5) is Tokyo 12-03 09:00–10:30.
        (jst("2026-12-03 09:00"), jst("2026-12-03 10:30")),
        # 13:10–13:50 widened to whole 30-minute slots.
        (jst("2026-12-03 13:00"), jst("2026-12-03 14:00")),
        # A weekly series, expanded.
        (jst("2026-12-07 16:00"), jst("2026-12-07 17:00")),
        (jst("2026-12-14 16:00"), jst("2026-12-14 17:00")),
    }  # the cancelled event and this morning's (already over) block nothing
    blocks = blocks_of(db, feed.id)
    assert set(blocks) == {
        "ny-call@google.com",
        "odd-minutes@google.com",
        "weekly@google.com/2026-12-07T07:00:00Z",
        "weekly@google.com/2026-12-14T07:00:00Z",
    }
    assert all(b.held and b.source == "import" for b in blocks.values())
    feed = db.session.get(WorkspaceFeed, feed.id)
    assert feed.events_imported == 4 and feed.last_success_at == NOW and feed.last_error is None
    # A second sync of the same feed changes nothing.
    before = held_spans(db, space.id)
    assert "0 changed, 1 unchanged" in sync(db)
    assert held_spans(db, space.id) == before


def test_utc_and_floating_times(db, make_space, feed_server):
    space = make_space(slot_minutes=15)
    body = calendar(
        vevent("utc", "DTSTART:20261202T051500Z", "DTEND:20261202T060000Z"),
        # Floating: on the Tokyo clock; its DURATION gives the end.
        vevent("floating", "DTSTART:20261202T170500", "DURATION:PT40M"),
    )
    add(db, space, feed_server.serve("/utc.ics", body))
    sync(db)
    assert held_spans(db, space.id) == {
        (jst("2026-12-02 14:15"), jst("2026-12-02 15:00")),
        (jst("2026-12-02 17:00"), jst("2026-12-02 17:45")),
    }


def test_all_day_events_block_whole_tokyo_days(db, space, feed_server):
    body = calendar(
        vevent("day", "DTSTART;VALUE=DATE:20261204", "DTEND;VALUE=DATE:20261206"),
        # Today's: only from the current slot on (time already past is never claimed).
        vevent("today", "DTSTART;VALUE=DATE:20261201", "DTEND;VALUE=DATE:20261202"),
    )
    feed = add(db, space, feed_server.serve("/days.ics", body))
    sync(db)
    assert held_spans(db, space.id) == {
        (jst("2026-12-04 00:00"), jst("2026-12-06 00:00")),
        (jst("2026-12-01 12:00"), jst("2026-12-02 00:00")),
    }
    assert blocks_of(db, feed.id)["today"].starts_at == jst("2026-12-01 00:00")


def test_overlapping_events_of_one_feed_make_one_block(db, space, feed_server):
    body = calendar(
        vevent("a", "DTSTART:20261203T000000Z", "DTEND:20261203T005000Z"),  # 09:00–09:50
        vevent("b", "DTSTART:20261203T005000Z", "DTEND:20261203T014000Z"),  # 09:50–10:40
    )
    feed = add(db, space, feed_server.serve("/busy.ics", body))
    sync(db)
    assert held_spans(db, space.id) == {(jst("2026-12-03 09:00"), jst("2026-12-03 11:00"))}
    assert [(k, b.held) for k, b in blocks_of(db, feed.id).items()] == [("a", True)]


def test_an_event_over_a_booking_is_a_conflict_until_the_time_is_free(
    app, db, space, space_operator, make_employee, feed_server
):
    booking = book(db, make_employee, space, jst("2026-12-03 10:00"), jst("2026-12-03 11:00"))
    body = calendar(vevent("over", "DTSTART:20261203T013000Z", "DTEND:20261203T030000Z"))
    feed = add(db, space, feed_server.serve("/over.ics", body, etag='"v1"'))
    assert "1 open conflicts" in sync(db)
    block = blocks_of(db, feed.id)["over"]
    assert not block.held
    assert held_spans(db, space.id) == {(booking.starts_at, booking.ends_at)}  # booking kept

    page = signed_in(app, space_operator).get(f"/operator/workspace-units/{space.id}/calendars")
    row = re.search(rf'<tr data-block-id="{block.id}">.*?</tr>', page.get_data(as_text=True), re.S)
    assert row and f"{booking.id}" in row.group() and "2026/12/03 10:30" in row.group()

    # The booking is cancelled: its hold goes; the next sync (the feed answers 304) holds it.
    release(db.session.scalar(select(SlotHold).where(SlotHold.booking_id == booking.id)))
    db.session.commit()
    assert "0 open conflicts" in sync(db)
    assert feed_server.requests[-1][1]["If-None-Match"] == '"v1"'
    assert blocks_of(db, feed.id)["over"].held
    assert held_spans(db, space.id) == {(jst("2026-12-03 10:30"), jst("2026-12-03 12:00"))}


def test_changed_and_removed_events_move_and_free_their_slots(db, space, feed_server):
    one = vevent("one", "DTSTART:20261203T000000Z", "DTEND:20261203T010000Z")
    two = vevent("two", "DTSTART:20261204T000000Z", "DTEND:20261204T010000Z")
    url = feed_server.serve("/f.ics", calendar(one, two))
    feed = add(db, space, url)
    sync(db)
    moved = vevent("one", "DTSTART:20261203T020000Z", "DTEND:20261203T030000Z")
    feed_server.serve("/f.ics", calendar(moved))
    sync(db)
    assert held_spans(db, space.id) == {(jst("2026-12-03 11:00"), jst("2026-12-03 12:00"))}
    assert set(blocks_of(db, feed.id)) == {"one"}
    assert is_free(space.id, jst("2026-12-03 09:00"), jst("2026-12-03 10:00"))
    assert is_free(space.id, jst("2026-12-04 09:00"), jst("2026-12-04 10:00"))


def test_a_bad_feed_keeps_its_blocks_and_backs_off(db, space, feed_server, caplog, monkeypatch):
    body = calendar(vevent("keep", "DTSTART:20261203T000000Z", "DTEND:20261203T010000Z"))
    feed = add(db, space, feed_server.serve("/f.ics", body))
    sync(db)
    kept = held_spans(db, space.id)
    feed_server.serve("/f.ics", status=500)
    assert "1 failed" in sync(db, now=NOW + timedelta(minutes=20))
    feed = db.session.get(WorkspaceFeed, feed.id)
    assert feed.last_error == "HTTP 500" and feed.failures == 1
    assert feed.next_attempt_at == NOW + timedelta(minutes=35)  # 15 minutes of back-off
    assert held_spans(db, space.id) == kept
    # Backing off: the scheduled sync leaves it alone; "sync now" (one unit) does not.
    assert "1 backing off" in sync(db, now=NOW + timedelta(minutes=25))
    feed_server.serve("/f.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")  # cut off
    sync(db, now=NOW + timedelta(minutes=25), unit_id=space.id)
    feed = db.session.get(WorkspaceFeed, feed.id)
    assert "truncated" in feed.last_error and feed.failures == 2
    assert held_spans(db, space.id) == kept

    # An unexpected error: rolled back, logged by its class only, the blocks kept.
    def broken(*args):
        raise ValueError("https://calendar.google.com/secret-token")

    feed_server.serve(
        "/f.ics", calendar(vevent("new", "DTSTART:20261205T000000Z", "DTEND:20261205T010000Z"))
    )
    monkeypatch.setattr(workspace_sync, "_apply_events", broken)
    with caplog.at_level(logging.ERROR):
        sync(db, now=NOW + timedelta(hours=2))
    assert "ValueError" in caplog.text and "secret-token" not in caplog.text
    feed = db.session.get(WorkspaceFeed, feed.id)
    assert feed.last_error == "internal error while importing" and feed.failures == 3
    assert held_spans(db, space.id) == kept


def test_overlong_events_and_our_own_echoes_are_left_out(app, db, space, feed_server):
    key = workspace_export.uid_key(app.config["SECRET_KEY"])
    own_uid = workspace_export.event_uid(key, "booking", 1, space.id, "engawa.example")
    body = calendar(
        vevent("long", "DTSTART;VALUE=DATE:20261210", "DTEND;VALUE=DATE:20270301"),
        vevent(own_uid, "DTSTART:20261203T000000Z", "DTEND:20261203T010000Z", "Reserved"),
        vevent("ok", "DTSTART:20261204T000000Z", "DTEND:20261204T010000Z"),
    )
    add(db, space, feed_server.serve("/f.ics", body))
    assert "1 events too long to import" in sync(db)
    assert held_spans(db, space.id) == {(jst("2026-12-04 09:00"), jst("2026-12-04 10:00"))}


def test_the_job_is_registered_and_runs_on_an_empty_database(app, db):
    spec = scheduler.registered_jobs(app)["workspace_calendar_sync"]
    assert spec.trigger_args(app.config) == {"minutes": app.config["CALENDAR_SYNC_MINUTES"]}
    assert spec.func(NOW).startswith("0 workspace feeds")


# --- export -----------------------------------------------------------------------------


def export_url(db, space) -> str:
    export = workspace_export.export_for_unit(space, NOW)
    db.session.commit()
    return export.path


def test_export_shows_held_time_as_utc_events_without_personal_data(
    app, db, space, make_employee, feed_server
):
    booking = book(db, make_employee, space, jst("2026-12-03 10:00"), jst("2026-12-03 11:30"))
    closed = WorkspaceBlock(
        unit_id=space.id,
        starts_at=jst("2026-12-04 13:00"),
        ends_at=jst("2026-12-04 15:00"),
        source="manual",
        note="Carpet cleaning by Tanaka",
    )
    db.session.add(closed)
    db.session.flush()
    claim(space, closed.starts_at, closed.ends_at, block_id=closed.id)
    db.session.commit()
    body = calendar(
        vevent("imported", "DTSTART:20261205T000000Z", "DTEND:20261205T010000Z", "Call with Sato")
    )
    add(db, space, feed_server.serve("/f.ics", body))
    sync(db)
    book(db, make_employee, space, jst("2026-11-20 10:00"), jst("2026-11-20 11:00"))

    client = app.test_client()
    response = client.get(export_url(db, space))
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert response.headers["Cache-Control"] == "private, no-cache"
    text = response.get_data(as_text=True)
    events = re.findall(r"BEGIN:VEVENT\r\n(.*?)END:VEVENT", text, re.S)
    assert [re.findall(r"(DTSTART|DTEND|SUMMARY):(.*)\r", e) for e in events] == [
        [("DTSTART", "20261203T010000Z"), ("DTEND", "20261203T023000Z"), ("SUMMARY", "Reserved")],
        [
            ("DTSTART", "20261204T040000Z"),
            ("DTEND", "20261204T060000Z"),
            ("SUMMARY", "Not available"),
        ],
    ]  # the imported event is not sent back, and a booking of 11-20 is too old
    key = workspace_export.uid_key(app.config["SECRET_KEY"])
    assert (
        f"UID:{workspace_export.event_uid(key, 'booking', booking.id, space.id, 'engawa.example')}"
        in text
    )
    assert "VALUE=DATE" not in text and "TZID" not in text
    employee = db.session.get(WorkspaceBooking, booking.id).user
    for secret in (employee.name, employee.email, "Tanaka", "Sato"):
        assert secret not in text

    # Unchanged: 304 on the ETag; a change gives a new ETag.
    etag = response.headers["ETag"]
    again = client.get(export_url(db, space), headers={"If-None-Match": etag})
    assert again.status_code == 304
    book(db, make_employee, space, jst("2026-12-08 10:00"), jst("2026-12-08 11:00"))
    changed = client.get(export_url(db, space), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_unknown_malformed_and_rotated_tokens_answer_404(app, db, space, space_operator):
    client = app.test_client()
    old = export_url(db, space)
    assert client.get(old).status_code == 200
    assert client.get("/calendars/workspace/" + "A" * 43 + ".ics").status_code == 404
    assert client.get("/calendars/workspace/short.ics").status_code == 404
    assert client.get("/calendars/workspace/..%2F..%2Fetc.ics").status_code == 404

    browser = signed_in(app, space_operator)
    page = browser.get(f"/operator/workspace-units/{space.id}/calendars").get_data(as_text=True)
    assert old in page
    response = browser.post(f"/operator/workspace-units/{space.id}/calendars/rotate")
    assert response.status_code == 302
    db.session.expire_all()
    new = db.session.scalar(select(WorkspaceExport).where(WorkspaceExport.unit_id == space.id)).path
    assert new != old
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200
    assert new in browser.get(f"/operator/workspace-units/{space.id}/calendars").get_data(
        as_text=True
    )
    # A unit off sale has no feed.
    space = db.session.get(WorkspaceUnit, space.id)
    space.active = False
    db.session.commit()
    assert client.get(new).status_code == 404


# --- the operator's page ----------------------------------------------------------------


def test_operator_adds_syncs_and_removes_a_feed(app, db, space, space_operator, feed_server):
    browser = signed_in(app, space_operator)
    url = feed_server.serve("/ical/secret-abc/basic.ics", FEED)
    response = browser.post(
        f"/operator/workspace-units/{space.id}/feeds", data={"label": "Google", "url": url}
    )
    assert response.status_code == 302
    feed = db.session.scalar(select(WorkspaceFeed))
    assert (feed.unit_id, feed.label, feed.url) == (space.id, "Google", url)
    page = browser.get(f"/operator/workspace-units/{space.id}/calendars").get_data(as_text=True)
    assert "Google" in page and "secret-abc" not in page  # the address is shown masked

    response = browser.post(f"/operator/workspace-units/{space.id}/calendars/sync")
    assert response.status_code == 302
    db.session.expire_all()
    assert len(held_spans(db, space.id)) == 4
    page = browser.get(f"/operator/workspace-units/{space.id}/calendars").get_data(as_text=True)
    assert f'data-feed-id="{feed.id}" class="state-ok"' in page
    # Again at once: not fetched twice within a minute.
    fetched = len(feed_server.requests)
    browser.post(f"/operator/workspace-units/{space.id}/calendars/sync")
    assert len(feed_server.requests) == fetched

    response = browser.post(f"/operator/workspace-feeds/{feed.id}/delete")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WorkspaceFeed)) == 0
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBlock)) == 0
    assert held_spans(db, space.id) == set()


@pytest.mark.parametrize(
    ("label", "url", "code"),
    [
        ("Google", "javascript:alert(1)", "must start with https://"),
        ("Google", "file:///etc/passwd", "must start with https://"),
        ("", "https://calendar.google.com/basic.ics", "Give the feed a name"),
        ("Google", "https://x.example/a b.ics", "Enter the feed's full address"),
    ],
)
def test_bad_feeds_are_refused(app, db, space, space_operator, label, url, code):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    browser = signed_in(app, space_operator)
    browser.get("/lang/en")
    response = browser.post(
        f"/operator/workspace-units/{space.id}/feeds",
        data={"label": label, "url": url},
        follow_redirects=True,
    )
    assert response.status_code == 200 and code in response.get_data(as_text=True).replace(
        "&#39;", "'"
    )
    assert db.session.scalar(select(func.count()).select_from(WorkspaceFeed)) == 0


def test_another_organisation_cannot_see_or_change_a_unit(
    app, db, space, make_user, make_space, feed_server
):
    feed = add(db, space, feed_server.serve("/f.ics", FEED))
    old = export_url(db, space)
    stranger = make_user(Role.OPERATOR)
    browser = signed_in(app, stranger)
    for method, path in [
        ("get", f"/operator/workspace-units/{space.id}/calendars"),
        ("post", f"/operator/workspace-units/{space.id}/calendars/rotate"),
        ("post", f"/operator/workspace-units/{space.id}/calendars/sync"),
        ("post", f"/operator/workspace-feeds/{feed.id}/delete"),
        ("get", "/operator/workspace-units/999999/calendars"),
    ]:
        assert getattr(browser, method)(path).status_code == 404, path
    response = browser.post(
        f"/operator/workspace-units/{space.id}/feeds",
        data={"label": "Mine", "url": "https://evil.example/a.ics"},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WorkspaceFeed)) == 1
    assert app.test_client().get(old).status_code == 200  # not rotated
    assert feed_server.requests == []  # never fetched
    # An employee is no operator at all.
    employee = make_user(Role.EMPLOYEE)
    assert (
        signed_in(app, employee).get(f"/operator/workspace-units/{space.id}/calendars").status_code
        == 403
    )
    assert holds_between([space.id], NOW, NOW + timedelta(days=30)) == []
