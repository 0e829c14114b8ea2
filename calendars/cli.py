"""`flask --app wsgi calendars ...`: calendar export addresses, feeds and sync by hand."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from calendars import export as calendar_export
from calendars import feeds
from calendars.jobs import sync_calendars
from calendars.sync import due_targets
from core.db import edge_now, get_by_id
from core.extensions import db
from core.job_summary import N_, summary
from core.scheduler import run_recorded
from facilities.models import Unit

calendars = AppGroup("calendars", help="Calendar export (iCal feeds) and import (sync).")


def _unit(unit_id: int) -> Unit:
    unit = get_by_id(Unit, unit_id)
    if unit is None:
        raise click.ClickException(f"No unit with id {unit_id}.")
    return unit


@calendars.command("export-url")
@click.argument("unit_id", type=int)
def export_url(unit_id: int):
    """Print the path of UNIT_ID's iCal feed (/calendars/<token>.ics)."""
    export = calendar_export.export_for_unit(_unit(unit_id), edge_now())
    db.session.commit()
    click.echo(export.path)


@calendars.command("add-feed")
@click.argument("unit_id", type=int)
@click.argument("url")
@click.option("--label", required=True, help="Where the feed comes from: Airbnb, Booking.com…")
def add_feed(unit_id: int, url: str, label: str):
    """Import the external iCal feed at URL into UNIT_ID."""
    try:
        feed = feeds.add_feed(
            _unit(unit_id),
            url,
            label,
            edge_now(),
            operator_cap=feeds.operator_cap(current_app.config),
        )
    except feeds.FeedError as exc:
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"Feed {feed.id} ({feed.label}) added to unit {unit_id}: {feeds.masked_url(url)}")


@calendars.command("sync")
@click.option(
    "--unit",
    "unit_id",
    type=int,
    default=None,
    help="Only this unit's feeds (also those backing off after failures).",
)
def sync(unit_id: int | None):
    """Import external feeds now, with a progress bar.

    Feeds backing off after failures wait for their turn, except with --unit.
    """
    if unit_id is not None:
        _unit(unit_id)
    total = len(due_targets(edge_now(), unit_id)[0])
    db.session.rollback()
    failures = []
    with click.progressbar(length=total, label="Syncing calendars", show_pos=True) as bar:

        def step(outcome):
            if outcome.status == "failed":
                failures.append(outcome)
            bar.update(1)

        run = run_recorded(
            "calendar_sync",
            lambda now: summary(
                N_("by hand: %(summary)s"),
                summary=sync_calendars(now, unit_id=unit_id, progress=step),
            ),
            edge_now(),
        )
    for outcome in failures:
        click.echo(f"  feed {outcome.feed_id}: {outcome.error}", err=True)
    click.echo(run.summary)
    if run.outcome != "ok" or failures:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(calendars)
