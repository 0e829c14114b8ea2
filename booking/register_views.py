"""The guest register's pages: the employee fills in the guests of their own stay, and
the facility's operator fills in a stay of its own facilities (the operator console's
route calls ``register_page`` and ``save_register_form`` here with its own page).

A page shows one block per guest of the stay, prefilled from the register (the first
from the booker's name while it is empty); a save replaces the register and seals the
passport images uploaded with it. Nothing is saved unless every block that was started
is valid; the refusals sit on their fields. The passport image is served only to the
booker and the facility's operator, never cached and never sniffed as anything else.
Every read and write is recorded (``booking.guest_register``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from booking import guest_register
from booking.models import Booking
from booking.register_forms import (
    PASSPORT_INPUT_MAX,
    PHONE_INPUT_MAX,
    RegisterForm,
    block_is_empty,
    block_upload,
    block_values,
    has_errors,
    mark_errors,
    register_form,
)
from booking.services import BookingError, BookingNotFound
from booking.views import bp
from core import input_guard
from core.db import edge_now, tokyo_today
from core.extensions import csrf, db
from core.i18n import current_locale
from lodging import passport, register
from lodging.guests import (
    MAX_ADDRESS,
    MAX_NAME,
    GuestDetails,
    clean_guest,
    format_phone,
    nationality_name,
)

MAX_UPLOADS = 5  # passport images one save may carry, each up to the size cap
BODY_ROOM = 256 * 1024  # the form's text beside the images


@dataclass(frozen=True)
class RegisterPage:
    """What differs between the employee's page and the operator's."""

    template: str
    console: bool  # in the operator console's layout
    endpoint: str  # the page itself (GET shows, POST saves)
    passport_endpoint: str
    back_url: str


# --- shared by both pages ----------------------------------------------------------------


def register_page(booking: Booking, page: RegisterPage, form: RegisterForm | None = None):
    """The register of the stay, read and recorded; ``form``: a refused save shown again."""
    now = edge_now()
    today = tokyo_today(now)
    needed = guest_register.needs_register(booking)
    lines = guest_register.read_register(current_user, booking, "view", now) if needed else []
    db.session.commit()
    status = 200
    if form is None:
        form = register_form(
            booking.guests, current_locale(), lines=lines, booker_name=booking.user.name
        )
    else:
        status = 422
    locale = current_locale()
    missing = register.missing(booking.id, booking.guests) if needed else []
    return render_template(
        page.template,
        booking=booking,
        facility=booking.unit.facility,
        form=form,
        lines={line.position: line for line in lines},
        needed=needed,
        editable=guest_register.editable(booking, today),
        missing=missing,
        refused=status == 422,
        page=page,
        console=page.console,
        nationality=lambda code: nationality_name(code, locale),
        phone_text=format_phone,
        max_name=MAX_NAME,
        max_address=MAX_ADDRESS,
        max_phone=PHONE_INPUT_MAX,
        max_passport=PASSPORT_INPUT_MAX,
        passport_mb=passport.passport_mb(),
    ), status


def _read_blocks(form: RegisterForm) -> tuple[list[GuestDetails], dict[int, bytes]]:
    """The guests of the started blocks (in order) and their passport images by index
    into that list; the refusals put on the fields."""
    guests: list[GuestDetails] = []
    images: dict[int, bytes] = {}
    for entry in form.guests:
        block = entry.form
        if block_is_empty(block):
            continue
        details, errors = clean_guest(block_values(block))
        errors = dict(errors)
        upload = block_upload(block)
        data = None
        if upload is not None and details is not None:
            if not details.needs_passport:
                errors["passport"] = _l(
                    "Only a foreign guest who lives abroad needs a passport image."
                )
            else:
                try:
                    data = passport.read_upload(upload.stream)
                    passport.check_passport_image(data)
                except passport.PassportImageError as refused:
                    errors["passport"] = refused.message
        if errors or details is None:
            mark_errors(block, errors)
            continue
        if data is not None:
            images[len(guests)] = data
        guests.append(details)
    return guests, images


def save_register_form(booking: Booking, page: RegisterPage):
    """Save the posted register (the caller found the stay and checked whose it is)."""
    back = redirect(url_for(page.endpoint, booking_id=booking.id), 303)
    if not guest_register.editable(booking, tokyo_today(edge_now())):
        flash(_("This stay's guest register can no longer be changed."), "error")
        return back
    request.max_content_length = (
        passport.MAX_PASSPORT_BYTES * min(booking.guests, MAX_UPLOADS) + BODY_ROOM
    )
    try:
        input_guard.check_body()
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        form = register_form(booking.guests, current_locale(), posted=True)
        form.validate()
        guests, images = _read_blocks(form)
    except RequestEntityTooLarge:
        flash(
            _(
                "Nothing was saved: upload at most %(n)d passport images at once,"
                " each up to %(mb)d MB.",
                n=MAX_UPLOADS,
                mb=passport.passport_mb(),
            ),
            "error",
        )
        return back
    if has_errors(form):
        return register_page(booking, page, form)
    try:
        guest_register.save_register(current_user, booking, guests, edge_now(), passports=images)
    except (BookingError, passport.PassportImageError) as refused:
        db.session.rollback()
        flash(str(refused.message), "error")
        return back
    db.session.commit()
    flash(_("The guest register has been saved."), "success")  # the page says what is missing
    return back


def passport_response(booking: Booking, guest_id: int) -> Response:
    """The image of a guest's passport: never cached, never sniffed as anything else."""
    try:
        data, content_type = guest_register.passport_of(current_user, booking, guest_id, edge_now())
    except BookingNotFound:
        abort(404)
    db.session.commit()
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response


# --- the employee's pages ----------------------------------------------------------------


def _own_stay(booking_id: int) -> Booking:
    try:
        return guest_register.employee_stay(current_user, booking_id)
    except BookingNotFound:
        abort(404)


def _employee_page(booking: Booking) -> RegisterPage:
    return RegisterPage(
        template="booking/register.html",
        console=False,
        endpoint="booking.stay_register",
        passport_endpoint="booking.stay_register_passport",
        back_url=url_for("booking.stay", booking_id=booking.id),
    )


@bp.route("/stays/<int:booking_id>/guests", methods=["GET", "POST"], endpoint="stay_register")
@csrf.exempt  # checked in save_register_form, once the larger body limit applies
@input_guard.defer_body_check  # likewise
def stay_register(booking_id: int):
    booking = _own_stay(booking_id)
    if request.method == "POST":
        return save_register_form(booking, _employee_page(booking))
    return register_page(booking, _employee_page(booking))


@bp.get("/stays/<int:booking_id>/guests/<int:guest_id>/passport")
def stay_register_passport(booking_id: int, guest_id: int):
    return passport_response(_own_stay(booking_id), guest_id)
