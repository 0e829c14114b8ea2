"""Employee pages: search, facility, quote and book, my stays."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional

from accounts.models import Role
from billing.services import credit_notice
from booking import announce, package_views, services, stay_options
from booking import search as search_service
from booking.forms import (
    AMENITY_LABELS,
    COMPANION_FIELDS,
    COMPANION_HINTS,
    KIND_LABELS,
    PURPOSE_HINTS,
    CompanionFields,
    CompanionQuoteForm,
    DayListField,
    QuoteForm,
    SearchForm,
    StayForm,
    companions_of,
    place_choices,
    work_day_choices,
)
from booking.models import BookingStatus
from booking.money_notes import along_of, money_notes_of
from booking.services import MAX_GUESTS
from booking.terms import stay_terms
from booking.workspace_package import book_package
from core import limits
from core.dates import MAX_SEARCH_NIGHTS, adjacent_months, parse_month
from core.db import edge_now, get_by_id, tokyo_today
from core.extensions import db
from core.i18n import current_locale, format_yen
from facilities.geo import facility_pins
from facilities.licences import LICENCE_LABELS, LicenceType
from facilities.models import Facility, Unit
from facilities.photos import cover_photos, facility_photos
from hr.models import PURPOSE_LABELS, Purpose
from hr.subsidy import Companions
from lodging.tax import TaxTable

bp = Blueprint("booking", __name__)
bp.add_app_template_filter(package_views.tokyo_time, "desk_time")
STAY_ARGS = ("unit_id", "check_in", "check_out", "guests")
MAX_EXPECTED_TAX = 10**10  # yen: far beyond any stay's, as for the expected total


class BookForm(CompanionFields, StayForm):
    """The confirm button of the quote page: the stay, who comes along, what it is for,
    and the money the guest was shown."""

    # The accommodation tax shown: a rule edited since is not charged unseen.
    expected_tax = IntegerField(validators=[Optional(), NumberRange(0, MAX_EXPECTED_TAX)])
    expected_employee_part = IntegerField(validators=[Optional(), NumberRange(0, MAX_EXPECTED_TAX)])
    # Leisure or business (hr.models.Purpose; the policy judges it) and, for a business
    # workation, the days ticked as working days.
    purpose = StringField(_l("Purpose of the stay"), validators=[Optional(), Length(max=10)])
    work_days = DayListField(_l("Working days"))


@bp.before_request
@login_required
def _signed_in():
    """Every page here is for signed-in members of the network; a shop's staff (who only
    redeem local coupons) have their own pages."""
    if current_user.role == Role.SHOP:
        abort(404)


def _horizon() -> int:
    return current_app.config["BOOKING_HORIZON_DAYS"]


@bp.app_template_filter("purpose_label")
def purpose_label(purpose: str) -> str:
    """What a stay is for, in the reader's words (休暇型 / 業務型)."""
    return str(PURPOSE_LABELS.get(purpose, purpose))


@bp.app_template_filter("pager_query")
def pager_query(args, page: int) -> str:
    """The current query string with another page number."""
    return with_args(args, page=page)


@bp.app_template_filter("with_args")
def with_args(args, **changes) -> str:
    """The current query string with some arguments replaced (repeated ones kept)."""
    params = args.to_dict(flat=False)
    for name, value in changes.items():
        params[name] = [str(value)]
    return urlencode(params, doseq=True)


@bp.app_template_filter("drop_filter")
def drop_filter(args, field: str) -> str:
    """The current search without one filter (a no-results suggestion), from page 1."""
    params = args.to_dict(flat=False)
    params["page"] = ["1"]
    if field.startswith("amenity:"):
        params["amenities"] = [a for a in params.get("amenities", []) if a != field[8:]]
    elif field == "min_wifi":
        params["min_wifi"] = ["0"]
    elif field == "guests":
        params["guests"] = ["1"]
    else:
        params.pop(field, None)
    return urlencode(params, doseq=True)


def _last_check_in(today):
    return today + timedelta(days=_horizon())


def _bookable_day(day, today) -> bool:
    """A check-in the terms can be stated for: from today to the booking horizon."""
    return day is not None and today <= day <= _last_check_in(today)


@bp.get("/")
def home():
    form = SearchForm(request.args)
    form.place.choices = place_choices(current_locale())
    now = edge_now()
    today = tokyo_today(now)
    if "check_in" not in request.args:
        # Suggest a week-long stay two weeks out, the network's typical booking.
        form.check_in.data = today + timedelta(days=14)
        form.check_out.data = today + timedelta(days=21)
    page = query = error = suggestions = terms = None
    covers, links, pins, taxes = {}, {}, [], {}
    # Issue 20: only facilities with regional programmes nearby during the stay.
    with_programmes, programme_badges = request.args.get("programmes") == "y", set()
    if "check_in" in request.args:
        if form.validate():
            query = form.to_query()
            try:
                services.validate_stay_dates(query.check_in, query.check_out, today, _horizon())
            except services.BookingError as exc:
                error = exc.message
            else:
                raw_page = request.args.get("page", "1")
                page_no = int(raw_page) if re.fullmatch(r"[0-9]{1,6}", raw_page) else 1
                page = search_service.search_page(
                    query,
                    page_no,
                    current_app.config["SEARCH_PAGE_SIZE"],
                    programmes_at=now if with_programmes else None,
                )
                programme_badges = search_service.facilities_with_programmes(
                    [r.facility_id for r in page.items], query.check_in, query.check_out, now
                )
                terms = stay_terms(query.check_in, today)
                covers = cover_photos([r.facility_id for r in page.items])
                links, pins = _result_links_and_pins(page.items, query)
                taxes = stay_options.result_taxes(page.items, query.guests, TaxTable.load())
                if not page.total:
                    suggestions = stay_options.suggestions(query, today, _last_check_in(today))
        else:
            error = _("Please check the search fields.")
    status = 400 if error else 200
    return render_template(
        "booking/search.html",
        form=form,
        query=query,
        page=page,
        error=error,
        terms=terms,
        suggestions=suggestions,
        covers=covers,
        links=links,
        pins=pins,
        taxes=taxes,
        today=today,
        credit=credit_notice(current_user, now, current_app.config["BILLING_GRACE_DAYS"]),
        next_stay=stay_options.next_stay(current_user, today) if current_user.books_stays else None,
        amenity_labels=AMENITY_LABELS,
        kind_labels=KIND_LABELS,
        with_programmes=with_programmes,
        programme_badges=programme_badges,
    ), status


def _result_links_and_pins(results, query) -> tuple[dict[int, str], list[dict]]:
    """Each result's link (the facility page with the stay chosen) and its map pin."""
    links = {
        r.facility_id: url_for(
            "booking.facility",
            facility_id=r.facility_id,
            unit_id=r.offer.id,
            check_in=query.check_in.isoformat(),
            check_out=query.check_out.isoformat(),
            guests=query.guests,
            month=query.check_in.strftime("%Y-%m"),
        )
        for r in results
    }
    prices = {r.facility_id: format_yen(r.lowest_total) for r in results}
    pins = facility_pins(
        [r.facility for r in results],
        current_locale(),
        lambda f: links[f.id],
        lambda f: prices[f.id],
    )
    return links, pins


def _active_facility(facility_id: int) -> Facility:
    facility = get_by_id(Facility, facility_id)
    if facility is None or not facility.listed:
        abort(404)
    return facility


@bp.get("/facilities/<int:facility_id>")
def facility(facility_id: int):
    return _facility_page(_active_facility(facility_id), request.args)


def _facility_page(facility: Facility, args, error: services.BookingError | None = None):
    """The facility page for the stay being chosen in ``args``, with a rule's refusal inline.

    A refused quote (too many nights, too many guests, over a cap) comes back here with
    the facility, room, dates and guests kept, so the employee corrects it in place.
    """
    today = tokyo_today(edge_now())
    stay = QuoteForm(args)
    check_in = stay.check_in.data if stay.check_in.validate(stay) else None
    check_out = stay.check_out.data if stay.check_out.validate(stay) else None
    if check_in and check_out and not (check_in < check_out):
        check_out = None
    # Months far from today are not bookable; keep the navigation within sense. The
    # month shown is the one asked for, else the stay's, else this month.
    default_month = check_in.strftime("%Y-%m") if check_in else None
    first = parse_month(args.get("month") or default_month, today, months_around=36)
    guests = stay.guests.data if stay.guests.validate(stay) else 1
    weeks = search_service.month_calendar(
        facility,
        first.year,
        first.month,
        today,
        guests=guests,
        check_in=check_in,
        last_check_in=_last_check_in(today),
    )
    prev_month, next_month = adjacent_months(first)
    # With dates chosen, each room's total for the stay, and whether it is free.
    rooms = cap_notice = None
    # Only a stay that could be booked is priced room by room (an absurd range from the
    # query string would price every night of it).
    if (
        check_in
        and check_out
        and _bookable_day(check_in, today)
        and (check_out - check_in).days <= MAX_SEARCH_NIGHTS
    ):
        free = search_service.units_free_for_stay(facility, check_in, check_out)
        rooms = stay_options.room_offers(
            facility, check_in, check_out, guests, free, TaxTable.load()
        )
        offered = [r.unit.id for r in rooms if r.offered]
        # A 住宅宿泊事業 house past its 180 nights a year says so above its rooms.
        cap_notice = search_service.night_cap_notice(facility, check_in, check_out)
    else:
        offered = [u.id for u in facility.units if u.active and u.capacity >= guests]
    chosen_unit_id = (
        stay.unit_id.data if stay.unit_id.data in offered else next(iter(offered), None)
    )
    # Month links keep the stay being chosen.
    stay_args = {k: args[k] for k in STAY_ARGS if args.get(k)}
    return render_template(
        "booking/facility.html",
        rooms=rooms,
        cap_notice=cap_notice,
        licence_label=LICENCE_LABELS[LicenceType(facility.licence_type or LicenceType.NONE)],
        offered=offered,
        max_guests=MAX_GUESTS,
        guests=guests,
        check_in=check_in,
        check_out=check_out,
        stay_args=stay_args,
        show_prev=prev_month >= today.replace(day=1),
        chosen_unit_id=chosen_unit_id,
        facility=facility,
        weeks=weeks,
        month=first,
        prev_month=prev_month,
        next_month=next_month,
        today=today,
        horizon_end=_last_check_in(today),
        stay=stay,
        error=error,
        terms=stay_terms(check_in, today) if _bookable_day(check_in, today) else None,
        amenity_labels=AMENITY_LABELS,
        kind_labels=KIND_LABELS,
        photos=facility_photos(facility),
        pins=facility_pins(
            [facility],
            current_locale(),
            lambda f: url_for("booking.facility", facility_id=f.id),
        ),
    ), (422 if error else 200)


def _stay(form: StayForm, *, companions: bool = True) -> services.StayRequest:
    """The stay a form names, as the booking services take it. The confirm form also says
    what it is for; the days ticked count only for a business workation (without
    JavaScript they are posted whatever the purpose). Companions named (and not left out,
    ``companions=False``) make the guests: the employee and each of them."""
    purpose = work_days = None
    if isinstance(form, BookForm):
        purpose = form.purpose.data or None
        if purpose == Purpose.BUSINESS:
            work_days = tuple(form.work_days.data)
    along = companions_of(form) if companions and isinstance(form, CompanionFields) else None
    return services.StayRequest(
        form.unit_id.data,
        form.check_in.data,
        form.check_out.data,
        form.guests.data if along is None else 1 + along.count,
        purpose,
        work_days,
        companions=along or Companions(),
    )


def _quote_or_error(form: StayForm, *, companions: bool = True):
    try:
        return services.quote_stay(
            current_user,
            _stay(form, companions=companions),
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


# Refusals about who comes along: stated beside the companions on the quote page.
COMPANION_CODES = ("capacity", "companions")


@bp.get("/book")
def quote():
    """The confirmation page: price per night, total, who comes along, who pays what,
    the money terms, and the confirm button.

    A stay the rules refuse goes back to the facility page with the reason inline;
    companions that are wrong (not a number, too many for the room) are refused beside
    them, on the stay quoted without them.
    """
    form = CompanionQuoteForm(request.args)
    valid, along, companion_error = form.validate(), True, None
    if not valid and set(form.errors) <= set(COMPANION_FIELDS):
        valid, along = True, False
        companion_error = _("Please check the number of companions.")
    if not valid:
        unit = get_by_id(Unit, form.unit_id.data) if form.unit_id.data else None
        if unit is not None and unit.active and unit.facility.active:
            error = services.BookingError(_("Choose a room, dates and guests."), "invalid")
            return _facility_page(unit.facility, request.args, error)
        return _incomplete(form, _("Choose a room, dates and guests."))
    quote, error = _quote_or_error(form, companions=along)
    if error is not None and along and companions_of(form) and error.code in COMPANION_CODES:
        companion_error, along = error.message, False
        quote, error = _quote_or_error(form, companions=False)
    if error is not None:
        return _facility_page(_bookable_facility(form.unit_id.data), request.args, error)
    confirm = BookForm(formdata=None)
    confirm.request_key.data = secrets.token_urlsafe(16)
    carried = companions_of(form) if along else None
    return _quote_page(
        quote,
        confirm,
        status=422 if companion_error else 200,
        along=along_of(quote, carried, form, companion_error),
    )


def _bookable_facility(unit_id: int) -> Facility:
    unit = get_by_id(Unit, unit_id)
    if unit is None or not unit.active or not unit.facility.active:
        abort(404)
    return unit.facility


def _quote_page(quote, form, error=None, status=200, along=None):
    now = edge_now()
    today = tokyo_today(now)
    credit = credit_notice(current_user, now, current_app.config["BILLING_GRACE_DAYS"])
    # A refusal of the purpose or the working days is stated beside them, not above.
    purpose_error = quote.purpose_refusal if quote else None
    if quote and error is not None and error.code in services.PURPOSE_CODES:
        purpose_error, error = error, None
    return render_template(
        "booking/quote.html",
        quote=quote,
        error=error,
        form=form,
        credit=credit,
        terms=stay_terms(quote.check_in, today) if quote else None,
        today=today,
        unit_id=quote.unit.id if quote else form.unit_id.data,
        along=along or along_of(quote, companions_of(form) if isinstance(form, BookForm) else None),
        companion_hints=COMPANION_HINTS,
        money=money_notes_of(quote),
        **(_purpose_choice(quote, form, purpose_error) if quote else {}),
        desk=_desk_choice(quote, now),
    ), status


def _desk_choice(quote, now):
    """The quote's desk for each working day, as asked (``booking.package_views``)."""
    if quote is None:
        return None
    return package_views.desk_choice(current_user, quote, request.values, now, _horizon())


def _purpose_choice(quote: services.Quote, form: StayForm, error) -> dict:
    """The confirm form's purpose and working days: as posted when the form comes back
    refused, else the policy's default purpose and the default days ticked."""
    posted = form.is_submitted() and isinstance(form, BookForm)
    chosen = form.purpose.data if posted and form.purpose.data in quote.purposes else None
    return {
        "purpose_labels": PURPOSE_LABELS,
        "purpose_hints": PURPOSE_HINTS,
        "chosen_purpose": chosen or quote.purpose,
        "work_days": work_day_choices(
            quote.check_in, quote.check_out, form.work_days.data if posted else None
        ),
        "purpose_error": error,
    }


@bp.post("/book")
@limits.booking_action  # BOOKING_RATE_LIMIT per employee
def book():
    form = BookForm()
    if not form.validate():
        return _incomplete(
            form, _("The booking form was incomplete or had expired. Please try again.")
        )
    try:
        desks, desk_total = package_views.posted_desks(
            request.form, form.check_in.data, form.check_out.data
        )
        booking, _desks = book_package(  # the stay and its desks, all or nothing
            current_user,
            _stay(form),
            desks,
            edge_now(),
            expected_desk_total=desk_total,
            request_key=form.request_key.data or None,
            horizon_days=_horizon(),
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
            expected_total=form.expected_total.data,
            expected_tax=form.expected_tax.data,
            expected_employee_part=form.expected_employee_part.data,
        )
    except services.BookingNotFound:
        db.session.rollback()
        abort(404)
    except services.BookingError as exc:
        db.session.rollback()
        if announce.record_refusal(current_user, exc, edge_now()) is not None:
            db.session.commit()
        quote, _error = _quote_or_error(form)
        conflict = isinstance(exc, services.BookingConflict | services.PriceChanged)
        return _quote_page(quote, form, exc, 409 if conflict else 422)
    db.session.commit()
    message, category = BOOKED_FLASH.get(booking.status, (_l("Your stay is booked."), "success"))
    flash(str(message), category)
    return redirect(url_for("booking.stay", booking_id=booking.id), 303)


# What the employee is told once the confirm button has done its work.
BOOKED_FLASH = {
    BookingStatus.PENDING_APPROVAL: (
        _l(
            "Your request has been sent for approval. Its nights are held for you, and"
            " nothing is charged until it is approved."
        ),
        "success",
    ),
    BookingStatus.AWAITING_PAYMENT: (
        _l("Its nights are held for you: pay your part by card to confirm the stay."),
        "info",
    ),
}
