"""The guest's rating of a stay: 1 to 5 and a comment, asked for by the thank-you mail.

One answer per stay (``StayRating.booking_id`` is unique): answering again replaces it.
Ratings open on the check-out day (Tokyo) of a stay that was not cancelled, and only
the stay's own employee answers. They are kept for the reports on what the network
brings each region.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from booking.lookups import booking_of
from booking.models import Booking, StayRating
from booking.services import BookingError
from core.extensions import db
from core.i18n import format_day

MIN_RATING = 1
MAX_RATING = 5
MAX_COMMENT = 1000  # StayRating.comment


class RatingNotOpen(BookingError):
    """The stay cannot be rated (yet): it has not ended, or it was cancelled."""

    code = "rating_not_open"


def can_rate(booking: Booking, today: date) -> bool:
    """A stay the guest had (not cancelled, not a no-show) whose check-out day has come."""
    return booking.is_live and today >= booking.check_out


def not_open_reason(booking: Booking, today: date) -> LazyString | None:
    """Why the stay cannot be rated today, or None when it can."""
    if not booking.is_live:
        return _l("This stay was cancelled, so it cannot be rated.")
    if today < booking.check_out:
        return _l(
            "Ratings open on the check-out day (%(day)s), after your stay.",
            day=LazyString(format_day, booking.check_out),
        )
    return None


def rating_of(booking_id: int) -> StayRating | None:
    """The stay's rating, if its guest gave one."""
    return db.session.scalar(select(StayRating).where(StayRating.booking_id == booking_id))


def rate_stay(
    actor: User, booking_id: int, rating: int, comment: str, today: date, now: datetime
) -> StayRating:
    """Record the actor's rating of their own stay, replacing an earlier one.

    Rules: somebody else's stay is not found; a cancelled stay, or one whose
    check-out day has not come, is refused (``RatingNotOpen``); the rating is a whole
    number from 1 to 5; the comment (optional, trimmed) is at most 1,000 characters.
    """
    booking = booking_of(actor, booking_id, lock=True)  # one answer at a time per stay
    reason = not_open_reason(booking, today)
    if reason is not None:
        raise RatingNotOpen(reason)
    whole = isinstance(rating, int) and not isinstance(rating, bool)
    if not whole or not MIN_RATING <= rating <= MAX_RATING:
        raise BookingError(_l("Choose from 1 to 5 stars."), "rating_range")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise BookingError(
            _l("The comment can be at most %(max)d characters.", max=MAX_COMMENT), "comment_length"
        )
    answer = rating_of(booking.id)
    if answer is None:
        answer = StayRating(
            booking_id=booking.id, facility_id=booking.unit.facility_id, created_at=now
        )
        db.session.add(answer)
    answer.rating = rating
    answer.comment = comment
    answer.updated_at = now
    db.session.flush()
    return answer
