"""Facility photos as files: an original or one of its resized copies.

One question for both: may the signed-in person see this facility's photos (its
operator always; every member while the facility is open)? Any other name, a copy
that was never made or a photo they may not see answers 404 alike.
"""

from __future__ import annotations

from flask import abort, current_app, send_from_directory
from flask_login import current_user

from booking.views import bp
from facilities.photos import photo_dir, visible_file


@bp.get("/photos/<filename>")
def photo(filename: str):
    """A facility photo or a resized copy, for those who may see the facility's photos."""
    content_type = visible_file(current_user, filename)
    if content_type is None:
        abort(404)
    response = send_from_directory(
        photo_dir(current_app.instance_path), filename, mimetype=content_type, max_age=3600
    )
    response.cache_control.private = True
    return response
