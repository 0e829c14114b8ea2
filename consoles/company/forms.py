"""Forms of the corporate admin's console (企業管理者): subscription, seats, billing
details and booking policy, with the labels its pages show.

Every rule a CHECK constraint of the billing models enforces is checked here too,
so bad input is a field error on the page, never an IntegrityError. Amounts are
integer yen; upper bounds keep them inside a 32-bit column.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from accounts.industries import industry_choices
from billing.services import MAX_NIGHTS_PER_STAY, MAX_WORKSPACE_HOURS

MAX_SEATS = 100_000
MAX_YEN = 1_000_000_000  # a month, per employee or per company; anything above is a typo
# Enough to catch a typo; the provider checks deliverability when it sends invoices.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# Stripe's subscription statuses, as an admin reads them.
STATUS_LABELS = {
    "active": _l("Active"),
    "trialing": _l("Free trial"),
    "past_due": _l("Payment overdue"),
    "unpaid": _l("Unpaid"),
    "canceled": _l("Ended"),
    "incomplete": _l("Waiting for the first payment"),
    "incomplete_expired": _l("First payment not made"),
    "paused": _l("Paused"),
}
# The badge class (app.css) each status is shown with.
STATUS_TONES = {
    "active": "ok",
    "trialing": "ok",
    "past_due": "warn",
    "incomplete": "warn",
    "paused": "warn",
    "unpaid": "bad",
    "incomplete_expired": "bad",
    "canceled": "off",
}
INVOICE_STATUS_LABELS = {
    "draft": _l("Draft"),
    "open": _l("Awaiting payment"),
    "paid": _l("Paid"),
    "void": _l("Void"),
    "uncollectible": _l("Uncollectible"),
    "overdue": _l("Overdue"),
}
INVOICE_STATUS_TONES = {
    "open": "warn",
    "paid": "ok",
    "overdue": "bad",
    "uncollectible": "bad",
    "void": "off",
    "draft": "off",
}
ENTRY_KIND_LABELS = {
    "grant": _l("Granted"),  # 付与
    "spend": _l("Stay"),  # 利用
    "refund": _l("Refund"),  # 返金
    "carry_over": _l("Carried over"),  # 繰越
    "expiry": _l("Expired"),  # 失効
    "overage": _l("Overage"),  # 超過利用
    "change": _l("Stay changed"),  # 予約変更
    "accommodation_tax": _l("Accommodation tax"),  # 宿泊税
}
# Entries of a workspace booking (desks, booths, meeting rooms) say so.
WORKSPACE_ENTRY_KIND_LABELS = {
    "spend": _l("Workspace"),  # ワークスペース利用
    "refund": _l("Workspace refund"),  # ワークスペース返金
    "change": _l("Workspace booking changed"),  # ワークスペース予約変更
}


def entry_kind_label(entry) -> str:
    """A ledger entry's kind in the reader's language; a workspace booking's says so."""
    if entry.workspace_booking_id is not None and entry.kind in WORKSPACE_ENTRY_KIND_LABELS:
        return str(WORKSPACE_ENTRY_KIND_LABELS[entry.kind])
    return str(ENTRY_KIND_LABELS.get(entry.kind, entry.kind))


def entry_number(entry) -> int | None:
    """The number of the booking a ledger entry belongs to, a stay's or a workspace
    booking's (its kind says which: ``entry_kind_label``)."""
    if entry.booking_id is not None:
        return entry.booking_id
    return entry.workspace_booking_id


# The notes billing.ledger writes on its own entries, in the reader's language.
ENTRY_NOTE_LABELS = {
    "older than one period": _l("Older than one period"),
    "closing": _l("Closing balance of the period"),
    "opening": _l("Opening balance of the period"),
    "no paid period": _l("No paid period followed"),
}
COLLECTION_LABELS = {
    "charge_automatically": _l("Card"),
    "send_invoice": _l("Invoice (bank transfer)"),
}
CARD, INVOICE = "card", "invoice"
REFUSE, ALLOW = "refuse", "allow"


def plan_choices(plans) -> list[C]:
    return [C(plan.id, plan.name) for plan in plans]


class SubscribeForm(FlaskForm):
    """A plan, seats and how to pay; the plan's prices are shown beside each choice."""

    plan = RadioField(_l("Plan"), coerce=int, choices=[], validators=[InputRequired()])
    seats = IntegerField(_l("Seats"), validators=[InputRequired(), NumberRange(1, MAX_SEATS)])
    method = RadioField(_l("Payment method"), choices=[], validators=[InputRequired()])

    def __init__(self, *args, plans=(), days_until_due: int = 30, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan.choices = plan_choices(plans)
        self.method.choices = [
            C(CARD, _l("Card (Stripe Checkout)")),
            C(
                INVOICE,
                _l("Invoice (bank transfer, due within %(days)d days)", days=days_until_due),
            ),
        ]


class SeatsForm(FlaskForm):
    seats = IntegerField(_l("Seats"), validators=[InputRequired(), NumberRange(1, MAX_SEATS)])


class BillingDetailsForm(FlaskForm):
    """Who the invoices name (請求先): name, address, the e-mail invoices go to."""

    billing_name = StringField(_l("Billing name"), validators=[DataRequired(), Length(max=200)])
    billing_address = TextAreaField(
        _l("Address"), validators=[Optional(), Length(max=500)], render_kw={"rows": 3}
    )
    billing_email = EmailField(
        _l("Billing e-mail"),
        validators=[
            Optional(),
            Length(max=254),
            Regexp(EMAIL_PATTERN, message=_l("Enter an e-mail address.")),
        ],
    )

    def values(self) -> dict[str, str]:
        return {
            "name": self.billing_name.data.strip(),
            "address": (self.billing_address.data or "").strip(),
            "email": (self.billing_email.data or "").strip(),
        }


class PolicyForm(FlaskForm):
    """The company's booking policy: nights per stay, workspace hours a month, a monthly
    cap, overage; and for the regions (issue 20) the company's industry and whether its
    employees may pay regional programmes from its credit."""

    max_nights_per_stay = IntegerField(
        _l("Longest stay (nights)"),
        validators=[InputRequired(), NumberRange(1, MAX_NIGHTS_PER_STAY)],
    )
    max_workspace_hours_per_month = IntegerField(
        _l("Workspace hours per employee a month"),
        validators=[Optional(), NumberRange(0, MAX_WORKSPACE_HOURS)],
    )
    employee_monthly_cap = IntegerField(
        _l("Credit per employee a month (yen)"),
        validators=[Optional(), NumberRange(0, MAX_YEN)],
    )
    overage = RadioField(
        _l("When the stay credit runs out"),
        choices=[
            C(REFUSE, _l("Refuse the stay")),
            C(ALLOW, _l("The company pays for the extra, up to a monthly limit")),
        ],
        validators=[InputRequired()],
    )
    overage_monthly_limit = IntegerField(
        _l("Overage limit a month (yen)"), validators=[Optional(), NumberRange(0, MAX_YEN)]
    )
    # Regions read the companies that sent them visitors by industry, never by name.
    industry = SelectField(
        _l("Industry"),
        choices=[C("", _l("Not stated")), *(C(code, label) for code, label in industry_choices())],
        default="",
        validators=[Optional()],
    )
    programmes_on_credit = BooleanField(
        _l("Employees may pay regional programmes from the company's credit")
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Checked here, not inline: Optional() ends the field's own chain on a blank value.
        limit = self.overage_monthly_limit
        if self.overage.data == ALLOW and limit.data is None and not limit.errors:
            limit.errors.append(_l("Enter the monthly limit the company pays for."))
            return False
        return valid

    def values(self) -> dict[str, Any]:
        """The keyword arguments of ``billing.services.save_policy``."""
        allowed = self.overage.data == ALLOW
        return {
            "max_nights_per_stay": self.max_nights_per_stay.data,
            "max_workspace_hours_per_month": self.max_workspace_hours_per_month.data,
            "employee_monthly_cap": self.employee_monthly_cap.data,
            "overage_allowed": allowed,
            "overage_monthly_limit": self.overage_monthly_limit.data if allowed else 0,
        }

    def region_values(self) -> dict[str, Any]:
        """The company's industry (None: not stated) and its programme credit policy."""
        return {
            "industry": self.industry.data or None,
            "programmes_on_credit": bool(self.programmes_on_credit.data),
        }
