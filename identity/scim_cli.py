"""`flask --app wsgi scim-token ADMIN_EMAIL`: a new SCIM token for a script.

Prints the token of the company whose admin has that address, once; the company's
token before it stops working (as rotating it on the console does). Recorded in the
audit log as done on the command line.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from accounts.audit import ACTOR_CLI
from accounts.models import Role
from accounts.services import user_by_email
from core.db import edge_now
from core.extensions import db
from identity import scim


@click.command("scim-token")
@with_appcontext
@click.argument("admin_email")
def scim_token_command(admin_email: str):
    """Print a new SCIM token for the company of the admin with ADMIN_EMAIL (the old
    token stops working)."""
    admin = user_by_email(admin_email)
    if admin is None or admin.role != Role.COMPANY_ADMIN or not admin.active:
        raise click.ClickException(f"No active company admin with e-mail {admin_email}.")
    if not admin.company.active:
        raise click.ClickException(f"The company of {admin_email} is deactivated.")
    _token, secret = scim.rotate_token(
        admin.company_id, edge_now(), actor=None, actor_kind=ACTOR_CLI, made_for=admin
    )
    db.session.commit()
    click.echo(secret)


def init_app(app: Flask) -> None:
    app.cli.add_command(scim_token_command)
