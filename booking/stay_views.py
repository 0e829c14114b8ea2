"""The employee's stays: the list (upcoming and past, with what cancelling would return,
the accommodation tax each keeps, the register still to fill in and the desks booked
with them), a stay's page (its money terms, rating, desks, the programmes it goes with
and those near it) and its ``.ics`` (with the programmes joined). Pages on
``booking.views.bp``; another person's stay is not found."""

from __future__ import annotations

from flask import Response, abort, current_app, render_template
from flask_login import current_user

from booking import lookups, ratings, services, stay_options, stay_tax
from booking.ics import stay_calendar, stay_description
from booking.money_notes import year_subsidy_of
from booking.terms import StayTerms, cancellation_terms, cancellation_terms_of
from booking.views import bp
from booking.workspace_follow import desks_by_stay, desks_credit, desks_of_stay
from core.db import edge_now, tokyo_today
from core.i18n import current_locale
from regions.models import SignupStatus
from regions.programmes import sessions_near, signups_for_booking


@bp.get("/stays")
def stays():
    today = tokyo_today(edge_now())
    upcoming, past = lookups.bookings_of(current_user, today, with_nights=True)
    terms = {
        booking_id: StayTerms(held.policy, today)
        for booking_id, held in cancellation_terms_of(upcoming, today).items()
    }
    return render_template(
        "booking/stays.html",
        upcoming=upcoming,
        past=past,
        today=today,
        terms=terms,
        # The accommodation tax each stay keeps (none once cancelled, less after a no-show).
        taxes={b.id: stay_tax.kept_tax(b) for b in (*upcoming, *past)},
        register_complete=stay_options.register_complete(upcoming, today),
        subsidy=year_subsidy_of(today),
        desks=desks_by_stay(b.id for b in (*upcoming, *past)),
    )


def _own_booking(booking_id: int):
    try:
        return lookups.booking_of(current_user, booking_id)
    except services.BookingNotFound:
        abort(404)


@bp.get("/stays/<int:booking_id>")
def stay(booking_id: int):
    booking = _own_booking(booking_id)
    desks = desks_of_stay(booking.id)
    today = tokyo_today(edge_now())
    money = cancellation_terms(booking, today)
    return render_template(
        "booking/stay.html",
        booking=booking,
        today=today,
        money=money,
        terms=StayTerms(money.policy, today),
        tax_kept=stay_tax.kept_tax(booking),
        register_missing=stay_options.register_missing(booking, today),
        rating=ratings.rating_of(booking.id),
        can_rate=ratings.can_rate(booking, today),
        desks=desks,
        desks_credit=desks_credit(desks),
        programme_signups=signups_for_booking(booking.id),
        programmes_near=_programmes_near(booking, today),
    )


def _programmes_near(booking, today, limit: int = 5) -> list:
    """A few programme sessions near the stay's facility within its dates (issue 20)."""
    if not booking.is_live or booking.check_out < today:
        return []
    f = booking.unit.facility
    start = max(booking.check_in, today)
    return sessions_near(f.latitude, f.longitude, start, booking.check_out, edge_now())[:limit]


@bp.get("/stays/<int:booking_id>.ics")
def stay_ics(booking_id: int):
    booking = _own_booking(booking_id)
    description = stay_description(booking)
    body = stay_calendar(
        booking,
        current_app.config["CALENDAR_UID_DOMAIN"],
        edge_now(),
        current_locale(),
        description,
        programmes=signups_for_booking(booking.id, statuses=(SignupStatus.JOINED,)),
    )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="engawa-stay-{booking.id}.ics"'},
    )
