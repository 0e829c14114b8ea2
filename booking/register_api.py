"""The guest register (宿泊者名簿) of the caller's own stay over JSON API v1:
``PUT /api/v1/bookings/<id>/guests``, every guest checked, the stored register answered.

Routes on the API blueprint (``booking.api.bp``: bearer tokens, its error shape); the
rules are ``booking.guest_register``'s and ``lodging.register``'s.
"""

from __future__ import annotations

from flask import g, jsonify

from booking import guest_register
from booking.api import _invalid_fields, _json_object, _own, bp
from core.db import edge_now, tokyo_today
from core.errors import ApiError
from core.extensions import db
from lodging import register
from lodging.guests import FIELDS as GUEST_FIELDS
from lodging.guests import JAPAN, GuestDetails, clean_guest
from lodging.register import StoredGuest


def _register_json(lines: list[StoredGuest]) -> list[dict]:
    """The stored register as the API answers it (never the passport images)."""
    return [
        {
            "position": line.position,
            **line.details.as_json(),
            "passport_image": line.has_passport_image,
        }
        for line in lines
    ]


def _lives_abroad(item: dict) -> bool | None:
    """``lives_abroad`` as sent; left out (or null), a foreign national who gives a passport
    number lives abroad, so the number is kept and its image is then required."""
    if item.get("lives_abroad") is not None:
        return item["lives_abroad"]
    nationality, passport = item.get("nationality"), item.get("passport_number")
    given = passport.strip() if isinstance(passport, str) else passport is not None
    foreign = isinstance(nationality, str) and nationality.strip().upper() not in ("", JAPAN)
    return foreign and bool(given)  # (a field that is not text: clean_guest names it)


def _guests_body(body: dict, guest_count: int) -> list[GuestDetails]:
    """Every guest of the stay from ``{"guests": [...]}``, checked; else 422 ``invalid``
    naming each refused field (``guests[1].phone``)."""
    raw = body.get("guests")
    if not isinstance(raw, list):
        raise _invalid_fields(
            {"guests": "A list of the stay's guests is required."},
            "'guests' must be a list of the stay's guests.",
        )
    if len(raw) != guest_count:
        message = f"This stay has {guest_count} guests: give the details of each of them."
        raise _invalid_fields({"guests": message}, message)
    guests: list[GuestDetails] = []
    fields: dict[str, str] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            fields[f"guests[{index}]"] = "Each guest is a JSON object."
            continue
        if not isinstance(item.get("lives_abroad", False), bool | None):
            fields[f"guests[{index}].lives_abroad"] = "'lives_abroad' is true or false."
            continue
        details, errors = clean_guest(
            {k: item.get(k) for k in GUEST_FIELDS} | {"lives_abroad": _lives_abroad(item)}
        )
        for name, message in errors.items():
            fields[f"guests[{index}].{name}"] = str(message)
        if details is not None:
            guests.append(details)
    if fields:
        raise _invalid_fields(
            fields, "Some guests' details are missing or not valid: see 'fields'."
        )
    return guests


@bp.put("/bookings/<int:booking_id>/guests")
def put_guests(booking_id: int):
    """Fill in the guest register of the caller's own stay: every guest, the booker
    first. The passport images go through the web page. Answers the stored register
    and what it still lacks (a passport image) before check-in."""
    booking = _own(booking_id)  # somebody else's id: 404 whatever the body
    now = edge_now()
    try:
        guest_register.check_editable(booking, tokyo_today(now))
        guests = _guests_body(_json_object(), booking.guests)
        lines = guest_register.save_register(g.api_user, booking, guests, now, every_guest=True)
    except guest_register.RegisterError as exc:
        db.session.rollback()
        if exc.code == "not_needed":
            raise ApiError(409, "not_needed", str(exc.message)) from None
        raise ApiError(409, "not_editable", str(exc.message)) from None
    missing = [str(m) for m in register.missing(booking.id, booking.guests)]
    payload = {
        "booking_id": booking.id,
        "guests": _register_json(lines),
        "register_complete": not missing,
        "missing": missing,
    }
    db.session.commit()
    return jsonify(payload)
