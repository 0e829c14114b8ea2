"""`flask --app wsgi ...` commands."""

from __future__ import annotations

import logging

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from accounts import services as accounts
from core.db import edge_now
from core.extensions import db


def init_app(app: Flask) -> None:
    from facilities import cli as facilities_cli

    facilities_cli.init_app(app)
    app.cli.add_command(scheduler_cli)

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Fill an empty database with the demo network and demo accounts."""
        from accounts.models import User
        from core.demo import seed_demo

        if app.config["ENGAWA_ENV"] == "production":
            # Demo accounts share a published password: never on a real deployment.
            raise click.ClickException(
                "seed-demo refuses to run in production (ENGAWA_ENV=production): "
                "the demo accounts' password is public."
            )
        if db.session.scalar(select(func.count()).select_from(User)):
            click.echo("The database already has users; the demo network was not added.")
            return
        from facilities.pricing.engine import recompute

        now = edge_now()
        summary = seed_demo(now, password_method=app.config["PASSWORD_HASH_METHOD"])
        db.session.commit()
        click.echo(
            f"Demo network: {summary['facilities']} facilities, {summary['units']} units, "
            f"{summary['bookings']} bookings, {summary['users']} accounts "
            "(password: engawa-demo)."
        )
        click.echo("Prices: " + recompute(now).summary())
        if app.config["BILLING_BACKEND"] == "local":
            from core.demo import subscribe_demo_companies

            for line in subscribe_demo_companies(now):
                click.echo("Subscribed (local test mode): " + line)

    @app.cli.command("api-token")
    @click.argument("email")
    @click.option("--name", default="CLI", help="A label to recognise the token by.")
    def api_token_command(email: str, name: str):
        """Print a new API token for the user with EMAIL."""
        user = accounts.user_by_email(email)
        if user is None:
            raise click.ClickException(f"No user with e-mail {email}.")
        _token, secret = accounts.create_api_token(user, name, edge_now())
        db.session.commit()
        click.echo(secret)


scheduler_cli = AppGroup("scheduler", help="The process that runs every recurring job.")


@scheduler_cli.command("run")
def scheduler_run():
    """Run the scheduler in the foreground until Ctrl-C or SIGTERM."""
    from flask import current_app

    from core import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo("Scheduler running (Ctrl-C stops it).")
    scheduler.serve(current_app._get_current_object())


@scheduler_cli.command("list")
def scheduler_list():
    """List the recurring jobs."""
    from flask import current_app

    from core.scheduler import JOBS

    for spec in JOBS.values():
        click.echo(f"{spec.name:20} {spec.trigger} {spec.trigger_args(current_app.config)}")


@scheduler_cli.command("run-job")
@click.argument("name")
def scheduler_run_job(name: str):
    """Run one job now, recorded like a scheduled run."""
    from flask import current_app

    from core.scheduler import JOBS, run_job

    if name not in JOBS:
        raise click.ClickException(f"Unknown job {name!r}; known: {', '.join(JOBS)}")
    run = run_job(current_app._get_current_object(), name)
    if run is None:
        click.echo(f"{name}: nothing to do")
        return
    click.echo(f"{run.job}: {run.outcome} — {run.summary}")
    if run.outcome != "ok":
        raise SystemExit(1)
