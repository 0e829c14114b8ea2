"""`flask --app wsgi calendars ...` and `pricing ...`: calendar sync and pricing by hand."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core.db import edge_now, get_by_id
from core.extensions import db
from core.scheduler import run_recorded
from facilities import calendar_export, feeds
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
    # Imported here: web workers load this module but never sync.
    from facilities.calendar_sync import due_targets
    from facilities.jobs import sync_calendars

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
            lambda now: "by hand: " + sync_calendars(now, unit_id=unit_id, progress=step),
            edge_now(),
        )
    for outcome in failures:
        click.echo(f"  feed {outcome.feed_id}: {outcome.error}", err=True)
    click.echo(run.summary)
    if run.outcome != "ok" or failures:
        raise SystemExit(1)


pricing = AppGroup("pricing", help="Demand pricing: nightly prices of every unit.")


@pricing.command("recompute")
@click.option("--facility", "facility_id", type=int, default=None, help="Only this facility.")
@click.option("--dry-run", is_flag=True, help="Compute and count, write nothing.")
@click.option(
    "--force", is_flag=True, help="Also facilities whose inputs did not change since the last run."
)
def recompute(facility_id: int | None, dry_run: bool, force: bool):
    """Re-price every unsold night of the next year now, with a progress bar."""
    from facilities.pricing import engine

    ids = engine.facility_ids(facility_id)
    db.session.rollback()
    if facility_id is not None and not ids:
        raise click.ClickException(f"No active facility with id {facility_id}.")
    label = "Pricing (dry run)" if dry_run else "Pricing"
    with click.progressbar(length=len(ids), label=label, show_pos=True) as bar:

        def step(_facility_id, _counts):
            bar.update(1)

        def job(now):
            counts = engine.recompute(
                now,
                facility_id=facility_id,
                dry_run=dry_run,
                force=force,
                cause="cli",
                progress=step,
            )
            return ("dry run: " if dry_run else "by hand: ") + counts.summary()

        if dry_run:  # nothing changes, so nothing to record as a job run
            summary, outcome = job(edge_now()), "ok"
        else:
            run = run_recorded("pricing_recompute", job, edge_now())
            summary, outcome = run.summary, run.outcome
    click.echo(summary)
    if outcome != "ok":
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(calendars)
    app.cli.add_command(pricing)
