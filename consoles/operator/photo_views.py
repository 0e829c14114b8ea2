"""The operator's photo pages: adding and deleting a facility's photos.

They hang on the console's blueprint, so its sign-in and role check cover them, and
every id is looked up within the operator's organisation (somebody else's: 404).
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from consoles.operator.forms import PhotoForm
from consoles.operator.views import bp as operator_bp
from consoles.operator.views import facility_or_404, require_post_form
from core import input_guard
from core.db import edge_now
from core.extensions import csrf, db
from facilities import services

# --- photos -------------------------------------------------------------------------------


@operator_bp.post("/facilities/<int:facility_id>/photos")
@csrf.exempt  # checked below, once the larger body limit for photos applies
@input_guard.defer_body_check  # likewise
def photo_upload(facility_id: int):
    facility = facility_or_404(facility_id)
    max_bytes = current_app.config["PHOTO_MAX_BYTES"]
    request.max_content_length = max_bytes + 64 * 1024
    back = redirect(url_for("operator.facility", facility_id=facility.id, _anchor="photos"), 303)
    try:
        input_guard.check_body()
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        form = PhotoForm()
        valid = form.validate()
    except RequestEntityTooLarge:
        flash(str(services.photo_too_big(max_bytes)), "error")
        return back
    if not valid:
        for errors in form.errors.values():
            flash(str(errors[0]), "error")
        return back
    upload = form.photo.data
    photo_dir = services.photo_dir(current_app.instance_path)
    stored = None
    try:
        stored = services.save_photo(
            facility,
            upload.stream,
            upload.filename or "",
            edge_now(),
            photo_dir,
            max_bytes,
            caption=form.caption.data or "",
        ).filename
        db.session.commit()
    except services.PhotoError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return back
    except BaseException:
        # The file is written once its row is flushed (save_photo removes it if it
        # fails itself); a commit that fails must not leave a file no row names.
        db.session.rollback()
        if stored is not None:
            services.discard_photo_file(photo_dir, stored)
        raise
    flash(_("The photo has been added."), "success")
    return back


@operator_bp.post("/photos/<int:photo_id>/delete")
def photo_delete(photo_id: int):
    photo = services.operator_photo(current_user, photo_id)
    if photo is None:
        abort(404)
    require_post_form()
    facility_id = photo.facility_id
    filename = services.delete_photo(photo)
    db.session.commit()
    services.discard_photo_file(services.photo_dir(current_app.instance_path), filename)
    flash(_("The photo has been deleted."), "success")
    return redirect(url_for("operator.facility", facility_id=facility_id, _anchor="photos"), 303)
