"""Employee pages: search, facility, quote and book, my stays."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from billing.services import credit_notice
from booking import search as search_service
from booking import services
from booking.forms import (
    AMENITY_LABELS,
    KIND_LABELS,
    QuoteForm,
    SearchForm,
    StayForm,
    place_choices,
)
from booking.ics import stay_calendar
from booking.services import MAX_GUESTS
from core.dates import adjacent_months, parse_month
from core.db import edge_now, get_by_id, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale
from facilities.models import Facility
from facilities.services import facility_photos, photo_dir, visible_photo

bp = Blueprint("booking", __name__)
STAY_ARGS = ("unit_id", "check_in", "check_out", "guests")


@bp.before_request
@login_required
def _signed_in():
    """Every page here is for signed-in members of the network."""


def _horizon() -> int:
    return current_app.config["BOOKING_HORIZON_DAYS"]


@bp.app_template_filter("pager_query")
def pager_query(args, page: int) -> str:
    """The current query string with another page number."""
    params = args.to_dict(flat=False)
    params["page"] = [str(page)]
    return urlencode(params, doseq=True)


@bp.get("/")
def home():
    form = SearchForm(request.args)
    form.place.choices = place_choices(current_locale())
    if "check_in" not in request.args:
        # Suggest a week-long stay two weeks out, the network's typical booking.
        today = tokyo_today(edge_now())
        form.check_in.data = today + timedelta(days=14)
        form.check_out.data = today + timedelta(days=21)
    page = None
    error = None
    if "check_in" in request.args:
        if form.validate():
            query = form.to_query()
            try:
                services.validate_stay_dates(
                    query.check_in, query.check_out, tokyo_today(edge_now()), _horizon()
                )
            except services.BookingError as exc:
                error = exc.message
            else:
                raw_page = request.args.get("page", "1")
                page_no = int(raw_page) if re.fullmatch(r"[0-9]{1,6}", raw_page) else 1
                page = search_service.search_page(
                    query, page_no, current_app.config["SEARCH_PAGE_SIZE"]
                )
        else:
            error = _("Please check the search fields.")
    status = 400 if error else 200
    return render_template(
        "booking/search.html",
        form=form,
        page=page,
        error=error,
        credit=credit_notice(current_user, edge_now(), current_app.config["BILLING_GRACE_DAYS"]),
        amenity_labels=AMENITY_LABELS,
        kind_labels=KIND_LABELS,
    ), status


def _active_facility(facility_id: int) -> Facility:
    facility = get_by_id(Facility, facility_id)
    if facility is None or not facility.active:
        abort(404)
    return facility


@bp.get("/facilities/<int:facility_id>")
def facility(facility_id: int):
    facility = _active_facility(facility_id)
    today = tokyo_today(edge_now())
    # Months far from today are not bookable; keep the navigation within sense.
    first = parse_month(request.args.get("month"), today, months_around=36)
    weeks = search_service.month_calendar(facility, first.year, first.month, today)
    prev_month, next_month = adjacent_months(first)
    stay = QuoteForm(request.args)
    # With dates chosen (from search), say which rooms are free for the whole stay.
    # (Field by field: a room need not be chosen yet.)
    free_units = None
    if stay.check_in.validate(stay) and stay.check_out.validate(stay):
        free_units = search_service.units_free_for_stay(
            facility, stay.check_in.data, stay.check_out.data
        )
    guests = stay.guests.data if stay.guests.validate(stay) else 1
    offered = [
        u.id
        for u in facility.units
        if u.active and u.capacity >= guests and (free_units is None or u.id in free_units)
    ]
    chosen_unit_id = (
        stay.unit_id.data if stay.unit_id.data in offered else next(iter(offered), None)
    )
    # Month links keep the stay being chosen.
    stay_args = {k: request.args[k] for k in STAY_ARGS if request.args.get(k)}
    return render_template(
        "booking/facility.html",
        free_units=free_units,
        offered=offered,
        max_guests=MAX_GUESTS,
        guests=guests,
        stay_args=stay_args,
        show_prev=prev_month >= today.replace(day=1),
        chosen_unit_id=chosen_unit_id,
        facility=facility,
        weeks=weeks,
        month=first,
        prev_month=prev_month,
        next_month=next_month,
        today=today,
        stay=stay,
        amenity_labels=AMENITY_LABELS,
        kind_labels=KIND_LABELS,
        photos=facility_photos(facility, limit=6),
    )


def _stay(form: StayForm) -> services.StayRequest:
    """The stay a form names, as the booking services take it."""
    return services.StayRequest(
        form.unit_id.data, form.check_in.data, form.check_out.data, form.guests.data
    )


def _quote_or_error(form: StayForm):
    try:
        return services.quote_stay(
            current_user,
            _stay(form),
            edge_now(),
            horizon_days=_horizon(),
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
        ), None
    except services.BookingNotFound:
        abort(404)
    except services.BookingError as exc:
        return None, exc


def _incomplete(form: StayForm, message: str):
    """A 400 page that says what was wrong with the stay's fields."""
    details = [
        f"{form[name].label.text}: {errors[0]}"
        for name, errors in form.errors.items()
        if name in form and name != "csrf_token"
    ]
    error = services.BookingError(" ".join([message, *details]), "invalid")
    return render_template("booking/quote.html", quote=None, error=error, form=form), 400


@bp.get("/book")
def quote():
    """The confirmation page: price per night, total, and the confirm button."""
    form = QuoteForm(request.args)
    if not form.validate():
        return _incomplete(form, _("Choose a room, dates and guests."))
    quote, error = _quote_or_error(form)
    confirm = StayForm(formdata=None)
    confirm.request_key.data = secrets.token_urlsafe(16)
    return render_template(
        "booking/quote.html",
        quote=quote,
        error=error,
        form=confirm,
        unit_id=form.unit_id.data,
    ), (200 if error is None else 422)


@bp.post("/book")
def book():
    form = StayForm()
    if not form.validate():
        return _incomplete(
            form, _("The booking form was incomplete or had expired. Please try again.")
        )
    try:
        booking = services.book_stay(
            current_user,
            _stay(form),
            edge_now(),
            request_key=form.request_key.data or None,
            horizon_days=_horizon(),
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
            expected_total=form.expected_total.data,
        )
    except services.BookingNotFound:
        db.session.rollback()
        abort(404)
    except services.BookingError as exc:
        db.session.rollback()
        quote, _error = _quote_or_error(form)
        conflict = isinstance(exc, services.BookingConflict | services.PriceChanged)
        status = 409 if conflict else 422
        return render_template(
            "booking/quote.html", quote=quote, error=exc, form=form, unit_id=form.unit_id.data
        ), status
    db.session.commit()
    flash(_("Your stay is booked."), "success")
    return redirect(url_for("booking.stay", booking_id=booking.id), 303)


@bp.get("/photos/<filename>")
def photo(filename: str):
    """A facility photo: for its operator, or for any member if the facility is open."""
    stored = visible_photo(current_user, filename)
    if stored is None:
        abort(404)
    response = send_from_directory(
        photo_dir(current_app.instance_path), filename, mimetype=stored.content_type, max_age=3600
    )
    response.cache_control.private = True
    return response


@bp.get("/stays")
def stays():
    today = tokyo_today(edge_now())
    upcoming, past = services.bookings_of(current_user, today)
    return render_template(
        "booking/stays.html", upcoming=upcoming, past=past, today=today, cancel_form=EmptyForm()
    )


def _own_booking(booking_id: int):
    try:
        return services.booking_of(current_user, booking_id)
    except services.BookingNotFound:
        abort(404)


@bp.get("/stays/<int:booking_id>")
def stay(booking_id: int):
    booking = _own_booking(booking_id)
    return render_template(
        "booking/stay.html", booking=booking, today=tokyo_today(edge_now()), cancel_form=EmptyForm()
    )


@bp.get("/stays/<int:booking_id>.ics")
def stay_ics(booking_id: int):
    booking = _own_booking(booking_id)
    facility = booking.unit.facility
    description = _(
        "Check-in from %(check_in)s, check-out by %(check_out)s. Booking number %(number)d.",
        check_in=f"{facility.check_in_time:%H:%M}",
        check_out=f"{facility.check_out_time:%H:%M}",
        number=booking.id,
    )
    body = stay_calendar(
        booking,
        current_app.config["CALENDAR_UID_DOMAIN"],
        edge_now(),
        current_locale(),
        description,
    )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="engawa-stay-{booking.id}.ics"'},
    )


@bp.post("/stays/<int:booking_id>/cancel")
def cancel(booking_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.cancel_booking(current_user, booking_id, edge_now())
    except services.BookingNotFound:
        abort(404)
    except services.BookingError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("booking.stay", booking_id=booking_id), 303)
    db.session.commit()
    flash(_("Your stay has been cancelled and its nights released."), "success")
    return redirect(url_for("booking.stays"), 303)
