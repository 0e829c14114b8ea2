"""Read an external iCal feed (a meeting room also booked in Google Calendar) into the
times it blocks at a workspace unit.

Unlike nights, time is time: a timed event is an instant range, converted through its
zone.

* A timed event blocks ``[DTSTART, DTEND)`` as aware UTC instants: a TZID (with its
  VTIMEZONE, or a zone icalendar knows by name: ``America/New_York``, Outlook's
  ``Tokyo Standard Time``), a UTC ``…Z`` time, or a floating time, read in the calendar's
  ``X-WR-TIMEZONE`` (Google) if it has a valid one, else on the Tokyo clock. Without
  DTEND it lasts its DURATION; with neither, or an end not after its start, it takes no
  time and blocks nothing.
* An all-day event blocks whole Tokyo days, from the midnight that starts its first date
  to the midnight that ends its last (its dates read as written, never through a zone:
  ``calendars.event_nights``).
* Everything else is ``calendars.parse``'s, reused as it is: the structure checks (a
  truncated file, a custom time zone that would take hours to compute), repeating events
  expanded (RRULE, RDATE, EXDATE, RECURRENCE-ID) with their guards (a rule repeating
  within a day makes its series unreadable), cancelled events dropped, transparent ones
  kept, event keys (the UID; ``UID/<occurrence start in UTC>`` for an occurrence), and
  one unreadable event skipped with its UID reported while the others are read.

Here on top: times are clipped to the window ``[window_start, window_end)`` (the import
horizon, e.g. today's Tokyo midnight to 180 days on), an event that ended by ``now`` is
dropped, and an event longer than ``max_length`` (clipped) is left out and counted: a
months-long closing belongs on the unit's own closed times, not in thousands of slots.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from icalendar import Component

from calendars import parse
from calendars.event_nights import (
    NightRules,
    Unreadable,
    _all_day_end,
    date_value,
    duration_value,
)
from calendars.parse import FeedParseError, ImportedEvent
from core.db import TOKYO


@dataclass(frozen=True)
class TimedEvent:
    """The time one event of a feed blocks, inside the window (aware UTC)."""

    key: str  # stable identity within the feed, at most 255 characters
    uid: str  # the UID as given ('' if none)
    start: datetime
    end: datetime  # exclusive, after start
    summary: str  # at most 200 characters


@dataclass(frozen=True)
class TimedFeed:
    events: list[TimedEvent]
    unreadable_uids: frozenset[str]  # their earlier blocks are kept
    too_long: int  # events left out for lasting longer than max_length


@dataclass(frozen=True)
class TimedRules:
    """What ``calendars.parse``'s reader asks of its rules, for time instead of nights.

    The reader clips each event's span to ``window_start``/``window_end`` and keys
    occurrences with ``iso``; ``nights`` is the name it calls, here answering the event's
    ``[start, end)`` in UTC. The repeat expansion is asked for whole Tokyo days around
    the window (``query_start``/``query_end``, as ``NightRules`` gives them).
    """

    window_start: datetime
    window_end: datetime
    zone: ZoneInfo = TOKYO  # of floating times

    @cached_property
    def days(self) -> NightRules:
        # Only the zone and the window's dates are read (to_utc, iso, order, queries);
        # the stay times mean nothing here.
        return NightRules(
            self.zone,
            time(0),
            time(0),
            self.window_start.astimezone(self.zone).date(),
            self.window_end.astimezone(self.zone).date(),
        )

    @property
    def query_start(self) -> date:
        return self.days.query_start

    @property
    def query_end(self) -> date:
        return self.days.query_end

    def iso(self, value: date) -> str:
        return self.days.iso(value)

    def order(self, value: date) -> datetime:
        return self.days.order(value)

    def midnight(self, day: date) -> datetime:
        """The Tokyo midnight that starts ``day``, in UTC."""
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)

    def nights(self, component: Component) -> tuple[datetime, datetime] | None:
        """The event's ``[start, end)`` in UTC, before clipping; None if it takes no time."""
        start = date_value(component, "DTSTART")
        if start is None:
            raise Unreadable("no DTSTART")
        end = date_value(component, "DTEND")
        duration = duration_value(component) if end is None else None
        if not isinstance(start, datetime):
            return self.midnight(start), self.midnight(_all_day_end(start, end, duration))
        days = self.days
        begins = days.to_utc(start)
        ends = days._timed_end(start, end, duration)
        if ends is None or ends <= begins:
            return None
        return begins, ends


def read_timed_feed(
    body: bytes,
    *,
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    max_length: timedelta,
) -> TimedFeed:
    """The events of the feed ``body`` with the time each blocks (module docstring).

    Raises FeedParseError, and nothing else, for a body that is not a complete
    iCalendar file or has no readable event, exactly as ``calendars.parse.read_feed``.
    """
    rules = TimedRules(window_start.astimezone(UTC), window_end.astimezone(UTC))
    try:
        with warnings.catch_warnings():
            for category in parse._FEED_WARNINGS:
                warnings.simplefilter("ignore", category)
            parsed = parse._parse(body, rules)  # TimedRules in place of NightRules
    except FeedParseError:
        raise
    except RecursionError as exc:
        raise FeedParseError("calendar is nested too deeply") from exc
    except MemoryError as exc:
        raise FeedParseError("calendar is too large") from exc
    except Exception as exc:
        raise FeedParseError("calendar could not be read") from exc
    events: list[TimedEvent] = []
    too_long = 0
    for event in parsed.events:
        timed = _timed(event)
        if timed.end <= now:
            continue
        if timed.end - timed.start > max_length:
            too_long += 1
            continue
        events.append(timed)
    return TimedFeed(events, parsed.unreadable_uids, too_long)


def _timed(event: ImportedEvent) -> TimedEvent:
    # The reader built it from TimedRules: its "nights" are UTC instants.
    start, end = event.start, event.end
    assert isinstance(start, datetime) and isinstance(end, datetime)
    return TimedEvent(event.key, event.uid, start, end, event.summary)
