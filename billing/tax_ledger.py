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
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from billing.credit_alerts import warn_if_low
from billing.ledger import account_of, append
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
