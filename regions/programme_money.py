"""A programme's fee paid from the company's credit, and given back.

A sign-up to a programme of price kind ``credit`` spends ``signup.fee`` from its
company's credit (``EntryKind.PROGRAMME``, negative) when it joins, once; the fee comes
back in full (``EntryKind.PROGRAMME_REFUND``) when the employee leaves before the
session's refund deadline or the organiser cancels the session. Both happen at most
once per sign-up (a unique index on ``credit_entry``); a sign-up that leaves and joins
again keeps its row and so cannot be charged twice: joining again after a refund is
refused with the credit way closed (``charge`` answers ``AlreadyRefunded``).

Money moves under the company's billing account lock (``ledger.account_of(lock=True)``),
which the caller takes before anything else about money in the transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts.models import User
from billing import ledger
from billing.models import CreditEntry, EntryKind
from core.errors import RuleError
from core.extensions import db
from regions.models import ProgrammeSignup

# Leaving this long before the session starts returns a credit-paid fee in full; later,
# nothing (the organiser has bought materials and turned others away).
REFUND_UNTIL_BEFORE = timedelta(hours=24)


class ProgrammeCreditRefused(RuleError):
    """The company does not pay programmes from its credit, or has too little left."""

    code = "credit"


def refund_deadline(starts_at: datetime) -> datetime:
    """Until when leaving returns a credit-paid fee."""
    return starts_at - REFUND_UNTIL_BEFORE


def paid(signup_id: int) -> int:
    """What the sign-up has taken from the credit net of refunds (yen, ≥ 0)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.programme_signup_id == signup_id,
            CreditEntry.kind.in_([EntryKind.PROGRAMME, EntryKind.PROGRAMME_REFUND]),
        )
    )
    return -int(total)


def _entry(signup_id: int, kind: EntryKind) -> CreditEntry | None:
    return db.session.scalar(
        select(CreditEntry).where(
            CreditEntry.programme_signup_id == signup_id, CreditEntry.kind == kind
        )
    )


def charge(signup: ProgrammeSignup, user: User, now: datetime, *, grace_days: int) -> int:
    """Spend the sign-up's fee from its company's credit; returns the yen taken (0 when
    it has no fee). Refuses (``ProgrammeCreditRefused``) when the company does not pay
    programmes from its credit, its subscription does not allow spending, or the credit
    is short beyond the company's overage limit (overage within it is added to the
    credit first and billed with the next invoice, as for stays); a sign-up already
    charged is not charged again."""
    if signup.fee <= 0:
        return 0
    account = ledger.account_of(signup.company_id, lock=True)
    if not account.company.programmes_on_credit:
        raise ProgrammeCreditRefused(
            _l(
                "Your company does not pay programmes from its credit. Please ask your"
                " company admin."
            ),
            "policy",
        )
    if _entry(signup.id, EntryKind.PROGRAMME) is not None:
        if _entry(signup.id, EntryKind.PROGRAMME_REFUND) is not None:
            raise ProgrammeCreditRefused(
                _l("This place was paid and given back once; please join another session."),
                "already_refunded",
            )
        return 0
    try:
        overage = ledger.check_spend(account, user, signup.fee, now, grace_days, employee_cap=False)
    except ledger.CreditRefused as refused:
        raise ProgrammeCreditRefused(refused.message, refused.code) from refused
    if overage:  # beyond the pool, within the company's overage limit: billed next invoice
        ledger.append(account, EntryKind.OVERAGE, overage, now, user_id=signup.user_id)
    ledger.append(
        account,
        EntryKind.PROGRAMME,
        -signup.fee,
        now,
        programme_signup_id=signup.id,
        user_id=signup.user_id,
        note="programme",
    )
    return signup.fee


def refund(signup: ProgrammeSignup, now: datetime) -> int:
    """Give back what the sign-up took from the credit, once; returns the yen."""
    owed = paid(signup.id)
    if owed <= 0:
        return 0
    account = ledger.account_of(signup.company_id, lock=True)
    if _entry(signup.id, EntryKind.PROGRAMME_REFUND) is not None:
        return 0
    ledger.append(
        account,
        EntryKind.PROGRAMME_REFUND,
        owed,
        now,
        programme_signup_id=signup.id,
        user_id=signup.user_id,
        note="programme",
    )
    return owed
