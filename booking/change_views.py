"""Change or cancel a stay: the employee's pages, the money stated before confirming.

Routes on the employee blueprint (``booking.views.bp``, signed-in members only). The
rules and the money are ``booking.changes``' (``quote_change``, ``change_booking``),
``booking.terms``' (``cancellation_terms``) and ``booking.cancellation``'s
(``cancel_booking``, ``refund_preview``); these views parse, authorise (somebody else's
stay is 404), call one service and commit once. A co-paid stay is not changed here
(``booking.changes.COPAID_REFUSAL``); cancelling it states both refunds, the company's
and the employee's card's, before and after, and sends the card's refund to the payment
provider after the commit (``billing.copay``), as it ends the open Checkout of a stay
withdrawn while it waited for the employee's payment. A change the company's HR rules
would not let through as it stands (a part for the employee to pay, an approval) is
refused on the preview, before anything is confirmed (``rebook``), with the ways on:
cancel this stay, see the new dates as a new booking.

The desks booked with the stay (issue 19) follow it (``booking.workspace_follow``): both
pages list the desks the action cancels and the yen each returns, from the same rule the
action applies; the confirm form carries the total shown, and an action that would return
another amount (a desk's refund band passed meanwhile) is undone and the page shown again.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

from billing.copay import expire_checkout, send_owed_refund
from billing.ledger import card_held, stay_payment_of
from booking import cancellation, changes, lookups, services
from booking.forms import QuoteForm, StayForm
from booking.models import Booking
from booking.services import MAX_GUESTS
from booking.terms import cancellation_terms, stay_terms
from booking.views import bp
from booking.workspace_follow import (
    desks_cancelled_at,
    desks_dropped_by_change,
    desks_refund_if_ended,
    total_refund,
)
from core import limits
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_yen, format_yen_plain

MAX_DIFFERENCE = 10**10  # yen, either way: far beyond any stay

# Which field a refusal is about, so the form marks it (the message is shown above).
ERROR_FIELDS = {
    "dates_order": "check_out",
    "dates_past": "check_in",
    "dates_horizon": "check_in",
    "min_nights": "check_out",
    "max_nights": "check_out",
    "policy_stay": "check_out",
    "policy_month": "check_out",
    "taken": "check_in",
    "guests": "guests",
    "capacity": "guests",
    "companions": "guests",
    "other_facility": "unit_id",
    "not_found": "unit_id",
}


class ChangeForm(QuoteForm):
    """The stay asked for, read from the query string to preview a change (no CSRF:
    a GET changes nothing)."""


class ConfirmChangeForm(StayForm):
    """The previewed change, posted to confirm it (CSRF-protected)."""

    # The difference the employee was shown: a price that moved since is not settled unseen.
    expected_difference = IntegerField(
        validators=[Optional(), NumberRange(-MAX_DIFFERENCE, MAX_DIFFERENCE)]
    )
    # The amount shown as charged (+) or returned (−): a policy band passed since (the
    # free-cancellation date's midnight) is not settled unseen either.
    expected_net = IntegerField(
        validators=[Optional(), NumberRange(-MAX_DIFFERENCE, MAX_DIFFERENCE)]
    )
    # The accommodation tax shown as charged (+) or given back (−) with the change.
    expected_tax = IntegerField(
        validators=[Optional(), NumberRange(-MAX_DIFFERENCE, MAX_DIFFERENCE)]
    )
    # What the desks on the days the change drops were shown to return.
    expected_desks_refund = IntegerField(validators=[Optional(), NumberRange(0, MAX_DIFFERENCE)])


class CancelForm(EmptyForm):
    """The cancel button, with the refunds the employee was shown (the company's credit's
    and, for a co-paid stay, their card's)."""

    expected_refund = IntegerField(validators=[Optional(), NumberRange(0, MAX_DIFFERENCE)])
    expected_employee_refund = IntegerField(validators=[Optional(), NumberRange(0, MAX_DIFFERENCE)])
    # What the stay's desks were shown to return (the workspace policy).
    expected_desks_refund = IntegerField(validators=[Optional(), NumberRange(0, MAX_DIFFERENCE)])


def _own(booking_id: int) -> Booking:
    try:
        return lookups.booking_of(current_user, booking_id)
    except services.BookingNotFound:
        abort(404)


def _rules() -> dict:
    return {
        "horizon_days": current_app.config["BOOKING_HORIZON_DAYS"],
        "grace_days": current_app.config["BILLING_GRACE_DAYS"],
    }


def _stay(form: StayForm) -> services.StayRequest:
    return services.StayRequest(
        form.unit_id.data, form.check_in.data, form.check_out.data, form.guests.data
    )


def _change_page(
    booking: Booking,
    form: StayForm,
    *,
    quote: changes.ChangeQuote | None = None,
    error: services.BookingError | None = None,
    status: int = 200,
):
    """The change form (values kept, a refusal stated above it), with the preview if any."""
    now = edge_now()
    today = tokyo_today(now)
    confirm = None
    desks = []
    if quote is not None:
        # The desks on the days the new dates leave out, as the change would cancel them.
        desks = desks_dropped_by_change(booking, quote.stay.check_in, quote.stay.check_out, now)
        confirm = ConfirmChangeForm(formdata=None)
        confirm.expected_difference.data = quote.money.difference
        confirm.expected_net.data = quote.money.charged - quote.money.refunded
        confirm.expected_tax.data = quote.tax_after - quote.tax_before
        confirm.expected_desks_refund.data = total_refund(desks)
    units = [u for u in booking.unit.facility.units if u.active or u.id == booking.unit_id]
    return render_template(
        "booking/change.html",
        booking=booking,
        form=form,
        units=units,
        quote=quote,
        confirm=confirm,
        desks=desks,
        desks_refund=total_refund(desks),
        error=error,
        error_field=ERROR_FIELDS.get(error.code) if error is not None else None,
        # The terms the stay will have after the change (its new check-in's dates).
        new_terms=stay_terms(quote.stay.check_in, today, tokyo_today(booking.created_at))
        if quote is not None
        else None,
        today=today,
        max_guests=MAX_GUESTS,
    ), status


def _not_changeable(booking: Booking):
    if booking.employee_part and booking.is_confirmed:
        flash(str(changes.COPAID_REFUSAL), "error")
    else:
        flash(_("This stay has begun or was cancelled, so it can no longer be changed."), "error")
    return redirect(url_for("booking.stay", booking_id=booking.id), 303)


def _changeable(booking: Booking) -> bool:
    """A confirmed stay not begun that the employee paid nothing of (``changes``)."""
    return lookups.can_change(booking, tokyo_today(edge_now())) and not booking.employee_part


@bp.get("/stays/<int:booking_id>/change")
def change(booking_id: int):
    """The change form, filled with the stay as it is."""
    booking = _own(booking_id)
    if not _changeable(booking):
        return _not_changeable(booking)
    form = ChangeForm(
        formdata=None,
        unit_id=booking.unit_id,
        check_in=booking.check_in,
        check_out=booking.check_out,
        guests=booking.guests,
    )
    return _change_page(booking, form)


@bp.get("/stays/<int:booking_id>/change/preview")
def change_preview(booking_id: int):
    """The stay after the change, night by night, and what it does to the company's credit."""
    booking = _own(booking_id)
    if not _changeable(booking):
        return _not_changeable(booking)
    form = ChangeForm(request.args)
    if not form.validate():
        error = services.BookingError(_("Please check the fields below."), "invalid")
        return _change_page(booking, form, error=error, status=400)
    try:
        quote = changes.quote_change(current_user, booking.id, _stay(form), edge_now(), **_rules())
    except services.BookingError as exc:  # a missing room too: the stay itself is ours
        return _change_page(booking, form, error=exc, status=422)
    return _change_page(booking, form, quote=quote)


@bp.post("/stays/<int:booking_id>/change")
@limits.booking_action
def change_confirm(booking_id: int):
    booking = _own(booking_id)
    form = ConfirmChangeForm()
    if not form.validate():
        error = services.BookingError(
            _("The change form was incomplete or had expired. Please try again."), "invalid"
        )
        return _change_page(booking, form, error=error, status=400)
    now = edge_now()
    try:
        result = changes.change_booking(
            current_user,
            booking.id,
            _stay(form),
            now,
            expected_difference=form.expected_difference.data,
            expected_net=form.expected_net.data,
            expected_tax=form.expected_tax.data,
            **_rules(),
        )
    except services.BookingError as exc:
        db.session.rollback()
        return _refused_change(booking, form, exc)
    desks_refund = _desks_refunded(booking.id, now)
    if _desks_moved(form.expected_desks_refund.data, desks_refund):
        db.session.rollback()
        return _refused_change(booking, form, _desks_changed_error())
    db.session.commit()
    message = _change_outcome(result)
    if desks_refund is not None:
        message += " " + _desks_outcome(*desks_refund)
    flash(message, "success")
    return redirect(url_for("booking.stay", booking_id=booking.id), 303)


def _refused_change(booking: Booking, form: StayForm, exc: services.BookingError):
    if exc.code == "unchanged":  # sent twice: the first one did it
        flash(_("Your stay already has these dates, room and guests."), "info")
        return redirect(url_for("booking.stay", booking_id=booking.id), 303)
    if exc.code in ("not_changeable", "copaid"):
        return _not_changeable(booking)
    conflict = isinstance(exc, services.BookingConflict | services.PriceChanged)
    quote = None
    if isinstance(exc, services.PriceChanged):  # show the new amounts beside the refusal
        try:
            quote = changes.quote_change(
                current_user, booking.id, _stay(form), edge_now(), **_rules()
            )
        except services.BookingError:
            quote = None
    return _change_page(booking, form, quote=quote, error=exc, status=409 if conflict else 422)


# --- the stay's desks -------------------------------------------------------------------


def _desks_refunded(booking_id: int, now) -> tuple[int, int] | None:
    """How many of the stay's desks the action at ``now`` cancelled and the yen they
    returned, read back from the desks themselves; None when it cancelled none."""
    desks = desks_cancelled_at(booking_id, now)
    if not desks:
        return None
    return len(desks), sum(d.refunded for d in desks)


def _desks_moved(expected: int | None, done: tuple[int, int] | None) -> bool:
    """The desks returned another amount than the page showed (a form without the field,
    posted before desks were shown, is not checked)."""
    return expected is not None and expected != (done[1] if done is not None else 0)


def _desks_changed_error() -> services.PriceChanged:
    return services.PriceChanged(
        _(
            "What the desks booked with your stay return has changed since you looked"
            " (a desk's free-cancellation time has passed). Nothing was changed: see the"
            " new amounts below."
        ),
        "price_changed",
    )


def _desks_outcome(count: int, refunded: int) -> str:
    if refunded:
        return ngettext(
            "%(num)d desk booked with the stay was cancelled; %(amount)s was returned to"
            " your company's credit.",
            "%(num)d desks booked with the stay were cancelled; %(amount)s was returned to"
            " your company's credit.",
            count,
            amount=format_yen(refunded),
        )
    return ngettext(
        "%(num)d desk booked with the stay was cancelled; nothing was returned for it.",
        "%(num)d desks booked with the stay were cancelled; nothing was returned for them.",
        count,
    )


def _change_outcome(result: changes.ChangeResult) -> str:
    message = _price_change_outcome(result.money)
    tax = result.tax_after - result.tax_before
    if tax > 0:
        message += " " + _(
            "%(amount)s more accommodation tax was charged to your company's credit.",
            amount=format_yen_plain(tax),
        )
    elif tax < 0:
        message += " " + _(
            "%(amount)s of accommodation tax was returned to your company's credit in full.",
            amount=format_yen_plain(-tax),
        )
    return message


def _price_change_outcome(money) -> str:
    if money.charged:
        return _(
            "Your stay has been changed. %(amount)s more was charged to your company's credit.",
            amount=format_yen(money.charged),
        )
    if money.kept:
        return _(
            "Your stay has been changed. %(refunded)s was returned to your company's credit;"
            " %(kept)s was kept under the cancellation policy.",
            refunded=format_yen(money.refunded),
            kept=format_yen(money.kept),
        )
    if money.refunded:
        return _(
            "Your stay has been changed. %(amount)s was returned to your company's credit.",
            amount=format_yen(money.refunded),
        )
    return _("Your stay has been changed. The price did not change.")


# --- cancel ---------------------------------------------------------------------------


@bp.get("/stays/<int:booking_id>/cancel")
def cancel_confirm(booking_id: int):
    """What cancelling now returns to the company and to the employee's card, and what it
    keeps, before confirming; for a stay still waiting, that nothing was charged."""
    booking = _own(booking_id)
    now = edge_now()
    today = tokyo_today(now)
    refunds = cancellation.refund_preview(booking, today)
    terms = cancellation_terms(booking, today)
    # What the employee paid by card and has not had back (a co-paid stay).
    card_paid = card_held(stay_payment_of(booking.id)) if booking.employee_part else 0
    cancellable = lookups.can_change(booking, today) or booking.is_waiting
    # The desks booked with the stay, as cancelling it now would cancel them.
    desks = desks_refund_if_ended(booking, now) if cancellable else []
    form = CancelForm(formdata=None)
    form.expected_desks_refund.data = total_refund(desks)
    return render_template(
        "booking/cancel.html",
        booking=booking,
        terms=terms,
        policy=stay_terms(booking.check_in, today, tokyo_today(booking.created_at)),
        cancellable=cancellable,
        refunds=refunds,
        card_paid=card_paid,
        kept=cancellation.kept_by_policy(terms.paid, booking.total_price, card_paid, refunds),
        desks=desks,
        desks_refund=total_refund(desks),
        form=form,
    )


@bp.post("/stays/<int:booking_id>/cancel")
@limits.booking_action
def cancel(booking_id: int):
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    now = edge_now()
    try:
        result = cancellation.cancel_booking(
            current_user,
            booking_id,
            now,
            expected_refund=form.expected_refund.data,
            expected_employee_refund=form.expected_employee_refund.data,
        )
    except services.BookingNotFound:
        abort(404)
    except services.PriceChanged as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("booking.cancel_confirm", booking_id=booking_id), 303)
    except services.BookingError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("booking.stay", booking_id=booking_id), 303)
    desks_refund = None if result.already else _desks_refunded(booking_id, now)
    if _desks_moved(form.expected_desks_refund.data, desks_refund) and not result.already:
        db.session.rollback()
        flash(str(_desks_changed_error().message), "error")
        return redirect(url_for("booking.cancel_confirm", booking_id=booking_id), 303)
    db.session.commit()
    # The provider, once our side is committed: the card's share back, an open
    # Checkout ended (a failed call is retried by billing.copay.settle_stay_refunds).
    if result.payment_id is not None:
        send_owed_refund(result.payment_id)
    if result.checkout_to_expire:
        expire_checkout(result.checkout_to_expire)
    message, category = _cancel_outcome(result)
    if desks_refund is not None and result.waiting:  # held with it, never charged
        message += " " + ngettext(
            "The desk booked with it was released too.",
            "The %(num)d desks booked with it were released too.",
            desks_refund[0],
        )
    elif desks_refund is not None:
        message += " " + _desks_outcome(*desks_refund)
    flash(message, category)
    return redirect(url_for("booking.stays"), 303)


def _cancel_outcome(result: cancellation.CancelResult) -> tuple[str, str]:
    if result.already:
        return _("This stay was already cancelled."), "info"
    if result.waiting:
        return _(
            "Your stay request has been cancelled and its nights released. Nothing was charged."
        ), "success"
    message, category = _price_outcome(result)
    if result.employee_paid:
        message += " " + _card_outcome(result)
    if result.tax_refunded:
        message += " " + _(
            "The accommodation tax of %(amount)s was returned to your company's credit in full.",
            amount=format_yen_plain(result.tax_refunded),
        )
    return message, category


def _card_outcome(result: cancellation.CancelResult) -> str:
    if result.employee_refunded:
        return _(
            "%(amount)s of the part you paid is refunded to your card.",
            amount=format_yen(result.employee_refunded),
        )
    return _("Nothing of the part you paid is refunded under the cancellation policy.")


def _price_outcome(result: cancellation.CancelResult) -> tuple[str, str]:
    if result.kept:
        return _(
            "Your stay has been cancelled and its nights released. %(refunded)s was returned"
            " to your company's credit; %(kept)s (%(percent)d%%) was kept under the"
            " cancellation policy.",
            refunded=format_yen(result.refunded),
            kept=format_yen(result.kept),
            percent=100 - result.refund_percent,
        ), "success"
    if result.refunded:
        return _(
            "Your stay has been cancelled and its nights released. The whole %(amount)s was"
            " returned to your company's credit.",
            amount=format_yen(result.refunded),
        ), "success"
    return _("Your stay has been cancelled and its nights released."), "success"
