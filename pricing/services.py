"""Operator-facing pricing: settings, bounds, overrides, history.

Services flush; the view commits and then re-prices the facility
(``engine.reprice_now``), so the operator sees the new prices on the next page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from accounts.models import User
from core.db import in_id_range
from core.errors import RuleError
from core.extensions import db
from core.job_summary import N_, JobSummary
from core.paging import Page
from core.scheduler import prune_older_than
from facilities.models import Facility, Unit
from pricing.models import PriceChange, PriceOverride, PricingPolicy
from pricing.rules import MONTHS, Policy

MAX_PRICE = 10_000_000  # yen a night: anything above is a typo
MAX_OVERRIDE_NIGHTS = 366
# A safety net behind the form's horizon (pricing.forms.override_ahead_days): far-future
# dates such as 9999-12-31 would overflow date arithmetic.
MAX_OVERRIDE_AHEAD_DAYS = 10 * 366
PERCENT_FIELDS = (
    "off_season_discount",
    "target_occupancy",
    "max_discount",
    "last_minute_max",
    "gap_discount",
)
# (low, high) percent of each setting, as the CHECK constraints of PricingPolicy.
PERCENT_RANGES = {name: (0, 90) for name in PERCENT_FIELDS} | {"target_occupancy": (1, 100)}


class PricingError(RuleError):
    """A pricing setting that cannot be saved; the message is for the operator."""


def policy_of(facility: Facility) -> PricingPolicy:
    """The facility's settings, or (unsaved) the defaults: for showing, never writes."""
    row = db.session.get(PricingPolicy, facility.id)
    if row is None:
        defaults = Policy()
        row = PricingPolicy(
            facility_id=facility.id,
            enabled=defaults.enabled,
            off_season_months="",
            **{name: getattr(defaults, name) for name in PERCENT_FIELDS},
        )
    return row


def policy_row(facility: Facility) -> PricingPolicy:
    """The facility's settings row, made with the defaults on first use."""
    row = db.session.get(PricingPolicy, facility.id)
    if row is None:
        row = policy_of(facility)
        db.session.add(row)
        db.session.flush()
    return row


def save_policy(
    actor: User,
    facility: Facility,
    *,
    enabled: bool,
    off_season_months: Iterable[int],
    now: datetime,
    **percents: int,
) -> PricingPolicy:
    months = set(off_season_months)
    if not months <= set(MONTHS):
        raise PricingError(_l("Months are 1 to 12."), "months")
    unknown = set(percents) - set(PERCENT_FIELDS)
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    for name, value in percents.items():
        low, high = PERCENT_RANGES[name]
        if not low <= value <= high:
            raise PricingError(
                _l("Percentages must be between %(low)d and %(high)d.", low=low, high=high),
                name,
            )
    row = policy_row(facility)
    row.enabled = enabled
    row.months = months
    for name, value in percents.items():
        setattr(row, name, value)
    row.updated_at = now
    row.updated_by_id = actor.id
    db.session.flush()
    return row


def _check_amount(amount: int | None, what) -> None:
    if amount is None:
        return
    if amount < 0 or amount > MAX_PRICE:
        raise PricingError(
            _l("%(what)s must be between ¥0 and ¥10,000,000.", what=what), "amount_range"
        )
    if amount % 100:
        raise PricingError(_l("%(what)s must be a multiple of ¥100.", what=what), "amount_step")


def set_bounds(unit: Unit, floor: int | None, ceiling: int | None) -> None:
    """A unit's floor and ceiling (None: no floor / twice the base price)."""
    _check_amount(floor, _l("The floor"))
    _check_amount(ceiling, _l("The ceiling"))
    if floor is not None and ceiling is not None and floor > ceiling:
        raise PricingError(_l("The floor cannot be above the ceiling."), "bounds_order")
    unit.price_floor = floor
    unit.price_ceiling = ceiling
    db.session.flush()


def add_override(
    actor: User,
    facility: Facility,
    *,
    unit: Unit | None,
    first_night: date,
    last_night: date,
    price: int,
    note: str,
    today: date,
) -> PriceOverride:
    """The operator's price for the nights first_night … last_night (inclusive)."""
    if unit is not None and unit.facility_id != facility.id:
        raise PricingError(_l("That room is not in this facility."), "unit")
    if last_night < first_night:
        raise PricingError(_l("The last night must not be before the first."), "dates_order")
    if last_night < today:
        raise PricingError(_l("These nights are already past."), "dates_past")
    if (last_night - today).days > MAX_OVERRIDE_AHEAD_DAYS:
        raise PricingError(_l("Dates that far ahead cannot be priced yet."), "too_far")
    if (last_night - first_night).days + 1 > MAX_OVERRIDE_NIGHTS:
        raise PricingError(
            _l("An override covers at most %(n)d nights.", n=MAX_OVERRIDE_NIGHTS), "too_long"
        )
    _check_amount(price, _l("The price"))
    override = PriceOverride(
        facility_id=facility.id,
        unit_id=unit.id if unit is not None else None,
        start_date=first_night,
        end_date=last_night + timedelta(days=1),
        price=price,
        note=note.strip()[:200],
        created_by_id=actor.id,
    )
    db.session.add(override)
    db.session.flush()
    return override


def operator_override(actor: User, override_id: int) -> PriceOverride | None:
    """One of the actor's organisation's overrides; anybody else's is None."""
    if not in_id_range(override_id) or actor.operator_id is None:
        return None
    return db.session.scalar(
        select(PriceOverride)
        .join(Facility, Facility.id == PriceOverride.facility_id)
        .where(PriceOverride.id == override_id, Facility.operator_id == actor.operator_id)
    )


def overrides_of(facility: Facility, today: date) -> list[PriceOverride]:
    """Current and future overrides, soonest first."""
    return list(
        db.session.scalars(
            select(PriceOverride)
            .options(joinedload(PriceOverride.unit))
            .where(PriceOverride.facility_id == facility.id, PriceOverride.end_date > today)
            .order_by(PriceOverride.start_date, PriceOverride.id)
        )
    )


def delete_override(override: PriceOverride) -> int:
    """Remove an override; returns its facility id (to re-price)."""
    facility_id = override.facility_id
    db.session.execute(delete(PriceOverride).where(PriceOverride.id == override.id))
    return facility_id


# --- History --------------------------------------------------------------------------


def history(facility: Facility, page: int, per_page: int = 50) -> Page:
    """The facility's price changes, newest first: ``(change, unit name)`` items."""
    where = Unit.facility_id == facility.id
    total = db.session.scalar(select(func.count()).select_from(PriceChange).join(Unit).where(where))
    page = Page.number(page, total, per_page)
    rows = db.session.execute(
        select(PriceChange, Unit.name)
        .join(Unit, Unit.id == PriceChange.unit_id)
        .where(where)
        .order_by(PriceChange.changed_at.desc(), PriceChange.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page([(c, name) for c, name in rows], total, page, per_page)


def prune_history(now: datetime) -> JobSummary:
    """Forget price changes older than PRICE_HISTORY_KEEP_DAYS."""
    return prune_older_than(
        PriceChange.changed_at,
        "PRICE_HISTORY_KEEP_DAYS",
        now,
        N_("%(n)d old price changes removed"),
    )
