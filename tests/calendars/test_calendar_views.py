"""The operator's calendar pages: feeds, export addresses, health and conflicts."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from booking import services as booking_services
from calendars import export as calendar_export
from calendars import feeds
from calendars.jobs import sync_calendars
from calendars.models import CalendarConflict, CalendarExport, CalendarFeed
from tests.calendars.test_calendar_sync import AIRBNB
from tests.conftest import NOW, PASSWORD, days, signed_in

pytestmark = pytest.mark.usefixtures("sync_config")


@pytest.fixture
def stranger(make_user):
    """An operator of another organisation."""
    return make_user(Role.OPERATOR)


def test_operator_adds_a_feed_and_sees_it_on_the_health_page(app, db, unit, operator, feed_server):
    browser = signed_in(app, operator)
    url = feed_server.serve("/ical/secret-abc.ics", AIRBNB)
    response = browser.post(
        f"/operator/units/{unit.id}/feeds", data={"label": "Airbnb", "url": url}
    )
    assert response.status_code == 302
    assert db.session.scalar(select(CalendarFeed.url)) == url
    page = browser.get("/operator/calendars").get_data(as_text=True)
    assert "Airbnb" in page and "secret-abc" not in page  # the address is shown masked

    sync_calendars(NOW)
    page = browser.get("/operator/calendars").get_data(as_text=True)
    assert "state-ok" in page
    # Twice the interval later with no sync: stale.
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=31)
    assert "state-stale" in browser.get("/operator/calendars").get_data(as_text=True)


@pytest.mark.parametrize(
    ("label", "url", "message"),
    [
        ("Airbnb", "file:///etc/passwd", "must start with https://"),
        ("Airbnb", "javascript:alert(1)", "must start with https://"),
        ("Airbnb", "https://", "must start with https://"),
        ("", "https://www.airbnb.com/calendar/ical/1.ics", "Give the feed a name"),
        ("Airbnb", "https://x.example/a b.ics", "Enter the feed's full address"),
    ],
)
def test_bad_feeds_are_refused_with_a_message(app, db, unit, operator, label, url, message):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    browser = signed_in(app, operator)
    browser.get("/lang/en")
    response = browser.post(
        f"/operator/units/{unit.id}/feeds",
        data={"label": label, "url": url},
        follow_redirects=True,
    )
    assert response.status_code == 200
    errors = re.findall(r'class="flash flash-error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    assert len(errors) == 1 and message in html.unescape(errors[0])
    assert db.session.scalar(select(func.count()).select_from(CalendarFeed)) == 0


def test_failing_feed_shows_its_error(app, db, unit, operator, feed_server):
    feeds.add_feed(unit, feed_server.serve("/down.ics", status=500), "Booking.com", NOW)
    db.session.commit()
    sync_calendars(NOW)
    page = signed_in(app, operator).get("/operator/calendars").get_data(as_text=True)
    assert "HTTP 500" in page and "state-failing" in page


def test_conflict_is_listed_and_resolved(app, db, unit, operator, feed_server, make_user):
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, days(7), days(9), 1), NOW
    )
    feeds.add_feed(unit, feed_server.serve("/a.ics", AIRBNB), "Airbnb", NOW)
    db.session.commit()
    sync_calendars(NOW)
    browser = signed_in(app, operator)
    page = browser.get("/operator/calendars").get_data(as_text=True)
    conflict = db.session.scalar(select(CalendarConflict))
    assert f'data-conflict-id="{conflict.id}"' in page
    response = browser.post(f"/operator/conflicts/{conflict.id}/resolve")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(CalendarConflict, conflict.id).resolution == "operator"
    assert 'data-testid="no-conflicts"' in browser.get("/operator/calendars").get_data(as_text=True)


def test_facility_page_shows_export_addresses_and_rotates(app, db, unit, operator):
    browser = signed_in(app, operator)
    page = browser.get(f"/operator/facilities/{unit.facility_id}/calendars")
    assert page.status_code == 200
    export = db.session.scalar(select(CalendarExport).where(CalendarExport.unit_id == unit.id))
    assert f"/calendars/{export.token}.ics" in page.get_data(as_text=True)
    old = export.token
    assert browser.post(f"/operator/exports/{export.id}/rotate").status_code == 302
    db.session.expire_all()
    assert db.session.get(CalendarExport, export.id).token != old
    assert app.test_client().get(f"/calendars/{old}.ics").status_code == 404
    browser.post(f"/operator/exports/{export.id}/settings", data={"include_imported": "y"})
    db.session.expire_all()
    assert db.session.get(CalendarExport, export.id).include_imported is True


def test_removing_a_feed_from_the_page(app, db, unit, operator, feed_server):
    feed = feeds.add_feed(unit, feed_server.serve("/a.ics", AIRBNB), "Airbnb", NOW)
    db.session.commit()
    sync_calendars(NOW)
    response = signed_in(app, operator).post(f"/operator/feeds/{feed.id}/delete")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(CalendarFeed)) == 0


# --- tenants -------------------------------------------------------------------------


@pytest.fixture
def foreign(db, unit, feed_server, make_user):
    """Ids of one of everything, belonging to ``unit``'s operator."""
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, days(7), days(9), 1), NOW
    )
    feed = feeds.add_feed(unit, feed_server.serve("/a.ics", AIRBNB), "Airbnb", NOW)
    export = calendar_export.export_for_unit(unit, NOW)
    db.session.commit()
    sync_calendars(NOW)
    conflict = db.session.scalar(select(CalendarConflict))
    return {
        "facility": unit.facility_id,
        "unit": unit.id,
        "feed": feed.id,
        "export": export.id,
        "token": export.token,
        "conflict": conflict.id,
    }


DOORS = [
    ("GET", "/operator/facilities/{facility}/calendars"),
    ("POST", "/operator/units/{unit}/feeds"),
    ("POST", "/operator/feeds/{feed}/delete"),
    ("POST", "/operator/exports/{export}/rotate"),
    ("POST", "/operator/exports/{export}/settings"),
    ("POST", "/operator/conflicts/{conflict}/resolve"),
]


@pytest.mark.parametrize(("method", "path"), DOORS)
def test_foreign_ids_answer_404_and_change_nothing(app, db, stranger, foreign, method, path):
    browser = signed_in(app, stranger)
    before = (
        db.session.execute(select(CalendarExport.token, CalendarExport.include_imported)).all(),
        db.session.scalar(select(func.count()).select_from(CalendarFeed)),
    )
    response = browser.open(
        path.format(**foreign), method=method, data={"label": "x", "url": "https://x.example/"}
    )
    assert response.status_code == 404
    db.session.expire_all()
    after = (
        db.session.execute(select(CalendarExport.token, CalendarExport.include_imported)).all(),
        db.session.scalar(select(func.count()).select_from(CalendarFeed)),
    )
    assert after == before
    assert db.session.scalar(select(CalendarConflict.resolved_at)) is None
    # The stranger's health page shows none of it.
    page = browser.get("/operator/calendars").get_data(as_text=True)
    assert f'data-feed-id="{foreign["feed"]}"' not in page


@pytest.mark.parametrize("path", ["/operator/feeds/0/delete", "/operator/feeds/99999999999/delete"])
def test_impossible_ids_answer_404(app, operator, path):
    assert signed_in(app, operator).post(path).status_code == 404


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_other_roles_are_refused(app, make_user, foreign, role):
    browser = signed_in(app, make_user(role))
    assert browser.get("/operator/calendars").status_code == 403
    assert browser.post(f"/operator/conflicts/{foreign['conflict']}/resolve").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/operator/calendars")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_forms_need_csrf(app, db, unit, operator, foreign):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    # Sign in with a token from the login page.
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    signed = browser.post(
        "/login", data={"email": operator.email, "password": PASSWORD, "csrf_token": token}
    )
    assert signed.status_code == 302  # the owner, signed in: refusals below are CSRF's
    for method, path in DOORS[1:]:
        response = browser.open(path.format(**foreign), method=method, data={"label": "x"})
        assert response.status_code == 400, path


def test_platform_admin_sees_every_feed_of_the_network(app, db, make_user, foreign, make_unit):
    other = feeds.add_feed(make_unit(), "https://calendar.example/b.ics", "Google", NOW)
    db.session.commit()
    page = signed_in(app, make_user(Role.PLATFORM_ADMIN)).get("/admin/calendars")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'data-feed-id="{foreign["feed"]}"' in text and f'data-feed-id="{other.id}"' in text
    assert "calendar.example/b.ics" not in text  # masked
