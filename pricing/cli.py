"""`flask --app wsgi pricing ...`: demand pricing by hand."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core import job_summary
from core.db import edge_now
from core.extensions import db
from core.job_summary import N_
from core.scheduler import run_recorded
from pricing import engine

pricing = AppGroup("pricing", help="Demand pricing: nightly prices of every unit.")


@pricing.command("recompute")
@click.option("--facility", "facility_id", type=int, default=None, help="Only this facility.")
@click.option("--dry-run", is_flag=True, help="Compute and count, write nothing.")
@click.option(
    "--force", is_flag=True, help="Also facilities whose inputs did not change since the last run."
)
def recompute(facility_id: int | None, dry_run: bool, force: bool):
    """Re-price every unsold night of the next year now, with a progress bar."""
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
                horizon_days=current_app.config["PRICING_HORIZON_DAYS"],
            )
            how = N_("dry run: %(summary)s") if dry_run else N_("by hand: %(summary)s")
            return job_summary.summary(how, summary=counts.summary())

        if dry_run:  # nothing changes, so nothing to record as a job run
            summary, outcome = job(edge_now()), "ok"
        else:
            run = run_recorded("pricing_recompute", job, edge_now())
            summary, outcome = run.summary, run.outcome
    click.echo(summary)
    if outcome != "ok":
        raise SystemExit(1)
