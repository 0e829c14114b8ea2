"""JSON API v1 for company systems and scripts. Bearer tokens only; shapes are a contract.

The blueprint, its sign-in and error shape, search and stays are here; the approver's
endpoints hang on the same blueprint from ``approval_api``, a stay's guest register
from ``register_api``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Blueprint, current_app, g, jsonify, request

from accounts import services as accounts
from availability.night_cap import NightCapReached
from billing.copay import expire_checkout, send_owed_refund
from billing.services import summary
from booking import announce, cancellation, changes, guest_register, lookups, services
from booking import search as search_service
from booking.approvals import ApprovalError
from booking.models import Booking
from booking.search import AMENITIES, SearchQuery
from booking.services import MAX_GUESTS
from booking.stay_tax import kept_tax
from booking.terms import CancellationTerms, cancellation_terms, cancellation_terms_of
from core import limits
from core.dates import MAX_SEARCH_NIGHTS, parse_iso_date
from core.db import MAX_ID, edge_now, get_by_id, tokyo_today
from core.errors import ApiError
from core.extensions import db
from facilities.models import Facility
from facilities.regions import PREFECTURES_BY_CODE, REGIONS_BY_SLUG
from hr.subsidy import MAX_COMPANIONS, NO_COMPANIONS, Companions

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# The bounds the API enforces; docs/openapi.yaml states each one, and
# tests/booking/test_openapi.py compares the two.
MAX_AVAILABILITY_NIGHTS = 366
DEFAULT_AVAILABILITY_NIGHTS = 30
MIN_GUESTS = 1  # and at most services.MAX_GUESTS
DEFAULT_GUESTS = 1
MIN_PREFECTURE = min(PREFECTURES_BY_CODE)  # JIS X 0401: 1 Hokkaido … 47 Okinawa
MAX_PREFECTURE = max(PREFECTURES_BY_CODE)
KINDS = ("stay", "office")
DEFAULT_SORT = "price"  # also for a sort the search does not know
MIN_WIFI_MBPS = 0  # also the default: no minimum
MAX_WIFI_MBPS = 100_000
MIN_ID = 1  # and at most core.db.MAX_ID
MIN_EXPECTED_TOTAL = 0  # also the bounds of expected_tax
MAX_EXPECTED_TOTAL = 10**10  # yen: far beyond any stay, well inside a 64-bit integer
MAX_IDEMPOTENCY_KEY = 64  # Booking.request_key
# A business workation's working days: check-in to check-out, both included.
MAX_WORKING_DAYS = MAX_SEARCH_NIGHTS + 1
INTEGER = re.compile(r"-?[0-9]{1,9}", re.ASCII)  # integers sent as strings
# Companions by category (hr.subsidy.Companions): each 0 to MAX_COMPANIONS.
COMPANION_FIELDS = ("adults", "children", "infants")


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    """The API's error shape (core.errors), with ``fields`` when a refusal names them:
    ``{"error": {"code", "message", "fields": {"guests[1].phone": "…"}}}``."""
    error = {"code": exc.code, "message": exc.message}
    fields = getattr(exc, "fields", None)
    if fields:
        error["fields"] = fields
    return jsonify(error=error), exc.status


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "A bearer token is required.")
    now = edge_now()
    user = accounts.user_for_token(secret.strip(), now)
    if user is None:
        raise ApiError(401, "unauthorized", "The token is unknown or revoked.")
    if db.session.dirty:  # last_used_at moved on; record it before the request's work
        db.session.commit()
    g.api_user = user
    limits.api_request(user.id)  # API_RATE_LIMIT per token: 429 past it


def _date_arg(args, name: str, *, required: bool = True):
    raw = args.get(name)
    if raw is None or raw == "":
        if required:
            raise ApiError(400, "missing_field", f"'{name}' is required (YYYY-MM-DD).")
        return None
    value = parse_iso_date(raw) if isinstance(raw, str) else None
    if value is None:
        raise ApiError(400, "invalid_date", f"'{name}' must be a date as YYYY-MM-DD.")
    return value


def _int_arg(args, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise ApiError(400, "invalid_number", f"'{name}' must be an integer.")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and INTEGER.fullmatch(raw.strip()):
        value = int(raw)
    else:
        raise ApiError(400, "invalid_number", f"'{name}' must be an integer.")
    if not lo <= value <= hi:
        raise ApiError(400, "out_of_range", f"'{name}' must be between {lo} and {hi}.")
    return value


def _booking_json(
    booking: Booking,
    terms: CancellationTerms | None = None,
    register_complete: bool | None = None,
) -> dict:
    """A booking as the API answers it, with its cancellation terms as of today and
    whether its guest register is complete."""
    if terms is None:
        terms = cancellation_terms(booking, tokyo_today(edge_now()))
    if register_complete is None:
        register_complete = guest_register.register_complete([booking])[booking.id]
    return {
        "id": booking.id,
        "status": booking.status,
        "unit_id": booking.unit_id,
        "facility_id": booking.unit.facility_id,
        "check_in": booking.check_in.isoformat(),
        "check_out": booking.check_out.isoformat(),
        "guests": booking.guests,
        "total_price": booking.total_price,
        "accommodation_tax": kept_tax(booking),  # what the stay keeps: 0 once cancelled
        "nights": [
            {
                "date": n.night.isoformat(),
                "price": n.price,
                "accommodation_tax": n.accommodation_tax,
            }
            for n in booking.nights
        ],
        "created_at": booking.created_at.isoformat(),
        "cancellation_policy": terms.policy.as_json(),
        "refund_if_cancelled_now": terms.refund_if_cancelled_now,
        "register_complete": register_complete,
        # What the stay is for (hr.models.Purpose) and a business workation's working days.
        "purpose": booking.purpose,
        "working_days": [row.day.isoformat() for row in booking.work_days],
        # Who pays what (hr.subsidy): the company's part from the stay credit, the
        # employee's by card; they add up to total_price.
        "company_part": booking.company_part,
        "employee_part": booking.employee_part,
        # A stay that waits (pending_approval, awaiting_payment) holds its nights until then.
        "hold_expires_at": booking.hold_expires_at.isoformat() if booking.hold_expires_at else None,
        "companions": {
            "adults": booking.companion_adults,
            "children": booking.companion_children,
            "infants": booking.companion_infants,
        },
    }


def _raise_booking_error(exc: services.BookingError | NightCapReached):
    status = {
        services.BookingConflict: 409,
        services.PriceChanged: 409,
        services.BookingNotFound: 404,
        services.BookingForbidden: 403,
        services.BillingRefused: 402,  # the company's credit or subscription
    }.get(type(exc), 422)
    if exc.code.startswith("dates_"):
        status = 400  # malformed stay dates, as in search
    elif exc.code in ("not_cancellable", "not_changeable"):
        status = 409  # the stay's state, not the request, refuses it
    elif exc.code == "night_cap":
        status = 422  # a rule of the house's year, like capacity or the company's policy
    raise ApiError(status, exc.code, str(exc.message))


def _stay_args(source) -> tuple[date, date]:
    """``check_in`` and ``check_out`` of a search or a booking, at most 90 nights apart."""
    check_in = _date_arg(source, "check_in")
    check_out = _date_arg(source, "check_out")
    if (check_out - check_in).days > MAX_SEARCH_NIGHTS:
        raise ApiError(400, "out_of_range", f"A stay is at most {MAX_SEARCH_NIGHTS} nights.")
    return check_in, check_out


@bp.get("/facilities")
def facilities():
    args = request.args
    check_in, check_out = _stay_args(args)
    region = args.get("region") or None
    if region is not None and region not in REGIONS_BY_SLUG:
        raise ApiError(
            400, "invalid_region", f"'region' must be one of {', '.join(REGIONS_BY_SLUG)}."
        )
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "invalid_kind", "'kind' must be 'stay' or 'office'.")
    amenities = frozenset(a for a in args.get("amenities", "").split(",") if a)
    if not amenities <= set(AMENITIES):
        raise ApiError(400, "invalid_amenity", f"'amenities' takes {', '.join(AMENITIES)}.")
    query = SearchQuery(
        check_in=check_in,
        check_out=check_out,
        guests=_int_arg(args, "guests", DEFAULT_GUESTS, MIN_GUESTS, MAX_GUESTS),
        region=region,
        prefecture=_int_arg(args, "prefecture", None, MIN_PREFECTURE, MAX_PREFECTURE),
        kind=kind,
        amenities=amenities,
        min_wifi_mbps=_int_arg(args, "min_wifi_mbps", MIN_WIFI_MBPS, MIN_WIFI_MBPS, MAX_WIFI_MBPS),
        sort=args.get("sort") if args.get("sort") in search_service.SORTS else DEFAULT_SORT,
    )
    try:
        services.validate_stay_dates(
            check_in, check_out, tokyo_today(edge_now()), current_app.config["BOOKING_HORIZON_DAYS"]
        )
    except services.BookingError as exc:
        raise ApiError(400, exc.code, str(exc.message)) from None
    results = search_service.search(query)
    search_service.attach_facilities(results)
    return jsonify(
        facilities=[
            {
                "id": r.facility_id,
                "name": r.facility.name_ja,
                "name_en": r.facility.name_en,
                "prefecture": r.facility.prefecture,
                "kind": r.facility.kind,
                "nights": r.nights,
                "lowest_total_price": r.lowest_total,
                "best_saving": r.best_saving,
                "off_season_percent": r.off_season,
                "units": [
                    {
                        "id": u.id,
                        "name": u.name,
                        "capacity": u.capacity,
                        "total_price": u.total_price,
                        "base_total_price": u.base_total,
                    }
                    for u in r.units
                ],
            }
            for r in results
        ]
    )


@bp.get("/facilities/<int:facility_id>/availability")
def availability(facility_id: int):
    facility = get_by_id(Facility, facility_id)
    if facility is None or not facility.listed:
        raise ApiError(404, "not_found", "No such facility.")
    start = _date_arg(request.args, "from", required=False) or tokyo_today(edge_now())
    end = _date_arg(request.args, "to", required=False)
    if end is None:
        if start > date.max - timedelta(days=DEFAULT_AVAILABILITY_NIGHTS):
            raise ApiError(400, "out_of_range", "'from' is too far in the future.")
        end = start + timedelta(days=DEFAULT_AVAILABILITY_NIGHTS)
    if end <= start:
        raise ApiError(400, "dates_order", "'to' must be after 'from'.")
    if (end - start).days > MAX_AVAILABILITY_NIGHTS:
        raise ApiError(
            400, "out_of_range", f"At most {MAX_AVAILABILITY_NIGHTS} nights per request."
        )
    units = search_service.facility_availability(facility, start, end)
    return jsonify(
        facility_id=facility.id,
        units=[
            {
                "id": ua.unit.id,
                "name": ua.unit.name,
                "capacity": ua.unit.capacity,
                "nights": [
                    {
                        "date": n.night.isoformat(),
                        "available": n.available,
                        "price": n.price,
                        "base_price": n.base_price,
                        "reasons": [{"code": c, "percent": p} for c, p in n.reasons],
                    }
                    for n in ua.nights
                ],
            }
            for ua in units
        ],
    )


def _json_object() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    return body


@bp.post("/bookings")
@limits.booking_action
def create_booking():
    body = _json_object()
    unit_id = _int_arg(body, "unit_id", None, MIN_ID, MAX_ID)
    if unit_id is None:
        raise ApiError(400, "missing_field", "'unit_id' is required.")
    check_in, check_out = _stay_args(body)
    companions = _companions_body(body)
    # Left out, the guests are the employee and their companions.
    guests = _int_arg(body, "guests", DEFAULT_GUESTS + companions.count, MIN_GUESTS, MAX_GUESTS)
    expected_total = _int_arg(body, "expected_total", None, MIN_EXPECTED_TOTAL, MAX_EXPECTED_TOTAL)
    expected_tax = _int_arg(body, "expected_tax", None, MIN_EXPECTED_TOTAL, MAX_EXPECTED_TOTAL)
    expected_part = _int_arg(
        body, "expected_employee_part", None, MIN_EXPECTED_TOTAL, MAX_EXPECTED_TOTAL
    )
    purpose, working_days = _purpose_body(body)
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key is at most {MAX_IDEMPOTENCY_KEY} characters.",
        )
    try:
        booking = services.book_stay(
            g.api_user,
            services.StayRequest(
                unit_id, check_in, check_out, guests, purpose, working_days, companions
            ),
            edge_now(),
            request_key=key,
            horizon_days=current_app.config["BOOKING_HORIZON_DAYS"],
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
            expected_total=expected_total,
            expected_tax=expected_tax,
            expected_employee_part=expected_part,
        )
    except (services.BookingError, NightCapReached) as exc:
        db.session.rollback()
        if announce.record_refusal(g.api_user, exc, edge_now()) is not None:
            db.session.commit()
        _raise_booking_error(exc)
    payload = _booking_json(booking)  # before the commit expires what it reads
    db.session.commit()
    # Booked and confirmed: 201. Waiting for its approver or the employee's payment, its
    # nights held: 202 (accepted, not yet confirmed).
    return jsonify(payload), 202 if booking.is_waiting else 201


def _companions_body(body: dict) -> Companions:
    """``companions`` as sent (``{"adults", "children", "infants"}``, each an integer from
    0, left out: 0); left out entirely: none. Else 422 ``invalid`` naming the field."""
    raw = body.get("companions")
    if raw is None:
        return NO_COMPANIONS
    if not isinstance(raw, dict):
        raise _invalid_fields(
            {"companions": 'An object: {"adults", "children", "infants"}.'},
            "Some fields are not valid: see 'fields'.",
        )
    fields: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name in COMPANION_FIELDS:
        value = raw.get(name, 0)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= MAX_COMPANIONS
        ):
            fields[f"companions.{name}"] = f"An integer from 0 to {MAX_COMPANIONS}."
        else:
            counts[name] = value
    if fields:
        raise _invalid_fields(fields, "Some fields are not valid: see 'fields'.")
    return Companions(**counts)


def _purpose_body(body: dict) -> tuple[str | None, tuple[date, ...] | None]:
    """``purpose`` (text: its value is the policy's to judge) and ``working_days`` (a list
    of dates) as sent, each None when left out; else 422 ``invalid`` naming the field."""
    fields: dict[str, str] = {}
    purpose = body.get("purpose")
    if purpose is not None and not isinstance(purpose, str):
        fields["purpose"] = '\'purpose\' is "leisure" or "business".'
    raw = body.get("working_days")
    days: list[date] = []
    if raw is not None and (not isinstance(raw, list) or len(raw) > MAX_WORKING_DAYS):
        fields["working_days"] = f"A list of at most {MAX_WORKING_DAYS} dates (YYYY-MM-DD)."
    elif raw is not None:
        for index, item in enumerate(raw):
            day = parse_iso_date(item) if isinstance(item, str) else None
            if day is None:
                fields[f"working_days[{index}]"] = "A working day is a date as YYYY-MM-DD."
            else:
                days.append(day)
    if fields:
        raise _invalid_fields(fields, "Some fields are not valid: see 'fields'.")
    return purpose, (tuple(days) if raw is not None else None)


@bp.get("/bookings")
def list_bookings():
    today = tokyo_today(edge_now())
    upcoming, past = lookups.bookings_of(g.api_user, today, with_nights=True)
    bookings = past[::-1] + upcoming
    terms = cancellation_terms_of(bookings, today)
    complete = guest_register.register_complete(bookings)
    return jsonify(bookings=[_booking_json(b, terms[b.id], complete[b.id]) for b in bookings])


def _own(booking_id: int) -> Booking:
    try:
        return lookups.booking_of(g.api_user, booking_id)
    except services.BookingNotFound:
        raise ApiError(404, "not_found", "No such booking.") from None


@bp.get("/bookings/<int:booking_id>")
def get_booking(booking_id: int):
    return jsonify(_booking_json(_own(booking_id)))


@bp.patch("/bookings/<int:booking_id>")
@limits.booking_action
def change_booking(booking_id: int):
    """Change a stay: other dates, another room of the same facility, other guests.

    Fields left out keep the stay's current value. Answers the changed booking and
    ``change``: what the difference did to the company's credit."""
    booking = _own(booking_id)  # somebody else's id: 404 whatever the body
    body = _json_object()
    fixed = {
        field: "A stay's purpose and working days are chosen when it is booked: book a"
        " new stay and cancel this one to change them."
        for field in ("purpose", "working_days")
        if field in body
    }
    if fixed:
        raise _invalid_fields(fixed, "Some fields cannot be changed: see 'fields'.")
    unit_id = _int_arg(body, "unit_id", booking.unit_id, MIN_ID, MAX_ID)
    check_in = _date_arg(body, "check_in", required=False) or booking.check_in
    check_out = _date_arg(body, "check_out", required=False) or booking.check_out
    if (check_out - check_in).days > MAX_SEARCH_NIGHTS:
        raise ApiError(400, "out_of_range", f"A stay is at most {MAX_SEARCH_NIGHTS} nights.")
    guests = _int_arg(body, "guests", booking.guests, MIN_GUESTS, MAX_GUESTS)
    expected = _int_arg(body, "expected_difference", None, -MAX_EXPECTED_TOTAL, MAX_EXPECTED_TOTAL)
    try:
        result = changes.change_booking(
            g.api_user,
            booking_id,
            services.StayRequest(unit_id, check_in, check_out, guests),
            edge_now(),
            horizon_days=current_app.config["BOOKING_HORIZON_DAYS"],
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
            expected_difference=expected,
        )
    except (services.BookingError, NightCapReached) as exc:
        db.session.rollback()
        if exc.code == "unchanged":
            # The stay already is what was asked: a retried PATCH whose first answer was
            # lost gets the booking, with nothing moved this time.
            payload = _booking_json(_own(booking_id))
            payload["change"] = dict.fromkeys(("difference", "charged", "refunded", "kept"), 0) | {
                "old_total": payload["total_price"],
                "new_total": payload["total_price"],
            }
            return jsonify(payload)
        _raise_booking_error(exc)
    money = result.money
    payload = _booking_json(result.booking)  # before the commit expires what it reads
    payload["change"] = {
        "old_total": result.old_total,
        "new_total": result.new_total,
        "difference": money.difference,
        "charged": money.charged,
        "refunded": money.refunded,
        "kept": money.kept,
    }
    db.session.commit()
    return jsonify(payload)


def _invalid_fields(fields: dict[str, str], message: str) -> ApiError:
    error = ApiError(422, "invalid", message)
    error.fields = fields  # type: ignore[attr-defined]  (the api_error handler shows them)
    return error


@bp.delete("/bookings/<int:booking_id>")
@limits.booking_action
def cancel_booking(booking_id: int):
    """Cancel a stay: a confirmed one by the cancellation policy; one still waiting for
    approval or payment is withdrawn, its nights released, nothing charged."""
    try:
        result = cancellation.cancel_booking(g.api_user, booking_id, edge_now())
    except ApprovalError as exc:  # decided or expired meanwhile
        db.session.rollback()
        raise ApiError(409, "not_cancellable", str(exc.message)) from None
    except services.BookingError as exc:
        db.session.rollback()
        _raise_booking_error(exc)
    db.session.commit()
    # The provider, once our side is committed: the card's share of a co-paid stay back,
    # a waiting stay's open Checkout ended.
    if result.payment_id is not None:
        send_owed_refund(result.payment_id)
    if result.checkout_to_expire:
        expire_checkout(result.checkout_to_expire)
    return "", 204


@bp.get("/company")
def company():
    """The caller's company and its subscription: corporate admins only."""
    if g.api_user.role != "company_admin":
        raise ApiError(403, "forbidden", "Only a corporate admin's token can read the company.")
    return jsonify(summary(g.api_user.company_id).as_json())
