"""`flask --app wsgi api-token EMAIL`: an API token for scripts."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from accounts import services as accounts
from core.db import edge_now
from core.extensions import db


@click.command("api-token")
@with_appcontext
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


def init_app(app: Flask) -> None:
    app.cli.add_command(api_token_command)
