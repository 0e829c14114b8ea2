"""The nights one event of an iCal feed blocks, and reading its properties.

Split from ``calendars.parse``, whose module docstring gives the rules: all-day
events as written, timed events by the guest stays they overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Component

from core.input_guard import NAME_REFUSED

ONE_DAY = timedelta(days=1)
# The expansion is asked for a little more than the window; the nights of
# each occurrence are then worked out exactly and clipped.
QUERY_MARGIN = timedelta(days=2)

_BREAKS = re.compile(r"[\t\n\v\f\r]+")


class Unreadable(Exception):
    """One event (or series) cannot be read; it is skipped."""


@dataclass(frozen=True)
class NightRules:
    """The facility's zone and stay times, and the import window, that turn an
    event's dates into the nights it blocks."""

    tz: ZoneInfo
    check_in: time
    check_out: time
    window_start: date
    window_end: date

    @property
    def query_start(self) -> date:
        return self.window_start - QUERY_MARGIN

    @property
    def query_end(self) -> date:
        return self.window_end + QUERY_MARGIN

    def stay_start(self, night: date) -> datetime:
        """When the guest of this night arrives, in UTC."""
        return datetime.combine(night, self.check_in.replace(tzinfo=None), self.tz).astimezone(UTC)

    def stay_end(self, night: date) -> datetime:
        """When the guest of this night leaves, in UTC."""
        morning = night + ONE_DAY
        return datetime.combine(morning, self.check_out.replace(tzinfo=None), self.tz).astimezone(
            UTC
        )

    def to_utc(self, value: datetime) -> datetime:
        """An aware instant; floating times are facility-local."""
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(UTC)

    def timed_nights(self, start: datetime, end: datetime | None) -> tuple[date, date] | None:
        """The nights whose stay overlaps [start, end), both UTC."""
        local_start = start.astimezone(self.tz).date()
        if end is None or end <= start:
            nights = [
                night
                for night in (local_start - ONE_DAY, local_start)
                if self.stay_start(night) <= start < self.stay_end(night)
            ]
            return (nights[0], nights[-1] + ONE_DAY) if nights else None
        first = local_start - 2 * ONE_DAY
        while self.stay_end(first) <= start:
            first += ONE_DAY
        last = end.astimezone(self.tz).date() + ONE_DAY
        while self.stay_start(last) >= end:
            last -= ONE_DAY
        return (first, last + ONE_DAY) if first <= last else None

    def nights(self, component: Component) -> tuple[date, date] | None:
        """The nights an event blocks, before clipping to the window."""
        start = date_value(component, "DTSTART")
        if start is None:
            raise Unreadable("no DTSTART")
        end = date_value(component, "DTEND")
        duration = duration_value(component) if end is None else None
        if isinstance(start, datetime):
            return self.timed_nights(self.to_utc(start), self._timed_end(start, end, duration))
        return start, _all_day_end(start, end, duration)

    def _timed_end(
        self, start: datetime, end: date | None, duration: timedelta | None
    ) -> datetime | None:
        if isinstance(end, datetime):
            return self.to_utc(end)
        if end is not None:  # a date after a timed start: midnight, in the start's zone
            return self.to_utc(datetime.combine(end, time(0), start.tzinfo))
        if duration is not None:
            return self.to_utc(start + duration)  # wall-clock days, as RFC 5545 wants
        return None

    def iso(self, value: date) -> str:
        """A stable text form of a start, for keys: dates as they are, times in UTC."""
        if isinstance(value, datetime):
            return self.to_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()

    def order(self, value: date) -> datetime:
        if isinstance(value, datetime):
            return self.to_utc(value)
        return datetime.combine(value, time(0), self.tz).astimezone(UTC)


def _all_day_end(start: date, end: date | None, duration: timedelta | None) -> date:
    if end is not None:
        # A date-time end after a date start: its date as written, not converted.
        last = end.date() if isinstance(end, datetime) else end
    elif duration is not None:
        whole_days = duration.days + (1 if duration.seconds or duration.microseconds else 0)
        last = start + timedelta(days=max(whole_days, 0))
    else:
        last = start
    return last if last > start else start + ONE_DAY


# --- properties -------------------------------------------------------------


def first_value(component: Component, name: str):
    """A property that may appear more than once: the first one."""
    value = component.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def text_value(component: Component, name: str) -> str:
    """A text property without control characters: line breaks and tabs become
    spaces, NUL and the other C0 controls go (PostgreSQL refuses NUL in text,
    and none of them means anything in a UID or a one-line summary)."""
    value = first_value(component, name)
    if value is None:
        return ""
    return NAME_REFUSED.sub("", _BREAKS.sub(" ", str(value)))


def date_value(component: Component, name: str) -> date | None:
    prop = first_value(component, name)
    if prop is None:
        return None
    value = prop.dt  # a broken property raises here
    if not isinstance(value, date):
        raise Unreadable(f"{name} is not a date or date-time")
    return value


def duration_value(component: Component) -> timedelta | None:
    prop = first_value(component, "DURATION")
    if prop is None:
        return None
    value = prop.dt
    if not isinstance(value, timedelta):
        raise Unreadable("DURATION is not a duration")
    return value
