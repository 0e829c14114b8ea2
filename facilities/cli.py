"""`flask --app wsgi photos make-copies`: the resized copies of photos stored before
copies were made at upload (their originals, which may carry where they were taken,
are otherwise what guests are shown)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from core.extensions import db
from facilities.models import FacilityPhoto
from facilities.photos import PhotoError, lacks_copies, make_copies, photo_dir

photos_cli = AppGroup("photos", help="Facility photos: their files on disk.")


@photos_cli.command("make-copies")
def make_copies_command():
    """Make the missing resized copies of stored photos (one commit per photo)."""
    folder = photo_dir(current_app.instance_path)
    made = failed = 0
    for photo_id in db.session.scalars(select(FacilityPhoto.id).order_by(FacilityPhoto.id)).all():
        photo = db.session.get(FacilityPhoto, photo_id)
        if photo is None or not lacks_copies(photo, folder):
            continue
        try:
            written = make_copies(photo, folder)
        except (PhotoError, FileNotFoundError) as exc:
            db.session.rollback()
            reason = exc.message if isinstance(exc, PhotoError) else "the original is missing"
            click.echo(f"Photo {photo_id}: no copies made ({reason}).", err=True)
            failed += 1
            continue
        try:
            db.session.commit()
        except BaseException:
            db.session.rollback()
            for name in written:
                (folder / name).unlink(missing_ok=True)
            raise
        made += 1
    click.echo(f"Copies made for {made} photo(s).")
    if failed:
        raise click.ClickException(f"{failed} photo(s) could not be given copies (see above).")
