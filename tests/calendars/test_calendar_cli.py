"""`flask --app wsgi calendars ...`: the contracts outside checks rely on."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from availability.models import Occupancy
from calendars.models import CalendarFeed
from core.models import JobRun
from tests.calendars.test_calendar_sync import BOOKING_COM

pytestmark = pytest.mark.usefixtures("sync_config")


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["calendars", *args])


def test_add_feed_then_sync_one_unit(app, db, make_unit, feed_server):
    unit, other = make_unit(), make_unit()
    url = feed_server.serve("/ical/secret-xyz.ics", BOOKING_COM)
    added = cli(app, "add-feed", str(unit.id), url, "--label", "Booking.com")
    assert added.exit_code == 0, added.output
    assert "secret-xyz" not in added.output  # the address is echoed masked
    cli(
        app, "add-feed", str(other.id), feed_server.serve("/other.ics", BOOKING_COM), "--label", "x"
    )
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.unit_id == unit.id))
    assert (feed.label, feed.url) == ("Booking.com", url)

    synced = cli(app, "sync", "--unit", str(unit.id))
    assert synced.exit_code == 0, synced.output
    assert "Syncing calendars" in synced.output and "1 feeds: 1 changed" in synced.output
    db.session.expire_all()
    units = set(
        db.session.scalars(select(Occupancy.unit_id).where(Occupancy.block_id.is_not(None)))
    )
    assert units == {unit.id}  # only the unit asked for
    run = db.session.scalar(select(JobRun))
    assert run.job == "calendar_sync" and run.summary.startswith("by hand: 1 feeds")

    everything = cli(app, "sync")
    assert everything.exit_code == 0 and "2 feeds" in everything.output


def test_sync_reports_failures_and_exits_non_zero(app, db, make_unit, feed_server):
    unit = make_unit()
    cli(app, "add-feed", str(unit.id), feed_server.serve("/down.ics", status=500), "--label", "A")
    result = cli(app, "sync")
    assert result.exit_code == 1
    assert "HTTP 500" in result.output and "1 failed" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-feed", "999999", "https://x.example/a.ics", "--label", "A"], "No unit"),
        (["add-feed", "{unit}", "ftp://x.example/a.ics", "--label", "A"], "https://"),
        (["add-feed", "{unit}", "https://x.example/a.ics", "--label", ""], "60"),
        (["sync", "--unit", "999999"], "No unit"),
    ],
)
def test_bad_arguments_are_refused_clearly(app, db, make_unit, args, message):
    unit = make_unit()
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    result = cli(app, *[a.format(unit=unit.id) for a in args])
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(CalendarFeed)) is None
