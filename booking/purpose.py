"""What a stay is for (休暇型 leisure / 業務型 business workation) and a business stay's
working days, as the bookings keep them; the rules themselves are ``hr.policy``'s.

A booking asks the company's policy (``stay_purpose``); a retried request key must ask
for the purpose and days the stay has (``retried_as_stored``). New dates carry the
working days that fall within them, else the new dates' default days
(``moved_work_days``): the employee's change is refused when none remain
(``carried_work_days``), the operator's move never is. Days the guest does not spend
at the facility are not worked: the front desk drops them after an early departure
and from a no-show on (``drop_work_days_from``).

Refusals are ``hr.policy.PolicyRefused``; ``booking.services.policy_refusals`` makes
them booking rules, each with its own code. This module sits below the services (they
import it), so it knows stays only as models and plain values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from flask_babel import lazy_gettext as _l

from accounts.models import User
from booking.models import Booking, StayWorkDay
from hr.models import Purpose
from hr.policy import PolicyRefused, check_purpose, check_work_days, default_work_days


class AskedStay(Protocol):
    """The dates, purpose and working days of a stay asked for (``services.StayRequest``)."""

    @property
    def check_in(self) -> date: ...

    @property
    def check_out(self) -> date: ...

    @property
    def purpose(self) -> str | None: ...

    @property
    def work_days(self) -> tuple[date, ...] | None: ...


def stay_purpose(actor: User, stay: AskedStay) -> tuple[Purpose, list[date]]:
    """What the stay is for and a business workation's working days, as the company's HR
    policy allows them (``hr.policy``: the purpose, then the days); else
    ``PolicyRefused``."""
    purpose = check_purpose(actor, stay.purpose)
    return purpose, check_work_days(purpose, stay.work_days, stay.check_in, stay.check_out)


def work_days_of(booking: Booking) -> list[date]:
    """The stay's working days, oldest first ([] for a leisure stay)."""
    return sorted(row.day for row in booking.work_days)


def retried_as_stored(
    booking: Booking, purpose: str | None, work_days: Iterable[date] | None
) -> bool:
    """Whether a retried request (for the stay's room, dates and guests) asks for the
    purpose and working days the stay has. What it leaves out is what the first request
    got: the purpose stored (the policy's default then) and a business stay's default
    days (they depend on the dates alone); its days compared sorted, once each."""
    asked = purpose if purpose is not None else booking.purpose
    if work_days is not None:
        days = sorted(set(work_days))
    elif asked == Purpose.BUSINESS:
        days = default_work_days(booking.check_in, booking.check_out)
    else:
        days = []
    return (asked, days) == (booking.purpose, work_days_of(booking))


def moved_work_days(booking: Booking, check_in: date, check_out: date) -> list[date]:
    """A business workation's working days on new dates: those that fall within them
    (check-in to check-out, both included), else the new dates' default days
    (``hr.policy.default_work_days``), else none. A leisure stay has none."""
    if booking.purpose != Purpose.BUSINESS:
        return []
    kept = [day for day in work_days_of(booking) if check_in <= day <= check_out]
    return kept or default_work_days(check_in, check_out)


def carried_work_days(booking: Booking, check_in: date, check_out: date) -> list[date]:
    """The working days of new dates the employee chose (``moved_work_days``). A business
    workation on dates with only weekends and holidays, keeping none, is refused
    (``work_days``): the employee chooses other dates."""
    days = moved_work_days(booking, check_in, check_out)
    if booking.purpose == Purpose.BUSINESS and not days:
        raise PolicyRefused(
            _l(
                "A business workation needs at least one working day, and these dates hold"
                " only weekends and holidays. Please choose other dates."
            ),
            "work_days",
        )
    return days


def set_work_days(booking: Booking, days: Iterable[date]) -> None:
    """The stay's working days become ``days`` (rows kept where the day is)."""
    wanted = set(days)
    for row in list(booking.work_days):
        if row.day not in wanted:
            booking.work_days.remove(row)
    held = {row.day for row in booking.work_days}
    booking.work_days.extend(StayWorkDay(day=day) for day in sorted(wanted - held))


def drop_work_days_from(booking: Booking, first: date) -> None:
    """The stay's working days from ``first`` on are not worked (the guest left before
    them, or never came): dropped. Those before ``first`` stay."""
    set_work_days(booking, [day for day in work_days_of(booking) if day < first])
