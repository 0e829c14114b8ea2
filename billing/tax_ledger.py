"""宿泊税 in the credit ledger: a stay's accommodation tax, paid from the company's
stay credit with the stay and given back for the nights not stayed.

Rules it enforces:

- A stay's tax is its own entry kind (``accommodation_tax``), never mixed with the
  price: charged (−) in the transaction that books or extends the stay, refunded (+)
  in full for every night given up (a cancellation, a no-show, an early check-out, a
  shortened or moved stay), whatever the cancellation policy keeps of the price.
- What a stay holds of tax is the sum of its tax entries; ``settle_tax`` moves it to
  what the stay owes now (the tax of the nights it keeps) in one entry, so calling it
  twice changes nothing.
- The tax is not part of the employee's monthly cap (a cap on stay prices) but needs
  credit like any spend; ``check_spend(…, tax=…)`` counts it against the balance.
- A changed stay is settled here, price and tax in one go (``settle_change``): what it
  gives back first (the price by the policy, the tax in full), then what it costs
  more, refused as a whole when the credit (with overage) cannot pay for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from accounts.models import User
from billing.credit_alerts import warn_if_low
from billing.ledger import ChangeMoney, account_of, append, check_change_spend, spend_entry
from billing.models import BillingAccount, CreditEntry, EntryKind
from core.extensions import db


def tax_held(booking_ids) -> dict[int, int]:
    """What each stay holds of accommodation tax, in yen (≥ 0)."""
    ids = list(booking_ids)
    held = dict.fromkeys(ids, 0)
    if not ids:
        return held
    rows = db.session.execute(
        select(CreditEntry.booking_id, func.sum(CreditEntry.amount))
        .where(CreditEntry.booking_id.in_(ids), CreditEntry.kind == EntryKind.ACCOMMODATION_TAX)
        .group_by(CreditEntry.booking_id)
    )
    for booking_id, amount in rows:
        held[booking_id] = -int(amount)
    return held


def settle_tax(
    account: BillingAccount, booking_id: int, user_id: int, due: int, now: datetime
) -> int:
    """Move what the stay holds of tax to ``due`` (the tax of the nights it keeps), under
    the account lock the caller holds; returns the yen charged (> 0) or refunded (< 0).

    A charge must already have been allowed (``check_spend(…, tax=…)``)."""
    delta = due - tax_held([booking_id])[booking_id]
    if delta:
        append(
            account,
            EntryKind.ACCOMMODATION_TAX,
            -delta,
            now,
            booking_id=booking_id,
            user_id=user_id,
        )
        if delta > 0:
            warn_if_low(account, now)
    return delta


def refund_tax(company_id: int, booking_id: int, user_id: int, due: int, now: datetime) -> int:
    """Give back the tax of the nights a stay no longer keeps (``due`` is what it still
    owes, at most what it holds): takes the account lock; returns the yen refunded."""
    account = account_of(company_id, lock=True)
    held = tax_held([booking_id])[booking_id]
    if due >= held:
        return 0
    return -settle_tax(account, booking_id, user_id, due, now)


def check_change(
    account: BillingAccount,
    booking,
    user: User,
    money: ChangeMoney,
    tax_difference: int,
    now: datetime,
    grace_days: int,
) -> int:
    """Refuse a change the company cannot pay for, without writing (for a quote): its
    price increase (``money.charged``, counted in the employee's cap) and its tax
    increase need credit, less what the change gives back in the same transaction.
    Returns the overage it would need."""
    tax_charged = max(0, tax_difference)
    if not (money.charged or tax_charged):
        return 0
    back = money.refunded + max(0, -tax_difference)
    return check_change_spend(
        account, booking, user, money.charged, now, grace_days, tax=tax_charged - back
    )


def settle_change(
    booking, user: User, money: ChangeMoney, tax_due: int, now: datetime, grace_days: int
) -> int:
    """Write a change to the ledger under the account lock: ``money`` (from
    ``billing.ledger.change_money``) and the stay's tax moved to ``tax_due`` (the tax
    of the nights it has now). Returns the tax charged (> 0) or refunded (< 0).

    What comes back is written first, then the charges, refused (``CreditRefused``)
    when the company cannot pay for them; overage covers a shortfall as for a booking.
    A stay that never spent anything (it was free) spends its first charge rather than
    changing it, so the cap and the refunds find it as they find any stay.
    """
    account = account_of(booking.company_id, lock=True)
    refs = {"booking_id": booking.id, "user_id": booking.user_id}
    tax_difference = tax_due - tax_held([booking.id])[booking.id]
    if money.refunded:
        append(account, EntryKind.CHANGE, money.refunded, now, **refs)
    if tax_difference < 0:
        append(account, EntryKind.ACCOMMODATION_TAX, -tax_difference, now, **refs)
    tax_charged = max(0, tax_difference)
    if not (money.charged or tax_charged):
        return tax_difference
    overage = check_change_spend(
        account, booking, user, money.charged, now, grace_days, tax=tax_charged
    )
    if overage:
        append(account, EntryKind.OVERAGE, overage, now, **refs)
    if money.charged:
        kind = EntryKind.SPEND if spend_entry(booking.id) is None else EntryKind.CHANGE
        append(account, kind, -money.charged, now, **refs)
    if tax_charged:
        append(account, EntryKind.ACCOMMODATION_TAX, -tax_charged, now, **refs)
    warn_if_low(account, now)
    return tax_difference
