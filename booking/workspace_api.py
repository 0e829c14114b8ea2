"""Workspace over JSON API v1 (issue 19): a facility's desks, booths and meeting rooms on
one day, slot by slot (``GET /api/v1/facilities/<id>/workspace?date=``), and the caller's
workspace bookings: book one time, list, read one, change (``PATCH``: another time or unit
of the facility, ``booking.workspace_change``), cancel.

Routes on the API blueprint (``booking.api.bp``: bearer tokens, its error shape, its rate
limits); the rules are ``booking.workspace``'s and ``availability.slots``'. Times are RFC
3339 with an offset in and Japan time (``+09:00``) out (``availability.slots``).

Answers: a rule of the unit's slots broken (``SlotError``: ``not_on_slot``,
``outside_hours``, ``spans_closing``, ``too_short``, ``too_long``, ``order``,
``invalid_time``) or of booking (``in_past``, ``horizon``, ``policy_workspace_month``,
``idempotency_mismatch``) is 422; a time held already 409 ``taken``; a moved price 409
``price_changed``; the company's subscription or credit 402; somebody else's booking 404;
a booking that has begun, was cancelled, follows its stay or starts within 24 hours
(``FREE_CANCELLATION_HOURS``: after that it can only be cancelled, half back) cannot be
changed, 409 ``not_changeable``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import current_app, g, jsonify, request

from availability.slots import SlotError, format_api_time, parse_api_time
from availability.workspace import SlotTaken
from billing.ledger import CreditRefused
from billing.workspace_ledger import LATE_REFUND_PERCENT, workspace_terms
from booking import announce, services
from booking.api import (
    MAX_EXPECTED_TOTAL,
    MAX_IDEMPOTENCY_KEY,
    MIN_EXPECTED_TOTAL,
    MIN_ID,
    _date_arg,
    _int_arg,
    _json_object,
    bp,
)
from booking.workspace import (
    WorkspaceRequest,
    book_workspace,
    bookings_of,
    cancel_refund,
    cancel_workspace,
    may_cancel,
    workspace_booking_of,
)
from booking.workspace_change import change_workspace
from booking.workspace_models import WorkspaceBooking
from booking.workspace_search import day_view, facility_units
from core import limits
from core.db import MAX_ID, edge_now, get_by_id
from core.errors import ApiError, RuleError
from core.extensions import db
from facilities.models import Facility

# Times the API takes at all (400 ``out_of_range`` outside): far beyond any bookable time
# either way, and far from the ends of ``datetime``, which a time zone would overflow.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def _day_arg() -> date:
    """``date`` of the day view (YYYY-MM-DD; 400 ``missing_field`` / ``invalid_date`` as
    the stays' dates), not at the very ends of the calendar."""
    day = _date_arg(request.args, "date")
    if not EARLIEST_TIME.date() <= day < LATEST_TIME.date():
        raise ApiError(400, "out_of_range", "'date' is out of range.")
    return day


@bp.get("/facilities/<int:facility_id>/workspace")
def workspace_day(facility_id: int):
    """Every active workspace unit of a listed facility on one Tokyo date, slot by slot:
    free or taken (a slot already over counts as taken), with each slot's price."""
    facility = get_by_id(Facility, facility_id)
    if facility is None or not facility.listed:
        raise ApiError(404, "not_found", "No such facility.")
    day = _day_arg()
    units = day_view(facility_units(facility.id), day, edge_now())
    return jsonify(
        facility_id=facility.id,
        date=day.isoformat(),
        units=[
            {
                "id": unit_day.unit.id,
                "name": unit_day.unit.name,
                "kind": unit_day.unit.kind,
                "capacity": unit_day.unit.capacity,
                "equipment": unit_day.unit.equipment,
                "slot_minutes": unit_day.unit.slot_minutes,
                "min_minutes": unit_day.unit.min_minutes,
                "max_minutes": unit_day.unit.max_minutes,
                "slots": [
                    {
                        "start": format_api_time(slot.start),
                        "end": format_api_time(slot.end),
                        "available": slot.available,
                        "price": slot.price,
                    }
                    for slot in unit_day.slots
                ],
            }
            for unit_day in units
        ],
    )


def _workspace_json(booking: WorkspaceBooking, now: datetime) -> dict:
    """A workspace booking as the API answers it, with its cancellation terms as of now."""
    terms = workspace_terms(booking.total_price, booking.starts_at)
    return {
        "id": booking.id,
        "status": booking.status,
        "unit_id": booking.unit_id,
        "facility_id": booking.unit.facility_id,
        "start": format_api_time(booking.starts_at),
        "end": format_api_time(booking.ends_at),
        "minutes": booking.minutes,
        "total_price": booking.total_price,
        "base_price": booking.base_price,
        "price_reasons": [code for code in booking.price_reasons.split(",") if code],
        "refunded": booking.refunded,
        "created_at": format_api_time(booking.created_at),
        "checked_in_at": format_api_time(booking.checked_in_at) if booking.checked_in_at else None,
        "cancelled_at": format_api_time(booking.cancelled_at) if booking.cancelled_at else None,
        # Everything back until free_until, late_refund_percent % from then until the start.
        "cancellation_policy": {
            "free_until": format_api_time(terms.free_until),
            "late_refund_percent": LATE_REFUND_PERCENT,
        },
        "refund_if_cancelled_now": cancel_refund(booking, now) if may_cancel(booking, now) else 0,
    }


def _time_field(body: dict, name: str) -> datetime:
    """An RFC 3339 time with its offset; 400 when left out or absurdly far, 422
    ``invalid_time`` when it is not such a time (no offset, no such day)."""
    raw = body.get(name)
    if raw is None or raw == "":
        raise ApiError(400, "missing_field", f"'{name}' is required (e.g. 2026-12-07T14:00+09:00).")
    try:
        moment = parse_api_time(raw)
    except SlotError as exc:
        raise ApiError(422, exc.code, str(exc.message)) from None
    except OverflowError:  # a valid time whose UTC falls off the calendar
        raise ApiError(400, "out_of_range", f"'{name}' is out of range.") from None
    if not EARLIEST_TIME <= moment < LATEST_TIME:
        raise ApiError(400, "out_of_range", f"'{name}' is out of range.")
    return moment


def _request_key(body: dict) -> str | None:
    """``request_key`` of the body, else the ``Idempotency-Key`` header (as for stays)."""
    key = body.get("request_key")
    if key is None:
        key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        return None
    if not isinstance(key, str) or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"The request key is text of at most {MAX_IDEMPOTENCY_KEY} characters.",
        )
    return key


def _raise_workspace_error(exc: RuleError):
    if isinstance(exc, SlotTaken):
        status = 409
    elif isinstance(exc, CreditRefused):
        status = 402  # the company's subscription or credit
    elif isinstance(exc, SlotError):
        status = 422
    else:
        status = {
            services.PriceChanged: 409,
            services.BookingNotFound: 404,
            services.BookingForbidden: 403,
        }.get(type(exc), 422)
        if exc.code in ("not_cancellable", "not_changeable"):
            status = 409  # the booking's state, not the request, refuses it
    raise ApiError(status, exc.code, str(exc.message))


@bp.post("/workspace-bookings")
@limits.booking_action
def create_workspace_booking():
    """Book one unit for ``[start, end)``: 201 with the booking, charged to the company's
    stay credit. The same ``request_key`` again answers the first booking."""
    body = _json_object()
    unit_id = _int_arg(body, "unit_id", None, MIN_ID, MAX_ID)
    if unit_id is None:
        raise ApiError(400, "missing_field", "'unit_id' is required.")
    starts_at = _time_field(body, "start")
    ends_at = _time_field(body, "end")
    expected_total = _int_arg(body, "expected_total", None, MIN_EXPECTED_TOTAL, MAX_EXPECTED_TOTAL)
    key = _request_key(body)
    now = edge_now()
    try:
        (booking,) = book_workspace(
            g.api_user,
            [WorkspaceRequest(unit_id, starts_at, ends_at)],
            now,
            request_key=key,
            horizon_days=current_app.config["BOOKING_HORIZON_DAYS"],
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
            expected_total=expected_total,
        )
    except RuleError as exc:  # SlotError, SlotTaken, BookingError, CreditRefused
        db.session.rollback()
        if announce.record_refusal(g.api_user, exc, edge_now()) is not None:
            db.session.commit()
        _raise_workspace_error(exc)
    payload = _workspace_json(booking, now)  # before the commit expires what it reads
    db.session.commit()
    return jsonify(payload), 201


@bp.get("/workspace-bookings")
def list_workspace_bookings():
    """The caller's workspace bookings, soonest first."""
    now = edge_now()
    return jsonify(bookings=[_workspace_json(b, now) for b in bookings_of(g.api_user)])


def _own(booking_id: int, *, lock: bool = False) -> WorkspaceBooking:
    try:
        return workspace_booking_of(g.api_user, booking_id, lock=lock)
    except services.BookingNotFound:
        raise ApiError(404, "not_found", "No such workspace booking.") from None


@bp.get("/workspace-bookings/<int:booking_id>")
def get_workspace_booking(booking_id: int):
    return jsonify(_workspace_json(_own(booking_id), edge_now()))


@bp.patch("/workspace-bookings/<int:booking_id>")
@limits.booking_action
def change_workspace_booking(booking_id: int):
    """Move a booking to another time, or another unit of its facility (``unit_id`` left
    out: the same unit), until 24 hours before its current start: 200 with the booking at
    its new time and ``change``, what the difference did to the company's credit. The
    time it already has answers the booking with nothing moved (a retried PATCH)."""
    booking = _own(booking_id)  # somebody else's id: 404 whatever the body
    body = _json_object()
    unit_id = _int_arg(body, "unit_id", booking.unit_id, MIN_ID, MAX_ID)
    starts_at = _time_field(body, "start")
    ends_at = _time_field(body, "end")
    expected_total = _int_arg(body, "expected_total", None, MIN_EXPECTED_TOTAL, MAX_EXPECTED_TOTAL)
    now = edge_now()
    try:
        result = change_workspace(
            g.api_user,
            booking_id,
            unit_id,
            starts_at,
            ends_at,
            now,
            expected_total=expected_total,
            horizon_days=current_app.config["BOOKING_HORIZON_DAYS"],
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
        )
    except RuleError as exc:  # SlotError, SlotTaken, BookingError, CreditRefused
        db.session.rollback()
        if exc.code == "unchanged":
            payload = _workspace_json(_own(booking_id), now)
            payload["change"] = dict.fromkeys(("difference", "charged", "refunded", "kept"), 0) | {
                "old_total": payload["total_price"],
                "new_total": payload["total_price"],
            }
            return jsonify(payload)
        _raise_workspace_error(exc)
    money = result.money
    payload = _workspace_json(result.booking, now)  # before the commit expires what it reads
    payload["change"] = {
        "old_total": money.old_total,
        "new_total": money.new_total,
        "difference": money.difference,
        "charged": money.charged,
        "refunded": money.refunded,
        "kept": 0,  # documented; a change happens in the free window, so nothing is kept
    }
    db.session.commit()
    return jsonify(payload)


@bp.delete("/workspace-bookings/<int:booking_id>")
@limits.booking_action
def cancel_workspace_booking(booking_id: int):
    """Cancel before the start: the time is free again at once, and the company gets back
    what the workspace policy returns (all until 24 hours before, half after). Answers the
    cancelled booking and ``refund``, the yen returned."""
    now = edge_now()
    booking = _own(booking_id)  # somebody else's id: 404
    try:
        refund = cancel_workspace(booking, now, g.api_user)
    except RuleError as exc:
        db.session.rollback()
        _raise_workspace_error(exc)
    payload = _workspace_json(booking, now) | {"refund": refund}
    db.session.commit()
    return jsonify(payload)
