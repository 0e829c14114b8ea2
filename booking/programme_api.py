"""Regional programmes over JSON API v1 (issue 20): the sessions on offer, and the
caller's place in one (join, or wait; leave).

Routes on the API blueprint (``booking.api.bp``: bearer tokens, its error shape, its rate
limits); the rules are ``regions.programmes``' (what is offered) and ``regions.places``'
(join, leave). Each entry of the list is one session (``id`` is the session's id;
``programme_id`` its programme's), and the sign-up paths name the session. Times are
RFC 3339 in Japan time (``+09:00``).

Answers: joined 201; put on the waitlist (``"waitlist": true`` and the session full)
202; full without asking to wait 409 ``full``; the session's state (begun, cancelled,
already joined) 409; a rule of the programme (a stay needed, more participants than
seats, a stay that does not cover the day) 422; the company's credit 402; a session
or stay that is not there, or somebody else's, 404.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, g, jsonify, request

from availability.slots import format_api_time
from booking.api import MIN_ID, _date_arg, _int_arg, _json_object, bp
from booking.programme_forms import EARLIEST_DAY, LATEST_DAY
from booking.programme_views import stay_for_session
from booking.services import BookingNotFound
from core import limits
from core.db import MAX_ID, edge_now, in_id_range, tokyo_today
from core.errors import ApiError, RuleError
from core.extensions import db
from facilities import municipalities
from facilities.regions import PREFECTURES_BY_CODE
from regions import places, programme_money, programmes
from regions.models import ProgrammeSession, ProgrammeSignup, SignupStatus

MIN_PREFECTURE = min(PREFECTURES_BY_CODE)
MAX_PREFECTURE = max(PREFECTURES_BY_CODE)
DEFAULT_DAYS = 180  # ``to`` left out: this many days after ``from``
MAX_DAYS = 366  # ``from`` to ``to`` at most


def _session_json(session: ProgrammeSession, locale: str) -> dict:
    programme = session.programme
    return {
        "id": session.id,
        "programme_id": programme.id,
        "title": programme.title(locale),
        "kind": programme.kind,
        "municipality": programme.municipality_code,
        "prefecture": programme.prefecture,
        "starts_at": format_api_time(session.starts_at),
        "ends_at": format_api_time(session.ends_at),
        "capacity": session.capacity,
        "seats_left": session.seats_left,
        "price": programme.price,
        "price_kind": programme.price_kind,
        "language": programme.language,
        "stay_required": programme.stay_required,
    }


def _signup_json(signup: ProgrammeSignup) -> dict:
    return {
        "id": signup.id,
        "session_id": signup.session_id,
        "status": signup.status,
        "participants": signup.participants,
        "fee": signup.fee,
        "booking_id": signup.booking_id,
        "waitlist_position": programmes.waitlist_position(signup),
        "joined_at": format_api_time(signup.joined_at) if signup.joined_at else None,
        "waitlisted_at": format_api_time(signup.waitlisted_at) if signup.waitlisted_at else None,
    }


def _window(args) -> tuple[date, date]:
    today = tokyo_today(edge_now())
    start = _date_arg(args, "from", required=False) or today
    if not EARLIEST_DAY <= start <= LATEST_DAY:
        raise ApiError(400, "out_of_range", "'from' and 'to' must lie in 2000–2099.")
    end = _date_arg(args, "to", required=False) or start + timedelta(days=DEFAULT_DAYS)
    if not EARLIEST_DAY <= end <= LATEST_DAY:
        raise ApiError(400, "out_of_range", "'from' and 'to' must lie in 2000–2099.")
    if end < start:
        raise ApiError(400, "dates_order", "'to' must not be before 'from'.")
    if (end - start).days > MAX_DAYS:
        raise ApiError(400, "out_of_range", f"'from' to 'to' is at most {MAX_DAYS} days.")
    return start, end


@bp.get("/programmes")
def programmes_list():
    """Sessions of published programmes still ahead, soonest first: by prefecture (JIS
    X 0401) or municipality (全国地方公共団体コード), starting on a Japan date from ``from``
    to ``to`` (both included; default today and 180 days on)."""
    args = request.args
    prefecture = _int_arg(args, "prefecture", None, MIN_PREFECTURE, MAX_PREFECTURE)
    municipality = args.get("municipality") or None
    if municipality is not None and not municipalities.is_valid_code(municipality):
        raise ApiError(
            400,
            "invalid_municipality",
            "'municipality' is a local government code: six digits with its check digit.",
        )
    start, end = _window(args)
    sessions = programmes.published_sessions(
        prefecture=prefecture, municipality_code=municipality, start=start, end=end, now=edge_now()
    )
    locale = g.api_user.locale or "ja"
    return jsonify(programmes=[_session_json(s, locale) for s in sessions])


def _offered_session(session_id: int) -> ProgrammeSession:
    session = db.session.get(ProgrammeSession, session_id) if in_id_range(session_id) else None
    if session is None or programmes.offered_programme(session.programme_id) is None:
        raise ApiError(404, "not_found", "No such programme session.")
    return session


def _raise_programme_error(exc: RuleError):
    """A refusal of ``regions.programmes`` (or the stay check) as the API's answer."""
    code = exc.code
    message = str(exc.message)
    if isinstance(exc, programmes.ProgrammeNotFound | BookingNotFound):
        raise ApiError(404, "not_found", message)
    if isinstance(exc, programmes.ProgrammeForbidden):
        raise ApiError(403, "forbidden", message)
    if isinstance(exc, programme_money.ProgrammeCreditRefused):
        if code == "policy":  # the company does not pay programmes from its credit
            raise ApiError(402, "programme_policy", message)
        if code == "already_refunded":
            raise ApiError(409, "already_refunded", message)
        if code == "subscription":
            raise ApiError(402, "subscription", message)
        if code == "company_inactive":
            raise ApiError(402, "company_inactive", message)
        raise ApiError(402, "credit", message)
    if code == "full":
        raise ApiError(409, "full", message)
    if code == "already_joined":
        raise ApiError(409, "already_joined", message)
    if code == "not_joined":
        raise ApiError(409, "not_joined", message)
    if code in ("started", "cancelled"):
        raise ApiError(409, "not_open", message)
    if code == "stay_required":
        raise ApiError(422, "stay_required", message)
    if code == "stay_dates":
        raise ApiError(422, "stay_dates", message)
    if code == "capacity":
        raise ApiError(422, "capacity", message)
    if code == "rejoin_participants":
        raise ApiError(422, "rejoin_participants", message)
    raise ApiError(422, "invalid", message)


def _waitlist_field(body: dict) -> bool:
    value = body.get("waitlist", False)
    if not isinstance(value, bool):
        raise ApiError(400, "invalid_boolean", "'waitlist' must be true or false.")
    return value


@bp.post("/programmes/<int:session_id>/signups")
@limits.booking_action
def join_programme(session_id: int):
    """Join a session for the caller and companions (``participants`` in all): 201 with
    the place; 202 on the waitlist when it is full and ``waitlist`` is true."""
    session = _offered_session(session_id)
    body = _json_object()
    participants = _int_arg(
        body, "participants", None, programmes.MIN_PARTICIPANTS, programmes.MAX_PARTICIPANTS
    )
    if participants is None:
        raise ApiError(400, "missing_field", "'participants' is required.")
    waitlist = _waitlist_field(body)
    booking_id = _int_arg(body, "booking_id", None, MIN_ID, MAX_ID)
    user = g.api_user
    try:
        booking_id, has_stay = stay_for_session(user, session, booking_id)
        signup = places.join(
            session.id,
            user,
            participants,
            edge_now(),
            booking_id=booking_id,
            has_stay=has_stay,
            waitlist=waitlist,
            grace_days=current_app.config["BILLING_GRACE_DAYS"],
        )
    except RuleError as exc:
        db.session.rollback()
        _raise_programme_error(exc)
    payload = _signup_json(signup)  # before the commit expires what it reads
    db.session.commit()
    return jsonify(signup=payload), 202 if signup.status == SignupStatus.WAITLISTED else 201


@bp.delete("/programmes/<int:session_id>/signups")
@limits.booking_action
def leave_programme(session_id: int):
    """Leave the session (or its waitlist): 200 with the place and ``refund``, the yen
    returned to the company's credit (a credit-paid fee, in full until 24 hours before
    the start; after that nothing)."""
    signup = programmes.signup_in_session(session_id, g.api_user.id)
    if signup is None:
        raise ApiError(404, "not_found", "You have no place in this session.")
    try:
        refund = places.leave(signup.id, g.api_user.id, edge_now())
    except RuleError as exc:
        db.session.rollback()
        _raise_programme_error(exc)
    payload = _signup_json(signup) | {"refund": refund}
    db.session.commit()
    return jsonify(signup=payload, refund=refund)
