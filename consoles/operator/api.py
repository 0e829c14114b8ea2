"""Operator JSON API v1 (``/api/v1/operator``) for the operator's own systems: their
facilities and rooms, bookings, moves, cancellations, the front desk, figures,
closings and the guest register (宿泊者名簿, every read of it logged). Bearer tokens
of operator users only; another organisation's ids answer 404. The shapes are a
contract (``docs/openapi.yaml``).

Thin handlers: read and check the input (400), find the object within the caller's
organisation (404), call one service, commit once. A rule the service enforces answers
422 with the service's code; a night somebody holds answers 409 and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from flask import Blueprint, current_app, g, jsonify, request

from accounts import services as accounts
from accounts.models import User
from availability import blocks, closing
from availability.blocks import MANUAL_REASONS, MAX_BLOCK_NIGHTS, BlockError
from billing.copay import send_owed_refund
from booking import front_desk, operator_moves, register_listing
from booking.front_desk import FrontDeskError
from booking.models import Booking
from booking.services import BookingConflict, BookingError, BookingNotFound, PriceChanged
from consoles.operator import kpis
from core import limits
from core.dates import MAX_SEARCH_NIGHTS, parse_iso_date
from core.db import MAX_ID, edge_now
from core.errors import ApiError, RuleError
from core.extensions import db
from facilities import services as facilities
from facilities.models import Facility, Unit
from lodging import register

bp = Blueprint("operator_api", __name__, url_prefix="/api/v1/operator")

# The bounds the API enforces; docs/openapi.yaml states each one, and
# tests/consoles/operator/test_operator_api_contract.py compares the two.
MIN_ID = 1  # and at most core.db.MAX_ID
MAX_PERIOD_NIGHTS = 366  # a bookings listing or a figures period: at most a year
MAX_STAY_NIGHTS = MAX_SEARCH_NIGHTS  # a moved stay, as a booked one
MAX_CLOSURE_NIGHTS = MAX_BLOCK_NIGHTS  # nights closed or reopened at once
MAX_BOOKINGS = 2000  # stays in one listing; more asks for a narrower one
MAX_REGISTER_ENTRIES = register_listing.MAX_ENTRIES  # stays in one register read
MAX_EXPECTED_NET = 10**10  # yen: far beyond any stay
MAX_CANCEL_REASON = front_desk.MAX_CANCEL_REASON
MAX_CLOSURE_NOTE = 300  # availability.models.Block.note
CLOSURE_REASONS = tuple(r.value for r in MANUAL_REASONS)
OCCUPANCY_DIGITS = 4  # occupancy is a fraction rounded to 4 decimals (0.8333)
HELD = ("booked", "direct")  # availability.blocks: a stay or a direct stay holds a night
ALREADY = "already"  # front_desk: the stay already is checked in, out, or a no-show
INTEGER = re.compile(r"[0-9]{1,9}", re.ASCII)  # ids sent in a query string


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "A bearer token is required.")
    user = accounts.user_for_token(secret.strip(), edge_now())
    if user is None:
        raise ApiError(401, "unauthorized", "The token is unknown or revoked.")
    if db.session.dirty:  # last_used_at moved on; record it before the request's work
        db.session.commit()
    limits.api_request(user.id)  # API_RATE_LIMIT per token: 429 past it
    if not user.runs_facilities:
        raise ApiError(403, "forbidden", "Only a facility operator's token can use this API.")
    g.api_user = user


# --- reading the input ---------------------------------------------------------------


def _json_object() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return body


def _date_field(source: Mapping, name: str) -> date:
    """A required ``YYYY-MM-DD`` date from a JSON body or a query string."""
    raw = source.get(name)
    if raw is None or raw == "":
        raise ApiError(400, "missing_field", f"'{name}' is required (YYYY-MM-DD).")
    value = parse_iso_date(raw) if isinstance(raw, str) else None
    if value is None:
        raise ApiError(400, "invalid_date", f"'{name}' must be a date as YYYY-MM-DD.")
    return value


def _dates(source: Mapping, first: str, last: str, most: int) -> tuple[date, date]:
    """Two dates of a half-open range [first, last), at most ``most`` nights long."""
    start, end = _date_field(source, first), _date_field(source, last)
    if end <= start:
        raise ApiError(400, "dates_order", f"'{last}' must be after '{first}'.")
    if (end - start).days > most:
        raise ApiError(400, "out_of_range", f"At most {most} nights from '{first}' to '{last}'.")
    return start, end


def _body_int(body: Mapping, name: str, lo: int, hi: int, *, required: bool) -> int | None:
    """An integer of a JSON body: a JSON number, never a string or a boolean."""
    raw = body.get(name)
    if raw is None:
        if required:
            raise ApiError(400, "missing_field", f"'{name}' is required.")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ApiError(400, "invalid_number", f"'{name}' must be an integer.")
    if not lo <= raw <= hi:
        raise ApiError(400, "out_of_range", f"'{name}' must be between {lo} and {hi}.")
    return raw


def _query_id(args: Mapping, name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    if not INTEGER.fullmatch(raw.strip()):
        raise ApiError(400, "invalid_number", f"'{name}' must be an integer.")
    value = int(raw)
    if not MIN_ID <= value <= MAX_ID:
        raise ApiError(400, "out_of_range", f"'{name}' must be between {MIN_ID} and {MAX_ID}.")
    return value


def _text(body: Mapping, name: str, most: int, *, required: bool) -> str:
    raw = body.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise ApiError(400, "missing_field", f"'{name}' is required.")
        return ""
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_text", f"'{name}' must be a string.")
    if len(raw.strip()) > most:
        raise ApiError(400, "out_of_range", f"'{name}' is at most {most} characters.")
    return raw.strip()


def _closure_args() -> Mapping:
    """DELETE takes its dates from a JSON body, or from the query string without one."""
    return _json_object() if request.get_data(cache=True) else request.args


# --- the caller's own objects --------------------------------------------------------


def _user() -> User:
    return g.api_user


def _own_facility(facility_id: int) -> Facility:
    facility = facilities.operator_facility(_user(), facility_id)
    if facility is None:
        raise ApiError(404, "not_found", "No such facility.")
    return facility


def _own_unit(unit_id: int) -> Unit:
    unit = facilities.operator_unit(_user(), unit_id)
    if unit is None:
        raise ApiError(404, "not_found", "No such room.")
    return unit


def _own_booking(booking_id: int) -> Booking:
    try:
        return front_desk.operator_booking(_user(), booking_id)
    except BookingNotFound:
        raise ApiError(404, "not_found", "No such booking.") from None


def _answer_for(exc: RuleError) -> ApiError:
    """A service's refusal as an answer: somebody holds a night 409, anything else a rule
    broken 422 with the service's code (the company's credit or state refusing an
    extension too: the operator cannot change those)."""
    message = str(exc.message)
    if isinstance(exc, BookingNotFound):
        return ApiError(404, exc.code, message)
    if isinstance(exc, BookingConflict | PriceChanged) or (
        isinstance(exc, BlockError) and exc.code in HELD
    ):
        return ApiError(409, exc.code, message)
    return ApiError(422, exc.code, message)


def _refused(exc: RuleError) -> ApiError:
    """Roll the request's changes back; the answer to raise."""
    db.session.rollback()
    return _answer_for(exc)


# --- answers -------------------------------------------------------------------------


def _booking_json(booking: Booking, companies: Mapping[int, str]) -> dict:
    return {
        "id": booking.id,
        "unit_id": booking.unit_id,
        "check_in": booking.check_in.isoformat(),
        "check_out": booking.check_out.isoformat(),
        "guests": booking.guests,
        "status": str(booking.status),
        "guest_name": booking.user.name,
        "company": companies.get(booking.company_id, ""),
        "total_price": booking.total_price,
        # Leisure or a business workation (the guest may need a desk). Its working days
        # are the company's HR data: not the operator's.
        "purpose": booking.purpose,
    }


def _answer_booking(booking: Booking):
    """The changed booking, read before the commit expires it; then the commit."""
    payload = _booking_json(booking, front_desk.company_names([booking]))
    db.session.commit()
    return jsonify(payload)


# --- facilities and figures ----------------------------------------------------------


@bp.get("/facilities")
def list_facilities():
    """The organisation's facilities (open ones first), each with every room, off-sale
    rooms too (their stays still name them)."""
    return jsonify(
        facilities=[
            {
                "id": f.id,
                "name": f.name_ja,
                "units": [{"id": u.id, "name": u.name, "capacity": u.capacity} for u in f.units],
            }
            for f in facilities.operator_facilities(_user())
        ]
    )


@bp.get("/facilities/<int:facility_id>/kpis")
def facility_kpis(facility_id: int):
    facility = _own_facility(facility_id)
    start, end = _dates(request.args, "from", "to", MAX_PERIOD_NIGHTS)
    figures = kpis.period_figures([facility.id], start, end, edge_now())[facility.id]
    return jsonify(
        nights_available=figures.nights_available,
        nights_sold=figures.nights_sold,
        occupancy=round(figures.occupancy, OCCUPANCY_DIGITS),
        room_revenue=figures.room_revenue,
        adr=figures.adr,
        revpar=figures.revpar,
    )


# --- bookings ------------------------------------------------------------------------


@bp.get("/bookings")
def list_bookings():
    """Stays overlapping [from, to) in one facility or all of them, by check-in, the
    cancelled ones too (with their status)."""
    facility_id = _query_id(request.args, "facility_id")
    if facility_id is not None:
        _own_facility(facility_id)
    start, end = _dates(request.args, "from", "to", MAX_PERIOD_NIGHTS)
    bookings = front_desk.operator_bookings(
        _user(), start, end, facility_id=facility_id, limit=MAX_BOOKINGS + 1
    )
    if len(bookings) > MAX_BOOKINGS:
        raise ApiError(
            400,
            "too_many",
            f"More than {MAX_BOOKINGS} stays: ask for fewer nights or one facility.",
        )
    companies = front_desk.company_names(bookings)
    return jsonify(bookings=[_booking_json(b, companies) for b in bookings])


@bp.post("/bookings/<int:booking_id>/move")
def move_booking(booking_id: int):
    """Another room of the same facility and/or other dates (also shorter or longer)."""
    _own_booking(booking_id)  # somebody else's id: 404 whatever the body
    body = _json_object()
    unit_id = _body_int(body, "unit_id", MIN_ID, MAX_ID, required=True)
    check_in, check_out = _dates(body, "check_in", "check_out", MAX_STAY_NIGHTS)
    expected_net = _body_int(
        body, "expected_net", -MAX_EXPECTED_NET, MAX_EXPECTED_NET, required=False
    )
    expected_tax = _body_int(
        body, "expected_tax", -MAX_EXPECTED_NET, MAX_EXPECTED_NET, required=False
    )
    _own_unit(unit_id)  # another organisation's room: 404 as well
    try:
        moved = operator_moves.move_booking(
            _user(),
            booking_id,
            unit_id,
            check_in,
            check_out,
            edge_now(),
            horizon_days=current_app.config["BOOKING_HORIZON_DAYS"],
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
            expected_net=expected_net,
            expected_tax=expected_tax,
        )
    except BookingError as exc:
        raise _refused(exc) from None
    answer = _answer_booking(moved.booking)  # commits
    if moved.card_payment_id is not None:  # the card's share of a cheaper co-paid stay
        send_owed_refund(moved.card_payment_id)
    return answer


@bp.post("/bookings/<int:booking_id>/cancel")
def cancel_booking(booking_id: int):
    """Cancel on the guest's behalf with a reason: everything comes back to the company,
    and to the employee's card what they paid of a co-paid stay. Cancelling a cancelled
    stay again answers it unchanged."""
    _own_booking(booking_id)
    reason = _text(_json_object(), "reason", MAX_CANCEL_REASON, required=True)
    try:
        result = front_desk.cancel_for_guest(_user(), booking_id, reason, edge_now())
    except BookingError as exc:
        raise _refused(exc) from None
    answer = _answer_booking(result.booking)  # commits
    # The card's share of a co-paid stay, at the provider once our side is committed (a
    # failed call is retried by billing.copay.settle_stay_refunds).
    if result.payment_id is not None:
        send_owed_refund(result.payment_id)
    return answer


def _front_desk(booking_id: int, action: Callable[[User, int, datetime], Booking]):
    """Check in, check out or a no-show. Asked again (a retry whose first answer was
    lost), it answers the booking as it is, with nothing changed."""
    _own_booking(booking_id)
    try:
        booking = action(_user(), booking_id, edge_now())
    except FrontDeskError as exc:
        if exc.code != ALREADY:
            raise _refused(exc) from None
        db.session.rollback()
        booking = _own_booking(booking_id)
    except BookingError as exc:
        raise _refused(exc) from None
    return _answer_booking(booking)


@bp.post("/bookings/<int:booking_id>/check-in")
def check_in(booking_id: int):
    return _front_desk(booking_id, front_desk.check_in)


@bp.post("/bookings/<int:booking_id>/check-out")
def check_out(booking_id: int):
    return _front_desk(booking_id, front_desk.check_out)


@bp.post("/bookings/<int:booking_id>/no-show")
def no_show(booking_id: int):
    return _front_desk(booking_id, front_desk.mark_no_show)


# --- the guest register --------------------------------------------------------------


def _register_date(args: Mapping, name: str) -> date:
    """A required ``YYYY-MM-DD`` arrival date of the register's period (422 when not)."""
    raw = args.get(name)
    if raw is None or raw == "":
        raise ApiError(422, "missing_field", f"'{name}' is required (YYYY-MM-DD).")
    value = parse_iso_date(raw)
    if value is None:
        raise ApiError(422, "invalid_date", f"'{name}' must be a date as YYYY-MM-DD.")
    return value


def _register_period(args: Mapping) -> tuple[date, date]:
    start, end = _register_date(args, "from"), _register_date(args, "to")
    if end <= start:
        raise ApiError(422, "dates_order", "'to' must be after 'from'.")
    if (end - start).days > MAX_PERIOD_NIGHTS:
        raise ApiError(
            422, "out_of_range", f"At most {MAX_PERIOD_NIGHTS} days from 'from' to 'to'."
        )
    return start, end


def _guest_json(guest: register.StoredGuest) -> dict:
    details = guest.details
    return {
        "name": details.name,
        "address": details.address,
        "phone": details.phone,
        "nationality": details.nationality,
        "passport_number": details.passport_number,
    }


@bp.get("/facilities/<int:facility_id>/register")
def facility_register(facility_id: int):
    """The guest register of stays arriving in [from, to) at one of the organisation's
    facilities that lodge guests, by arrival date; only stays that were confirmed (no
    cancelled, waiting, refused or expired ones). The read is recorded in the register's
    access log."""
    user = _user()
    facility = register_listing.register_facility(user, facility_id)
    if facility is None:  # another organisation's, unknown, or a satellite office
        raise ApiError(404, "not_found", "No such facility.")
    start, end = _register_period(request.args)
    found = register_listing.entries(user, facility.id, start, end, limit=MAX_REGISTER_ENTRIES + 1)
    if len(found) > MAX_REGISTER_ENTRIES:
        raise ApiError(
            422,
            "too_many",
            f"More than {MAX_REGISTER_ENTRIES} stays arrive: ask for fewer days.",
        )
    payload = {
        "entries": [
            {
                "booking_id": entry.booking.id,
                "check_in": entry.booking.check_in.isoformat(),
                "check_out": entry.booking.check_out.isoformat(),
                "guests": [_guest_json(g) for g in entry.guests],
            }
            for entry in found
        ]
    }
    if found:
        ids = [entry.booking.id for entry in found]
        register.record_read(ids, facility.id, user.id, "api", edge_now())
    db.session.commit()
    return jsonify(payload)


# --- closed dates ----------------------------------------------------------------------


@bp.put("/units/<int:unit_id>/closures")
def close_nights(unit_id: int):
    """Close nights [from, to) of one room, as the console does; refused (nothing
    closed) where a guest is booked or a direct stay is recorded."""
    unit = _own_unit(unit_id)
    body = _json_object()
    start, end = _dates(body, "from", "to", MAX_CLOSURE_NIGHTS)
    reason = body.get("reason")
    if reason is None or reason == "":
        raise ApiError(400, "missing_field", "'reason' is required.")
    if reason not in CLOSURE_REASONS:
        raise ApiError(
            400, "invalid_reason", f"'reason' must be one of {', '.join(CLOSURE_REASONS)}."
        )
    note = _text(body, "note", MAX_CLOSURE_NOTE, required=False)
    facility, unit_id = unit.facility, unit.id
    try:
        closing.close_facility_dates(
            _user(), facility, unit_id, start, end - timedelta(days=1), reason, note, edge_now()
        )
    except BlockError as exc:
        raise _refused(exc) from None
    db.session.commit()
    return jsonify(
        {"unit_id": unit_id, "from": start.isoformat(), "to": end.isoformat(), "reason": reason}
    )


@bp.delete("/units/<int:unit_id>/closures")
def reopen_nights(unit_id: int):
    """Reopen nights [from, to) of one room closed by the operator (imported events and
    direct stays stay)."""
    unit = _own_unit(unit_id)
    start, end = _dates(_closure_args(), "from", "to", MAX_CLOSURE_NIGHTS)
    try:
        reopened = blocks.reopen_dates(unit, start, end, edge_now())
    except BlockError as exc:
        raise _refused(exc) from None
    db.session.commit()
    return jsonify(reopened_nights=reopened)
