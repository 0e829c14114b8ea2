"""Fair calendar sync: feed caps, each organisation's share of the workers, back-off.

Feeds come from the local feed server (tests/calendars/feedserver.py). Fairness
is shown by the order and the concurrency of the fetches, never by wall-clock
speed: a slow organisation's feeds wait on a gate that only the other
organisation's last feed opens.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from calendars import feeds
from calendars import sync as calendar_sync
from calendars.jobs import sync_calendars
from calendars.models import CalendarFeed
from tests.conftest import NOW, signed_in

pytestmark = pytest.mark.usefixtures("sync_config")

CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:x@airbnb.com\r\nDTSTART;VALUE=DATE:20261210\r\n"
    "DTEND;VALUE=DATE:20261212\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def add(db, unit, url: str, label: str = "Airbnb") -> CalendarFeed:
    feed = feeds.add_feed(unit, url, label, NOW)
    db.session.commit()
    return feed


# --- each organisation's share of a sync ------------------------------------------------


def test_a_slow_organisation_does_not_hold_up_another(app, db, make_unit, feed_server):
    """Two workers, two organisations: each has at most one fetch in flight while
    the other waits, so the slow one's feeds (added first) cannot take both."""
    app.config.update(CALENDAR_SYNC_WORKERS=2, CALENDAR_FETCH_TIMEOUT=5)
    slow_unit, fast_unit = make_unit(), make_unit()  # two operator organisations
    assert slow_unit.facility.operator_id != fast_unit.facility.operator_id
    fast_done = threading.Event()
    for n in range(4):
        add(db, slow_unit, feed_server.serve(f"/slow/{n}.ics", CALENDAR, gate=fast_done), f"S{n}")
    for n in range(4):
        opens = fast_done if n == 3 else None
        add(db, fast_unit, feed_server.serve(f"/fast/{n}.ics", CALENDAR, opens=opens), f"F{n}")

    in_flight: Counter[int] = Counter()
    most: Counter[int] = Counter()
    lock = threading.Lock()

    def counting_fetch(target, settings):
        with lock:
            in_flight[target.operator_id] += 1
            most[target.operator_id] = max(most[target.operator_id], in_flight[target.operator_id])
        try:
            return calendar_sync.fetch(target, settings)
        finally:
            with lock:
                in_flight[target.operator_id] -= 1

    summary = sync_calendars(NOW, fetcher=counting_fetch)
    assert summary.startswith("8 feeds: 8 changed")
    order = feed_server.started()
    # The slow organisation's first feed holds one worker until every feed of the
    # other organisation has been asked for through the other worker.
    second_slow = [i for i, path in enumerate(order) if path.startswith("/slow/")][1]
    assert {p for p in order[:second_slow] if p.startswith("/fast/")} == {
        f"/fast/{n}.ics" for n in range(4)
    }
    # While both were waiting, neither had more than its share (2 workers ÷ 2).
    assert most[fast_unit.facility.operator_id] == 1
    # Once the fast one was done, the slow one had every worker.
    assert most[slow_unit.facility.operator_id] == 2


def test_organisations_take_turns_and_keep_to_their_share():
    """Four workers, three organisations: at most ⌈4/3⌉ = 2 fetches of one
    organisation at once while the others still wait, and turns go round."""
    targets = [
        calendar_sync.FeedTarget(i, f"https://x.example/{i}", None, None, operator_id=org)
        for i, org in enumerate([1] * 12 + [2] * 3 + [3] * 3)
    ]
    release = threading.Event()
    lock = threading.Lock()
    in_flight: Counter[int] = Counter()
    most_while_others_wait: Counter[int] = Counter()
    started: list[int] = []

    def fetcher(target, _settings):
        with lock:
            started.append(target.operator_id)
            in_flight[target.operator_id] += 1
            if len(started) <= 6:  # the other organisations still have feeds waiting
                most_while_others_wait[target.operator_id] = max(
                    most_while_others_wait[target.operator_id], in_flight[target.operator_id]
                )
        if target.operator_id == 1:
            release.wait(5)  # organisation 1's feeds hang until the others are through
        with lock:
            in_flight[target.operator_id] -= 1
        return calendar_sync.FetchResult(False, b"", None, None)

    results = []
    for target, _result in calendar_sync.fetch_all(targets, None, 4, fetcher):
        results.append(target.operator_id)
        if results.count(2) == 3 and results.count(3) == 3:
            release.set()
    assert sorted(results) == sorted(t.operator_id for t in targets)
    assert started[:3] == [1, 2, 3]  # round robin
    assert most_while_others_wait[1] == 2
    # Organisations 2 and 3 finished while organisation 1 was stuck.
    assert results[:6].count(1) == 0


# --- back-off -------------------------------------------------------------------------


def test_backoff_delays():
    minutes = [calendar_sync.backoff_delay(n).total_seconds() / 60 for n in range(0, 9)]
    assert minutes == [0, 15, 30, 60, 120, 240, 360, 360, 360]


def test_a_failing_feed_backs_off_and_recovers(app, db, unit, operator, feed_server):
    url = feed_server.serve("/broken.ics", status=500, body=b"")
    feed = add(db, unit, url)
    other = add(db, unit, feed_server.serve("/fine.ics", CALENDAR), "Google")

    def requests_for(path: str) -> int:
        return sum(1 for p in feed_server.started() if p == path)

    now = NOW
    for failures, minutes in enumerate([15, 30, 60, 120, 240, 360, 360], start=1):
        before = requests_for("/broken.ics")
        sync_calendars(now)
        db.session.expire_all()
        stored = db.session.get(CalendarFeed, feed.id)
        assert requests_for("/broken.ics") == before + 1
        assert stored.failures == failures
        assert stored.next_attempt_at == now + timedelta(minutes=minutes)
        # A sync before then leaves the feed alone (and says so), the other feed not.
        summary = sync_calendars(stored.next_attempt_at - timedelta(minutes=5))
        assert requests_for("/broken.ics") == before + 1
        assert summary.startswith("1 feeds:") and "1 backing off" in summary
        # A scheduled run a few seconds early still counts as due.
        now = stored.next_attempt_at - timedelta(seconds=20)
    assert requests_for("/fine.ics") == 14

    # Visible to the operator, with when it will be tried next.
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    app.config["FIXED_NOW"] = now - timedelta(minutes=10)
    page = signed_in(app, operator).get("/operator/calendars").get_data(as_text=True)
    assert 'data-testid="backoff"' in page and "7 times in a row" in page

    # The channel is fixed: the next attempt succeeds and the back-off ends.
    feed_server.serve("/broken.ics", CALENDAR)
    sync_calendars(now)
    db.session.expire_all()
    stored = db.session.get(CalendarFeed, feed.id)
    assert (stored.failures, stored.next_attempt_at, stored.last_error) == (0, None, None)
    before = requests_for("/broken.ics")
    sync_calendars(now + timedelta(minutes=15))
    assert requests_for("/broken.ics") == before + 1
    assert db.session.get(CalendarFeed, other.id).failures == 0


def test_a_sync_by_hand_for_one_room_ignores_the_backoff(db, unit, feed_server):
    feed = add(db, unit, feed_server.serve("/broken.ics", status=500, body=b""))
    sync_calendars(NOW)
    feed_server.serve("/broken.ics", CALENDAR)
    assert sync_calendars(NOW + timedelta(minutes=1)).startswith("0 feeds:")
    assert sync_calendars(NOW + timedelta(minutes=1), unit_id=unit.id).startswith(
        "1 feeds: 1 changed"
    )
    db.session.expire_all()
    assert db.session.get(CalendarFeed, feed.id).next_attempt_at is None


# --- caps -----------------------------------------------------------------------------


def test_an_organisation_imports_at_most_its_cap(app, db, make_unit, make_facility, make_user):
    app.config["CALENDAR_MAX_FEEDS_PER_OPERATOR"] = 3
    first = make_unit()
    organisation = first.facility.operator
    second = make_unit(facility=make_facility(operator=organisation))
    cap = feeds.operator_cap(app.config)
    for n in range(2):
        feeds.add_feed(first, f"https://x.example/{n}.ics", "A", NOW, operator_cap=cap)
    feeds.add_feed(second, "https://x.example/2.ics", "A", NOW, operator_cap=cap)
    db.session.commit()
    with pytest.raises(feeds.FeedError) as refused:
        feeds.add_feed(second, "https://x.example/3.ics", "A", NOW, operator_cap=cap)
    assert refused.value.code == "too_many_for_operator"
    db.session.rollback()
    # Another organisation is not affected.
    feeds.add_feed(make_unit(), "https://x.example/3.ics", "A", NOW, operator_cap=cap)
    db.session.commit()

    # Through the page: refused with a message, nothing added.
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    browser = signed_in(app, make_user(Role.OPERATOR, operator=organisation))
    response = browser.post(
        f"/operator/units/{second.id}/feeds",
        data={"label": "Google", "url": "https://x.example/4.ics"},
        follow_redirects=True,
    )
    assert "already imports 3 calendars" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CalendarFeed)) == 4
    page = browser.get("/operator/calendars").get_data(as_text=True)
    assert "imports 3 of at most 3 calendars" in page


def test_a_room_imports_at_most_ten(db, unit):
    for n in range(feeds.MAX_FEEDS_PER_UNIT):
        feeds.add_feed(unit, f"https://x.example/{n}.ics", "A", NOW)
    with pytest.raises(feeds.FeedError) as refused:
        feeds.add_feed(unit, "https://x.example/x.ics", "A", NOW)
    assert refused.value.code == "too_many" and feeds.MAX_FEEDS_PER_UNIT == 10


def test_a_label_with_control_characters_is_refused(db, unit):
    with pytest.raises(feeds.FeedError):
        feeds.add_feed(unit, "https://x.example/a.ics", "Air\x00bnb", NOW)
