"""`flask --app wsgi scheduler ...`: the process that runs every recurring job."""

from __future__ import annotations

import logging

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core import scheduler

scheduler_cli = AppGroup("scheduler", help="The process that runs every recurring job.")


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_cli)


@scheduler_cli.command("run")
def scheduler_run():
    """Run the scheduler in the foreground until Ctrl-C or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo("Scheduler running (Ctrl-C stops it).")
    scheduler.serve(current_app._get_current_object())


@scheduler_cli.command("list")
def scheduler_list():
    """List the recurring jobs."""
    for spec in scheduler.registered_jobs(current_app).values():
        click.echo(f"{spec.name:20} {spec.trigger} {spec.trigger_args(current_app.config)}")


@scheduler_cli.command("run-job")
@click.argument("name")
def scheduler_run_job(name: str):
    """Run one job now, recorded like a scheduled run."""
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
