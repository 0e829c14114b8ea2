"""Rate a stay: the page the thank-you mail links to (each star may link with ``?rating=N``).

A route on the employee blueprint (``booking.views.bp``, signed-in members only). The
rules are ``booking.ratings``'; this view parses, authorises (somebody else's stay is
404), calls one service and commits once.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import Length, Optional, ValidationError

from booking import lookups, ratings, services
from booking.models import Booking
from booking.views import bp
from core.db import edge_now, tokyo_today
from core.extensions import db

STARS = {
    5: _l("Excellent"),
    4: _l("Good"),
    3: _l("Average"),
    2: _l("Poor"),
    1: _l("Very poor"),
}


def _star(value) -> int | None:
    """A posted rating as a number; anything else is None (refused by the validator)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _one_to_five(form, field) -> None:
    if field.data is None or not ratings.MIN_RATING <= field.data <= ratings.MAX_RATING:
        raise ValidationError(_l("Choose from 1 to 5 stars."))


class RatingForm(FlaskForm):
    """A rating from 1 to 5 and an optional comment (CSRF-protected)."""

    rating = RadioField(
        _l("Your rating"),
        choices=[C(n, label) for n, label in STARS.items()],
        coerce=_star,
        validate_choice=False,  # the validator below says what is wrong in words
        validators=[_one_to_five],
    )
    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[
            Optional(),
            Length(
                max=ratings.MAX_COMMENT,
                message=_l("The comment can be at most %(max)d characters."),
            ),
        ],
    )


def _own(booking_id: int) -> Booking:
    try:
        return lookups.booking_of(current_user, booking_id)
    except services.BookingNotFound:
        abort(404)


def _preselected(existing) -> int | None:
    """The stars a mail's link chose (``?rating=N``), else the earlier answer's."""
    asked = _star(request.args.get("rating", ""))
    if asked is not None and ratings.MIN_RATING <= asked <= ratings.MAX_RATING:
        return asked
    return existing.rating if existing is not None else None


def _page(booking: Booking, form: RatingForm | None, *, error=None, status: int = 200):
    return render_template(
        "booking/rating.html",
        booking=booking,
        form=form,
        stars=STARS,
        error=error,
        max_comment=ratings.MAX_COMMENT,
    ), status


@bp.route("/stays/<int:booking_id>/rating", methods=["GET", "POST"])
def stay_rating(booking_id: int):
    """The stay's rating form; saving again replaces the earlier answer."""
    booking = _own(booking_id)
    now = edge_now()
    today = tokyo_today(now)
    reason = ratings.not_open_reason(booking, today)
    if reason is not None:  # not yet, or cancelled: say why, with the way back
        return _page(booking, None, error=reason, status=200 if request.method == "GET" else 409)
    if request.method == "GET":
        existing = ratings.rating_of(booking.id)
        form = RatingForm(
            formdata=None,
            rating=_preselected(existing),
            comment=existing.comment if existing is not None else "",
        )
        return _page(booking, form)
    form = RatingForm()
    if not form.validate():
        return _page(booking, form, status=400)
    try:
        ratings.rate_stay(
            current_user, booking.id, form.rating.data, form.comment.data or "", today, now
        )
    except ratings.RatingNotOpen as exc:
        db.session.rollback()
        return _page(booking, None, error=exc.message, status=409)
    except services.BookingError as exc:
        db.session.rollback()
        return _page(booking, form, error=exc.message, status=400)
    db.session.commit()
    flash(_("Thank you for rating your stay."), "success")
    return redirect(url_for("booking.stay", booking_id=booking.id), 303)
