"""`flask --app wsgi backup …` and `flask --app wsgi check …`.

Words for the operator at a terminal, in English like the other commands; errors
exit non-zero with the reason (docs/BACKUPS.md).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import AppGroup

from core.db import edge_now, tokyo_today, utcnow
from core.extensions import db
from operations import backup, invariants

backup_cli = AppGroup(
    "backup", help="Back the database up to a file; restore one into an empty database."
)
check_cli = AppGroup("check", help="Check the data's invariants.")


def init_app(app: Flask) -> None:
    app.cli.add_command(backup_cli)
    app.cli.add_command(check_cli)


def engawa_version() -> str:
    try:
        return package_version("engawa")
    except PackageNotFoundError:
        return "unknown"


def _database_url() -> str:
    return current_app.config["SQLALCHEMY_DATABASE_URI"]


@backup_cli.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def backup_create(directory: Path):
    """Back the database up into DIRECTORY: a file and its manifest; prints the file's path."""
    db.session.remove()  # hold no transaction (on SQLite, no lock) while the copy runs
    try:
        # Named by the wall clock (not the app's clock): backups sort by when they were made.
        path = backup.create_backup(_database_url(), directory, utcnow(), version=engawa_version())
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))


@backup_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_restore(file: Path):
    """Restore the backup FILE into DATABASE_URL, which must be an empty database."""
    db.session.remove()
    try:
        restored = backup.restore_backup(file, _database_url())
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.engine.dispose()  # no pooled connection remembers the database as it was
    manifest = restored.manifest
    click.echo(
        f"Restored {manifest.file} (made {manifest.created_at} by Engawa"
        f" {manifest.engawa_version}) into {restored.database}."
    )
    click.echo(_next_step(restored.revision))


def _next_step(revision: str | None) -> str:
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    status, head = backup.schema_status(script, revision)
    if status == "head":
        return f"Schema revision {revision}, this code's own: start Engawa."
    if status == "behind":
        return (
            f"Schema revision {revision}; this code is at {head}."
            " Next: flask --app wsgi db upgrade, then start Engawa."
        )
    if status == "unknown":
        return (
            f"Schema revision {revision} is not one of this code's migrations (the backup is"
            f" newer than the code, at {head}): deploy the Engawa version that made it"
            " before starting."
        )
    return (
        "The backup records no schema revision (its database was not made by migrations):"
        f" check the schema, then flask --app wsgi db stamp {head} if it matches this code."
    )


@check_cli.command("invariants")
@click.option(
    "--limit",
    default=invariants.DEFAULT_LIMIT,
    show_default=True,
    type=click.IntRange(1),
    help="At most this many violations of each query.",
)
def check_invariants(limit: int):
    """Check the nights, the ledger and the payments; print each violation, exit 1 on any."""
    db.session.remove()
    try:
        found = invariants.check(db.session, tokyo_today(edge_now()), limit=limit)
    finally:
        db.session.rollback()
    for violation in found:
        click.echo(str(violation))
    if found:
        click.echo(f"{len(found)} invariant violations.", err=True)
        raise click.exceptions.Exit(1)
    click.echo("All invariants hold: " + ", ".join(invariants.CHECK_NAMES) + ".")
