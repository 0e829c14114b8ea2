"""The credit ledger: every yen of a company's stay credit, coming and going.

Rules it enforces:

- Entries are appended, never changed; the balance is their sum, kept on the
  company's ``BillingAccount`` row under that row's lock (so two bookings of one
  company cannot both spend the last yen).
- A paid period invoice grants ``seats × credit per seat`` once. Unused credit
  carries over one period, then expires: when a period's grant arrives, whatever
  exceeds the previous grant expires (spending uses the oldest credit first), the
  rest is carried over.
- A stay spends its frozen total once; cancelling refunds it by the cancellation
  policy (free until 3 days before check-in, 50% after); a stay never cancelled
  (a no-show) refunds nothing.
- A changed stay (other dates, room or guests) is settled as ``change`` entries:
  the nights it gives up are cancelled *by the policy of the stay as it was* and
  the nights it gains are paid in full, and the net is charged (overage as for a
  booking, within the employee's cap) or returned. Until the free-cancellation
  date that is just the difference of the totals; after it, moving or shortening a
  stay keeps half of the given-up nights' price, as cancelling them would, so a
  late stay cannot escape the fee by moving to dates that are free to cancel. What
  a stay holds is its spend plus its changes; cancelling it later refunds by the
  policy the price of the nights it still has (at most what it holds), so no night
  is charged a fee twice.
- An employee's monthly cap counts a stay, with its changes and refund, in the
  month it was booked.
- The balance never goes below zero. A company that pays overage gets the
  missing credit as an ``overage`` entry, billed on its next invoice, up to its
  monthly limit; otherwise the booking is refused.
- A stay the employee paid part of by card (co-pay: ``Booking.employee_part``, their
  ``StayPayment``) splits a refund between the two payers in proportion to their
  parts (``billing.refunds.split_refund``): of a refund ``R`` on a stay of ``total``
  yen, the company gets ``R × company part ÷ total`` rounded down (its ``refund``
  entry, as for any stay) and the employee the rest, back to their card
  (``StayPayment.refunded``, sent by ``billing.copay``). The two add up to ``R`` and
  each is at most what that payer paid and has not had back. A cancellation's ``R``
  is the policy's (``refunds.refund_amount`` of the stay's total: all until 3 days
  before check-in, half after, none from the check-in day); a stay the company ended
  gives each payer back everything they paid.
- A stay's accommodation tax (宿泊税) is paid with it as an entry of its own kind:
  it needs credit but is not part of the employee's cap. A change's price and tax
  are settled together by ``billing.tax_ledger.settle_change``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from accounts.models import Company, User
from billing.credit_alerts import warn_if_low
from billing.models import (
    BillingAccount,
    CreditEntry,
    EntryKind,
    Invoice,
    PaymentStatus,
    StayPayment,
    Subscription,
)
from billing.refunds import RefundSplit, cancellation_policy, cancellation_split
from core.dates import month_bounds
from core.db import TOKYO, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.i18n import format_day, format_yen, format_yen_plain

BOOKABLE_STATUSES = frozenset({"active", "trialing"})


class CreditRefused(RuleError):
    """The company's subscription, credit or policy does not allow this stay."""

    code = "credit"


def account_of(company_id: int, *, lock: bool = False) -> BillingAccount:
    """The company's billing account (with its subscription and company), made on first
    use; locked when asked, and then read as of the lock, not as this session last saw it."""
    query = (
        select(BillingAccount)
        .where(BillingAccount.company_id == company_id)
        .options(joinedload(BillingAccount.subscription), joinedload(BillingAccount.company))
    )
    if lock:
        query = query.with_for_update(of=BillingAccount).execution_options(populate_existing=True)
    account = db.session.scalar(query)
    if account is None:
        try:
            with db.session.begin_nested():
                db.session.add(BillingAccount(company_id=company_id))
        except IntegrityError:
            pass  # made by a concurrent request a moment ago
        account = db.session.scalar(query)
    return account


def append(
    account: BillingAccount, kind: EntryKind, amount: int, now: datetime, **refs
) -> CreditEntry:
    """Add one entry and move the balance with it (the caller holds the account lock)."""
    account.credit_balance += amount
    entry = CreditEntry(
        company_id=account.company_id,
        kind=kind,
        amount=amount,
        balance_after=account.credit_balance,
        created_at=now,
        **refs,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


# --- Whether a stay may be booked ---------------------------------------------------


def booking_block_reason(
    subscription: Subscription | None, now: datetime, grace_days: int
) -> LazyString | None:
    """Why the company's subscription does not allow booking now, or None if it does."""
    if subscription is None:
        return _l("Your company has no subscription yet.")
    status = subscription.status
    if status in BOOKABLE_STATUSES:
        return None
    if status == "past_due":
        since = subscription.past_due_since or now
        if now - since <= timedelta(days=grace_days):
            return None
        return _l("Your company's payment is overdue.")
    if status == "canceled":
        return _l("Your company's subscription has ended.")
    if status in ("incomplete", "incomplete_expired"):
        return _l("Your company's subscription has not been paid for yet.")
    return _l("Your company's subscription is unpaid.")


def ask_admin(reason: LazyString, company_id: int) -> LazyString:
    admins = db.session.scalars(
        select(User.email)
        .where(User.company_id == company_id, User.role == "company_admin", User.active)
        .order_by(User.id)
        .limit(2)
    ).all()
    return _l(
        "%(reason)s New stays cannot be booked. Please ask your company admin (%(admins)s).",
        reason=reason,
        admins=", ".join(admins) or "—",
    )


STAY_KINDS = (EntryKind.SPEND, EntryKind.CHANGE)  # what a stay holds: spend and changes


def month_spent_by(user_id: int, today: date) -> int:
    """Credit the employee spent on stays booked this calendar month, net of their changes
    and refunds (a change or refund counts against the month its stay was booked in,
    whenever it came)."""
    start, end = month_bounds(today.replace(day=1))
    booked_this_month = select(CreditEntry.booking_id).where(
        CreditEntry.user_id == user_id,
        CreditEntry.kind == EntryKind.SPEND,
        CreditEntry.created_at >= tokyo_midnight(start),
        CreditEntry.created_at < tokyo_midnight(end),
    )
    spent = db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.booking_id.in_(booked_this_month),
            CreditEntry.kind.in_((*STAY_KINDS, EntryKind.REFUND)),
        )
    )
    return -spent


def overage_this_month(company_id: int, today: date) -> int:
    start, end = month_bounds(today.replace(day=1))
    return db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.company_id == company_id,
            CreditEntry.kind == EntryKind.OVERAGE,
            CreditEntry.created_at >= tokyo_midnight(start),
            CreditEntry.created_at < tokyo_midnight(end),
        )
    )


def tokyo_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO)


def check_spend(
    account: BillingAccount,
    user: User,
    total: int,
    now: datetime,
    grace_days: int,
    *,
    counted_in: date | None = None,
    tax: int = 0,
    employee_cap: bool = True,
) -> int:
    """Refuse a stay of ``total`` yen the company cannot pay for; return the overage it needs.

    Checks, in order: the subscription allows booking, the employee's monthly
    cap, the company's credit (with overage up to its monthly limit). With
    ``counted_in`` (a day), ``total`` is the increase of a changed stay booked in
    that day's month, and the cap is checked against that month. ``tax``: the
    accommodation tax paid with it (``billing.tax_ledger``), which needs credit too
    but is not part of the employee's cap (a cap on stay prices); a change may pass
    a negative ``total`` or ``tax`` for what it gives back in the same transaction.
    ``employee_cap=False``: workspace, which has a cap of its own in hours.
    """
    company: Company = account.company
    if not company.active:
        raise CreditRefused(
            ask_admin(_l("Your company's account is suspended."), company.id), "company_inactive"
        )
    reason = booking_block_reason(account.subscription, now, grace_days)
    if reason is not None:
        raise CreditRefused(ask_admin(reason, company.id), "subscription")
    today = tokyo_today(now)
    if employee_cap and account.employee_monthly_cap is not None and total > 0:
        _check_employee_cap(account, user, total, today, counted_in)
    missing = max(0, total + tax - account.credit_balance)
    if missing == 0:
        return 0
    if account.overage_allowed:
        used = overage_this_month(company.id, today)
        if used + missing <= account.overage_monthly_limit:
            return missing
    if counted_in is not None:
        raise CreditRefused(
            _l(
                "This change costs %(total)s more, but your company has %(balance)s of stay"
                " credit left. Please choose a shorter or cheaper stay, or ask your company admin.",
                total=LazyString(format_yen, total + tax),
                balance=LazyString(format_yen, account.credit_balance),
            ),
            "credit",
        )
    if tax:
        raise CreditRefused(
            _l(
                "This stay costs %(total)s and %(tax)s of accommodation tax, but your company"
                " has %(balance)s of stay credit left. Please choose a shorter or cheaper stay,"
                " or ask your company admin.",
                total=LazyString(format_yen, total),
                tax=LazyString(format_yen_plain, tax),  # outside the consumption tax
                balance=LazyString(format_yen, account.credit_balance),
            ),
            "credit",
        )
    raise CreditRefused(
        _l(
            "This stay costs %(total)s, but your company has %(balance)s of stay credit left."
            " Please choose a shorter or cheaper stay, or ask your company admin.",
            total=LazyString(format_yen, total),
            balance=LazyString(format_yen, account.credit_balance),
        ),
        "credit",
    )


def _check_employee_cap(
    account: BillingAccount, user: User, total: int, today: date, counted_in: date | None
) -> None:
    cap = account.employee_monthly_cap
    if counted_in is None:
        spent = month_spent_by(user.id, today)
        if spent + total > cap:
            raise CreditRefused(
                _l(
                    "This stay costs %(total)s, but your company allows you %(cap)s of credit"
                    " a month and you have used %(spent)s this month.",
                    total=LazyString(format_yen, total),
                    cap=LazyString(format_yen, cap),
                    spent=LazyString(format_yen, spent),
                ),
                "employee_cap",
            )
        return
    spent = month_spent_by(user.id, counted_in)
    if spent + total > cap:
        raise CreditRefused(
            _l(
                "This change costs %(total)s more, but your company allows you %(cap)s of"
                " credit a month and the stays you booked in %(month)s already use %(spent)s.",
                total=LazyString(format_yen, total),
                cap=LazyString(format_yen, cap),
                month=LazyString(format_day, counted_in, "month"),
                spent=LazyString(format_yen, spent),
            ),
            "employee_cap",
        )


def spend_for_booking(booking, user: User, now: datetime, grace_days: int) -> None:
    """Spend the company's part of the stay's frozen total (the total less the employee's
    part, paid by card: ``hr.subsidy``), and its accommodation tax as an entry of its own,
    from the company's credit under the account lock (both must fit the credit; the
    employee's cap counts the price only)."""
    account = account_of(booking.company_id, lock=True)
    tax = booking.accommodation_tax or 0
    company_part = booking.total_price - (booking.employee_part or 0)
    overage = check_spend(account, user, company_part, now, grace_days, tax=tax)
    refs = {"booking_id": booking.id, "user_id": user.id}
    if overage:
        append(account, EntryKind.OVERAGE, overage, now, **refs)
    if company_part:
        append(account, EntryKind.SPEND, -company_part, now, **refs)
    if tax:
        append(account, EntryKind.ACCOMMODATION_TAX, -tax, now, **refs)
    if company_part or tax:
        warn_if_low(account, now)


def stay_payment_of(booking_id: int, *, lock: bool = False) -> StayPayment | None:
    """The employee's card payment of their part of a stay (None: they pay nothing)."""
    query = select(StayPayment).where(StayPayment.booking_id == booking_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def card_held(payment: StayPayment | None) -> int:
    """What the employee paid by card for a stay and has not had back, in yen."""
    if payment is None or payment.status != PaymentStatus.PAID:
        return 0
    return payment.amount - payment.refunded


def paid_for(booking_ids: Iterable[int]) -> dict[int, int]:
    """What each stay holds of the company's credit: its spend and changes, in yen (≥ 0)."""
    ids = list(booking_ids)
    held = dict.fromkeys(ids, 0)
    if not ids:
        return held
    rows = db.session.execute(
        select(CreditEntry.booking_id, func.sum(CreditEntry.amount))
        .where(CreditEntry.booking_id.in_(ids), CreditEntry.kind.in_(STAY_KINDS))
        .group_by(CreditEntry.booking_id)
    )
    for booking_id, amount in rows:
        held[booking_id] = -int(amount)  # PostgreSQL sums a BIGINT as a numeric
    return held


def refund_for_cancellation(booking, now: datetime, *, full: bool = False) -> int:
    """Give back what the policy allows for a cancelled stay (once); returns the yen refunded
    to the company's credit (``refund_split_for_cancellation``: the employee's share of a
    co-paid stay is recorded too).

    ``full``: everything the stay holds (the company ended the stay, not the employee).
    """
    return refund_split_for_cancellation(booking, now, full=full).company


def refund_split_for_cancellation(booking, now: datetime, *, full: bool = False) -> RefundSplit:
    """Give back what the policy allows for a cancelled stay, once, to each of its payers
    (see the module): the company's share as a ``refund`` entry, the employee's added to
    their payment's ``refunded`` (sent to their card by ``billing.copay`` after the
    commit). Takes the payment's lock, then the account's."""
    payment = stay_payment_of(booking.id, lock=True)
    account = account_of(booking.company_id, lock=True)
    already = db.session.scalar(
        select(CreditEntry.id).where(
            CreditEntry.booking_id == booking.id, CreditEntry.kind == EntryKind.REFUND
        )
    )
    if already is not None:
        return RefundSplit(0, 0)
    split = cancellation_split(
        booking.total_price,
        booking.employee_part or 0,
        booking.check_in,
        tokyo_today(now),
        company_held=paid_for([booking.id])[booking.id],
        employee_held=card_held(payment),
        full=full,
    )
    if split.company > 0:
        append(
            account,
            EntryKind.REFUND,
            split.company,
            now,
            booking_id=booking.id,
            user_id=booking.user_id,
        )
    if split.employee > 0:
        payment.refunded += split.employee
        db.session.flush()
    return split


@dataclass(frozen=True)
class ChangeMoney:
    """What changing a stay does to the company's credit, in yen (each ≥ 0).

    ``charged``: taken from the credit. ``refunded``: given back. ``kept``: what the
    policy keeps of the dropped nights' price, as a cancellation of those nights would.
    At most one of ``charged`` and ``refunded`` is not 0: they are the net movement.
    """

    difference: int  # new total − old total
    charged: int
    refunded: int
    kept: int  # of the dropped nights' price, kept by the policy
    refund_percent: int  # the policy's band on the day of the change (for a decrease)


def change_money(
    added: int, dropped: int, check_in: date, booked_on: date, today: date
) -> ChangeMoney:
    """Settle a change of a stay starting ``check_in`` (as it was before the change, booked
    on ``booked_on``), made on ``today``: nights costing ``added`` yen are booked, nights
    that cost ``dropped`` yen are given up.

    The dropped nights are cancelled by the policy (all of their price back until the
    free-cancellation date, half from then on) and the new nights are paid in full; the
    net of the two is charged or returned. Until the free date this is just the
    difference of the totals. After it, moving or shortening a stay costs what
    cancelling those nights would: a late change cannot escape the fee by moving the
    stay to dates that are free to cancel.
    """
    policy = cancellation_policy(check_in, booked_on)
    back = policy.refund_on(dropped, today)
    net = added - back
    return ChangeMoney(
        added - dropped, max(0, net), max(0, -net), dropped - back, policy.percent_on(today)
    )


def spend_entry(booking_id: int) -> CreditEntry | None:
    """The stay's spend entry (None for a stay that never cost anything)."""
    return db.session.scalar(
        select(CreditEntry).where(
            CreditEntry.booking_id == booking_id, CreditEntry.kind == EntryKind.SPEND
        )
    )


def check_change_spend(
    account: BillingAccount,
    booking,
    user: User,
    increase: int,
    now: datetime,
    grace_days: int,
    *,
    tax: int = 0,
) -> int:
    """Refuse an ``increase`` of a stay (and ``tax``, the change of its accommodation
    tax) the company cannot pay for; return the overage it needs. The employee's cap
    counts the increase (not the tax) in the month the stay was booked."""
    spend = spend_entry(booking.id)
    counted_in = tokyo_today(spend.created_at if spend is not None else now)
    return check_spend(account, user, increase, now, grace_days, counted_in=counted_in, tax=tax)


def grant_period(
    account: BillingAccount,
    amount: int,
    now: datetime,
    *,
    invoice_id: int,
    period_start: date | None,
) -> None:
    """A paid period: expire what is older than one carry-over, carry the rest, grant anew.

    A period that grants nothing is no period: it changes nothing.
    """
    if amount <= 0:
        return
    previous = db.session.scalar(
        select(CreditEntry.amount)
        .where(CreditEntry.company_id == account.company_id, CreditEntry.kind == EntryKind.GRANT)
        .order_by(CreditEntry.id.desc())
        .limit(1)
    )
    balance = account.credit_balance
    if previous is not None and balance > 0:
        expired = max(0, balance - previous)
        if expired:
            append(account, EntryKind.EXPIRY, -expired, now, note="older than one period")
        carried = balance - expired
        if carried:
            append(account, EntryKind.CARRY_OVER, -carried, now, note="closing")
            append(
                account,
                EntryKind.CARRY_OVER,
                carried,
                now,
                period_start=period_start,
                note="opening",
            )
    append(
        account,
        EntryKind.GRANT,
        amount,
        now,
        invoice_id=invoice_id,
        period_start=period_start,
    )


def expire_lapsed(now: datetime) -> int:
    """Credit of a company whose subscription has ended expires once the period after
    its last paid period is over (the one carry-over every credit gets). Returns the
    number of companies whose credit expired."""
    last_grants = (
        select(CreditEntry.company_id, func.max(CreditEntry.id).label("entry_id"))
        .where(CreditEntry.kind == EntryKind.GRANT, CreditEntry.invoice_id.is_not(None))
        .group_by(CreditEntry.company_id)
        .subquery()
    )
    rows = db.session.execute(
        select(BillingAccount.company_id, Invoice.period_start, Invoice.period_end)
        .join(last_grants, last_grants.c.company_id == BillingAccount.company_id)
        .join(CreditEntry, CreditEntry.id == last_grants.c.entry_id)
        .join(Invoice, Invoice.id == CreditEntry.invoice_id)
        .outerjoin(Subscription, Subscription.id == BillingAccount.subscription_id)
        .where(
            BillingAccount.credit_balance > 0,
            Subscription.status.in_(("canceled", "incomplete_expired", "unpaid")),
        )
    ).all()
    expired = 0
    for company_id, start, end in rows:
        if start is None or end is None or now < end + (end - start):
            continue
        account = account_of(company_id, lock=True)
        if account.credit_balance > 0:
            append(account, EntryKind.EXPIRY, -account.credit_balance, now, note="no paid period")
            expired += 1
    db.session.flush()
    return expired


def ledger_sum(company_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.company_id == company_id
        )
    )
