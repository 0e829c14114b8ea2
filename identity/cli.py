"""`flask --app wsgi orgs …`: organisations made by a script.

Each command prints exactly one line holding the new admin's one-time set-password
link (a path starting ``/password/``), which outside checks read; errors exit non-zero
with the reason. Recorded in the audit log as done on the command line.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from accounts.audit import ACTOR_CLI
from accounts.models import OperatorKind
from billing.settings import BillingSettings
from core.db import edge_now
from core.extensions import db
from identity import orgs

orgs_cli = AppGroup("orgs", help="Companies and operator organisations, with their first admin.")


def init_app(app: Flask) -> None:
    app.cli.add_command(orgs_cli)


def _refused(exc: orgs.OrgError) -> click.ClickException:
    """The refusal in English: scripts read it, whatever the site's default language."""
    db.session.rollback()
    with force_locale("en"):
        return click.ClickException(str(exc.message))


@orgs_cli.command("create-company")
@click.argument("name")
@click.option("--admin", "admin_email", required=True, help="The first admin's e-mail address.")
@click.option("--admin-name", default="", help="The first admin's name.")
@click.option("--plan", "plan_code", default=None, help="A plan code (e.g. standard).")
@click.option("--seats", type=int, default=None, help="Seats to subscribe (with --plan).")
def create_company_command(
    name: str, admin_email: str, admin_name: str, plan_code: str | None, seats: int | None
):
    """Create the company NAME and its admin; print the admin's set-password link.

    With --plan and --seats the subscription starts at once, paid by invoice."""
    if (plan_code is None) != (seats is None):
        raise click.ClickException("--plan and --seats go together.")
    try:
        created = orgs.create_company(
            name,
            admin_email,
            edge_now(),
            actor_kind=ACTOR_CLI,
            admin_name=admin_name,
            plan_code=plan_code,
            seats=seats,
            settings=BillingSettings.from_config(current_app.config) if plan_code else None,
        )
    except orgs.OrgError as exc:
        raise _refused(exc) from None
    db.session.commit()
    plan = f", {plan_code} × {seats} seats" if created.subscribed else ""
    click.echo(
        f'Created company "{created.org_name}" (id {created.org_id}{plan}); admin '
        f"{created.admin_email} sets a password at {created.link_path}"
    )
    if created.billing_error:
        click.echo(f"The subscription was not started: {created.billing_error}", err=True)
        raise SystemExit(1)


@orgs_cli.command("create-operator")
@click.argument("name")
@click.option("--admin", "admin_email", required=True, help="The first operator's e-mail address.")
@click.option("--admin-name", default="", help="The first operator's name.")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in OperatorKind]),
    default=OperatorKind.COMPANY.value,
    show_default=True,
    help="What kind of body runs the facilities.",
)
def create_operator_command(name: str, admin_email: str, admin_name: str, kind: str):
    """Create the operator organisation NAME and its first operator; print their
    set-password link. Its facilities stay unlisted until reviewed."""
    try:
        created = orgs.create_operator(
            name, admin_email, edge_now(), kind=kind, actor_kind=ACTOR_CLI, admin_name=admin_name
        )
    except orgs.OrgError as exc:
        raise _refused(exc) from None
    db.session.commit()
    click.echo(
        f'Created operator organisation "{created.org_name}" (id {created.org_id}); admin '
        f"{created.admin_email} sets a password at {created.link_path}"
    )
