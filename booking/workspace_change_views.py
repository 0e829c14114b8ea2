"""The employee's pages to change a workspace booking: another time, or another space of
the same facility, until 24 hours before its start (``booking.workspace_change``).

Routes on the employee blueprint (``booking.views.bp``; registered by importing this
module in ``booking/__init__.py``), sharing the helpers of ``booking.workspace_views``.
The form shows the new price and the yen charged or returned before the confirm button;
the confirm calls ``change_workspace`` and commits once, rolling back on any refusal.
Somebody else's booking is 404; a booking that can no longer be changed (begun,
cancelled, a stay's desk, or within 24 hours of its start) goes back to its page with the
reason, which says what cancelling still returns.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from billing.workspace_ledger import workspace_terms
from booking import services
from booking.views import bp
from booking.workspace_change import (
    WorkspaceChangeQuote,
    WorkspaceChangeResult,
    change_deadline,
    change_workspace,
    quote_change,
    why_not_changeable,
)
from booking.workspace_forms import (
    WorkspaceChangeConfirmForm,
    WorkspaceChangeForm,
    change_choices,
)
from booking.workspace_models import WorkspaceBooking
from booking.workspace_search import facility_units
from booking.workspace_views import (
    HORIZON_DAYS,
    billing_grace_days,
    last_bookable_day,
    month_hours,
    own_workspace_booking,
    refusal_status,
    unit_labels,
    ws_time,
)
from core import limits
from core.db import TOKYO, edge_now, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.i18n import format_day, format_yen


def _not_changeable(booking: WorkspaceBooking, reason):
    """Back to the booking's page, saying why it cannot be changed."""
    flash(str(reason), "error")
    return redirect(url_for("booking.workspace_booking", booking_id=booking.id), 303)


def _change_form(booking: WorkspaceBooking, args=None, *, span=None) -> WorkspaceChangeForm:
    """The change form: as asked (``args``), else at ``span`` (unit id, start, end), else
    the booking's time as it is; its choices are the facility's active units'."""
    if args is not None:
        form = WorkspaceChangeForm(args)
    else:
        unit_id, start, end = span or (booking.unit_id, booking.starts_at, booking.ends_at)
        form = WorkspaceChangeForm(
            formdata=None,
            unit_id=unit_id,
            day=start.astimezone(TOKYO).date(),
            starts=ws_time(start),
            minutes=(end - start) // timedelta(minutes=1),
        )
    choices = change_choices(facility_units(booking.unit.facility_id))
    form.unit_id.choices, form.starts.choices, form.minutes.choices = choices
    return form


def _change_page(
    booking: WorkspaceBooking,
    form: WorkspaceChangeForm,
    *,
    quote: WorkspaceChangeQuote | None = None,
    error: RuleError | None = None,
    status: int = 200,
):
    """The booking as it is, the preview of the change with its confirm button (when the
    new time is free), and the form for another time; a refusal stated above them."""
    confirm = None
    if quote is not None:
        confirm = WorkspaceChangeConfirmForm(formdata=None)
        confirm.expected_difference.data = quote.money.difference
    today = tokyo_today(edge_now())
    return render_template(
        "booking/workspace_change.html",
        booking=booking,
        form=form,
        quote=quote,
        confirm=confirm,
        error=error,
        hours=month_hours(quote, quote.line) if quote is not None else None,
        terms=workspace_terms(quote.money.new_total, quote.line.starts_at) if quote else None,
        change_until=change_deadline(booking),
        today=today,
        last_day=last_bookable_day(today),
        **unit_labels(),
    ), status


@bp.get("/workspace/bookings/<int:booking_id>/change")
def workspace_change(booking_id: int):
    """The booking's time and a form for another; with the values asked ("Show the
    change"), the new price and the yen charged or returned, then the confirm button."""
    booking = own_workspace_booking(booking_id)
    now = edge_now()
    reason = why_not_changeable(booking, now)
    if reason is not None:
        return _not_changeable(booking, reason)
    if "day" not in request.args:
        return _change_page(booking, _change_form(booking))
    form = _change_form(booking, request.args)
    if not form.validate():
        error = RuleError(_("Please check the fields below."), "invalid")
        return _change_page(booking, form, error=error, status=400)
    start, end = form.span()
    try:
        quote = quote_change(
            current_user, booking.id, form.unit_id.data, start, end, now, horizon_days=HORIZON_DAYS
        )
    except RuleError as exc:  # a unit no longer offered too: the booking itself is ours
        if exc.code == "not_changeable":
            return _not_changeable(booking, exc.message)
        return _change_page(booking, form, error=exc, status=refusal_status(exc))
    if not quote.available:
        error = RuleError(
            _("Part of this time is already taken. Please choose another time or another space."),
            "taken",
        )
        return _change_page(booking, form, quote=quote, error=error, status=409)
    return _change_page(booking, form, quote=quote)


@bp.post("/workspace/bookings/<int:booking_id>/change")
@limits.booking_action
def workspace_change_confirm(booking_id: int):
    """Make the change shown, at the difference shown (``expected_difference``): back to
    the booking's page with the yen charged or returned, or the refusal stated."""
    booking = own_workspace_booking(booking_id)  # somebody else's: 404 whatever was sent
    form = WorkspaceChangeConfirmForm()
    if not form.validate():
        error = RuleError(
            _("The change form was incomplete or had expired. Please try again."), "invalid"
        )
        return _change_page(booking, _change_form(booking), error=error, status=400)
    unit_id, start, end = form.unit_id.data, form.start.data, form.end.data
    try:
        result = change_workspace(
            current_user,
            booking.id,
            unit_id,
            start,
            end,
            edge_now(),
            expected_difference=form.expected_difference.data,
            horizon_days=HORIZON_DAYS,
            grace_days=billing_grace_days(),
        )
    except RuleError as exc:
        db.session.rollback()
        return _refused_change(booking_id, (unit_id, start, end), exc)
    db.session.commit()
    flash(_change_outcome(result), "success")
    return redirect(url_for("booking.workspace_booking", booking_id=booking_id), 303)


def _refused_change(booking_id: int, span: tuple, exc: RuleError):
    """A refused confirm (already rolled back): a double submit goes back to the booking,
    an unchangeable booking to its page with the reason, anything else to the form at
    the time asked, beside the new price when it moved."""
    booking = own_workspace_booking(booking_id)
    if exc.code == "unchanged":  # sent twice: the first one moved it
        flash(str(exc.message), "info")
        return redirect(url_for("booking.workspace_booking", booking_id=booking.id), 303)
    if exc.code == "not_changeable":
        return _not_changeable(booking, exc.message)
    quote = None
    if isinstance(exc, services.PriceChanged):  # the new price beside the refusal
        try:
            quote = quote_change(
                current_user, booking.id, *span, edge_now(), horizon_days=HORIZON_DAYS
            )
        except RuleError:
            quote = None
    form = _change_form(booking, span=(span[0], span[1].astimezone(UTC), span[2].astimezone(UTC)))
    return _change_page(booking, form, quote=quote, error=exc, status=refusal_status(exc))


def _change_outcome(result: WorkspaceChangeResult) -> str:
    """What the change did, in words: the new time, then the yen charged or returned."""
    booking, money = result.booking, result.money
    moved = _(
        "Your workspace booking is now %(unit)s, %(day)s %(start)s–%(end)s.",
        unit=booking.unit.name,
        day=format_day(booking.starts_at),
        start=ws_time(booking.starts_at),
        end=ws_time(booking.ends_at),
    )
    if money.charged:
        money_words = _(
            "%(amount)s more was charged to your company's stay credit.",
            amount=format_yen(money.charged),
        )
    elif money.refunded:
        money_words = _(
            "%(amount)s was returned to your company's credit.", amount=format_yen(money.refunded)
        )
    else:
        money_words = _("The price did not change.")
    return f"{moved} {money_words}"
