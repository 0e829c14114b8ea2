"""The operator moves a stay: another room of the same facility and/or other dates,
which also shortens or extends it.

Operator-caused changes never cost the company more for the nights it already had:
the stay's first nights (as many as it had) cost the lower of what they cost before
and today's prices; nights added beyond its length are an extension, priced at
today's prices and paid from the company's credit by the usual rules (and refused if
the credit or the company's policy forbids, or the guest's account was deactivated);
nights dropped come back in full. The accommodation tax follows the nights
(``booking.stay_tax``): a kept night keeps its tax, every other night is taxed by the
rule in force that night on its new price, and the difference is charged with the
extension (it needs credit) or given back in full. A 住宅宿泊事業 house's 180 nights a
year bind the new nights (``availability.night_cap``). The new nights are claimed under
``UNIQUE(unit_id, night)`` before the old ones are released, in one transaction: a
night just taken answers ``BookingConflict`` (409 ``taken``) and nothing changes.

The stay keeps its purpose. A business workation keeps its working days that fall
within the new dates, else takes the new dates' default days, else keeps none
(``booking.purpose.moved_work_days``): unlike the employee's own change, a move is
never refused for the company's HR rules, which are not the operator's to meet (the
company's stays export then shows the stay with no working day).

A co-paid stay (the employee paid ``Booking.employee_part`` by card) that a move makes
cheaper gives the difference back to both payers in proportion to their parts, as a
cancellation's refund is split (``booking.copay.share_move_refund``): the company's
share to its credit, the employee's to their card, and the employee's part shrinks by
theirs, so it stays within the stay's new total (the database checks it). Nights added
by an extension are the company's, as for any stay: the employee's part does not grow.

A stay that has begun without the guest checking in is not moved: the front desk
checks the guest in or records a no-show first (``begun``). A guest in the house keeps
the nights already slept: a move changes the nights from today on only (their room,
their price, the closings that bind them); the nights before today stay "kept" at their
frozen price, and their ``Occupancy`` rows stay in the room the guest slept in. A
booking has one ``unit_id``: after a move in the house it is the new room, and the
nights before the move are held, as history, in the room where they were spent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from accounts.models import Company, User
from availability.blocks import reconcile_unit
from availability.changes import nights_changed
from availability.models import Block, BlockSource, Occupancy
from availability.night_cap import check_night_cap
from billing import ledger, tax_ledger
from billing.ledger import ChangeMoney
from booking.announce import announce_change
from booking.changes import set_night_prices
from booking.copay import share_move_refund
from booking.coupon_jobs import refresh_for_booking as refresh_coupons
from booking.front_desk import operator_booking, refuse_begun, state_sentence
from booking.models import WAITING_STATUSES, Booking, BookingStatus
from booking.purpose import moved_work_days, set_work_days
from booking.services import (
    DEFAULT_GRACE_DAYS,
    BookingError,
    PriceChanged,
    billing_refusals,
    check_monthly_cap,
    insert_occupancy,
    night_cap_refusal,
    taken_refusal,
    validate_stay_dates,
)
from booking.stay_tax import changed_night_taxes
from booking.workspace_follow import desks_follow_changed
from core.dates import stay_nights
from core.db import get_by_id, tokyo_today
from core.extensions import db
from core.i18n import format_day, format_yen
from facilities.models import Unit
from pricing.engine import lock_prices
from pricing.prices import unit_night_prices


@dataclass(frozen=True)
class MoveNight:
    night: date
    price: int  # what the night costs after the move
    kind: str  # "kept" (same room and night) | "moved" | "added" (an extension)
    old_price: int | None = None  # the night it replaces, for "moved"
    tax: int = 0  # its accommodation tax (宿泊税), outside the price


@dataclass(frozen=True)
class MoveQuote:
    """What a move would do, shown before the operator confirms it."""

    booking: Booking
    unit: Unit
    check_in: date
    check_out: date
    nights: list[MoveNight]
    old_total: int
    new_total: int
    charged: int  # taken from the company's credit (an extension), ≥ 0
    refunded: int  # given back to the company's credit, ≥ 0
    available: bool  # every new night is free in that room right now
    # The accommodation tax the stay holds now and would hold after the move: the
    # difference is charged (+) or given back in full (−) with it.
    tax_before: int = 0
    tax_after: int = 0
    # A co-paid stay made cheaper: the payment whose card is owed its share, to send
    # after the commit (``billing.copay.send_owed_refund``).
    card_payment_id: int | None = None

    @property
    def net(self) -> int:
        """Charged (+) or returned (−): what ``expected_net`` compares."""
        return self.charged - self.refunded

    @property
    def tax_difference(self) -> int:
        return self.tax_after - self.tax_before


# --- The rules ---------------------------------------------------------------------


def _check_movable(
    booking: Booking, check_in: date, check_out: date, today: date, horizon_days: int
) -> None:
    """The stay may be moved (confirmed and not begun, or in the house) and the new dates
    fit it. A guest in the house keeps their check-in date and leaves after today."""
    if booking.status in WAITING_STATUSES:  # its price and parts are not settled yet
        raise BookingError(
            _l("%(state)s It can be moved once it is confirmed.", state=state_sentence(booking)),
            "not_movable",
        )
    if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN):
        raise BookingError(
            _l("%(state)s It can no longer be moved.", state=state_sentence(booking)),
            "not_movable",
        )
    if booking.status == BookingStatus.CONFIRMED:
        refuse_begun(booking, today)
        validate_stay_dates(check_in, check_out, today, horizon_days)
        return
    if check_in != booking.check_in:
        raise BookingError(
            _l(
                "The guest is checked in, so the stay still begins on %(day)s. Change the"
                " check-out date or the room.",
                day=LazyString(format_day, booking.check_in),
            ),
            "not_movable",
        )
    if check_out <= check_in:
        raise BookingError(_l("Check-out must be after check-in."), "dates_order")
    if check_out <= today:
        raise BookingError(
            _l(
                "A guest who is checked in leaves after today. To end the stay today,"
                " check them out."
            ),
            "dates_past",
        )
    if booking.check_out < today:
        # The nights between the planned check-out and today were never held: they are
        # past, and a move never claims a past night.
        raise BookingError(
            _l(
                "The guest was due to leave on %(day)s and is still checked in. Check them"
                " out first.",
                day=LazyString(format_day, booking.check_out),
            ),
            "stay_over",
        )


def _target_unit(booking: Booking, unit_id: int) -> Unit:
    """The room to move to: on sale, of the stay's facility, big enough for its guests."""
    unit = get_by_id(Unit, unit_id, options=[joinedload(Unit.facility)])
    if unit is None or not unit.active or unit.facility_id != booking.unit.facility_id:
        raise BookingError(
            _l("Choose a room of this facility that is on sale."), "unit_unavailable"
        )
    if booking.guests > unit.capacity:
        raise BookingError(
            _l(
                "%(room)s sleeps at most %(num)d, and this stay has %(guests)d guests.",
                room=unit.name,
                num=unit.capacity,
                guests=booking.guests,
            ),
            "capacity",
        )
    return unit


def _check_extension(booking: Booking, night_count: int) -> Company:
    """An extension (more nights than the stay had) obeys the company's rules: the company
    and the guest's account active, and its nights per stay (the facility's own minimum
    and maximum do not bind its operator). Checked on the count alone, before an absurd
    range is expanded."""
    company = db.session.get(Company, booking.company_id)
    if not company.active:
        raise BookingError(
            _l("The guest's company is not active, so the stay cannot be made longer."),
            "company_inactive",
        )
    # Read from the row (locked by ``move_booking``), not from the session's copy.
    if not db.session.scalar(select(User.active).where(User.id == booking.user_id)):
        raise BookingError(
            _l(
                "The guest's account has been deactivated by their company, so the stay"
                " cannot be made longer."
            ),
            "employee_inactive",
        )
    if night_count > company.max_nights_per_stay:
        raise BookingError(
            _l(
                "The guest's company allows at most %(n)d nights per stay, so the stay"
                " cannot be made %(nights)d nights long.",
                n=company.max_nights_per_stay,
                nights=night_count,
            ),
            "policy_stay",
        )
    return company


def _refuse_closed(unit: Unit, check_in: date, check_out: date) -> None:
    """A night of [check_in, check_out) held by a closing or an external calendar in
    ``unit`` refuses the move, naming the room and the first such night. (A direct stay
    holds its nights like a booking: claiming them answers "taken".)"""
    first = db.session.scalar(
        select(Occupancy.night)
        .join(Block, Block.id == Occupancy.block_id)
        .where(
            Occupancy.unit_id == unit.id,
            Occupancy.night >= check_in,
            Occupancy.night < check_out,
            Block.source != BlockSource.DIRECT,
        )
        .order_by(Occupancy.night)
        .limit(1)
    )
    if first is not None:
        raise BookingError(
            _l(
                "%(room)s is closed on %(day)s. Reopen it first, or choose another room or"
                " other dates.",
                room=unit.name,
                day=LazyString(format_day, first),
            ),
            "closed",
        )


def _is_free(booking: Booking, unit: Unit, check_in: date, check_out: date) -> bool:
    """No one but the stay itself holds a night of [check_in, check_out) in ``unit``."""
    taken = db.session.scalar(
        select(func.count())
        .select_from(Occupancy)
        .where(
            Occupancy.unit_id == unit.id,
            Occupancy.night >= check_in,
            Occupancy.night < check_out,
            func.coalesce(Occupancy.booking_id, 0) != booking.id,
        )
    )
    return taken == 0


def _checked(
    booking: Booking, unit_id: int, check_in: date, check_out: date, now: datetime, horizon: int
) -> tuple[Unit, list[date], date]:
    """Every rule of a move but the credit and the nights being free: the room, the nights,
    and the first night the move may change, today (the nights a guest in the house has
    already slept are not moved, so a closing or a stay on one of them does not matter)."""
    today = tokyo_today(now)
    _check_movable(booking, check_in, check_out, today, horizon)
    unit = _target_unit(booking, unit_id)
    if (unit.id, check_in, check_out) == (booking.unit_id, booking.check_in, booking.check_out):
        raise BookingError(
            _l(
                "That is the room and the dates the stay already has. Choose another room"
                " or other dates."
            ),
            "unchanged",
        )
    night_count = (check_out - check_in).days
    if night_count > booking.night_count:
        company = _check_extension(booking, night_count)
        nights = stay_nights(check_in, check_out)
        check_monthly_cap(booking.user, company, nights, excluding=booking.id)
    else:
        nights = stay_nights(check_in, check_out)
    _refuse_closed(unit, max(check_in, today), check_out)
    return unit, nights, today


# --- The price -----------------------------------------------------------------------


def _price_move(booking: Booking, unit: Unit, nights: list[date], since: date) -> list[MoveNight]:
    """Each new night's price (see the module): the nights before ``since`` (slept) and
    the nights kept in the same room keep theirs; the others are paired in date order
    with the old nights from ``since`` on not kept (as many as there are) and cost the
    lower total of the old prices and today's, night by night from the cheaper side; the
    rest are added at today's prices."""
    old = {n.night: n.price for n in booking.nights}
    kept = {n: old[n] for n in nights if n < since}  # a checked-in stay keeps them all
    if unit.id == booking.unit_id:
        kept |= {n: old[n] for n in nights if n in old}
    fresh = [n for n in nights if n not in kept]
    replaced = [old[n] for n in sorted(old) if n >= since and n not in kept]
    today = [p.price for p in unit_night_prices(unit, fresh)] if fresh else []
    paired = min(len(fresh), len(replaced))
    cheaper_today = sum(today[:paired]) < sum(replaced[:paired])
    priced: dict[date, MoveNight] = {n: MoveNight(n, p, "kept") for n, p in kept.items()}
    for i, night in enumerate(fresh):
        if i < paired:
            price = today[i] if cheaper_today else replaced[i]
            priced[night] = MoveNight(night, price, "moved", replaced[i])
        else:
            priced[night] = MoveNight(night, today[i], "added")
    ordered = [priced[n] for n in nights]
    taxes = changed_night_taxes(
        unit.facility,
        booking,
        [(n.night, n.price, n.kind == "kept") for n in ordered],
        booking.guests,
    )
    return [replace(n, tax=tax) for n, tax in zip(ordered, taxes, strict=True)]


def _quote(
    booking: Booking, unit: Unit, check_in: date, check_out: date, priced: list[MoveNight]
) -> MoveQuote:
    """The money of a move: the added nights are charged, what the others cost less than
    before comes back (the dropped nights in full), and only the net moves."""
    old_total = booking.total_price
    new_total = sum(n.price for n in priced)
    charged = sum(n.price for n in priced if n.kind == "added")
    refunded = old_total - (new_total - charged)
    net = charged - refunded
    return MoveQuote(
        booking,
        unit,
        check_in,
        check_out,
        priced,
        old_total,
        new_total,
        charged=max(0, net),
        refunded=max(0, -net),
        available=True,
        tax_before=tax_ledger.tax_held([booking.id])[booking.id],
        tax_after=sum(n.tax for n in priced),
    )


def _money(quote: MoveQuote) -> ChangeMoney:
    return ChangeMoney(
        quote.new_total - quote.old_total, quote.charged, quote.refunded, 0, refund_percent=100
    )


# --- Quote and move ------------------------------------------------------------------


def quote_move(
    actor: User,
    booking_id: int,
    unit_id: int,
    check_in: date,
    check_out: date,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> MoveQuote:
    """Every rule ``move_booking`` applies, without changing anything (for the confirm
    step). A rule broken raises its ``BookingError``; taken nights answer
    ``available=False``."""
    booking = operator_booking(actor, booking_id)
    unit, nights, since = _checked(booking, unit_id, check_in, check_out, now, horizon_days)
    _check_cap(booking, unit, nights, since, lock=False)
    quote = _quote(booking, unit, check_in, check_out, _price_move(booking, unit, nights, since))
    account = ledger.account_of(booking.company_id)
    with billing_refusals():
        tax_ledger.check_change(
            account, booking, booking.user, _money(quote), quote.tax_difference, now, grace_days
        )
    return replace(quote, available=_is_free(booking, unit, max(check_in, since), check_out))


def _check_cap(
    booking: Booking, unit: Unit, nights: list[date], since: date, *, lock: bool
) -> None:
    """The 180-night cap of a 住宅宿泊事業 house, for the nights the move claims (from
    ``since`` on: the nights slept stay where they were) against those the stay holds
    in ``unit`` now. ``lock``: under the room's lock (the move, not its quote)."""
    held = db.session.scalars(
        select(Occupancy.night).where(
            Occupancy.booking_id == booking.id,
            Occupancy.unit_id == unit.id,
            Occupancy.night >= since,
        )
    ).all()
    with night_cap_refusal():
        check_night_cap(unit, [n for n in nights if n >= since], held, lock=lock)


def move_booking(
    actor: User,
    booking_id: int,
    unit_id: int,
    check_in: date,
    check_out: date,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
    expected_net: int | None = None,
    expected_tax: int | None = None,
) -> MoveQuote:
    """Move one of the actor's organisation's stays (see the module). Refused:
    a stay of another organisation (``BookingNotFound``), checked out, a no-show or
    cancelled (``not_movable``), a confirmed stay whose check-in day has passed
    (``begun``), a checked-in stay's check-in date moved (``not_movable``) or ended
    today or earlier (``dates_past``: check the guest out), a room of another facility
    or off sale (``unit_unavailable``), more guests than the room sleeps
    (``capacity``), dates in the past or beyond the horizon, a night from today on
    closed in that room (``closed``), the same stay (``unchanged``), an extension the
    company's policy or credit refuses or for a deactivated guest
    (``employee_inactive``); a night booked by somebody else: ``BookingConflict``
    (``taken``), a 住宅宿泊事業 house past its 180 nights a year (``night_cap``). With
    ``expected_net`` (what the operator was shown) and ``expected_tax`` (the tax
    difference shown), a different amount is refused with ``PriceChanged``.
    The purpose stays; a business workation's working days follow the new dates
    (see the module: never refused). The employee hears of it (``booking.changed``, by
    the operator)."""
    booking = operator_booking(actor, booking_id)
    # The locks of an employee's change, in its order: the employee, then the stay.
    db.session.execute(select(User.id).where(User.id == booking.user_id).with_for_update())
    booking = operator_booking(actor, booking_id, lock=True)
    unit, nights, since = _checked(booking, unit_id, check_in, check_out, now, horizon_days)
    _check_cap(booking, unit, nights, since, lock=True)
    lock_prices(unit.facility_id, shared=True)  # no pricing run between read and commit
    quote = _quote(booking, unit, check_in, check_out, _price_move(booking, unit, nights, since))
    moved_tax = expected_tax is not None and quote.tax_difference != expected_tax
    if moved_tax or (expected_net is not None and quote.net != expected_net):
        raise PriceChanged(
            _l(
                "What this move charges or returns has changed since it was shown: the stay"
                " now costs %(total)s. Please check and confirm again.",
                total=LazyString(format_yen, quote.new_total),
            )
        )
    # A co-paid stay: the employee's share of what comes back, before the total shrinks.
    company_refund = share_move_refund(booking, quote.old_total, quote.refunded)
    old_unit_id = booking.unit_id
    old_range = (booking.check_in, booking.check_out)
    _claim_nights(booking, unit, nights, since)  # claims first: "taken" changes nothing
    set_night_prices(booking, quote.nights)
    booking.unit = unit
    set_work_days(booking, moved_work_days(booking, check_in, check_out))
    booking.check_in, booking.check_out = check_in, check_out
    desks_follow_changed(booking, now, actor, full=True)  # desks on dropped days, in full
    booking.total_price = quote.new_total
    booking.accommodation_tax = quote.tax_after
    db.session.flush()
    db.session.expire(booking, ["nights", "work_days"])  # read back in order
    nights_changed(unit.facility_id, *old_range)
    nights_changed(unit.facility_id, check_in, check_out)
    # A block that wanted a released night (an external calendar) takes it now.
    reconcile_unit(old_unit_id, tokyo_today(now))
    refresh_coupons(booking, now)  # the local coupons of the stay it now is
    # The account lock last, as a booking and a cancellation take it.
    with billing_refusals():
        tax_ledger.settle_change(
            booking,
            booking.user,
            replace(_money(quote), refunded=company_refund),
            quote.tax_after,
            now,
            grace_days,
        )
    announce_change(booking, actor, old_unit_id, old_range, quote.charged, quote.refunded, now)
    if company_refund < quote.refunded:  # part of it is owed to the employee's card
        payment = ledger.stay_payment_of(booking.id)
        return replace(quote, card_payment_id=payment.id)
    return quote


def _claim_nights(booking: Booking, unit: Unit, nights: list[date], since: date) -> None:
    """Claim the nights from ``since`` on that the stay does not hold in ``unit`` yet, then
    release those from ``since`` on it no longer needs. A night taken by somebody else
    refuses the whole move (``BookingConflict``) before anything is released. The nights
    before ``since`` (slept by a guest in the house) keep their rows, in the room where
    they were spent."""
    ahead = [n for n in nights if n >= since]
    held = set(
        db.session.scalars(
            select(Occupancy.night).where(
                Occupancy.booking_id == booking.id,
                Occupancy.unit_id == unit.id,
                Occupancy.night >= since,
            )
        )
    )
    with taken_refusal(), db.session.begin_nested():
        insert_occupancy(booking.id, unit.id, [n for n in ahead if n not in held])
    db.session.execute(
        delete(Occupancy).where(
            Occupancy.booking_id == booking.id,
            Occupancy.night >= since,
            (Occupancy.unit_id != unit.id) | Occupancy.night.not_in(ahead),
        )
    )
