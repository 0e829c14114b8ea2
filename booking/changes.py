"""Changing a stay without cancelling it: other dates, another room of the same
facility, other guests. The rules of a booking apply (``booking.services``); the money
is settled by ``billing.ledger.change_money``: until the free-cancellation date only the
difference moves, after it the given-up nights cost what cancelling them would. The
accommodation tax follows the nights (``booking.stay_tax``): a new night is taxed by the
rule in force that night, and the difference is charged or given back in full
(``billing.tax_ledger.settle_change``). A 住宅宿泊事業 house's 180 nights a year bind
the new nights (``availability.night_cap``). The stay keeps its purpose; a business
workation keeps the working days within its new dates
(``booking.purpose.carried_work_days``).

A stay the employee paid part of by card (co-pay, ``Booking.employee_part``) is not
changed here (``copaid``): a change would have to charge or refund their card as well
as the company's credit, by a new split of a new price. They cancel it (each payer gets
their share back, ``booking.cancellation``) and book again. A stay still waiting for
approval or payment is not changed either: it is cancelled and booked again.

A change is no way around the company's HR rules either (``rebook``): the stay it would
become is split again by the policy and what is left of the employee's yearly subsidy
(``hr.subsidy``), and judged by the approval rules (``hr.approval``). If the employee
would pay a part, or the stay would wait for approval, the change is refused: the
employee cancels and books the new stay, which is split and approved as any booking.
A shorter stay within the one the company already paid for (the same room, nights
dropped from its ends, no more guests) needs no new approval, only no employee part.
The companions stay as booked, so the guests cannot drop below them (``companions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from flask_babel import LazyString, lazy_ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from accounts.models import User
from availability.blocks import reconcile_unit
from availability.changes import nights_changed
from availability.models import Occupancy
from availability.night_cap import check_night_cap
from billing import ledger, tax_ledger
from billing.ledger import ChangeMoney
from booking.announce import announce_change
from booking.coupon_jobs import refresh_for_booking as refresh_coupons
from booking.lookups import booking_of
from booking.models import WAITING_STATUSES, Booking, BookingNight, BookingStatus
from booking.purpose import carried_work_days, set_work_days
from booking.services import (
    DEFAULT_GRACE_DAYS,
    BookingError,
    BookingForbidden,
    PriceChanged,
    StayRequest,
    billing_refusals,
    check_monthly_cap,
    check_request,
    insert_occupancy,
    night_cap_refusal,
    policy_refusals,
    require_booker,
    taken_refusal,
)
from booking.stay_tax import changed_night_taxes
from booking.subsidy_use import remaining_subsidy
from booking.workspace_follow import desks_follow_changed
from core.db import tokyo_today
from core.extensions import db
from core.i18n import format_yen
from facilities.models import Unit
from hr.approval import approval_reasons
from hr.policy import policy_for
from hr.subsidy import Companions, split_stay
from lodging import register
from pricing.engine import lock_prices
from pricing.prices import NightPrice, unit_night_prices

# Why a co-paid stay cannot be changed here, and what to do instead.
COPAID_REFUSAL = _l(
    "You paid part of this stay yourself, so it cannot be changed here. To change it,"
    " cancel it (your part is refunded to your card by the cancellation policy) and"
    " book again."
)

# Why a change the company's rules would not let through as it stands is refused.
REBOOK_REFUSAL = _l(
    "This change needs your company's approval or a part paid by you: cancel this stay"
    " and book the new dates instead."
)


class MoveNightLike(Protocol):
    night: date
    price: int
    tax: int


@dataclass(frozen=True)
class ChangeNight:
    """One night of a changed stay and its price."""

    night: date
    price: int
    kept: bool  # the stay already holds it in this room: its frozen price stays
    explained: NightPrice | None = None  # a new night: today's price and its reasons
    tax: int = 0  # its accommodation tax (宿泊税), outside the price


@dataclass(frozen=True)
class ChangeQuote:
    """What changing a stay would do, shown before the employee confirms it."""

    booking: Booking
    unit: Unit
    stay: StayRequest
    nights: list[ChangeNight]
    old_total: int
    money: ChangeMoney
    available: bool  # every new night is free in that room right now
    # The accommodation tax the stay holds now and would hold after: the difference is
    # charged to (+) or given back in full to (−) the company's credit with the change.
    tax_before: int = 0
    tax_after: int = 0
    # A business workation's working days on the new dates (``carried_work_days``).
    work_days: tuple[date, ...] = ()

    @property
    def new_total(self) -> int:
        return sum(n.price for n in self.nights)

    @property
    def tax_difference(self) -> int:
        return self.tax_after - self.tax_before

    @property
    def new_nights(self) -> list[ChangeNight]:
        return [n for n in self.nights if not n.kept]


@dataclass(frozen=True)
class ChangeResult:
    """A changed stay and what the change did to the company's credit."""

    booking: Booking
    old_total: int
    new_total: int
    money: ChangeMoney  # difference, charged, refunded, kept
    tax_before: int = 0  # the accommodation tax the stay held before the change
    tax_after: int = 0  # … and holds now

    @property
    def tax_difference(self) -> int:
        """Charged (+) or given back (−) of accommodation tax."""
        return self.tax_after - self.tax_before


def _check_changeable(booking: Booking, stay: StayRequest, today: date) -> None:
    if booking.status in WAITING_STATUSES:
        raise BookingError(
            _l(
                "This stay is not confirmed yet, so it cannot be changed. To change it,"
                " cancel it and book again."
            ),
            "not_changeable",
        )
    if booking.status != BookingStatus.CONFIRMED:
        raise BookingError(
            {
                BookingStatus.CHECKED_IN: _l(
                    "You are checked in, so this stay can no longer be changed here."
                    " Ask the facility's front desk."
                ),
                BookingStatus.CHECKED_OUT: _l("This stay is over and can no longer be changed."),
                BookingStatus.NO_SHOW: _l(
                    "This stay was recorded as a no-show and can no longer be changed."
                ),
            }.get(booking.status, _l("This stay was cancelled and can no longer be changed.")),
            "not_changeable",
        )
    if booking.check_in <= today:
        raise BookingError(
            _l("This stay has already begun and can no longer be changed here."),
            "not_changeable",
        )
    if booking.employee_part:
        raise BookingError(COPAID_REFUSAL, "copaid")
    companions = companions_of(booking)
    # (No guest at all is the booking rule's ``guests``; the database checks the rest,
    # companions_counted.)
    if companions.count and stay.guests < 1 + companions.count:
        raise BookingError(
            lazy_ngettext(
                "You booked this stay with %(num)d companion, so it needs at least"
                " %(guests)d guests. To change who comes along, cancel this stay and book"
                " again.",
                "You booked this stay with %(num)d companions, so it needs at least"
                " %(guests)d guests. To change who comes along, cancel this stay and book"
                " again.",
                companions.count,
                guests=1 + companions.count,
            ),
            "companions",
        )
    if (booking.unit_id, booking.check_in, booking.check_out, booking.guests) == stay.stay_key:
        raise BookingError(
            _l("That is the stay you already have. Change the dates, the room or the guests."),
            "unchanged",
        )


def _plan_change(
    actor: User,
    booking: Booking,
    stay: StayRequest,
    now: datetime,
    horizon_days: int,
    *,
    lock: bool,
) -> tuple[Unit, list[date], dict[date, int], list[date]]:
    """Every rule of a booking, for the stay a booking would become: its room, its
    nights, the frozen prices of the nights it keeps (same room only) and its working
    days. ``lock``: take the room's lock for its 180-night cap (a change, not a quote)."""
    _check_changeable(booking, stay, tokyo_today(now))
    unit, company, nights = check_request(
        actor, stay, now, horizon_days, facility_id=booking.unit.facility_id
    )
    with policy_refusals():  # none left: refused (``work_days``)
        work_days = carried_work_days(booking, stay.check_in, stay.check_out)
    check_monthly_cap(actor, company, nights, excluding=booking.id)
    held = db.session.scalars(
        select(Occupancy.night).where(
            Occupancy.booking_id == booking.id, Occupancy.unit_id == unit.id
        )
    ).all()
    with night_cap_refusal():
        check_night_cap(unit, nights, held, lock=lock)
    wanted = set(nights)
    kept = (
        {n.night: n.price for n in booking.nights if n.night in wanted}
        if unit.id == booking.unit_id
        else {}
    )
    return unit, nights, kept, work_days


def _price_change(
    booking: Booking, unit: Unit, nights: list[date], kept: dict[date, int], guests: int
) -> list[ChangeNight]:
    """Kept nights keep their frozen price; every other night costs today's price. Each
    night's accommodation tax follows (``booking.stay_tax.changed_night_taxes``)."""
    fresh = [n for n in nights if n not in kept]
    today_prices = dict(zip(fresh, unit_night_prices(unit, fresh), strict=True))
    priced = [
        ChangeNight(n, kept[n], True)
        if n in kept
        else ChangeNight(n, today_prices[n].price, False, today_prices[n])
        for n in nights
    ]
    taxes = changed_night_taxes(
        unit.facility, booking, [(n.night, n.price, n.kept) for n in priced], guests
    )
    return [replace(n, tax=tax) for n, tax in zip(priced, taxes, strict=True)]


def companions_of(booking: Booking) -> Companions:
    """Who comes along, as booked (a change keeps them)."""
    return Companions(
        booking.companion_adults, booking.companion_children, booking.companion_infants
    )


def _check_hr_rules(
    actor: User,
    booking: Booking,
    stay: StayRequest,
    priced: list[ChangeNight],
    money: ChangeMoney,
) -> None:
    """The changed stay is split again and judged by the approval rules, as a booking of
    it would be; one the employee would pay part of, or that would wait for approval, is
    refused (``rebook``). Its own use of the yearly subsidy does not count, but what the
    company keeps of it beyond its new price (the cancellation policy's part of nights
    given up, by this change and earlier ones) does: the cap holds as after a
    cancellation and a new booking. A shorter stay within this one (same room, nights
    dropped from its ends, no more guests) needs no new approval."""
    policy = policy_for(actor)
    new_total = sum(n.price for n in priced)
    remaining = remaining_subsidy(actor, stay.check_in, policy=policy, excluding=booking.id)
    if remaining is not None:
        held_after = ledger.paid_for([booking.id])[booking.id] + money.charged - money.refunded
        remaining -= max(0, held_after - new_total)
    prices = [n.price for n in priced]
    split = split_stay(policy, prices, companions_of(booking), remaining=remaining)
    within = (
        stay.unit_id == booking.unit_id
        and booking.check_in <= stay.check_in
        and stay.check_out <= booking.check_out
        and stay.guests <= booking.guests
    )
    nights = [n.night for n in priced]
    if split.employee or (
        not within and approval_reasons(policy, booking.purpose, nights, split.employee)
    ):
        raise BookingError(REBOOK_REFUSAL, "rebook")


def _change_money(booking: Booking, priced: list[ChangeNight], now: datetime) -> ChangeMoney:
    """The nights booked anew and the nights given up, settled by the policy."""
    kept_total = sum(n.price for n in priced if n.kept)
    return ledger.change_money(
        sum(n.price for n in priced if not n.kept),
        booking.total_price - kept_total,
        booking.check_in,
        tokyo_today(booking.created_at),
        tokyo_today(now),
    )


def quote_change(
    actor: User,
    booking_id: int,
    stay: StayRequest,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> ChangeQuote:
    """Every rule ``change_booking`` applies, without changing anything: for the preview.

    Says what the stay would cost, night by night, what would be charged to or
    returned to the company's credit, and whether the new nights are free.
    """
    booking = booking_of(actor, booking_id)
    unit, nights, kept, work_days = _plan_change(
        actor, booking, stay, now, horizon_days, lock=False
    )
    priced = _price_change(booking, unit, nights, kept, stay.guests)
    money = _change_money(booking, priced, now)
    _check_hr_rules(actor, booking, stay, priced, money)
    tax_before = tax_ledger.tax_held([booking.id])[booking.id]
    tax_after = sum(n.tax for n in priced)
    account = ledger.account_of(actor.company_id)
    with billing_refusals():
        tax_ledger.check_change(
            account, booking, actor, money, tax_after - tax_before, now, grace_days
        )
    taken = db.session.scalar(
        select(func.count())
        .select_from(Occupancy)
        .where(
            Occupancy.unit_id == unit.id,
            Occupancy.night >= stay.check_in,
            Occupancy.night < stay.check_out,
            func.coalesce(Occupancy.booking_id, 0) != booking.id,
        )
    )
    return ChangeQuote(
        booking,
        unit,
        stay,
        priced,
        booking.total_price,
        money,
        taken == 0,
        tax_before,
        tax_after,
        tuple(work_days),
    )


def change_booking(
    actor: User,
    booking_id: int,
    stay: StayRequest,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
    expected_difference: int | None = None,
    expected_net: int | None = None,
    expected_tax: int | None = None,
) -> ChangeResult:
    """Change one of the actor's own stays to ``stay``: other dates, another room of the
    same facility, other guests, or several at once, without cancelling it.

    Rules: only a confirmed stay that has not begun; the new stay obeys every rule of
    a booking (dates and horizon, min/max nights, the company's nights per stay and per
    month, where this stay's own nights do not count, capacity, company active), and
    keeps its companions, so the guests count them (``companions``). The company's HR
    rules: split again by the policy and the yearly subsidy left, the new stay must
    leave the employee nothing to pay and need no approval (a shorter stay within this
    one needs none), else ``rebook`` (``_check_hr_rules``).
    Prices: a night the stay keeps in the same room keeps its frozen price; every
    other night costs today's price. The difference (new total − old total) is settled
    on the company's credit: the dropped nights are cancelled by the policy of the stay
    as it was and the new nights paid in full (``billing.ledger.change_money``), so
    until the free-cancellation date only the difference moves, and after it a change
    costs what cancelling the dropped nights would. A charge must fit the credit,
    overage and the employee's monthly cap, else ``BillingRefused``. With
    ``expected_difference`` and ``expected_net`` (the difference and the amount charged
    (+) or returned (−) the employee was shown), a moved price or a policy band passed
    since (midnight) is refused with ``PriceChanged``. The same stay again is refused
    as ``unchanged``. Accommodation tax: the new nights are taxed by the rule in force
    each night (kept nights keep theirs unless the guests changed), and the difference
    is charged with the price (it needs credit, not the employee's cap) or given back
    in full; with ``expected_tax`` (the tax difference shown), a different one is
    refused with ``PriceChanged``. A 住宅宿泊事業 house past its 180 nights a year
    refuses the new nights (``night_cap``). Fewer guests: the guest register drops the
    lines of those who no longer stay (``lodging.register.trim``). The stay keeps its
    purpose; a business workation keeps its working days within the new dates, else
    takes their default days, else is refused (``carried_work_days``).

    Atomic: the new nights are claimed (in a savepoint) before the old ones are
    released, so a night just taken answers ``BookingConflict`` and nothing changes.
    """
    require_booker(actor)
    # The same locks as a booking, in the same order: the employee, then the stay.
    active = db.session.scalar(select(User.active).where(User.id == actor.id).with_for_update())
    if not active:
        raise BookingForbidden(_l("This account has been deactivated by your company."))
    booking = booking_of(actor, booking_id, lock=True)
    unit, nights, kept, work_days = _plan_change(actor, booking, stay, now, horizon_days, lock=True)
    lock_prices(unit.facility_id, shared=True)  # no pricing run between read and commit
    priced = _price_change(booking, unit, nights, kept, stay.guests)
    new_total = sum(n.price for n in priced)
    money = _change_money(booking, priced, now)
    _check_hr_rules(actor, booking, stay, priced, money)  # under the employee's lock
    tax_before = tax_ledger.tax_held([booking.id])[booking.id]
    tax_after = sum(n.tax for n in priced)
    moved = expected_difference is not None and money.difference != expected_difference
    moved = moved or (expected_tax is not None and tax_after - tax_before != expected_tax)
    if moved or (expected_net is not None and money.charged - money.refunded != expected_net):
        raise PriceChanged(
            _l(
                "The price of this change has moved since it was shown: the stay now costs"
                " %(total)s. Please check the new price and confirm again.",
                total=LazyString(format_yen, new_total),
            )
        )
    old_unit_id, old_total, old_guests = booking.unit_id, booking.total_price, booking.guests
    old_range = (booking.check_in, booking.check_out)
    _move_nights(booking, unit, nights, set(kept))
    set_night_prices(booking, priced)
    booking.unit = unit
    booking.check_in, booking.check_out = stay.check_in, stay.check_out
    booking.guests = stay.guests
    set_work_days(booking, work_days)  # the purpose stays; its days follow the dates
    desks_follow_changed(booking, now, actor)  # desks on dropped days, by their policy
    if stay.guests < old_guests:  # the register lists only the guests who stay
        register.trim(booking.id, stay.guests, now)
    booking.total_price = new_total
    booking.accommodation_tax = tax_after
    db.session.flush()
    db.session.expire(booking, ["nights", "work_days"])  # read back in order
    if (old_unit_id, *old_range) != (unit.id, stay.check_in, stay.check_out):
        nights_changed(unit.facility_id, *old_range)
        nights_changed(unit.facility_id, stay.check_in, stay.check_out)
        # A block that wanted a released night (an external calendar) takes it now.
        reconcile_unit(old_unit_id, tokyo_today(now))
    refresh_coupons(booking, now)  # the local coupons of the stay it now is
    # The account lock last, as a booking and a cancellation take it.
    with billing_refusals():
        tax_ledger.settle_change(booking, actor, money, tax_after, now, grace_days)
    announce_change(booking, actor, old_unit_id, old_range, money.charged, money.refunded, now)
    return ChangeResult(booking, old_total, new_total, money, tax_before, tax_after)


def _move_nights(booking: Booking, unit: Unit, nights: list[date], held: set[date]) -> None:
    """Claim the nights the stay does not hold yet, then release the ones it no longer needs.

    ``held``: the nights the stay already holds in ``unit``. A night taken by somebody
    else refuses the whole change (``BookingConflict``) before anything is released.
    """
    with taken_refusal(), db.session.begin_nested():
        insert_occupancy(booking.id, unit.id, [n for n in nights if n not in held])
    db.session.execute(
        delete(Occupancy).where(
            Occupancy.booking_id == booking.id,
            (Occupancy.unit_id != unit.id) | Occupancy.night.not_in(nights),
        )
    )


def set_night_prices(booking: Booking, priced: Sequence[ChangeNight | MoveNightLike]) -> None:
    """The stay's frozen nightly prices and accommodation taxes become ``priced``
    (anything with ``night``, ``price`` and ``tax``; rows kept where the night is). Used
    by the employee's change and the operator's move."""
    wanted = {n.night: n for n in priced}
    existing = {n.night: n for n in booking.nights}
    for row in list(booking.nights):
        if row.night not in wanted:
            booking.nights.remove(row)
    for night, new in wanted.items():
        if night in existing:
            existing[night].price = new.price
            existing[night].accommodation_tax = new.tax
        else:
            booking.nights.append(
                BookingNight(night=night, price=new.price, accommodation_tax=new.tax)
            )
