"""The operator's photo page: upload several photos at once, order them, pick the
cover, caption them, say which room each shows, delete them.

They hang on the console's blueprint, so its sign-in and role check cover them, and
every id is looked up within the operator's organisation (somebody else's: 404).
Every change is a small POST form with its CSRF token, so the page works without
JavaScript; each answers with a redirect back to the photo it changed.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from consoles.operator.forms import WHOLE_FACILITY, PhotoDetailsForm, PhotoForm, PhotoMoveForm
from consoles.operator.views import bp as operator_bp
from consoles.operator.views import facility_or_404, require_post_form
from core import input_guard
from core.db import edge_now
from core.extensions import csrf, db
from core.forms import EmptyForm
from facilities import photos
from facilities.models import Facility, FacilityPhoto

MAX_FILES_PER_UPLOAD = 10  # one request of at most ten photos at the size limit
SHOWN_NAME = 80  # characters of a file's name repeated in a message


def _photo_or_404(photo_id: int) -> FacilityPhoto:
    photo = photos.operator_photo(current_user, photo_id)
    if photo is None:
        abort(404)
    return photo


def _back(facility_id: int, photo_id: int | None = None):
    anchor = f"photo-{photo_id}" if photo_id else None
    return redirect(url_for("operator.photos", facility_id=facility_id, _anchor=anchor), 303)


def _shown_name(upload: FileStorage) -> str:
    """The file's own name (no folders) as the operator chose it, for a message."""
    name = PureWindowsPath(PurePosixPath(upload.filename or "").name).name
    return name[:SHOWN_NAME] or _("(no name)")


def _details_form(photo: FacilityPhoto, facility: Facility) -> PhotoDetailsForm:
    unit = str(photo.unit_id) if photo.unit_id else WHOLE_FACILITY
    return PhotoDetailsForm(
        formdata=None, units=facility.units, data={"caption": photo.caption, "unit": unit}
    )


@operator_bp.get("/facilities/<int:facility_id>/photos", endpoint="photos")
def photos_page(facility_id: int):
    """The facility's photos in their order, each with its controls, and the upload."""
    facility = facility_or_404(facility_id)
    items = photos.facility_photos(facility)
    cover = photos.cover_photos([facility.id]).get(facility.id)
    max_bytes = current_app.config["PHOTO_MAX_BYTES"]
    return render_template(
        "operator/photos.html",
        facility=facility,
        photos=items,
        cover=cover,
        details={p.id: _details_form(p, facility) for p in items},
        rooms={u.id: u for u in facility.units},
        upload_form=PhotoForm(formdata=None),
        button=EmptyForm(),
        photo_max_mb=photos.photo_mb(max_bytes),
        max_files=MAX_FILES_PER_UPLOAD,
        max_photos=photos.MAX_PHOTOS_PER_FACILITY,
    )


@operator_bp.post("/facilities/<int:facility_id>/photos")
@csrf.exempt  # checked below, once the larger body limit for photos applies
@input_guard.defer_body_check  # likewise
def photo_upload(facility_id: int):
    """Each file is accepted or refused on its own: a bad one never stops the others."""
    facility = facility_or_404(facility_id)
    max_bytes = current_app.config["PHOTO_MAX_BYTES"]
    request.max_content_length = max_bytes * MAX_FILES_PER_UPLOAD + 64 * 1024
    back = _back(facility.id)
    try:
        input_guard.check_body()
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        form = PhotoForm()
        valid = form.validate()
    except RequestEntityTooLarge:
        flash(
            _(
                "Upload at most %(n)d photos at once, each up to %(mb)d MB.",
                n=MAX_FILES_PER_UPLOAD,
                mb=photos.photo_mb(max_bytes),
            ),
            "error",
        )
        return back
    if not valid:
        for errors in form.errors.values():
            flash(str(errors[0]), "error")
        return back

    photo_dir = photos.photo_dir(current_app.instance_path)
    now = edge_now()
    written: list[str] = []
    refused: list[tuple[str, str]] = []
    try:
        for index, upload in enumerate(form.photo.data):
            if index >= MAX_FILES_PER_UPLOAD:
                refused.append(
                    (
                        _shown_name(upload),
                        _("At most %(n)d photos at once.", n=MAX_FILES_PER_UPLOAD),
                    )
                )
                continue
            try:
                stored = photos.save_photo(
                    facility,
                    upload.stream,
                    upload.filename or "",
                    now,
                    photo_dir,
                    max_bytes,
                    caption=form.caption.data or "",
                )
            except photos.PhotoError as exc:  # refused before anything was written
                refused.append((_shown_name(upload), str(exc.message)))
                continue
            written.append(stored.filename)
        db.session.commit()
    except BaseException:
        # Files are written once their row is flushed (save_photo removes them if it
        # fails itself); a commit that fails must not leave files no row names.
        db.session.rollback()
        for filename in written:
            photos.discard_photo_file(photo_dir, filename)
        raise
    if written:
        flash(
            ngettext("The photo has been added.", "%(num)d photos have been added.", len(written)),
            "success",
        )
    for name, reason in refused:
        flash(_("“%(name)s” was not added: %(reason)s", name=name, reason=reason), "error")
    return back


@operator_bp.post("/photos/<int:photo_id>/move")
def photo_move(photo_id: int):
    photo = _photo_or_404(photo_id)
    form = PhotoMoveForm()
    if not form.validate_on_submit():
        abort(400)
    if photos.move_photo(photo, -1 if form.direction.data == "up" else 1):
        db.session.commit()
        flash(_("The order of the photos has been changed."), "success")
    return _back(photo.facility_id, photo.id)


@operator_bp.post("/photos/<int:photo_id>/cover")
def photo_cover(photo_id: int):
    photo = _photo_or_404(photo_id)
    require_post_form()
    photos.set_cover(photo)
    db.session.commit()
    flash(_("This photo is now the cover."), "success")
    return _back(photo.facility_id, photo.id)


@operator_bp.post("/photos/<int:photo_id>/edit")
def photo_edit(photo_id: int):
    """The caption and the room the photo shows; a room of another facility is refused."""
    photo = _photo_or_404(photo_id)
    form = PhotoDetailsForm(units=photo.facility.units)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        for name, errors in form.errors.items():
            label = form[name].label.text
            flash(_("%(field)s: %(error)s", field=label, error=errors[0]), "error")
        return _back(photo.facility_id, photo.id)
    try:
        photos.update_photo(photo, form.caption.data or "", form.unit_id)
    except photos.PhotoError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back(photo.facility_id, photo.id)
    db.session.commit()
    flash(_("The photo has been saved."), "success")
    return _back(photo.facility_id, photo.id)


@operator_bp.post("/photos/<int:photo_id>/delete")
def photo_delete(photo_id: int):
    photo = _photo_or_404(photo_id)
    require_post_form()
    facility_id = photo.facility_id
    filename = photos.delete_photo(photo)
    db.session.commit()
    photos.discard_photo_file(photos.photo_dir(current_app.instance_path), filename)
    flash(_("The photo has been deleted."), "success")
    return _back(facility_id)
