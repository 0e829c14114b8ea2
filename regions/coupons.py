"""Local coupons (地域クーポン): welfare money that reaches a town's shops.

**Funds.** A municipality's operator organisation funds coupons for stays in its own
municipality (``OperatorOrg.municipality_code``); a company funds them from its welfare
budget for its own employees' stays in any municipality. A fund pays
``yen_per_guest_night`` for each guest-night of a stay checking in between its
``starts_on`` and ``ends_on``, until ``budget`` is issued: whole yen, never a fraction.

**Issue.** Each guest-night of a stay is one coupon of the fund's amount, numbered
``seq`` 1…N per fund and stay (``UNIQUE(fund_id, booking_id, seq)``: a stay gets its
coupons once however often issuing runs). The fund's row is locked while its coupons are
made, and ``issued`` never passes ``budget``: a fund with too little left issues as many
whole coupons as fit, and then none. A coupon is valid from the check-in day through the
day after check-out (a grace day to spend it on the way home).

**Spend.** A coupon is spent whole, once, at one registered shop of its municipality
within its dates, by the signed token in its QR code (``regions.coupon_tokens``) or its
short code: one ``CouponRedemption`` row under the coupon's row lock, and the database
refuses a second (``UNIQUE(coupon_id)``). A coupon never becomes cash.

**Close.** A coupon left open after its last day expires (``expire_due``, reason
``ended``); the open coupons of a stay cancelled or never begun are withdrawn
(``withdraw_for_stay``, reason ``stay_cancelled``), and those of a stay that changed are
withdrawn and issued again for what it now is (``refresh_for_stay``, reason
``stay_changed``). Withdrawn coupons give their yen back to the budget and are counted
apart; every fund always reconciles: issued = redeemed + expired + open, in yen and in
coupons (``coupon_figures.totals``). The funder pays the shops from the monthly
statement (``coupon_figures.monthly_statement``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.events import COUPONS_ISSUED, emit
from accounts.models import Company, OperatorOrg, User
from core.db import in_id_range, tokyo_today
from core.errors import RuleError
from core.extensions import db
from facilities.municipalities import by_code, is_valid_code
from regions import coupon_tokens
from regions.models import (
    Coupon,
    CouponFund,
    CouponStatus,
)

GRACE = timedelta(days=1)  # a coupon is good through the day after check-out
MAX_NAME = 200
MAX_YEN_PER_GUEST_NIGHT = 100_000
MAX_BUDGET = 2_000_000_000  # yen; the columns are 32-bit integers
MAX_FUND_DAYS = 3 * 366  # a fund runs at most about three years
MAX_START_AHEAD = timedelta(days=2 * 366)
VOID_CANCELLED = "stay_cancelled"
# Open coupons of a stay whose dates or guests changed: withdrawn, and the stay's
# coupons issued again for what it now is (``refresh_for_stay``).
VOID_CHANGED = "stay_changed"
WITHDRAWN = (VOID_CANCELLED, VOID_CHANGED)  # their yen went back to the budget
VOID_ENDED = "ended"


# --- errors -----------------------------------------------------------------------------


class FundError(RuleError):
    """A fund was refused; ``code`` names the form field it is about."""


class CouponRefused(RuleError):
    """A coupon cannot be redeemed; ``code`` says why: ``bad_token``, ``used``,
    ``expired``, ``not_yet``, ``out_of_area``, ``withdrawn``, ``shop_suspended``."""


def _refusal(code: str) -> CouponRefused:
    messages = {
        "bad_token": _l("This is not a valid Engawa coupon. Please scan the guest's code again."),
        "used": _l("This coupon has already been used."),
        "expired": _l("This coupon has expired."),
        "not_yet": _l("This coupon is not valid yet: it can be used from the check-in day."),
        "out_of_area": _l("This coupon is for another municipality and cannot be used here."),
        "withdrawn": _l("This coupon was withdrawn: its stay was cancelled or changed."),
        "shop_suspended": _l(
            "Your shop is suspended and cannot take coupons. Please contact the municipality."
        ),
    }
    return CouponRefused(messages[code], code)


# --- funds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundDraft:
    """A fund as checked, before it is made (the confirm page shows it)."""

    name: str
    municipality_code: str
    yen_per_guest_night: int
    starts_on: date
    ends_on: date
    budget: int

    @property
    def guest_nights(self) -> int:
        """How many coupons the budget pays for at most (whole coupons only)."""
        return self.budget // self.yen_per_guest_night

    @property
    def municipality_name(self) -> str:
        place = by_code(self.municipality_code)
        return place.full_name if place else self.municipality_code


def _whole_yen(value, field: str, low: int, high: int, message) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FundError(message, field)
    return value


def check_fund(
    *,
    name: str,
    municipality_code: str,
    yen_per_guest_night,
    starts_on,
    ends_on,
    budget,
    today: date,
) -> FundDraft:
    """A fund's facts checked (``FundError`` names the field): a name, a real
    municipality, a whole yen amount per guest-night from 1 to 100,000, a budget that
    pays at least one coupon, and dates in order that have not all passed."""
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise FundError(_l("Enter a name for the fund (up to 200 characters)."), "name")
    code = (municipality_code or "").strip()
    if not is_valid_code(code) or by_code(code) is None:
        raise FundError(_l("Choose a municipality."), "municipality_code")
    amount = _whole_yen(
        yen_per_guest_night,
        "yen_per_guest_night",
        1,
        MAX_YEN_PER_GUEST_NIGHT,
        _l("Enter whole yen per guest-night, from ¥1 to ¥100,000."),
    )
    total = _whole_yen(
        budget, "budget", 1, MAX_BUDGET, _l("Enter the budget in whole yen, up to ¥2,000,000,000.")
    )
    if total < amount:
        raise FundError(_l("The budget must pay for at least one coupon."), "budget")
    if not isinstance(starts_on, date) or not isinstance(ends_on, date):
        raise FundError(_l("Enter the first and last check-in days."), "starts_on")
    if ends_on < starts_on:
        raise FundError(_l("The last check-in day must not be before the first."), "ends_on")
    if ends_on < today:
        raise FundError(_l("The last check-in day has passed."), "ends_on")
    if starts_on > today + MAX_START_AHEAD:
        raise FundError(_l("The fund must start within two years."), "starts_on")
    if (ends_on - starts_on).days > MAX_FUND_DAYS:
        raise FundError(_l("A fund runs for at most three years."), "ends_on")
    return FundDraft(name, code, amount, starts_on, ends_on, total)


def _refuse_double(draft: FundDraft, **funder) -> None:
    """The same funder's active fund of the same name and place over the same dates:
    a confirm button pressed twice, not a second fund. The funder's row is locked
    first, so two presses at once make one fund."""
    ((column, value),) = funder.items()
    owner = OperatorOrg if column == "operator_id" else Company
    db.session.execute(select(owner.id).where(owner.id == value).with_for_update()).all()
    twin = db.session.scalar(
        select(CouponFund.id).where(
            getattr(CouponFund, column) == value,
            CouponFund.active.is_(True),
            CouponFund.name == draft.name,
            CouponFund.municipality_code == draft.municipality_code,
            CouponFund.starts_on == draft.starts_on,
            CouponFund.ends_on == draft.ends_on,
        )
    )
    if twin is not None:
        raise FundError(_l("This fund already exists."), "name")


def _create(draft: FundDraft, actor: User, now: datetime, **funder) -> CouponFund:
    _refuse_double(draft, **funder)
    fund = CouponFund(
        **funder,
        name=draft.name,
        municipality_code=draft.municipality_code,
        yen_per_guest_night=draft.yen_per_guest_night,
        starts_on=draft.starts_on,
        ends_on=draft.ends_on,
        budget=draft.budget,
        issued=0,
        active=True,
        created_at=now,
    )
    db.session.add(fund)
    db.session.flush()
    audit.record(
        "coupon_fund.create",
        now,
        actor=actor,
        object_type="coupon_fund",
        object_id=fund.id,
        company_id=funder.get("company_id"),
        operator_id=funder.get("operator_id"),
        after={
            "name": draft.name,
            "municipality_code": draft.municipality_code,
            "yen_per_guest_night": draft.yen_per_guest_night,
            "starts_on": draft.starts_on.isoformat(),
            "ends_on": draft.ends_on.isoformat(),
            "budget": draft.budget,
        },
    )
    return fund


def create_municipal_fund(
    operator_id: int, draft: FundDraft, actor: User, now: datetime
) -> CouponFund:
    """A municipality funds coupons for stays in itself: only an organisation the
    platform gave a municipality code, and only for that code (flushes, audited)."""
    org = db.session.get(OperatorOrg, operator_id)
    if org is None or not org.municipality_code:
        raise FundError(
            _l("Only a municipality's organisation funds local coupons."), "municipality_code"
        )
    if draft.municipality_code != org.municipality_code:
        raise FundError(
            _l("A municipality funds coupons for stays in itself only."), "municipality_code"
        )
    return _create(draft, actor, now, operator_id=operator_id)


def create_company_fund(
    company_id: int, draft: FundDraft, actor: User, now: datetime
) -> CouponFund:
    """A company funds coupons for its own employees' stays in a municipality (flushes,
    audited)."""
    return _create(draft, actor, now, company_id=company_id)


def funds_of_operator(operator_id: int) -> list[CouponFund]:
    return list(
        db.session.scalars(
            select(CouponFund)
            .where(CouponFund.operator_id == operator_id)
            .order_by(CouponFund.starts_on.desc(), CouponFund.id.desc())
        )
    )


def funds_of_company(company_id: int) -> list[CouponFund]:
    return list(
        db.session.scalars(
            select(CouponFund)
            .where(CouponFund.company_id == company_id)
            .order_by(CouponFund.starts_on.desc(), CouponFund.id.desc())
        )
    )


def fund_of_operator(operator_id: int, fund_id: int) -> CouponFund | None:
    """One of the organisation's funds; another funder's is not found."""
    if not in_id_range(fund_id):
        return None
    return db.session.scalar(
        select(CouponFund).where(CouponFund.id == fund_id, CouponFund.operator_id == operator_id)
    )


def fund_of_company(company_id: int, fund_id: int) -> CouponFund | None:
    """One of the company's funds; another funder's is not found."""
    if not in_id_range(fund_id):
        return None
    return db.session.scalar(
        select(CouponFund).where(CouponFund.id == fund_id, CouponFund.company_id == company_id)
    )


# --- issue ------------------------------------------------------------------------------


def _funds_for(municipality_code: str, company_id: int, check_in: date):
    """The funds that pay for a stay: active, of its municipality, running on its
    check-in day; a company's only for its own employees."""
    return and_(
        CouponFund.active.is_(True),
        CouponFund.municipality_code == municipality_code,
        CouponFund.starts_on <= check_in,
        CouponFund.ends_on >= check_in,
        or_(CouponFund.operator_id.is_not(None), CouponFund.company_id == company_id),
    )


def funds_paying(municipality_code: str | None, company_id: int, check_in: date) -> list[int]:
    """The ids of the funds that pay for a stay of these facts, in id order."""
    if not municipality_code:
        return []
    return list(
        db.session.scalars(
            select(CouponFund.id)
            .where(_funds_for(municipality_code, company_id, check_in))
            .order_by(CouponFund.id)
        )
    )


def lock_funds(fund_ids) -> None:
    """Lock funds' rows in id order, before issuing for several stays in one
    transaction: every issuer then takes fund locks in the same order (no deadlock)."""
    ids = sorted(set(fund_ids))
    if ids:
        db.session.execute(
            select(CouponFund.id)
            .where(CouponFund.id.in_(ids))
            .order_by(CouponFund.id)
            .with_for_update()
        ).all()


def issue_for_stay(
    *,
    booking_id: int,
    user_id: int,
    company_id: int,
    municipality_code: str | None,
    check_in: date,
    check_out: date,
    guests: int,
    now: datetime,
) -> list[Coupon]:
    """Issue a stay's coupons from every fund that pays for it (flushes); returns the
    coupons issued now, none when the stay already had them.

    One coupon per guest-night (``guests`` × nights), numbered 1…N per fund. Each fund's
    row is locked, in id order, and re-checked; a fund that already issued for this stay
    issues nothing more; one with too little left issues the whole coupons that fit. A
    stay whose last coupon day has passed gets none. Emits ``coupons.issued`` per fund.
    """
    nights = (check_out - check_in).days
    if not municipality_code or nights < 1 or guests < 1:
        return []
    valid_until = check_out + GRACE
    if valid_until < tokyo_today(now):
        return []
    fund_ids = funds_paying(municipality_code, company_id, check_in)
    issued: list[Coupon] = []
    for fund_id in fund_ids:
        issued.extend(
            _issue_from(
                fund_id,
                booking_id=booking_id,
                user_id=user_id,
                company_id=company_id,
                municipality_code=municipality_code,
                check_in=check_in,
                valid_until=valid_until,
                wanted=guests * nights,
                now=now,
            )
        )
    return issued


def _issue_from(
    fund_id: int,
    *,
    booking_id: int,
    user_id: int,
    company_id: int,
    municipality_code: str,
    check_in: date,
    valid_until: date,
    wanted: int,
    now: datetime,
    again: bool = False,
) -> list[Coupon]:
    """Issue up to ``wanted`` coupons of the fund for the stay. A stay that has coupons
    of the fund gets none, unless ``again`` (its dates or guests changed): then the
    new ones are numbered on from its last."""
    fund = db.session.scalar(
        select(CouponFund)
        .where(CouponFund.id == fund_id, _funds_for(municipality_code, company_id, check_in))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if fund is None:  # ended or changed while we waited for the lock
        return []
    already = db.session.scalar(
        select(func.count())
        .select_from(Coupon)
        .where(Coupon.fund_id == fund.id, Coupon.booking_id == booking_id)
    )
    if already and not again:
        return []
    first_seq = 1
    if again:
        first_seq += db.session.scalar(
            select(func.coalesce(func.max(Coupon.seq), 0)).where(
                Coupon.fund_id == fund.id, Coupon.booking_id == booking_id
            )
        )
    count = min(wanted, (fund.budget - fund.issued) // fund.yen_per_guest_night)
    if count <= 0:
        return []
    coupons = [
        Coupon(
            fund_id=fund.id,
            booking_id=booking_id,
            user_id=user_id,
            seq=seq,
            amount=fund.yen_per_guest_night,
            municipality_code=municipality_code,
            valid_from=check_in,
            valid_until=valid_until,
            nonce=coupon_tokens.new_nonce(),
            status=CouponStatus.OPEN,
            issued_at=now,
        )
        for seq in range(first_seq, first_seq + count)
    ]
    try:
        with db.session.begin_nested():
            db.session.add_all(coupons)
            db.session.flush()
    except IntegrityError:
        return []  # issued by another writer meanwhile: UNIQUE(fund_id, booking_id, seq)
    fund.issued += count * fund.yen_per_guest_night
    db.session.flush()
    emit(
        COUPONS_ISSUED,
        now,
        company_id=company_id,
        user_id=user_id,
        subject=("booking", booking_id),
        data={
            "booking_id": booking_id,
            "count": count,
            "amount": fund.yen_per_guest_night,
            "total": count * fund.yen_per_guest_night,
            "municipality_code": municipality_code,
            "valid_from": check_in.isoformat(),
            "valid_until": valid_until.isoformat(),
        },
        dedupe_key=f"coupons_issued:{fund.id}:{booking_id}:{first_seq}",
    )
    return coupons


def refresh_for_stay(
    *,
    booking_id: int,
    user_id: int,
    company_id: int,
    municipality_code: str | None,
    check_in: date,
    check_out: date,
    guests: int,
    now: datetime,
) -> int:
    """A stay changed (other dates, guests or place, or an early departure): its open
    coupons are withdrawn (their yen back to the budget) and it gets, from each fund that
    pays for it as it now is, what it is entitled to less what it already spent or let
    expire: guests × nights, valid over its new dates and a grace day. Funds are locked
    first, in id order. Returns the coupons issued (flushes)."""
    old_funds = db.session.scalars(
        select(Coupon.fund_id).where(Coupon.booking_id == booking_id).distinct()
    ).all()
    nights = (check_out - check_in).days
    paying = (
        funds_paying(municipality_code, company_id, check_in)
        if municipality_code and nights >= 1 and guests >= 1
        else []
    )
    lock_funds([*old_funds, *paying])
    valid_until = check_out + GRACE
    current = db.session.scalars(
        select(Coupon).where(Coupon.booking_id == booking_id, Coupon.void_reason.not_in(WITHDRAWN))
    ).all()
    unchanged = all(
        (c.municipality_code, c.valid_from, c.valid_until)
        == (municipality_code, check_in, valid_until)
        for c in current
    ) and all(
        sum(1 for c in current if c.fund_id == fund_id) == guests * nights for fund_id in paying
    )
    if unchanged and {c.fund_id for c in current} <= set(paying):
        return 0  # nothing the coupons say has changed: the guest's QR codes stay
    withdraw_for_stay(booking_id, now, reason=VOID_CHANGED)
    if not paying or valid_until < tokyo_today(now):
        return 0
    issued = 0
    for fund_id in paying:
        kept = db.session.scalar(
            select(func.count())
            .select_from(Coupon)
            .where(
                Coupon.fund_id == fund_id,
                Coupon.booking_id == booking_id,
                Coupon.void_reason.not_in(WITHDRAWN),
            )
        )
        wanted = guests * nights - kept
        if wanted > 0:
            issued += len(
                _issue_from(
                    fund_id,
                    booking_id=booking_id,
                    user_id=user_id,
                    company_id=company_id,
                    municipality_code=municipality_code,
                    check_in=check_in,
                    valid_until=valid_until,
                    wanted=wanted,
                    now=now,
                    again=True,
                )
            )
    return issued


# --- close ------------------------------------------------------------------------------


def withdraw_for_stay(booking_id: int, now: datetime, *, reason: str = VOID_CANCELLED) -> int:
    """A cancelled (or never begun) stay's open coupons expire with reason
    ``stay_cancelled``, under their row locks (a redemption racing this one either
    came first or finds the coupon withdrawn), and their yen go back to their funds'
    budgets: a stay booked and cancelled does not use up a town's coupons. Withdrawn
    coupons are no longer counted as issued (``coupon_figures.totals``: "withdrawn").
    Redeemed coupons stay redeemed. The funds are locked first, in id order, as issuing
    locks them, then the coupons. Returns how many were withdrawn (flushes)."""
    open_of_stay = (Coupon.booking_id == booking_id, Coupon.status == CouponStatus.OPEN)
    lock_funds(db.session.scalars(select(Coupon.fund_id).where(*open_of_stay).distinct()))
    coupons = db.session.scalars(
        select(Coupon)
        .where(*open_of_stay)
        .order_by(Coupon.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    returned: dict[int, int] = {}
    for coupon in coupons:
        coupon.status = CouponStatus.EXPIRED
        coupon.void_reason = reason
        coupon.closed_at = now
        returned[coupon.fund_id] = returned.get(coupon.fund_id, 0) + coupon.amount
    for fund_id, yen in sorted(returned.items()):
        db.session.execute(
            update(CouponFund)
            .where(CouponFund.id == fund_id)
            .values(issued=CouponFund.issued - yen)
            .execution_options(synchronize_session="fetch")
        )
    db.session.flush()
    return len(coupons)


def expire_due(now: datetime) -> int:
    """Open coupons whose last day (``valid_until``, Japan dates) has passed expire with
    reason ``ended``; returns how many (flushes). One UPDATE that re-checks each row's
    status, so a coupon redeemed meanwhile stays redeemed."""
    result = db.session.execute(
        update(Coupon)
        .where(Coupon.status == CouponStatus.OPEN, Coupon.valid_until < tokyo_today(now))
        .values(status=CouponStatus.EXPIRED, void_reason=VOID_ENDED, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return result.rowcount
