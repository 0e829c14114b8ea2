"""The approver's pages: the stays waiting for their decision (``/approvals``), one
stay's facts with approve and reject (``/approvals/<booking_id>``), and their own
"away until" (the deputy decides meanwhile); and the employee's withdrawal of a stay
still waiting (``/stays/<booking_id>/withdraw``, from the stay's page).

The rules are ``booking.approvals``'; these views parse, authorise (sign-in, a
company's member; a stay of another company, or one the reader may not decide, is 404:
nothing is revealed), call one service and commit once. The mails link here: the
decision itself is a signed-in POST with its CSRF token.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, TextAreaField
from wtforms.validators import Length, Optional

from billing.copay import expire_checkout
from booking import approvals, services
from booking.approvals import MAX_COMMENT, ApprovalError
from booking.copay import payment_of
from booking.models import BookingStatus, StayApproval
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_day, format_yen
from hr.approval import REASON_LABELS, approves_anyone

bp = Blueprint("approvals", __name__)


class DecisionForm(FlaskForm):
    """Approve or reject, with an optional comment for the employee."""

    comment = TextAreaField(
        _l("Comment for the employee (optional)"),
        validators=[Optional(), Length(max=MAX_COMMENT)],
    )


class AwayForm(FlaskForm):
    """The approver's last day away (empty: not away)."""

    away_until = DateField(_l("Away until (included)"), validators=[Optional()])


@bp.before_request
@login_required
def _signed_in():
    """Every page here is for signed-in members of a company."""
    if not current_user.books_stays:
        abort(404)


def reason_labels(approval: StayApproval) -> list[str]:
    """The policy's rules the stay met, in the reader's words."""
    return [str(REASON_LABELS.get(code, code)) for code in approval.reasons.split(",") if code]


def time_left(expires_at: datetime | None, now: datetime) -> str:
    """How long the stay still waits, in words ("5 hours left")."""
    if expires_at is None or expires_at <= now:
        return _("Time is up")
    minutes = int((expires_at - now).total_seconds() // 60)
    if minutes >= 60:
        return ngettext("%(num)d hour left", "%(num)d hours left", minutes // 60)
    return ngettext("%(num)d minute left", "%(num)d minutes left", max(minutes, 1))


@bp.app_template_global("stay_approval")
def stay_approval(booking) -> StayApproval | None:
    """A stay's approval request, for the status on the employee's stay page."""
    return approvals.request_of(booking.id)


@bp.app_template_global("approves_stays")
def approves_stays(user) -> bool:
    """Whether the menu offers ``user`` the approvals page."""
    return bool(getattr(user, "books_stays", False)) and approves_anyone(user)


@bp.app_template_filter("approval_reason_label")
def approval_reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


@bp.app_template_global("approval_reason_labels")
def approval_reason_labels(approval: StayApproval) -> list[str]:
    return reason_labels(approval)


@bp.get("/approvals")
def queue():
    now = edge_now()
    today = tokyo_today(now)
    form = AwayForm(data={"away_until": current_user.away_until})
    return _queue_page(form, now, today)


def _queue_page(form: AwayForm, now: datetime, today, status: int = 200):
    found = approvals.approval_queue(current_user, today)
    return render_template(
        "booking/approvals.html",
        queue=found,
        now=now,
        today=today,
        time_left=time_left,
        reasons=reason_labels,
        away_form=form,
        clear_form=EmptyForm(prefix="clear"),
    ), status


@bp.post("/approvals/away")
def away():
    """Set or clear the approver's own "away until"."""
    now = edge_now()
    today = tokyo_today(now)
    form = AwayForm()
    if not form.validate():
        return _queue_page(form, now, today, 422)
    try:
        approvals.set_away(current_user, form.away_until.data, now)
    except ApprovalError as exc:
        db.session.rollback()
        form.away_until.errors = [str(exc.message)]
        return _queue_page(form, now, today, 422)
    db.session.commit()
    if form.away_until.data is None:
        flash(_("You are no longer away: stays waiting for you are yours to decide."), "success")
    else:
        flash(
            _(
                "You are away until %(date)s. Meanwhile your deputy (or a company admin)"
                " decides on the stays waiting for you.",
                date=format_day(form.away_until.data),
            ),
            "success",
        )
    return redirect(url_for("approvals.queue"), 303)


@bp.post("/approvals/away/clear")
def away_clear():
    """ "I am back": clear the approver's "away until"."""
    if not EmptyForm(prefix="clear").validate_on_submit():
        abort(400)
    approvals.set_away(current_user, None, edge_now())
    db.session.commit()
    flash(_("You are no longer away: stays waiting for you are yours to decide."), "success")
    return redirect(url_for("approvals.queue"), 303)


def _request_or_404(booking_id: int, today) -> StayApproval:
    try:
        return approvals.request_for(current_user, booking_id, today)
    except ApprovalError:
        abort(404)


@bp.get("/approvals/<int:booking_id>")
def decide(booking_id: int):
    now = edge_now()
    approval = _request_or_404(booking_id, tokyo_today(now))
    return _decision_page(approval, DecisionForm(), now)


def _decision_page(approval: StayApproval, form: DecisionForm, now: datetime, status: int = 200):
    today = tokyo_today(now)
    return render_template(
        "booking/approval.html",
        approval=approval,
        booking=approval.booking,
        form=form,
        now=now,
        time_left=time_left(approval.booking.hold_expires_at, now),
        reasons=reason_labels(approval),
        can_decide=approvals.may_decide_now(current_user, approval, now),
        approver_away=approvals.approver_away(approval, today),
        max_comment=MAX_COMMENT,
    ), status


def _decided(booking_id: int, action) -> object:
    """Run one decision (``action(comment, now)``) and say what it did; a refusal is
    stated on the stay's page, and changes nothing."""
    now = edge_now()
    approval = _request_or_404(booking_id, tokyo_today(now))
    form = DecisionForm()
    if not form.validate():
        return _decision_page(approval, form, now, 422)
    try:
        booking = action(form.comment.data, now)
    except ApprovalError as exc:
        db.session.rollback()
        if exc.code == "not_found":
            abort(404)
        if exc.code == "comment_too_long":
            form.comment.errors = [str(exc.message)]
            return _decision_page(_request_or_404(booking_id, tokyo_today(now)), form, now, 422)
        flash(str(exc.message), "error")
        return redirect(url_for("approvals.decide", booking_id=booking_id), 303)
    except services.BookingError as exc:  # the company's credit no longer covers the stay
        db.session.rollback()
        flash(
            _(
                "The stay could not be approved: %(reason)s It is still waiting.",
                reason=exc.message,
            ),
            "error",
        )
        return redirect(url_for("approvals.decide", booking_id=booking_id), 303)
    outcome = _outcome(booking)
    db.session.commit()
    flash(outcome, "success")
    return redirect(url_for("approvals.decide", booking_id=booking_id), 303)


def _outcome(booking) -> str:
    if booking.status == BookingStatus.AWAITING_PAYMENT:
        return _(
            "Approved. The employee now pays their part, %(amount)s, to confirm the stay.",
            amount=format_yen(booking.employee_part),
        )
    if booking.status == BookingStatus.CONFIRMED:
        return _(
            "Approved. The stay is confirmed and %(amount)s was paid from the stay credit.",
            amount=format_yen(booking.company_part),
        )
    return _("Rejected. The stay's nights were released and nothing was charged.")


@bp.post("/approvals/<int:booking_id>/approve")
def approve(booking_id: int):
    grace_days = current_app.config["BILLING_GRACE_DAYS"]
    return _decided(
        booking_id,
        lambda comment, now: approvals.approve(current_user, booking_id, comment, now, grace_days),
    )


@bp.post("/approvals/<int:booking_id>/reject")
def reject(booking_id: int):
    return _decided(
        booking_id,
        lambda comment, now: approvals.reject(current_user, booking_id, comment, now),
    )


@bp.post("/stays/<int:booking_id>/withdraw")
def withdraw(booking_id: int):
    """The employee cancels their own stay while it still waits: nothing is charged."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        approvals.withdraw(current_user, booking_id, edge_now())
    except services.BookingNotFound:
        db.session.rollback()
        abort(404)
    except ApprovalError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("booking.stay", booking_id=booking_id), 303)
    db.session.commit()
    payment = payment_of(booking_id)  # a payment begun: its Checkout ended at the provider
    if payment is not None and payment.stripe_session_id:
        expire_checkout(payment.stripe_session_id)
    flash(_("Your stay was cancelled and its nights released. Nothing was charged."), "success")
    return redirect(url_for("booking.stay", booking_id=booking_id), 303)
