"""The bell: notices listed newest first in the reader's words, marked read one by one
or all at once, walled per person; and the operator dashboard's calendar warnings."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import event, select

from accounts import events as ev
from accounts.models import Role
from booking import services
from calendars.models import CalendarConflict, CalendarFeed
from core.extensions import db as _db
from notifications import notices
from notifications.catalog import KINDS
from notifications.models import Notice
from tests.conftest import NOW, days, signed_in
from tests.notifications.test_programme_notices import NOTICE_EXAMPLES


def notice(user, kind="operator_booking_created", params=None, link="/operator/", at=NOW):
    """A notice of a fresh event for ``user`` (as the dispatcher leaves one)."""
    happened = ev.emit(ev.BOOKING_CREATED, at)
    params = (
        {
            "booking": 42,
            "facility": "軽井沢の森",
            "facility_en": "Karuizawa Forest",
            "check_in": "2026-12-05",
            "check_out": "2026-12-07",
        }
        if params is None
        else params
    )
    made = notices.add_notice(user.id, kind, happened, params, link, at)
    _db.session.commit()
    return made


def bell_of(html: str) -> str | None:
    found = re.search(r'<a class="bell"[^>]*>', html)
    return found.group(0) if found else None


@pytest.fixture
def operator_user(make_user):
    return make_user(Role.OPERATOR, locale="en")


# --- The list and the bell ------------------------------------------------------------------


def test_notices_list_newest_first_with_the_unread_count_in_the_header(app, db, operator_user):
    older = notice(operator_user, at=NOW - timedelta(hours=2))
    newer = notice(
        operator_user,
        "calendar_conflict",
        {
            "unit": "101 和室",
            "facility": "軽井沢の森",
            "facility_en": "Karuizawa Forest",
            "first_night": "2026-12-05",
            "nights": 2,
        },
        link="/operator/calendars",
    )
    browser = signed_in(app, operator_user)
    page = browser.get("/notices")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index(f'data-notice-id="{newer.id}"') < html.index(f'data-notice-id="{older.id}"')
    assert "New booking 42 at Karuizawa Forest" in html
    assert "Calendar conflict at Karuizawa Forest, 101 和室" in html and "(2 nights)" in html
    assert html.count('class="notice-item unread"') == 2
    bell = bell_of(html)
    assert 'aria-label="Notices, 2 unread"' in bell and 'data-unread="2"' in bell
    assert 'aria-current="page"' in bell
    # Every page shows the bell with its count.
    home = browser.get("/account").get_data(as_text=True)
    assert 'data-unread="2"' in bell_of(home)
    assert '<span class="bell-count" aria-hidden="true">2</span>' in home


def test_opening_a_notice_marks_it_read_and_goes_to_its_page(app, db, operator_user):
    first = notice(operator_user, link="/operator/calendars")
    second = notice(operator_user)
    browser = signed_in(app, operator_user)
    opened = browser.post(f"/notices/{first.id}/read")
    assert opened.status_code == 303 and opened.location.endswith("/operator/calendars")
    db.session.expire_all()
    assert db.session.get(Notice, first.id).read_at == NOW
    assert db.session.get(Notice, second.id).read_at is None
    html = browser.get("/notices").get_data(as_text=True)
    assert 'data-unread="1"' in bell_of(html)
    assert '<a href="/operator/calendars">' in html  # read: a plain link now
    # Opening it again keeps the first time it was read.
    app.config["FIXED_NOW"] = NOW + timedelta(hours=1)
    browser.post(f"/notices/{first.id}/read")
    db.session.expire_all()
    assert db.session.get(Notice, first.id).read_at == NOW


def test_a_link_outside_engawa_is_never_followed(app, db, operator_user):
    elsewhere = notice(operator_user, link="//evil.example/phish")
    none = notice(operator_user, link=None)
    browser = signed_in(app, operator_user)
    for made in (elsewhere, none):
        answer = browser.post(f"/notices/{made.id}/read")
        assert answer.status_code == 303 and answer.location.endswith("/notices")
    assert "evil.example" not in browser.get("/notices").get_data(as_text=True)


def test_the_bell_costs_one_query_per_page(app, db, operator_user):
    notice(operator_user)
    browser = signed_in(app, operator_user)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        html = browser.get("/account").get_data(as_text=True)  # asks twice: bell and page
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert 'data-unread="1"' in html
    assert len([s for s in statements if re.search(r"\bFROM notice\b", s)]) == 1


def test_mark_all_read(app, db, operator_user, make_user):
    mine = [notice(operator_user) for _ in range(3)]
    other = make_user(Role.OPERATOR, operator=operator_user.operator)
    theirs = notice(other)
    browser = signed_in(app, operator_user)
    answer = browser.post("/notices/read-all")
    assert answer.status_code == 303 and answer.location.endswith("/notices")
    db.session.expire_all()
    assert all(db.session.get(Notice, n.id).read_at == NOW for n in mine)
    assert db.session.get(Notice, theirs.id).read_at is None  # only one's own
    html = browser.get("/notices").get_data(as_text=True)
    assert "3 notices marked read." in html
    assert 'aria-label="Notices"' in bell_of(html) and "bell-count" not in html
    assert 'data-testid="read-all"' not in html  # nothing left to mark


def test_someone_elses_notice_answers_404(app, db, operator_user, make_user):
    other = make_user(Role.OPERATOR, operator=operator_user.operator)
    theirs = notice(other)
    browser = signed_in(app, operator_user)
    assert browser.post(f"/notices/{theirs.id}/read").status_code == 404
    assert browser.post("/notices/999999/read").status_code == 404
    assert browser.get(f"/notices/{theirs.id}/read").status_code == 405
    db.session.expire_all()
    assert db.session.get(Notice, theirs.id).read_at is None
    assert f'data-notice-id="{theirs.id}"' not in browser.get("/notices").get_data(as_text=True)


def test_a_post_without_its_csrf_token_marks_nothing(app, db, operator_user):
    made = notice(operator_user)
    browser = signed_in(app, operator_user)
    app.config["WTF_CSRF_ENABLED"] = True
    assert browser.post(f"/notices/{made.id}/read").status_code == 400
    assert browser.post("/notices/read-all").status_code == 400
    db.session.expire_all()
    assert db.session.get(Notice, made.id).read_at is None


def test_signed_out_people_are_sent_to_sign_in(app, db, operator_user):
    made = notice(operator_user)
    visitor = app.test_client()
    for answer in (visitor.get("/notices"), visitor.post(f"/notices/{made.id}/read")):
        assert answer.status_code == 302 and "/login" in answer.location
    assert "bell" not in (bell_of(visitor.get("/login").get_data(as_text=True)) or "")


def test_employees_have_a_bell_for_the_stays_they_approve(app, db, make_user):
    """An employee may be a manager who approves stays (issue 18): the bell is theirs too;
    news of their own stays comes by mail."""
    employee = make_user(Role.EMPLOYEE, locale="en")
    browser = signed_in(app, employee)
    assert 'aria-label="Notices"' in bell_of(browser.get("/").get_data(as_text=True))
    page = browser.get("/notices")
    assert page.status_code == 200
    assert "No notices yet. When something needs your attention" in page.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN, Role.OPERATOR])
def test_operators_company_admins_and_the_engawa_team_have_a_bell(app, db, make_user, role):
    person = make_user(role, locale="en")
    html = signed_in(app, person).get("/account").get_data(as_text=True)
    assert 'aria-label="Notices"' in bell_of(html)
    assert 'href="/notices"' in html


def test_the_list_is_paged(app, db, operator_user):
    made = [
        notice(operator_user, at=NOW - timedelta(minutes=i)) for i in range(notices.PER_PAGE + 3)
    ]
    browser = signed_in(app, operator_user)
    first = browser.get("/notices").get_data(as_text=True)
    assert first.count('class="notice-item') == notices.PER_PAGE
    assert f'data-notice-id="{made[0].id}"' in first  # the newest
    second = browser.get("/notices?page=2").get_data(as_text=True)
    assert second.count('class="notice-item') == 3
    assert f'data-notice-id="{made[-1].id}"' in second
    assert browser.get("/notices?page=x").status_code == 200  # a bad page number: page 1


# --- The text of each kind ----------------------------------------------------------------


BOOKING = {
    "booking": 7,
    "facility": "海辺の家",
    "facility_en": "Seaside House",
    "check_in": "2026-12-05",
    "check_out": "2026-12-07",
}
# One workspace booking, 10:00-11:30 Tokyo time, as the workspace notices' data carries it.
DESK_A = {
    "booking": 12, "count": 1, "unit": "Desk A",
    "facility": "海辺の家", "facility_en": "Seaside House",
    "starts_at": "2026-12-08T01:00:00+00:00", "ends_at": "2026-12-08T02:30:00+00:00",
}  # fmt: skip
EXAMPLES = {
    "approval_requested": (BOOKING, "Stay 7 at Seaside House, "),
    "operator_booking_created": (BOOKING, "New booking 7 at Seaside House"),
    "operator_booking_cancelled": (BOOKING, "Booking 7 at Seaside House"),
    "company_booking_no_show": (BOOKING, "Booking 7 at Seaside House, "),
    "operator_booking_changed": (BOOKING, "Booking 7 at Seaside House changed"),
    "calendar_conflict": (
        {"unit": "201", "facility": "海辺の家", "facility_en": "", "first_night": "2026-12-05",
         "nights": 1},
        "Calendar conflict at 海辺の家, 201",
    ),
    "feed_failing": (
        {"feed": "Airbnb", "unit": "201", "facility": "海辺の家", "facility_en": "Seaside House",
         "since": "2026-12-01T03:00:00+00:00"},
        "The calendar Airbnb of Seaside House, 201, has not synced since 2026/12/01 12:00",
    ),
    "invoice_issued": ({"number": "INV-0001", "total": 88000}, "Invoice INV-0001 issued: ¥88,000"),
    "payment_failed": (
        {"grace_until": "2026-12-08T03:00:00+00:00"},
        "Update the payment method by 2026/12/08 12:00",
    ),
    "seats_full": ({}, "every seat of the subscription is taken"),
    "credit_low": ({"balance": 12000, "grant": 150000}, "¥12,000 left of ¥150,000"),
    "refusals_many": ({"count": 4}, "refused 4 times today"),
    "application_submitted": (
        {"name": "Acme 株式会社", "kind": "company"},
        "New sign-up application from the company Acme 株式会社",
    ),
    "workspace_booked": (
        {**DESK_A, "refund": 0},
        "Workspace booked: Desk A at Seaside House, Tue 8 Dec 10:00–11:30",
    ),
    "workspace_cancelled": ({**DESK_A, "refund": 1500}, "was cancelled, ¥1,500 (tax incl.) back"),
    "workspace_operator_cancelled": (
        {**DESK_A, "count": 3, "refund": 0, "with_stay": True},
        "3 workspace bookings at Seaside House were cancelled, the first Tue 8 Dec 10:00–11:30",
    ),
    "workspace_changed": (
        {**DESK_A, "unit": "Booth 1", "starts_at": "2026-12-09T05:00:00+00:00",
         "ends_at": "2026-12-09T07:00:00+00:00", "old_unit": "Desk A",
         "old_starts_at": DESK_A["starts_at"], "old_ends_at": DESK_A["ends_at"],
         "price": 2000, "charged": 0, "refunded": 500, "kept": 500},
        "Workspace booking 12 changed: Desk A, Tue 8 Dec 10:00–11:30 → Booth 1 at Seaside"
        " House, Wed 9 Dec 14:00–16:00, now ¥2,000 (tax incl.), ¥500 (tax incl.) back,"
        " ¥500 (tax incl.) kept",
    ),
    "workspace_operator_changed": (
        {**DESK_A, "old_unit": "Desk A", "old_starts_at": "2026-12-07T23:00:00+00:00",
         "old_ends_at": "2026-12-08T15:00:00+00:00"},
        "Workspace booking 12 at Seaside House moved: Desk A, Tue 8 Dec 08:00–24:00"
        " → Desk A, Tue 8 Dec 10:00–11:30",
    ),
    "workspace_no_show": (
        {**DESK_A, "refund": 500, "released_from": "2026-12-08T02:00:00+00:00"},
        "the rest of the time was released, ¥500 (tax incl.) back",
    ),
    **NOTICE_EXAMPLES,
}  # fmt: skip


def test_every_notice_kind_has_its_sentence(app):
    assert set(EXAMPLES) == {kind.name for kind in KINDS if kind.notice}
    with force_locale("en"):
        for kind, (params, expected) in EXAMPLES.items():
            assert expected in notices.notice_text(kind, params), kind
        assert "Sat 5 Dec" in notices.notice_text("operator_booking_created", BOOKING)
        conflict = notices.notice_text("calendar_conflict", EXAMPLES["calendar_conflict"][0])
        assert conflict.endswith("(1 night)")
        operator = notices.notice_text(
            "application_submitted", {"name": "Umibe", "kind": "operator"}
        )
        assert operator == "New sign-up application from the operator Umibe"
    with force_locale("ja"):  # the Japanese name, whatever the catalogue holds
        assert "海辺の家" in notices.notice_text("operator_booking_created", BOOKING)


def test_a_notice_missing_its_params_reads_as_its_kind(app):
    with force_locale("en"):
        assert notices.notice_text("operator_booking_created", {}) == "New booking"
        assert notices.notice_text("calendar_conflict", {"nights": "many"}) == "Calendar conflict"
        assert notices.notice_text("credit_low", "not json") == "Stay credit below 10%"
        assert notices.notice_text("credit_low", "[1, 2]") == "Stay credit below 10%"
        assert notices.notice_text(
            "feed_failing", {"feed": "a", "unit": "b", "facility": "c", "since": "yesterday"}
        ) == ("Calendar feed not syncing")
        assert notices.notice_text("no_such_kind", {}) == "no_such_kind"


def test_a_broken_notice_still_lists(app, db, operator_user):
    made = notice(operator_user, "invoice_issued", {"number": "INV-9"})  # no total
    html = signed_in(app, operator_user).get("/notices").get_data(as_text=True)
    assert f'data-notice-id="{made.id}"' in html and "Invoice issued" in html


# --- The operator dashboard -----------------------------------------------------------------


def feed_of(db, unit, **kw) -> CalendarFeed:
    feed = CalendarFeed(
        unit_id=unit.id,
        label=kw.pop("label", "Airbnb"),
        url="https://example.com/a.ics",
        created_at=kw.pop("created_at", NOW - timedelta(days=30)),
        **kw,
    )
    db.session.add(feed)
    db.session.commit()
    return feed


def conflict_of(db, make_employee, unit, feed) -> CalendarConflict:
    employee = make_employee()
    stay = services.book_stay(employee, services.StayRequest(unit.id, days(5), days(7), 1), NOW)
    conflict = CalendarConflict(
        feed_id=feed.id,
        unit_id=unit.id,
        booking_id=stay.id,
        event_key=f"e{stay.id}",
        event_summary="Reserved",
        event_start=days(5),
        event_end=days(7),
        first_night=days(5),
        nights=2,
        detected_at=NOW,
    )
    db.session.add(conflict)
    db.session.commit()
    return conflict


def test_the_dashboard_warns_of_its_own_conflicts_and_failing_feeds(
    app, db, make_user, make_unit, make_employee
):
    mine, theirs = make_unit(name="101 森"), make_unit(name="202 海")
    operator = make_user(Role.OPERATOR, operator=mine.facility.operator, locale="en")
    healthy = feed_of(db, mine, label="Google", last_success_at=NOW - timedelta(minutes=5))
    conflict = conflict_of(db, make_employee, mine, healthy)
    failing = feed_of(
        db,
        mine,
        label="Booking.com",
        last_success_at=NOW - timedelta(hours=2),
        last_error="HTTP 500",
        last_error_at=NOW - timedelta(minutes=10),
    )
    stale = feed_of(db, mine, label="Jalan", last_success_at=NOW - timedelta(hours=7))
    young = feed_of(db, mine, label="Rakuten", created_at=NOW - timedelta(hours=1))  # not yet
    other_feed = feed_of(db, theirs, label="Other", last_error="x", last_error_at=NOW)
    other_conflict = conflict_of(db, make_employee, theirs, other_feed)

    html = signed_in(app, operator).get("/operator/").get_data(as_text=True)
    alerts = html[html.index('data-testid="calendar-alerts"') :]
    alerts = alerts[: alerts.index("</section>")]
    assert html.index('data-testid="calendar-alerts"') < html.index('data-testid="facilities"')
    assert "1 open calendar conflict" in alerts
    assert f'data-conflict-id="{conflict.id}"' in alerts and "101 森" in alerts
    assert f'data-conflict-id="{other_conflict.id}"' not in alerts and "202 海" not in alerts
    assert "2 calendar feeds are not syncing." in alerts
    assert f'data-feed-id="{failing.id}"' in alerts and f'data-feed-id="{stale.id}"' in alerts
    for quiet in (healthy, young, other_feed):
        assert f'data-feed-id="{quiet.id}"' not in alerts
    assert 'href="/operator/calendars"' in alerts


def test_the_dashboard_says_nothing_when_all_is_well(app, db, make_user, make_unit):
    unit = make_unit()
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator, locale="en")
    feed_of(db, unit, last_success_at=NOW - timedelta(minutes=5))
    # A paused feed (the room is off sale) is not synced on purpose.
    off_sale = make_unit(facility=unit.facility, active=False)
    feed_of(db, off_sale, last_success_at=NOW - timedelta(days=3))
    html = signed_in(app, operator).get("/operator/").get_data(as_text=True)
    assert 'data-testid="calendar-alerts"' not in html


def test_notices_are_kept_per_person_and_event(app, db, operator_user):
    happened = ev.emit(ev.BOOKING_CREATED, NOW)
    assert notices.add_notice(operator_user.id, "operator_booking_created", happened, {}, None, NOW)
    assert (
        notices.add_notice(operator_user.id, "operator_booking_created", happened, {}, None, NOW)
        is None
    )
    db.session.commit()
    assert len(db.session.scalars(select(Notice)).all()) == 1
