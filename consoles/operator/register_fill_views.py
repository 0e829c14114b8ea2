"""The operator fills in the guest register of a stay of its own facilities (the guest
did not, or the front desk corrects it at check-in), and sees its passport images.

The same page and rules as the employee's (``booking.register_views``), in the console's
layout, on the console's blueprint (signed-in operators only); another organisation's
stay answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from flask import abort, request, url_for
from flask_login import current_user

from booking import guest_register
from booking.models import Booking
from booking.register_views import (
    RegisterPage,
    passport_response,
    register_page,
    save_register_form,
)
from booking.services import BookingNotFound
from consoles.operator.views import bp
from core import input_guard
from core.extensions import csrf


def _stay_or_404(booking_id: int) -> Booking:
    try:
        return guest_register.operator_stay(current_user, booking_id)
    except BookingNotFound:
        abort(404)


def _page(booking: Booking) -> RegisterPage:
    return RegisterPage(
        template="operator/register_fill.html",
        console=True,
        endpoint="operator.booking_register",
        passport_endpoint="operator.booking_register_passport",
        back_url=url_for("operator.booking", booking_id=booking.id),
    )


@bp.route("/bookings/<int:booking_id>/guests", methods=["GET", "POST"], endpoint="booking_register")
@csrf.exempt  # checked in save_register_form, once the larger body limit applies
@input_guard.defer_body_check  # likewise
def booking_register(booking_id: int):
    booking = _stay_or_404(booking_id)
    if request.method == "POST":
        return save_register_form(booking, _page(booking))
    return register_page(booking, _page(booking))


@bp.get("/bookings/<int:booking_id>/guests/<int:guest_id>/passport")
def booking_register_passport(booking_id: int, guest_id: int):
    return passport_response(_stay_or_404(booking_id), guest_id)
