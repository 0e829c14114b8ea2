"""`flask --app wsgi seed-demo`: the demo network on an empty database, with its
illustrative photos in the instance folder (``instance/photos``)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from accounts.models import User
from billing.settings import BillingSettings
from core.db import edge_now
from core.extensions import db
from demo.data import DEMO_TOTP_SECRET
from demo.seed import seed_demo, subscribe_demo_companies
from facilities.models import FacilityPhoto
from facilities.photos import photo_dir
from pricing.engine import recompute


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Fill an empty database with the demo network and demo accounts."""
    config = current_app.config
    if config["ENGAWA_ENV"] == "production":
        # Demo accounts share a published password: never on a real deployment.
        raise click.ClickException(
            "seed-demo refuses to run in production (ENGAWA_ENV=production): "
            "the demo accounts' password is public."
        )
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("The database already has users; the demo network was not added.")
        return
    now = edge_now()
    folder = photo_dir(current_app.instance_path)
    before = set(folder.iterdir()) if folder.is_dir() else set()
    try:
        summary = seed_demo(now, password_method=config["PASSWORD_HASH_METHOD"], photo_dir=folder)
        db.session.commit()
    except BaseException:
        # The photos' files are written before the commit: none may outlive their rows.
        db.session.rollback()
        if folder.is_dir():
            for path in set(folder.iterdir()) - before:
                path.unlink(missing_ok=True)
        raise
    photos = db.session.scalar(select(func.count()).select_from(FacilityPhoto))
    click.echo(
        f"Demo network: {summary['facilities']} facilities, {summary['units']} units, "
        f"{summary['bookings']} bookings, {summary['users']} accounts "
        "(password: engawa-demo)."
    )
    click.echo(
        "Two-factor sign-in: the demo operators, company admins and root@engawa.example"
        f" sign in with a code from the demo authenticator key {DEMO_TOTP_SECRET}"
        " (add it to an authenticator app by hand: time-based, 6 digits, 30 seconds;"
        f' or print the current code with: python -c "import pyotp;'
        f" print(pyotp.TOTP('{DEMO_TOTP_SECRET}').now())\")."
    )
    click.echo(f"Photos: {photos}, stored in {folder}.")
    horizon = config["PRICING_HORIZON_DAYS"]
    click.echo("Prices: " + recompute(now, horizon_days=horizon).summary())
    if config["BILLING_BACKEND"] == "local":
        settings = BillingSettings.from_config(config)
        for line in subscribe_demo_companies(now, settings=settings):
            click.echo("Subscribed (local test mode): " + line)


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
