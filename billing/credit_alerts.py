"""Telling a company its stay credit runs low: after a stay spends credit, the ledger
asks ``warn_if_low``, which leaves a ``credit.low`` event (accounts.events) once per
period for the notifications to tell the company's admins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from accounts.events import CREDIT_LOW, emit
from billing.models import BillingAccount, CreditEntry, EntryKind
from core.extensions import db

# Below this share of the period's grant, a company's credit is low (its admins hear of it).
LOW_CREDIT_PERCENT = 10


def warn_if_low(account: BillingAccount, now: datetime) -> None:
    """After a stay spends credit: once the balance falls below ``LOW_CREDIT_PERCENT`` of
    the current period's grant (the latest ``grant`` entry), the company's admins hear of
    it, once per period (a ``credit.low`` event keyed by that grant)."""
    grant = db.session.execute(
        select(CreditEntry.id, CreditEntry.amount)
        .where(CreditEntry.company_id == account.company_id, CreditEntry.kind == EntryKind.GRANT)
        .order_by(CreditEntry.id.desc())
        .limit(1)
    ).first()
    if grant is None or grant.amount <= 0:
        return
    if account.credit_balance * 100 >= grant.amount * LOW_CREDIT_PERCENT:
        return
    emit(
        CREDIT_LOW,
        now,
        company_id=account.company_id,
        data={"balance": account.credit_balance, "grant": grant.amount},
        dedupe_key=f"credit_low:{account.company_id}:{grant.id}",
    )
