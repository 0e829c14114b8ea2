"""The money: each company's balance its ledger, and each stay paid once (see
``operations.invariants``)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.orm import Session, aliased

from billing.ledger import STAY_KINDS
from billing.models import BillingAccount, CreditEntry, EntryKind
from booking.models import Booking, BookingNight, BookingStatus
from operations.violation import CHARGED, LIVE, Violation, as_int

STAY_ENTRY_KINDS = tuple(str(k) for k in STAY_KINDS)
# The kinds that belong to one stay and must name it.
BOOKING_KINDS = (
    EntryKind.SPEND,
    EntryKind.REFUND,
    EntryKind.CHANGE,
    EntryKind.ACCOMMODATION_TAX,
)

# --- ledger ----------------------------------------------------------------------------


def ledger(session: Session, today: date, limit: int) -> list[Violation]:
    return [
        *_balances(session, limit),
        *_running_balances(session, limit),
        *_entry_rules(session, limit),
    ]


def _balances(session: Session, limit: int) -> list[Violation]:
    e, a = CreditEntry, BillingAccount
    sums = select(e.company_id, func.sum(e.amount).label("total")).group_by(e.company_id).subquery()
    total = func.coalesce(sums.c.total, 0)
    rows = session.execute(
        select(a.company_id, a.credit_balance, total)
        .outerjoin(sums, sums.c.company_id == a.company_id)
        .where(or_(a.credit_balance != total, a.credit_balance < 0))
        .order_by(a.company_id)
        .limit(limit)
    ).all()
    found = [
        Violation(
            "ledger",
            f"company {company_id}",
            f"balance {balance} yen, but its ledger entries add up to {as_int(summed)} yen"
            if balance != as_int(summed)
            else f"balance {balance} yen is below zero",
        )
        for company_id, balance, summed in rows
    ]
    orphans = session.execute(
        select(sums.c.company_id, sums.c.total)
        .outerjoin(a, a.company_id == sums.c.company_id)
        .where(a.company_id.is_(None))
        .order_by(sums.c.company_id)
        .limit(limit)
    ).all()
    found += [
        Violation(
            "ledger",
            f"company {company_id}",
            f"has ledger entries adding up to {as_int(summed)} yen but no billing account",
        )
        for company_id, summed in orphans
    ]
    return found


def _running_balances(session: Session, limit: int) -> list[Violation]:
    """Each entry's ``balance_after`` is the sum of the company's entries up to it."""
    e = CreditEntry
    running = select(
        e.id,
        e.company_id,
        e.balance_after,
        func.sum(e.amount).over(partition_by=e.company_id, order_by=e.id).label("running"),
    ).subquery()
    rows = session.execute(
        select(running.c.company_id, func.min(running.c.id), func.count())
        .where(running.c.balance_after != running.c.running)
        .group_by(running.c.company_id)
        .order_by(running.c.company_id)
        .limit(limit)
    ).all()
    return [
        Violation(
            "ledger",
            f"company {company_id}",
            f"{n} entries whose balance after is not the running sum, the first entry {first}",
        )
        for company_id, first, n in rows
    ]


def _entry_rules(session: Session, limit: int) -> list[Violation]:
    """Each kind's sign, and a stay's entries name a stay of the same company."""
    e, b = CreditEntry, Booking
    signed = or_(
        and_(e.kind.in_(("grant", "refund", "overage")), e.amount > 0),
        and_(e.kind.in_(("spend", "expiry")), e.amount < 0),
        e.kind == "carry_over",
        and_(e.kind.in_(("change", "accommodation_tax")), e.amount != 0),
    )
    rows = session.execute(
        select(e.id, e.company_id, e.kind, e.amount, e.booking_id, b.company_id)
        .outerjoin(b, b.id == e.booking_id)
        .where(
            or_(
                not_(signed),
                and_(e.kind.in_(tuple(str(k) for k in BOOKING_KINDS)), e.booking_id.is_(None)),
                and_(e.booking_id.is_not(None), b.company_id != e.company_id),
            )
        )
        .order_by(e.id)
        .limit(limit)
    ).all()
    found = []
    for entry_id, company_id, kind, amount, booking_id, stay_company in rows:
        if booking_id is not None and stay_company is not None and stay_company != company_id:
            why = f"{kind} for booking {booking_id} of company {stay_company}"
        elif booking_id is None and kind in BOOKING_KINDS:
            why = f"{kind} of {amount} yen names no booking"
        else:
            why = f"{kind} of {amount} yen has the wrong sign"
        found.append(Violation("ledger", f"company {company_id} entry {entry_id}", why))
    return found


# --- paid_once ---------------------------------------------------------------------------


def paid_once(session: Session, today: date, limit: int) -> list[Violation]:
    e, b, bn = CreditEntry, Booking, BookingNight

    def total_of(condition):
        return func.sum(case((condition, e.amount), else_=0))

    def count_of(condition):
        return func.sum(case((condition, 1), else_=0))

    money = (
        select(
            e.booking_id,
            total_of(e.kind.in_(STAY_ENTRY_KINDS)).label("stay"),
            total_of(e.kind == EntryKind.REFUND).label("refunded"),
            total_of(e.kind == EntryKind.ACCOMMODATION_TAX).label("tax"),
            count_of(e.kind == EntryKind.SPEND).label("spends"),
            count_of(e.kind == EntryKind.REFUND).label("refunds"),
        )
        .where(e.booking_id.is_not(None))
        .group_by(e.booking_id)
        .subquery()
    )
    owner = aliased(Booking)
    kept = (
        select(bn.booking_id, func.sum(bn.accommodation_tax).label("tax"))
        .join(owner, owner.id == bn.booking_id)
        .where(bn.night < func.coalesce(owner.released_on, owner.check_out))
        .group_by(bn.booking_id)
        .subquery()
    )
    held = -func.coalesce(money.c.stay, 0)
    refunded = func.coalesce(money.c.refunded, 0)
    spends = func.coalesce(money.c.spends, 0)
    tax_held = -func.coalesce(money.c.tax, 0)
    tax_due = case((b.status.in_(LIVE), func.coalesce(kept.c.tax, 0)), else_=0)
    charged = b.status.in_(CHARGED)
    rows = session.execute(
        select(
            b.id,
            b.status,
            b.total_price - b.employee_part,
            held,
            refunded,
            spends,
            money.c.refunds,
            tax_held,
        )
        .add_columns(tax_due)
        .outerjoin(money, money.c.booking_id == b.id)
        .outerjoin(kept, kept.c.booking_id == b.id)
        .where(
            or_(
                spends > 1,
                money.c.refunds > 1,
                and_(charged, b.total_price - b.employee_part > 0, spends == 0),
                and_(charged, held < b.total_price - b.employee_part),
                and_(b.status == BookingStatus.CANCELLED, held - refunded < 0),
                tax_held != tax_due,
            )
        )
        .order_by(b.id)
        .limit(limit)
    ).all()
    found = []
    for booking_id, status, total, held_, refunded_, spends_, refunds, tax_, due in rows:
        held_, refunded_, spends_, tax_, due = map(as_int, (held_, refunded_, spends_, tax_, due))
        subject = f"booking {booking_id} ({status})"
        if spends_ > 1:
            why = f"spent {spends_} times"
        elif as_int(refunds) > 1:
            why = f"refunded {as_int(refunds)} times"
        elif status in CHARGED and total > 0 and spends_ == 0:
            why = f"costs {total} yen but was never paid for"
        elif status in CHARGED and held_ < total:
            why = f"costs {total} yen but holds only {held_} yen of credit"
        elif status == BookingStatus.CANCELLED and held_ - refunded_ < 0:
            why = f"paid {held_} yen but got {refunded_} yen back"
        else:
            why = f"holds {tax_} yen of accommodation tax, but owes {due} yen"
        found.append(Violation("paid_once", subject, why))
    return found
