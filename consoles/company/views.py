"""The corporate admin's console (企業管理者): subscription and seats, billing details,
booking policy, usage and credit, invoices.

Every page is for signed-in company admins; any other role gets 403. A page only
ever shows or changes the admin's own company (``current_user.company_id``): no
company id is ever read from the URL or a form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts import audit
from accounts.models import Company, Role
from billing import flows, services
from billing.ledger import tokyo_midnight
from billing.settings import BillingSettings
from consoles.company import usage as usage_report
from consoles.company.forms import (
    CARD,
    COLLECTION_LABELS,
    ENTRY_NOTE_LABELS,
    INVOICE_STATUS_LABELS,
    INVOICE_STATUS_TONES,
    STATUS_LABELS,
    STATUS_TONES,
    BillingDetailsForm,
    PolicyForm,
    SeatsForm,
    SubscribeForm,
    entry_kind_label,
    entry_number,
)
from core.csv import csv_download, write_csv
from core.db import edge_now, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_datetime_local, format_yen_plain
from core.urls import public_url

bp = Blueprint("company", __name__, url_prefix="/company")

LEDGER_ON_PAGE = 50


@bp.before_request
@login_required
def _company_admins_only():
    if current_user.role != Role.COMPANY_ADMIN or current_user.company_id is None:
        abort(403)


@bp.context_processor
def _helpers() -> dict:
    return {
        "test_mode": current_app.config["BILLING_BACKEND"] == "local",
        "local_date": tokyo_today,
        "signed_yen": signed_yen,
        "entry_note": entry_note,
        "safe_link": safe_link,
        # The employees pages live in accounts (members); linked once they are there.
    }


# --- helpers ------------------------------------------------------------------------------


def _company_id() -> int:
    return current_user.company_id


def _billing_settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


def signed_yen(amount: int) -> str:
    """A ledger amount with its sign in front: +¥15,000, −¥11,000."""
    return ("+" if amount > 0 else "−" if amount < 0 else "") + format_yen_plain(abs(amount))


def entry_note(note: str) -> str:
    label = ENTRY_NOTE_LABELS.get(note)
    return str(label) if label is not None else note


def safe_link(url: str | None) -> str | None:
    """A provider's link, shown only if it is a web address (never ``javascript:``)."""
    return url if url and url.startswith(("https://", "http://", "/")) else None


def _subscribe_form(plans, formdata=None, seats_used: int = 0) -> SubscribeForm:
    form = SubscribeForm(
        formdata=formdata,
        plans=plans,
        days_until_due=current_app.config["INVOICE_DAYS_UNTIL_DUE"],
    )
    if formdata is None:
        form.seats.data = max(1, seats_used)
        form.plan.data = plans[0].id if plans else None
        form.method.data = CARD
    return form


def _details_form(account, formdata=None) -> BillingDetailsForm:
    form = BillingDetailsForm(formdata=formdata)
    if formdata is None:
        form.billing_name.data = account.billing_name or account.company.name
        form.billing_address.data = account.billing_address
        form.billing_email.data = account.billing_email
    return form


def _billing_page(*, error=None, error_at: str | None = None, status: int = 200, **forms):
    """The billing page; a failed form is passed in to be shown with its errors."""
    summary = services.summary(_company_id())
    sub = summary.subscription
    live = services.is_live(sub)
    plans = services.plans()
    grace_end = None
    if live and sub.status == "past_due" and sub.past_due_since:
        grace_end = sub.past_due_since + timedelta(days=current_app.config["BILLING_GRACE_DAYS"])
    forms.setdefault("subscribe_form", _subscribe_form(plans, seats_used=summary.seats_used))
    forms.setdefault("seats_form", SeatsForm(formdata=None, seats=summary.seats or 1))
    forms.setdefault("details_form", _details_form(summary.account))
    page = render_template(
        "billing/billing.html",
        s=summary,
        sub=sub,
        live=live,
        plans=plans,
        plans_by_id={p.id: p for p in plans},
        monthly_total=summary.seats * summary.plan.fee_per_seat if live and summary.plan else 0,
        grace_end=grace_end,
        checkout=request.args.get("checkout") if request.method == "GET" else None,
        status_labels=STATUS_LABELS,
        status_tones=STATUS_TONES,
        collection_labels=COLLECTION_LABELS,
        button=EmptyForm(),
        error=error,
        error_at=error_at,
        **forms,
    )
    return page, status


def _back_to_billing():
    return redirect(url_for("company.billing"), 303)


# --- subscription -------------------------------------------------------------------------


@bp.get("/billing")
def billing():
    return _billing_page()


@bp.post("/billing/subscribe")
def subscribe():
    plans = services.plans()
    form = _subscribe_form(plans, formdata=request.form)
    if not form.validate_on_submit():
        return _billing_page(subscribe_form=form, error_at="subscribe", status=400)
    try:
        checkout_url = flows.subscribe(
            _company_id(),
            current_user.id,
            form.plan.data,
            form.seats.data,
            form.method.data,
            edge_now(),
            success_url=public_url("company.billing", checkout="done"),
            cancel_url=public_url("company.billing", checkout="cancelled"),
            settings=_billing_settings(),
        )
    except RuleError as exc:
        db.session.rollback()
        return _billing_page(
            subscribe_form=form, error=exc.message, error_at="subscribe", status=422
        )
    if checkout_url:
        return redirect(checkout_url, 303)
    flash(
        _(
            "Your subscription has started. The first invoice has been issued and is due"
            " in %(days)d days.",
            days=current_app.config["INVOICE_DAYS_UNTIL_DUE"],
        ),
        "success",
    )
    return _back_to_billing()


@bp.post("/billing/seats")
def seats():
    form = SeatsForm()
    if not form.validate_on_submit():
        return _billing_page(seats_form=form, error_at="seats", status=400)
    try:
        flows.change_seats(_company_id(), form.seats.data, edge_now(), settings=_billing_settings())
    except RuleError as exc:
        db.session.rollback()
        return _billing_page(seats_form=form, error=exc.message, error_at="seats", status=422)
    flash(
        _(
            "Your subscription now has %(seats)d seats. Stripe prorates the difference"
            " on your next invoice.",
            seats=form.seats.data,
        ),
        "success",
    )
    return _back_to_billing()


@bp.route("/billing/cancel", methods=["GET", "POST"])
def cancel():
    """A page of its own to confirm on; the POST asks the provider to end at period end."""
    form = EmptyForm()
    if not form.validate_on_submit():
        if form.is_submitted():
            abort(400)
        summary = services.summary(_company_id())
        if not services.is_live(summary.subscription) or summary.subscription.cancel_at_period_end:
            return _back_to_billing()
        return render_template("billing/cancel.html", s=summary, form=form)
    try:
        flows.cancel_at_period_end(_company_id(), edge_now(), settings=_billing_settings())
    except RuleError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back_to_billing()
    flash(
        _(
            "Your subscription will end at the end of the current period."
            " Until then, employees can book as before."
        ),
        "success",
    )
    return _back_to_billing()


@bp.post("/billing/portal")
def portal():
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        url = flows.portal_url(_company_id(), public_url("company.billing"))
    except RuleError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back_to_billing()
    return redirect(url, 303)


@bp.post("/billing/details")
def billing_details():
    form = BillingDetailsForm()
    if not form.validate_on_submit():
        return _billing_page(details_form=form, error_at="details", status=400)
    try:
        flows.save_billing_details(_company_id(), **form.values())
    except RuleError as exc:
        db.session.rollback()
        return _billing_page(details_form=form, error=exc.message, error_at="details", status=422)
    flash(_("The billing details have been saved."), "success")
    return _back_to_billing()


# --- policy -------------------------------------------------------------------------------


def _policy_form(summary) -> PolicyForm:
    account = summary.account
    form = PolicyForm(formdata=None)
    form.max_nights_per_stay.data = summary.company.max_nights_per_stay
    form.max_workspace_hours_per_month.data = summary.company.max_workspace_hours_per_month
    form.employee_monthly_cap.data = account.employee_monthly_cap
    form.overage.data = "allow" if account.overage_allowed else "refuse"
    form.overage_monthly_limit.data = (
        account.overage_monthly_limit if account.overage_allowed else None
    )
    form.industry.data = summary.company.industry or ""
    form.programmes_on_credit.data = summary.company.programmes_on_credit
    return form


def _policy_values(company_id: int) -> dict:
    """The booking policy as the audit log records it."""
    summary = services.summary(company_id)
    account = summary.account
    return {
        "max_nights_per_stay": summary.company.max_nights_per_stay,
        "max_workspace_hours_per_month": summary.company.max_workspace_hours_per_month,
        "employee_monthly_cap": account.employee_monthly_cap if account else None,
        "overage_allowed": account.overage_allowed if account else False,
        "overage_monthly_limit": account.overage_monthly_limit if account else 0,
        "industry": summary.company.industry,
        "programmes_on_credit": summary.company.programmes_on_credit,
    }


def _save_region_settings(company_id: int, *, industry: str | None, programmes_on_credit: bool):
    """The company's industry and whether programmes may be paid from its credit, set
    with the booking policy (``save_policy`` holds the billing account's lock, which a
    programme's charge takes before it reads ``programmes_on_credit``)."""
    company = db.session.get(Company, company_id)
    company.industry = industry
    company.programmes_on_credit = programmes_on_credit
    db.session.flush()


@bp.route("/policy", methods=["GET", "POST"])
def policy():
    form = PolicyForm()
    error = None
    if form.validate_on_submit():
        try:
            before = _policy_values(_company_id())
            services.save_policy(_company_id(), **form.values())
            _save_region_settings(_company_id(), **form.region_values())
        except RuleError as exc:
            db.session.rollback()
            error = exc.message
        else:
            changed_from, changed_to = audit.diff(before, _policy_values(_company_id()))
            if changed_to:
                audit.record(
                    "company.policy", edge_now(), actor=current_user._get_current_object(),
                    object_type="company", object_id=_company_id(), company_id=_company_id(),
                    before=changed_from, after=changed_to,
                )  # fmt: skip
            db.session.commit()
            flash(_("The booking policy has been saved."), "success")
            return redirect(url_for("company.policy"), 303)
    summary = services.summary(_company_id())
    if not form.is_submitted():
        form = _policy_form(summary)
    status = 422 if error else 400 if form.is_submitted() else 200
    return render_template("billing/policy.html", s=summary, form=form, error=error), status


# --- usage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """A burn-down chart's geometry, in the SVG's own units."""

    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    line: str  # polyline points: the balance at the end of each day so far
    pace: str  # spending the opening credit evenly to zero by the period's end
    y_ticks: list[tuple[float, int]]  # (y, yen)
    x_ticks: list[tuple[float, date]]  # (x, day)
    last: tuple[float, float] | None  # today's point


def burn_down_chart(burn) -> Chart | None:
    if burn is None:
        return None
    width, height, left, top, right, bottom = 640, 240, 84, 12, 16, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    span = max(1, (burn.end - burn.start).days)
    peak = max([burn.opening, *(balance for _day, balance in burn.points), 1])

    def x(day: date) -> float:
        return round(left + (day - burn.start).days / span * plot_w, 1)

    def y(value: int) -> float:
        return round(top + plot_h - max(0, value) / peak * plot_h, 1)

    line = " ".join(f"{x(day)},{y(balance)}" for day, balance in burn.points)
    pace = f"{x(burn.start)},{y(burn.opening)} {x(burn.end)},{y(0)}"
    y_ticks = [(y(value), value) for value in (0, peak // 2, peak)]
    x_ticks = [(x(burn.start), burn.start), (x(burn.end), burn.end)]
    last = (x(burn.points[-1][0]), y(burn.points[-1][1])) if burn.points else None
    return Chart(width, height, left, top, plot_w, plot_h, line, pace, y_ticks, x_ticks, last)


@bp.get("/usage")
def usage():
    company_id, now = _company_id(), edge_now()
    burn = services.burn_down(company_id, now)
    # The period's accommodation tax, over the same days as the chart.
    period_tax = (
        usage_report.tax_paid_in(
            company_id,
            [(tokyo_midnight(burn.start), tokyo_midnight(burn.end + timedelta(days=1)))],
        )[0]
        if burn is not None
        else None
    )
    return render_template(
        "billing/usage.html",
        s=services.summary(company_id),
        burn=burn,
        period_tax=period_tax,
        chart=burn_down_chart(burn),
        by_employee=usage_report.usage_by_employee(company_id),
        by_month=usage_report.usage_by_month(company_id),
        stays=usage_report.upcoming_stays(company_id, tokyo_today(now)),
        entries=services.entries_of(company_id, limit=LEDGER_ON_PAGE),
        entry_kind=entry_kind_label,
        entry_number=entry_number,
        ledger_limit=LEDGER_ON_PAGE,
    )


def ledger_csv(entries) -> str:
    """The ledger, oldest first, as CSV text with a byte-order mark (Excel in Japan).

    Text cells that a spreadsheet would run as a formula get a leading '; amounts
    and balances are written as integers, which no spreadsheet runs.
    """
    header = [
        _("Date (Asia/Tokyo)"),
        _("Kind"),
        _("Amount (yen)"),
        _("Balance after (yen)"),
        _("Employee e-mail"),
        _("Booking number"),
        _("Note"),
    ]
    rows = [
        [
            format_datetime_local(entry.created_at),
            entry_kind_label(entry),
            int(entry.amount),
            int(entry.balance_after),
            entry.user.email if entry.user else "",
            "" if entry_number(entry) is None else int(entry_number(entry)),
            entry_note(entry.note),
        ]
        for entry in reversed(entries)
    ]
    return write_csv(header, rows)


@bp.get("/usage.csv")
def usage_csv():
    company_id = _company_id()
    body = ledger_csv(services.entries_of(company_id))
    filename = f"engawa-credit-{company_id}-{tokyo_today(edge_now()).isoformat()}.csv"
    return csv_download(body, filename)


# --- invoices -----------------------------------------------------------------------------


@bp.get("/invoices")
def invoices():
    now = edge_now()
    rows = [
        (
            invoice,
            "overdue"
            if invoice.status == "open" and invoice.due_date and invoice.due_date < now
            else invoice.status,
        )
        for invoice in services.invoices_of(_company_id())
    ]
    # The accommodation tax paid from the stay credit in each invoice's period: its own
    # line, as it is never on the invoice itself.
    periods = [
        (invoice, (invoice.period_start, invoice.period_end))
        for invoice, _status in rows
        if invoice.period_start is not None and invoice.period_end is not None
    ]
    paid = usage_report.tax_paid_in(_company_id(), [period for _invoice, period in periods])
    return render_template(
        "billing/invoices.html",
        s=services.summary(_company_id()),
        rows=rows,
        period_tax={invoice.id: tax for (invoice, _period), tax in zip(periods, paid, strict=True)},
        tax_included=services.tax_included,
        status_labels=INVOICE_STATUS_LABELS,
        status_tones=INVOICE_STATUS_TONES,
        registration_number=current_app.config["INVOICE_REGISTRATION_NUMBER"],
        platform_name=current_app.config["PLATFORM_BILLING_NAME"],
    )
