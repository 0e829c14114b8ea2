"""Billing rules that need no provider: plans, seats, policy, usage. Services flush only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from accounts.models import COMPANY_ROLES, Company, User
from billing import ledger
from billing.models import (
    TERMINAL_STATUSES,
    BillingAccount,
    CreditEntry,
    Invoice,
    Plan,
    Subscription,
)
from core.db import get_by_id, tokyo_today
from core.errors import RuleError
from core.extensions import db

MAX_NIGHTS_PER_STAY = 60
MAX_WORKSPACE_HOURS = 744  # a month of 31 days, every hour


class BillingError(RuleError):
    """A billing rule refused the request; the message says why."""


# (code, name, fee per seat a month, stay credit per seat a month), yen, tax included
DEFAULT_PLANS = (
    ("lite", "Lite", 3_000, 5_000),
    ("standard", "Standard", 8_000, 15_000),
    ("premium", "Premium", 15_000, 30_000),
)


def ensure_default_plans() -> None:
    """The plans every new installation starts with (the platform admin edits them)."""
    known = set(db.session.scalars(select(Plan.code)))
    for code, name, fee, credit in DEFAULT_PLANS:
        if code not in known:
            db.session.add(Plan(code=code, name=name, fee_per_seat=fee, credit_per_seat=credit))
    db.session.flush()


def save_plan(plan_id: int, *, name: str, fee_per_seat: int, credit_per_seat: int, active: bool):
    """Change a plan. Running subscriptions keep their Stripe price until they change."""
    plan = get_by_id(Plan, plan_id)
    if plan is None:
        raise BillingError(_l("No such plan."), "not_found")
    plan.name, plan.fee_per_seat, plan.credit_per_seat, plan.active = (
        name,
        fee_per_seat,
        credit_per_seat,
        active,
    )
    db.session.flush()
    return plan


def plans(*, only_active: bool = True) -> list[Plan]:
    query = select(Plan).order_by(Plan.fee_per_seat, Plan.id)
    if only_active:
        query = query.where(Plan.active)
    return list(db.session.scalars(query))


def plan_by_id(plan_id: int) -> Plan:
    plan = get_by_id(Plan, plan_id)
    if plan is None or not plan.active:
        raise BillingError(_l("Please choose one of the plans."), "plan")
    return plan


def price_id_of(plan: Plan, backend: str, configured: dict[str, str]) -> str:
    """The provider's price for the plan: configured ids first, then the plan's own."""
    if backend == "local":
        return f"price_local_{plan.code}"
    price = configured.get(plan.code) or plan.stripe_price_id
    if not price:
        raise BillingError(
            _l("This plan cannot be bought online yet. Please contact us."), "plan_price"
        )
    return price


def seats_used(company_id: int) -> int:
    """Active people who can book stays: employees and company admins."""
    return db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.company_id == company_id, User.active, User.role.in_(COMPANY_ROLES))
    )


def is_live(subscription: Subscription | None) -> bool:
    return subscription is not None and subscription.status not in TERMINAL_STATUSES


@dataclass(frozen=True)
class CompanySummary:
    company: Company
    account: BillingAccount
    subscription: Subscription | None
    seats_used: int

    @property
    def seats(self) -> int:
        return self.subscription.seats if is_live(self.subscription) else 0

    @property
    def plan(self) -> Plan | None:
        return self.subscription.plan if self.subscription else None

    def as_json(self) -> dict:
        """The ``GET /api/v1/company`` contract."""
        return {
            "id": self.company.id,
            "name": self.company.name,
            "plan": self.plan.code if self.plan else None,
            "seats": self.seats,
            "seats_used": self.seats_used,
            "subscription_status": self.subscription.status if self.subscription else None,
            "credit_balance": self.account.credit_balance,
        }


def summary(company_id: int) -> CompanySummary:
    account = ledger.account_of(company_id)
    company = db.session.get(Company, company_id)
    return CompanySummary(company, account, account.subscription, seats_used(company_id))


@dataclass(frozen=True)
class CreditNotice:
    """What an employee sees about money before choosing a stay.

    Their own monthly allowance (the company's cap per employee, in yen, and what
    they have used this month), or why booking is closed. Never the company's whole
    balance: that is for the company admins' console.
    """

    blocked: str | None
    monthly_cap: int | None  # None: the company sets no cap per employee
    spent_this_month: int

    @property
    def remaining(self) -> int | None:
        if self.monthly_cap is None:
            return None
        return max(0, self.monthly_cap - self.spent_this_month)

    def remaining_after(self, total: int) -> int | None:
        """What is left of the allowance after a stay of ``total`` yen (None: no cap)."""
        if self.monthly_cap is None:
            return None
        return self.monthly_cap - self.spent_this_month - total


def credit_notice(user: User, now: datetime, grace_days: int) -> CreditNotice | None:
    if not user.books_stays:
        return None
    account = ledger.account_of(user.company_id)
    reason = ledger.booking_block_reason(account.subscription, now, grace_days)
    if not user.company.active:
        reason = _l("Your company's account is suspended.")
    blocked = str(ledger.ask_admin(reason, user.company_id)) if reason is not None else None
    spent = ledger.month_spent_by(user.id, tokyo_today(now))
    return CreditNotice(blocked, account.employee_monthly_cap, spent)


def check_seat_free(company_id: int) -> None:
    """A company cannot enrol more people than the seats it pays for (row-locked)."""
    account = ledger.account_of(company_id, lock=True)
    seats = account.subscription.seats if is_live(account.subscription) else 0
    if seats_used(company_id) >= seats:
        raise BillingError(
            _l(
                "All %(seats)d seats are in use. Add seats on the billing page first.",
                seats=seats,
            ),
            "seats_full",
        )


def save_policy(
    company_id: int,
    *,
    max_nights_per_stay: int,
    employee_monthly_cap: int | None,
    overage_allowed: bool,
    overage_monthly_limit: int,
    max_workspace_hours_per_month: int | None,
) -> BillingAccount:
    """Save the company's booking policy. ``max_workspace_hours_per_month``: the hours of
    workspace one employee may book a month (None: no cap)."""
    if not 1 <= max_nights_per_stay <= MAX_NIGHTS_PER_STAY:
        raise BillingError(
            _l("Nights per stay must be between 1 and %(n)d.", n=MAX_NIGHTS_PER_STAY), "policy"
        )
    if (employee_monthly_cap is not None and employee_monthly_cap < 0) or (
        overage_allowed and overage_monthly_limit < 0
    ):
        raise BillingError(_l("Amounts cannot be negative."), "policy")
    workspace_hours = max_workspace_hours_per_month
    if workspace_hours is not None and not 0 <= workspace_hours <= MAX_WORKSPACE_HOURS:
        raise BillingError(
            _l("Workspace hours a month must be between 0 and %(n)d.", n=MAX_WORKSPACE_HOURS),
            "policy",
        )
    account = ledger.account_of(company_id, lock=True)
    company = db.session.get(Company, company_id)
    company.max_nights_per_stay = max_nights_per_stay
    company.max_workspace_hours_per_month = workspace_hours
    account.employee_monthly_cap = employee_monthly_cap
    account.overage_allowed = overage_allowed
    account.overage_monthly_limit = overage_monthly_limit if overage_allowed else 0
    db.session.flush()
    return account


def save_billing_details(company_id: int, *, name: str, address: str, email: str) -> None:
    account = ledger.account_of(company_id, lock=True)
    account.billing_name, account.billing_address, account.billing_email = name, address, email
    db.session.flush()


def invoices_of(company_id: int) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.company_id == company_id)
            .order_by(Invoice.created_at.desc(), Invoice.id.desc())
        )
    )


def tax_included(total: int, rate_percent: int = 10) -> int:
    """The consumption tax inside a tax-inclusive total (rounded down, per invoice)."""
    return total * rate_percent // (100 + rate_percent)


# --- Usage ------------------------------------------------------------------------


def entries_of(company_id: int, *, limit: int | None = None) -> list[CreditEntry]:
    query = (
        select(CreditEntry)
        .options(joinedload(CreditEntry.user))
        .where(CreditEntry.company_id == company_id)
        .order_by(CreditEntry.id.desc())
    )
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class BurnDown:
    """This period's credit, day by day: what was there at the start and what is left."""

    start: date
    end: date
    opening: int
    points: list[tuple[date, int]]  # balance at the end of each day so far


def burn_down(company_id: int, now: datetime) -> BurnDown | None:
    account = ledger.account_of(company_id)
    sub = account.subscription
    if sub is None or sub.current_period_start is None or sub.current_period_end is None:
        return None
    start, end = tokyo_today(sub.current_period_start), tokyo_today(sub.current_period_end)
    since = ledger.tokyo_midnight(start)
    # What the period opened with: the balance after the last entry before it.
    opening = db.session.scalar(
        select(CreditEntry.balance_after)
        .where(CreditEntry.company_id == company_id, CreditEntry.created_at < since)
        .order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc())
        .limit(1)
    )
    opening = opening or 0
    rows = db.session.execute(
        select(CreditEntry.created_at, CreditEntry.balance_after)
        .where(CreditEntry.company_id == company_id, CreditEntry.created_at >= since)
        .order_by(CreditEntry.created_at, CreditEntry.id)
    ).all()
    points = {}
    for created_at, balance in rows:
        points[tokyo_today(created_at)] = balance
    today = min(tokyo_today(now), end)
    series, balance = [], opening
    day = start
    while day <= today:
        balance = points.get(day, balance)
        series.append((day, balance))
        day = date.fromordinal(day.toordinal() + 1)
    # Opening = what the period started with: carried-in plus its grant, if granted that day.
    first = series[0][1] if series else opening
    return BurnDown(start, end, max(opening, first), series)
