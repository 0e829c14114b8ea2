"""`flask --app wsgi ...` commands."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import func, select

from accounts import services as accounts
from core.db import edge_now
from core.extensions import db


def init_app(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Fill an empty database with the demo network and demo accounts."""
        from accounts.models import User
        from core.demo import seed_demo

        if db.session.scalar(select(func.count()).select_from(User)):
            click.echo("The database already has users; the demo network was not added.")
            return
        summary = seed_demo(edge_now(), password_method=app.config["PASSWORD_HASH_METHOD"])
        db.session.commit()
        click.echo(
            f"Demo network: {summary['facilities']} facilities, {summary['units']} units, "
            f"{summary['bookings']} bookings, {summary['users']} accounts "
            "(password: engawa-demo)."
        )

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
