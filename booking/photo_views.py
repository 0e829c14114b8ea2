"""Facility photos as files: an original or one of its resized copies.

A copy goes to whoever may see the facility's photos (its operator always; every
member while the facility is open). The original, which may carry where it was taken
(EXIF GPS), goes to its own operator only, except for a photo stored before copies were
made (``facilities.photos.visible_file``). Any other name, a copy that was never made
or a file they may not have answers 404 alike.
"""

from __future__ import annotations

from flask import abort, current_app, send_from_directory
from flask_login import current_user

from booking.views import bp
from facilities.photos import photo_dir, visible_file


@bp.get("/photos/<filename>")
def photo(filename: str):
    """A resized copy for those who may see the facility's photos; an original for its
    operator."""
    content_type = visible_file(current_user, filename)
    if content_type is None:
        abort(404)
    response = send_from_directory(
        photo_dir(current_app.instance_path), filename, mimetype=content_type, max_age=3600
    )
    response.cache_control.private = True
    return response
