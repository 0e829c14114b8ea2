"""The quote page's desk for each working day (issue 19): what the employee chose
(``desk_unit``, ``desk_from``, ``desk_to``), what it costs beside the stay, and the
desks the confirm form posts. The rules: ``booking.workspace_package``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from accounts.models import User
from booking.services import BookingError, Quote
from booking.workspace import WorkspaceQuoteResult, WorkspaceRequest
from booking.workspace_package import (
    desk_days,
    desk_requests,
    distance_km,
    nearby_units,
    other_hours_units,
    quote_desks,
    refusal_of,
)
from core.db import TOKYO
from facilities.workspace import WorkspaceUnit

DEFAULT_FROM, DEFAULT_TO = time(9), time(18)
# The times a desk may start or end at: every half hour from 07:00 to 22:00.
DESK_TIMES = tuple(time(h, m) for h in range(7, 22) for m in (0, 30)) + (time(22),)
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class DeskChoice:
    """The quote page's desk section: the days, the desks offered (with their distance
    from the stay, 0 at its own facility), what was chosen, its price or its refusal."""

    days: list[date]
    offered: list[tuple[WorkspaceUnit, float]]
    unit_id: int | None
    starts: time
    ends: time
    times: tuple[time, ...]
    result: WorkspaceQuoteResult | None = None
    error: str | None = None
    # The facility's units open that day but not for these hours, with their opening.
    other_hours: tuple = ()

    @property
    def total(self) -> int:
        return self.result.total if self.result is not None else 0


def _time_of(value: str | None, default: time) -> time:
    if not value:
        return default
    try:
        chosen = time.fromisoformat(value)
    except ValueError:
        raise BookingError(_l("Choose the desk's hours from the list."), "invalid") from None
    if chosen not in DESK_TIMES:
        raise BookingError(_l("Choose the desk's hours from the list."), "invalid")
    return chosen


def _unit_id_of(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise BookingError(_l("Choose one of the desks offered."), "invalid")
    return int(value)


def desk_choice(actor: User, quote: Quote, values: MultiDict, now: datetime, horizon: int):
    """The desk section of ``quote`` for the values asked (see the module)."""
    days = desk_days(quote.check_in, quote.check_out)
    facility = quote.unit.facility
    try:
        starts = _time_of(values.get("desk_from"), DEFAULT_FROM)
        ends = _time_of(values.get("desk_to"), DEFAULT_TO)
        unit_id = _unit_id_of(values.get("desk_unit"))
    except BookingError as exc:
        return DeskChoice(days, [], None, DEFAULT_FROM, DEFAULT_TO, DESK_TIMES, error=exc.message)
    units = nearby_units(facility, days[0], starts, ends) if days and starts < ends else []
    offered = [(u, round(distance_km(facility, u.facility), 1)) for u in units]
    other_hours = tuple(other_hours_units(facility, days[0], units)) if days else ()
    # A unit of the facility chosen for hours it does not take stays chosen, refused
    # with its own rule, so that changing the hours is all the employee has to do.
    chosen_other = next((u for u, _opening in other_hours if u.id == unit_id), None)
    if chosen_other is not None:
        offered.append((chosen_other, 0.0))
    choice = DeskChoice(days, offered, unit_id, starts, ends, DESK_TIMES, other_hours=other_hours)
    if starts >= ends:  # said whether or not a desk is chosen yet
        return _refused(choice, _l("The desk's end must be after its start."))
    if unit_id is None or not days:
        return choice
    if chosen_other is not None:
        reason = refusal_of(chosen_other, days[0], starts, ends)
        return _refused(choice, reason or _l("That desk is not offered for these hours."))
    if unit_id not in {u.id for u in units}:
        return _refused(choice, _l("That desk is not offered for these hours. Choose another."))
    try:
        requests = desk_requests(unit_id, days, starts, ends)
        result = quote_desks(
            actor, quote.check_in, quote.check_out, requests, now, horizon_days=horizon
        )
    except BookingError as exc:
        return _refused(choice, exc.message)
    return DeskChoice(days, offered, unit_id, starts, ends, DESK_TIMES, result=result)


def _refused(choice: DeskChoice, message) -> DeskChoice:
    return replace(choice, result=None, error=str(message))


def posted_desks(
    values: MultiDict, check_in: date, check_out: date
) -> tuple[list[WorkspaceRequest], int | None]:
    """The desks the confirm form asks for with the stay (none without ``desk_unit``)
    and the total they were shown at; bad values are a ``BookingError``."""
    unit_id = _unit_id_of(values.get("desk_unit"))
    if unit_id is None:
        return [], None
    starts = _time_of(values.get("desk_from"), DEFAULT_FROM)
    ends = _time_of(values.get("desk_to"), DEFAULT_TO)
    if starts >= ends:
        raise BookingError(_l("The desk's end must be after its start."), "invalid")
    expected = values.get("expected_desk_total", "")
    if not expected.isdigit() or len(expected) > 11:  # the desks' price must have been shown
        raise BookingError(_l("Show the desks' price before confirming them."), "invalid")
    return desk_requests(unit_id, desk_days(check_in, check_out), starts, ends), int(expected)


def tokyo_time(moment: datetime) -> str:
    """A desk's time on the Tokyo clock, ``HH:MM``."""
    return moment.astimezone(TOKYO).strftime("%H:%M")
