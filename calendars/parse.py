"""Read an external iCal feed (Airbnb, Booking.com, Google Calendar) into the
nights it blocks at one of our facilities.

A night is a ``date``: night D is the night that starts on date D.

How an event becomes nights:

* An all-day event (``DTSTART;VALUE=DATE``) blocks the nights from its start
  date up to, not including, its end date, read exactly as written: a date is
  never moved through a time zone. Without DTEND it lasts for its DURATION, or
  one night; an end on or before the start also means one night.
* A timed event blocks the nights a guest would be in the room while it runs.
  A guest of night D is in the room from check-in on D until check-out on D+1,
  in the facility's time zone (e.g. 15:00 to 10:00 the next morning). The
  event blocks every night whose stay overlaps it; merely touching does not
  count. So an event from 14:00 on the 5th to 11:00 on the 7th blocks the
  nights of the 5th and the 6th, a meeting from 10:00 to 12:00 blocks nothing,
  and maintenance from 10:00 to 16:00 on the 5th blocks the night of the 5th
  (from 09:00, it would also block the 4th, whose guest leaves at 10:00).
  An event without an end blocks the night whose stay contains its start.
  Times in UTC or with a TZID are converted to the facility's zone; floating
  times are read in the calendar's ``X-WR-TIMEZONE`` (Google) if it has a
  valid one, else in the facility's zone.
* Repeating events (RRULE, RDATE, EXDATE, RECURRENCE-ID) are expanded around
  the window; each occurrence is read as above.
* Cancelled events are ignored; transparent ("free") ones still block, because
  operators block with Google's all-day events, which are transparent.
* Nights are clipped to the window ``[window_start, window_end)``; an event
  with no nights left is dropped. The first night as listed (before clipping)
  is kept too: it tells a stay that has begun from one that starts today.
* Text (UID, SUMMARY) loses NUL and the other control characters; line
  breaks and tabs become spaces.

A feed that cannot be read as a whole raises FeedParseError, so the caller
keeps the blocks it had. A single unreadable event is skipped (its UID is
reported, so the caller keeps what it blocked before), unless no event at all
can be read.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import recurring_ical_events
import x_wr_timezone
from icalendar import Calendar, Component
from icalendar.prop import vDDDTypes

from calendars.event_nights import (
    NightRules,
    Unreadable,
    date_value,
    first_value,
    text_value,
)

MAX_EVENTS = 20_000
MAX_KEY = 255
MAX_SUMMARY = 200
# Guards against feeds built to make the expansion run for hours: a series may
# step through at most this many days, the whole feed through MAX_RULE_STEPS,
# and it may expand to at most MAX_OCCURRENCES occurrences.
MAX_SERIES_STEPS = 100_000
MAX_RULE_STEPS = 5_000_000
MAX_OCCURRENCES = 50_000
MAX_DEPTH = 16

# Unfolding and line breaks exactly as icalendar reads them.
_FOLD = re.compile(r"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NEWLINE = re.compile(r"\r?\n")
_SUB_DAILY = {"SECONDLY", "MINUTELY", "HOURLY"}
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_SERIES_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
# Warnings about the feed's content (e.g. a guessed TZID) are not ours to show.
_FEED_WARNINGS = (UserWarning, RuntimeWarning, UnicodeWarning, BytesWarning)


@dataclass(frozen=True)
class ImportedEvent:
    """The nights one event of a feed blocks, inside the window."""

    key: str  # stable identity within the feed, at most 255 characters
    uid: str  # the UID as given ('' if none), truncated to 255
    start: date  # first night blocked
    end: date  # night after the last one blocked (exclusive), end > start
    summary: str  # SUMMARY, stripped, at most 200 characters
    # The first night as the feed gives it, before clipping to the window: a
    # stay that began before today still says when it began.
    listed_start: date | None = None

    @property
    def first_listed(self) -> date:
        return self.listed_start or self.start


@dataclass(frozen=True)
class ParsedFeed:
    events: list[ImportedEvent]
    unreadable_uids: frozenset[str]


class FeedParseError(Exception):
    """The feed cannot be read; the caller keeps the blocks it had."""


def read_feed(
    body: bytes,
    *,
    tz: ZoneInfo,
    check_in: time,
    check_out: time,
    window_start: date,
    window_end: date,
) -> ParsedFeed:
    """The events of the feed ``body`` with the nights each blocks, and the UIDs of
    events that could not be read (their earlier blocks should be kept).

    Raises FeedParseError, and nothing else, for a body that is not a complete
    iCalendar file or has no readable event. See the module docstring for how
    an event becomes nights.
    """
    rules = NightRules(tz, check_in, check_out, window_start, window_end)
    try:
        with warnings.catch_warnings():
            for category in _FEED_WARNINGS:
                warnings.simplefilter("ignore", category)
            return _parse(body, rules)
    except FeedParseError:
        raise
    except RecursionError as exc:
        raise FeedParseError("calendar is nested too deeply") from exc
    except MemoryError as exc:
        raise FeedParseError("calendar is too large") from exc
    except Exception as exc:
        raise FeedParseError("calendar could not be read") from exc


def _parse(body: bytes, rules: NightRules) -> ParsedFeed:
    text = bytes(body).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text.strip():
        raise FeedParseError("empty body")
    _check_structure(_NEWLINE.split(_FOLD.sub("", text)))
    try:
        calendar = Calendar.from_ical(text)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise FeedParseError("not a valid iCalendar file") from exc
    events = [c for c in _with_x_wr_timezone(calendar).subcomponents if c.name == "VEVENT"]
    if not events:
        return ParsedFeed([], frozenset())
    reader = _FeedReader(rules)
    found = reader.read(events)
    return ParsedFeed(found, frozenset(reader.unreadable_uids))


# --- the file as text ------------------------------------------------------


def _check_structure(lines: list[str]) -> None:
    """Refuse what icalendar would read leniently: a calendar that is cut off,
    BEGIN/END that do not match, more than one calendar, too many events, and
    time zone rules that would take hours to compute."""
    lines = [line.rstrip() for line in lines if line.strip()]
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        raise FeedParseError("not an iCalendar file")
    if lines[-1].upper() != "END:VCALENDAR":
        raise FeedParseError("calendar is truncated (no END:VCALENDAR)")
    stack: list[str] = []
    events = 0
    for number, line in enumerate(lines):
        name, _, value = line.partition(":")
        name, value = name.upper(), value.strip().upper()
        if name == "BEGIN":
            if number and not stack:
                raise FeedParseError("more than one calendar in the file")
            stack.append(value)
            if len(stack) > MAX_DEPTH:
                raise FeedParseError("calendar is nested too deeply")
            events += value == "VEVENT"
            if events > MAX_EVENTS:
                raise FeedParseError(f"calendar has more than {MAX_EVENTS:,} events")
        elif name == "END":
            if not stack or stack.pop() != value:
                raise FeedParseError("calendar is malformed (BEGIN and END do not match)")
        elif name.startswith("RRULE") and "VTIMEZONE" in stack:
            _check_time_zone_rule(value)
    if stack:
        raise FeedParseError("calendar is truncated (no END:VCALENDAR)")


def _check_time_zone_rule(rule: str) -> None:
    # icalendar lists every transition of a custom VTIMEZONE up to year 9999.
    parts = _rule_parts(rule)
    expansion = math.prod(len(v) for k, v in parts.items() if k.startswith("BY"))
    freq = parts.get("FREQ", [""])[0]
    if not (freq == "YEARLY" and expansion <= 12 or freq == "MONTHLY" and expansion == 1):
        raise FeedParseError("unsupported time zone definition")


def _rule_parts(rule: str) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    for item in rule.upper().split(";"):
        name, _, value = item.partition("=")
        parts[name.strip()] = [v.strip() for v in value.split(",")]
    return parts


def _with_x_wr_timezone(calendar: Component) -> Component:
    """Google writes times in UTC and names the calendar's zone in
    X-WR-TIMEZONE; repeating events expand in that zone."""
    name = first_value(calendar, "X-WR-TIMEZONE")
    if name is None:
        return calendar
    try:
        zone = ZoneInfo(str(name).strip())
    except (ValueError, KeyError, OSError):
        return calendar  # an unknown zone: read the times as RFC 5545 says
    return x_wr_timezone.to_standard(calendar, timezone=zone)


# --- reading events ---------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    base_key: str
    uid: str
    nights: tuple[date, date] | None
    summary: str
    cancelled: bool


class _FeedReader:
    def __init__(self, rules: NightRules) -> None:
        self.rules = rules
        self.unreadable_uids: set[str] = set()
        self.readable = 0
        self.rule_steps = 0
        self.occurrences = 0

    def read(self, events: list[Component]) -> list[ImportedEvent]:
        for event in events:
            _dates_as_written(event)
        series = _series_by_uid(events)
        candidates: list[_Candidate] = []
        for event in events:
            uid = text_value(event, "UID")
            members = series.get(uid) if uid else ([event] if _is_series(event) else None)
            if members is None:
                candidates.extend(self._single(event))
            elif members[0] is event:
                candidates.extend(self._series(members))
        if not self.readable:
            raise FeedParseError("no readable events")
        keys = _unique_keys([c.base_key for c in candidates])
        return [
            event
            for candidate, key in zip(candidates, keys, strict=True)
            if (event := self._clipped(candidate, key)) is not None
        ]

    def _clipped(self, candidate: _Candidate, key: str) -> ImportedEvent | None:
        if candidate.cancelled or candidate.nights is None:
            return None
        start = max(candidate.nights[0], self.rules.window_start)
        end = min(candidate.nights[1], self.rules.window_end)
        if start >= end:
            return None
        return ImportedEvent(
            key, candidate.uid, start, end, candidate.summary, min(candidate.nights[0], start)
        )

    def _single(self, event: Component) -> Iterator[_Candidate]:
        try:
            nights = self.rules.nights(event)
            base_key = text_value(event, "UID") or _no_uid_key(event, self.rules)
            candidate = _candidate(event, base_key, nights)
        except Exception:  # one broken event must not cost the others
            self._note_unreadable(event)
            return
        self.readable += 1
        yield candidate

    def _note_unreadable(self, event: Component) -> None:
        """Remember the UID, so the caller keeps what this event blocked before."""
        try:
            uid = text_value(event, "UID")
        except Exception:  # noqa: S110 - without a UID nothing can be kept
            return
        if uid:
            self.unreadable_uids.add(uid)

    def _series(self, members: list[Component]) -> list[_Candidate]:
        readable = [m for m in members if _is_readable(m, self.rules)]
        if len(readable) < len(members):
            for member in members:
                self._note_unreadable(member)
        members = readable
        if not members:
            return []
        try:
            occurrences = self._expand(members)
            prefix = text_value(members[0], "UID") or _no_uid_key(members[0], self.rules)
        except FeedParseError:
            raise
        except Exception:  # one broken series must not cost the others
            for member in members:
                self._note_unreadable(member)
            return []
        self.readable += len(members)
        candidates = []
        for occurrence in occurrences:
            try:
                start = date_value(occurrence, "DTSTART")
                base_key = f"{prefix}/{self.rules.iso(start)}"
                candidates.append(_candidate(occurrence, base_key, self.rules.nights(occurrence)))
            except Exception:  # skip the one occurrence, keep the series
                self._note_unreadable(members[0])
                continue
        return candidates

    def _expand(self, members: list[Component]) -> list[Component]:
        steps = sum(_rule_steps(m, self.rules.query_end) for m in members)
        if steps > MAX_SERIES_STEPS:
            raise Unreadable("repeats for too long")
        self.rule_steps += steps
        if self.rule_steps > MAX_RULE_STEPS:
            raise FeedParseError("calendar has too many repeating events")
        calendar = Calendar()
        for member in members:
            calendar.add_component(member)
        found = recurring_ical_events.of(calendar).between(
            self.rules.query_start, self.rules.query_end
        )
        self.occurrences += len(found)
        if self.occurrences > MAX_OCCURRENCES:
            raise FeedParseError("calendar repeats into too many events")
        return sorted(found, key=lambda c: self.rules.order(date_value(c, "DTSTART")))


def _candidate(event: Component, base_key: str, nights: tuple[date, date] | None) -> _Candidate:
    status = text_value(event, "STATUS").strip().upper()
    summary = text_value(event, "SUMMARY").strip()[:MAX_SUMMARY]
    uid = text_value(event, "UID")[:MAX_KEY]
    return _Candidate(base_key, uid, nights, summary, status == "CANCELLED")


def _is_readable(event: Component, rules: NightRules) -> bool:
    try:
        rules.nights(event)
    except Exception:
        return False
    return True


def _is_series(event: Component) -> bool:
    return any(name in event for name in _SERIES_PROPERTIES)


def _series_by_uid(events: list[Component]) -> dict[str, list[Component]]:
    """Events sharing a UID, for UIDs where one of them repeats or overrides."""
    by_uid: dict[str, list[Component]] = {}
    for event in events:
        uid = text_value(event, "UID")
        if uid:
            by_uid.setdefault(uid, []).append(event)
    return {uid: group for uid, group in by_uid.items() if any(map(_is_series, group))}


def _rule_steps(event: Component, query_end: date) -> int:
    """An upper bound of the days a repeat rule steps through, from its start
    to the end of the query; a rule that repeats within a day is refused."""
    rules = event.get("RRULE")
    if rules is None:
        return 0
    start = date_value(event, "DTSTART")
    start_day = start.date() if isinstance(start, datetime) else start
    days = max((query_end - start_day).days, 0)
    steps = 0
    for rule in rules if isinstance(rules, list) else [rules]:
        parts = _rule_parts(rule.to_ical().decode())
        if parts.get("FREQ", [""])[0] in _SUB_DAILY or any(
            len(parts.get(name, [])) > 1 for name in _TIME_PARTS
        ):
            raise Unreadable("repeats within a day")
        count = parts.get("COUNT", [""])[0]
        steps += min(days, int(count)) if count.isdigit() else days
    return steps


def _dates_as_written(event: Component) -> None:
    """``DTSTART;VALUE=DATE;TZID=…`` stays a date: icalendar would make it
    midnight in that zone, and a feed's dates never go through a zone."""
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = first_value(event, name)
        if prop is None:
            continue
        try:
            declared_date = prop.params.get("VALUE", "").upper() == "DATE"
            if declared_date and isinstance(prop.dt, datetime):
                event[name] = vDDDTypes(prop.dt.date())
        except Exception:  # noqa: S112 - a broken property is found when the event is read
            continue


def _unique_keys(base_keys: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    keys = []
    for base_key in base_keys:
        seen[base_key] += 1
        key = base_key if seen[base_key] == 1 else f"{base_key}#{seen[base_key]}"
        if len(key) > MAX_KEY:
            key = "sha1-" + _sha1(key)
        keys.append(key)
    return keys


def _no_uid_key(event: Component, rules: NightRules) -> str:
    start = date_value(event, "DTSTART")
    end = date_value(event, "DTEND")
    parts = [
        rules.iso(start) if start is not None else "",
        rules.iso(end) if end is not None else "",
        text_value(event, "SUMMARY"),
    ]
    return "nouid-" + _sha1("\x1f".join(parts))


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
