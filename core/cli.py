"""`flask --app wsgi scheduler ...`: the processes that run every recurring job."""

from __future__ import annotations

import logging
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core import leader, scheduler
from core.db import TOKYO, edge_now
from core.extensions import db

scheduler_cli = AppGroup("scheduler", help="The processes that run every recurring job.")


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_cli)


def _tokyo(moment: datetime | None) -> str:
    return moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


@scheduler_cli.command("run")
def scheduler_run():
    """Run a scheduler in the foreground until Ctrl-C or SIGTERM: it leads, or it stands
    by while another process leads (any number may run)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo("Scheduler running (Ctrl-C stops it).")
    scheduler.serve(current_app._get_current_object())


@scheduler_cli.command("status")
def scheduler_status():
    """Which process leads, and when each job runs next (Asia/Tokyo)."""
    lease = leader.status(db.engine)
    if lease is None:
        click.echo("Leader: none (no scheduler has led on this database)")
    else:
        held = f"{lease.host} (pid {lease.pid})"
        if lease.expired:
            click.echo(
                f"Leader: none (lease expired at {_tokyo(lease.expires_at)}; last held by {held})"
            )
        else:
            click.echo(
                f"Leader: {held}, since {_tokyo(lease.since)},"
                f" last renewed {_tokyo(lease.renewed_at)}"
            )
    states = scheduler.job_states(current_app, edge_now())
    db.session.rollback()
    click.echo("")
    click.echo(f"{'job':24} {'next run (Asia/Tokyo)':21}  last run")
    for state in states:
        last = (
            f"{state.last_outcome} at {_tokyo(state.last_started)}"
            if state.last_outcome
            else "never"
        )
        click.echo(f"{state.name:24} {_tokyo(state.next_run):21}  {last}")


@scheduler_cli.command("list")
def scheduler_list():
    """List the recurring jobs."""
    for spec in scheduler.registered_jobs(current_app).values():
        click.echo(f"{spec.name:20} {spec.trigger} {spec.trigger_args(current_app.config)}")


@scheduler_cli.command("run-job")
@click.argument("name")
def scheduler_run_job(name: str):
    """Run one job now, recorded like a scheduled run (without a scheduled time)."""
    jobs = scheduler.registered_jobs(current_app)
    if name not in jobs:
        raise click.ClickException(f"Unknown job {name!r}; known: {', '.join(jobs)}")
    run = scheduler.run_job(current_app._get_current_object(), name)
    if run is None:
        click.echo(f"{name}: nothing to do")
        return
    click.echo(f"{run.job}: {run.outcome} — {run.summary}")
    if run.outcome != "ok":
        raise SystemExit(1)
