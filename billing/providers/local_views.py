"""Pages of the local billing backend: its test-mode Checkout, invoices and portal.

They stand in for Stripe's hosted pages when ``BILLING_BACKEND=local`` and are
marked as test mode on every page. Only the company's own admins reach them;
anybody else's session, invoice or customer id answers 404. The one exception is the
Checkout of an employee's part of a stay (payment mode, ``/billing/local/pay/<id>``):
only that employee reaches it (the session's metadata names their stay payment).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from billing.ledger import account_of
from billing.models import StayPayment
from billing.providers import local_gateway
from billing.providers.base import GatewayError
from billing.services import tax_included
from billing.webhooks import plan_for_price
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.forms import EmptyForm

bp = Blueprint("local_billing", __name__, url_prefix="/billing/local")
# The employee's stay payment: reached by the employee who pays, not only by admins.
PAYER_ENDPOINTS = frozenset({"local_billing.stay_checkout", "local_billing.pay_stay"})


@bp.before_request
@login_required
def _local_backend_admins_only():
    if current_app.config["BILLING_BACKEND"] != "local":
        abort(404)
    if current_user.role != "company_admin" and request.endpoint not in PAYER_ENDPOINTS:
        abort(403)
    g.company_id = current_user.company_id
    g.user_id = current_user.id
    # No transaction of ours stays open while the simulated provider works (on
    # SQLite any open transaction holds the write lock); nothing below reads
    # ``current_user`` again, which would open one.
    db.session.commit()


def _own(object_id: str, kind: str) -> dict:
    """A local record of the admin's own company; anything else is not found."""
    try:
        obj = local_gateway().raw(object_id, kind)
    except GatewayError:
        abort(404)
    if kind == "checkout.session":
        company = obj.get("client_reference_id")
    else:
        customer_id = obj["id"] if kind == "customer" else obj["customer"]
        company = local_gateway().raw(customer_id, "customer")["metadata"].get("company_id")
    if company != str(g.company_id):
        abort(404)
    return obj


def _day(ts: int | None) -> date | None:
    return tokyo_today(datetime.fromtimestamp(ts, UTC)) if ts else None


@bp.get("/checkout/<session_id>")
def checkout(session_id: str):
    session = _own(session_id, "checkout.session")
    line = session["line_items"][0]

    plan = plan_for_price(line["price"], {})
    return render_template(
        "billing_local/checkout.html",
        session=session,
        plan=plan,
        seats=line["quantity"],
        total=plan.fee_per_seat * line["quantity"] if plan else 0,
        form=EmptyForm(),
    )


@bp.post("/checkout/<session_id>")
def pay(session_id: str):
    session = _own(session_id, "checkout.session")
    if not EmptyForm().validate_on_submit():
        abort(400)
    # Back to our own billing page (not to URLs stored on the session).
    if request.form.get("action") == "cancel":
        local_gateway().expire_checkout(session_id)
        return redirect(url_for("company.billing", checkout="cancelled"), 303)
    if session["status"] != "open":
        flash(_("This checkout has already ended. Nothing was charged."), "error")
        return redirect(url_for("company.billing"), 303)
    local_gateway().complete_checkout(session_id)
    return redirect(url_for("company.billing", checkout="done"), 303)


def _own_stay_session(session_id: str) -> dict:
    """A payment-mode session for a stay payment of the signed-in employee; else 404."""
    try:
        session = local_gateway().raw(session_id, "checkout.session")
    except GatewayError:
        abort(404)
    metadata = session.get("metadata") or {}
    if session.get("mode") != "payment" or not str(metadata.get("stay_payment_id", "")).isdigit():
        abort(404)
    payment = db.session.get(StayPayment, int(metadata["stay_payment_id"]))
    owner = (payment.user_id, payment.booking_id) if payment is not None else None
    db.session.commit()  # no transaction of ours open while the provider works
    if owner != (g.user_id, int(metadata.get("booking_id") or 0)):
        abort(404)
    return session


@bp.get("/pay/<session_id>")
def stay_checkout(session_id: str):
    """The test-mode Checkout of an employee's part of a stay."""
    session = _own_stay_session(session_id)
    expires = datetime.fromtimestamp(session["expires_at"], UTC)
    return render_template(
        "billing_local/stay_payment.html",
        session=session,
        line=session["line_items"][0],
        expires=expires,
        is_open=session["status"] == "open" and expires > edge_now(),
        form=EmptyForm(),
    )


@bp.post("/pay/<session_id>")
def pay_stay(session_id: str):
    """Pay with the test card (then back to the stay's return page), or go back unpaid
    (the session stays open until it expires, as at Stripe)."""
    session = _own_stay_session(session_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    booking_id = int(session["metadata"]["booking_id"])
    # Back to our own pages (not to URLs stored on the session).
    if request.form.get("action") == "cancel":
        return redirect(url_for("booking.stay", booking_id=booking_id), 303)
    if session["status"] == "open":
        local_gateway().complete_checkout(session_id)  # its event is delivered at once
    return redirect(url_for("copay.paid", booking_id=booking_id), 303)


@bp.get("/invoices/<invoice_id>")
def invoice(invoice_id: str):
    inv = _own(invoice_id, "invoice")
    customer = local_gateway().raw(inv["customer"], "customer")

    account = account_of(g.company_id)
    return render_template(
        "billing_local/invoice.html",
        invoice=inv,
        customer=customer,
        account=account,
        tax=tax_included(inv["total"]),
        created=_day(inv["created"]),
        due=_day(inv.get("due_date")),
        period=(_day(inv["period_start"]), _day(inv["period_end"])),
        printable=request.args.get("print") == "1",
        form=EmptyForm(),
    )


@bp.post("/invoices/<invoice_id>/pay")
def pay_invoice(invoice_id: str):
    inv = _own(invoice_id, "invoice")
    if not EmptyForm().validate_on_submit():
        abort(400)
    if inv["status"] == "open":
        local_gateway().pay_invoice(invoice_id)
        flash(_("Test mode: the bank transfer was recorded and the invoice is paid."), "success")
    return redirect(f"/billing/local/invoices/{invoice_id}")


@bp.route("/portal/<customer_id>", methods=["GET", "POST"])
def portal(customer_id: str):
    customer = _own(customer_id, "customer")
    form = EmptyForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        fail = request.form.get("fail_next_payment") == "1"
        local_gateway().set_fail_next_payment(customer_id, fail)
        flash(
            _("Test mode: the next card payment will fail.")
            if fail
            else _("Test mode: card payments will succeed."),
            "success",
        )
        return redirect(f"/billing/local/portal/{customer_id}")
    return render_template("billing_local/portal.html", customer=customer, form=form)
