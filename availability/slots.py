"""Workspace time slots: opening hours, slot arithmetic, a booking's time checks, its
base price. Pure: no database, no request, no clock (nothing here reads "now").

Rules:

- Workspace (desks, booths, meeting rooms) is sold in slots of ``SLOT_SIZES`` minutes
  (15 or 30) on the Asia/Tokyo wall clock. Times are stored and compared as aware UTC
  datetimes; every step of arithmetic is done on the Tokyo wall clock first and only
  then converted to UTC (Japan has no summer time, but nothing here depends on that).
- A unit opens at most once a day, ``[opens, closes)`` on one Tokyo date; ``closes``
  may be midnight (24:00, written ``closes=None``) but never past it: no overnight
  opening. Opening hours lie on the unit's slot boundaries.
- On a Japanese national holiday (``jpholiday``: 振替休日 and 国民の休日 included) a
  unit is closed, or opens with the hours of one chosen weekday (say Sunday's).
- A booking ``[start, end)`` starts and ends on slot boundaries of the Tokyo clock,
  starts inside one day's opening and ends by that day's closing time: it never spans
  closing time or midnight. Its length lies within the unit's minimum and maximum.
- A booking's base price is the hourly price × minutes / 60 rounded down to the yen
  (in the customer's favour), capped at the day price when the unit has one. Prices
  are integer yen, tax included (総額表示).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import jpholiday
from flask_babel import lazy_gettext as _l

from core.db import TOKYO
from core.errors import RuleError

SLOT_SIZES = (15, 30)
DAY_MINUTES = 24 * 60
DAYS_IN_WEEK = 7

# RFC 3339 date-time as the API takes it: extended format, seconds and a fraction
# optional, an offset (``Z`` or ``±HH:MM``) required.
_API_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


class ScheduleError(RuleError):
    """A unit's slot settings that cannot be used; the message is for the operator.

    Codes: ``invalid_hours`` (an opening not closing after it opens, not in whole
    minutes, off the slot boundaries, or a week that is not seven days), ``slot_size``
    (not one of ``SLOT_SIZES``), ``booking_length`` (minimum or maximum not a positive
    multiple of the slot, or the minimum above the maximum), ``invalid_price``."""

    code = "invalid_schedule"


class SlotError(RuleError):
    """A booking's times refused; the API answers 422 with the code.

    Codes, in the order they are checked: ``invalid_time`` (not an aware datetime, or a
    string without an offset), ``order`` (end not after start), ``not_on_slot``,
    ``outside_hours`` (a closed day or holiday, or a start before opening or at or
    after closing), ``spans_closing`` (ends after closing time or past midnight),
    ``too_short``, ``too_long``."""

    code = "invalid_time"


# -- opening hours --------------------------------------------------------------------


def _minute_of(value: time, name: str) -> int:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise ScheduleError(
            f"{name} must be a Tokyo wall-clock time without a zone.", "invalid_hours"
        )
    if value.second or value.microsecond:
        raise ScheduleError(
            f"{name} must be a whole minute ({value.isoformat()}).", "invalid_hours"
        )
    return value.hour * 60 + value.minute


@dataclass(frozen=True)
class Opening:
    """One day's opening ``[opens, closes)`` on the Tokyo wall clock, in whole minutes.
    ``closes=None`` is midnight at the end of the day (24:00); ``closes`` is after
    ``opens`` (so a ``closes`` of 00:00 is refused: write None)."""

    opens: time
    closes: time | None = None

    def __post_init__(self) -> None:
        opens = _minute_of(self.opens, "The opening time")
        closes = DAY_MINUTES if self.closes is None else _minute_of(self.closes, "The closing time")
        if closes <= opens:
            raise ScheduleError(
                "The closing time must be after the opening time (midnight is 24:00).",
                "invalid_hours",
            )

    @classmethod
    def from_minutes(cls, opens: int, closes: int) -> Opening:
        """An opening from minutes since midnight, ``0 <= opens < closes <= 1440``."""
        if not 0 <= opens < DAY_MINUTES or not 0 < closes <= DAY_MINUTES:
            raise ScheduleError("Opening minutes must lie within one day.", "invalid_hours")
        return cls(
            time(opens // 60, opens % 60),
            None if closes == DAY_MINUTES else time(closes // 60, closes % 60),
        )

    @property
    def opens_minute(self) -> int:
        """Minutes from midnight to opening."""
        return self.opens.hour * 60 + self.opens.minute

    @property
    def closes_minute(self) -> int:
        """Minutes from midnight to closing: 1440 for midnight."""
        return DAY_MINUTES if self.closes is None else self.closes.hour * 60 + self.closes.minute


@dataclass(frozen=True)
class OpeningHours:
    """A unit's opening per weekday and on national holidays.

    ``week`` holds seven entries, Monday first (``date.weekday()``): an ``Opening``, or
    None for a closed day. ``holiday`` says what a national holiday (jpholiday) is: None
    closed, or a weekday index 0–6 whose opening applies (6: Sunday's hours); a holiday
    ruled by a closed weekday is closed."""

    week: tuple[Opening | None, ...]
    holiday: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.week, tuple) or len(self.week) != DAYS_IN_WEEK:
            raise ScheduleError("Opening hours need seven days, Monday first.", "invalid_hours")
        if any(day is not None and not isinstance(day, Opening) for day in self.week):
            raise ScheduleError("Each day is an opening or closed.", "invalid_hours")
        if self.holiday is not None and (
            isinstance(self.holiday, bool)
            or not isinstance(self.holiday, int)
            or not 0 <= self.holiday < DAYS_IN_WEEK
        ):
            raise ScheduleError(
                "Holidays are closed or take the hours of a weekday (0 Monday … 6 Sunday).",
                "invalid_hours",
            )

    def opening_on(self, day: date) -> Opening | None:
        """The opening on a Tokyo date, or None when the unit is closed that day."""
        if jpholiday.is_holiday(day):
            return None if self.holiday is None else self.week[self.holiday]
        return self.week[day.weekday()]


def check_slot_size(slot_minutes: int) -> int:
    """The slot size if it is one of ``SLOT_SIZES``; otherwise ``ScheduleError``."""
    if type(slot_minutes) is not int or slot_minutes not in SLOT_SIZES:
        raise ScheduleError(
            f"A slot lasts {' or '.join(map(str, SLOT_SIZES))} minutes, not {slot_minutes!r}.",
            "slot_size",
        )
    return slot_minutes


def check_hours(hours: OpeningHours, slot_minutes: int) -> None:
    """Refuse (``ScheduleError``) opening hours that are not on the slot boundaries."""
    check_slot_size(slot_minutes)
    for opening in hours.week:
        if opening is not None and (
            opening.opens_minute % slot_minutes or opening.closes_minute % slot_minutes
        ):
            raise ScheduleError(
                f"Opening hours must be on {slot_minutes}-minute slot boundaries.",
                "invalid_hours",
            )


@dataclass(frozen=True)
class SlotRules:
    """A unit's slot size and its booking length limits, in minutes: the limits are
    multiples of the slot, ``slot <= min_minutes <= max_minutes <= 1440``."""

    slot_minutes: int
    min_minutes: int
    max_minutes: int

    def __post_init__(self) -> None:
        slot = check_slot_size(self.slot_minutes)
        limits = (self.min_minutes, self.max_minutes)
        if any(isinstance(v, bool) or not isinstance(v, int) or v % slot for v in limits) or not (
            slot <= self.min_minutes <= self.max_minutes <= DAY_MINUTES
        ):
            raise ScheduleError(
                f"The minimum and maximum booking lengths must be multiples of {slot} minutes,"
                " the minimum no longer than the maximum, the maximum at most a day.",
                "booking_length",
            )


# -- spans and slots ------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A half-open time range ``[start, end)`` of aware UTC datetimes; unpacks as
    ``start, end = span``."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // timedelta(minutes=1)

    def __iter__(self) -> Iterator[datetime]:
        yield self.start
        yield self.end


def _tokyo_moment(day: date, minute: int) -> datetime:
    """``minute`` minutes after midnight starting ``day`` on the Tokyo wall clock, in
    UTC (aware datetime + timedelta is wall-clock arithmetic; the zone applies after)."""
    return (datetime.combine(day, time(0), tzinfo=TOKYO) + timedelta(minutes=minute)).astimezone(
        UTC
    )


def _check_day(day: date) -> None:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"a Tokyo calendar date is needed, not {day!r}")


def day_slots(hours: OpeningHours, day: date, slot_minutes: int) -> list[Span]:
    """Every slot of a Tokyo date in order, as UTC spans; none on a closed day."""
    _check_day(day)
    check_hours(hours, slot_minutes)
    opening = hours.opening_on(day)
    if opening is None:
        return []
    # Japan keeps no daylight saving time: the day's minutes are its midnight's plus them.
    midnight, step = _tokyo_moment(day, 0), timedelta(minutes=slot_minutes)
    return [
        Span(start, start + step)
        for start in (
            midnight + timedelta(minutes=minute)
            for minute in range(opening.opens_minute, opening.closes_minute, slot_minutes)
        )
    ]


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise SlotError(_l("A time must carry its time zone offset (e.g. +09:00)."), "invalid_time")
    return moment


def _on_slot(tokyo: datetime, slot_minutes: int) -> bool:
    return not (tokyo.minute % slot_minutes or tokyo.second or tokyo.microsecond)


def _ordered_on_slots(start: datetime, end: datetime, slot_minutes: int):
    """Aware ``start < end`` on slot boundaries, as Tokyo wall-clock datetimes."""
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        raise SlotError(_l("The end must be after the start."), "order")
    start_tokyo, end_tokyo = start.astimezone(TOKYO), end.astimezone(TOKYO)
    if not (_on_slot(start_tokyo, slot_minutes) and _on_slot(end_tokyo, slot_minutes)):
        raise SlotError(
            _l(
                "Bookings start and end on %(minutes)d-minute slots (Japan time).",
                minutes=slot_minutes,
            ),
            "not_on_slot",
        )
    return start_tokyo, end_tokyo


def slot_starts(start: datetime, end: datetime, slot_minutes: int) -> list[datetime]:
    """Every slot start in ``[start, end)`` as aware UTC, one per slot (the rows a
    booking claims under ``UNIQUE(unit_id, slot_start)``). ``start < end``, both aware
    and on slot boundaries of the Tokyo clock (``SlotError`` otherwise)."""
    check_slot_size(slot_minutes)
    start_tokyo, end_tokyo = _ordered_on_slots(start, end, slot_minutes)
    step = timedelta(minutes=slot_minutes)
    return [
        (start_tokyo + step * index).astimezone(UTC)
        for index in range((end_tokyo - start_tokyo) // step)
    ]


def _minute_in_day(tokyo: datetime, day: date) -> int | None:
    """Minutes from ``day``'s Tokyo midnight to ``tokyo``; 1440 for the next midnight;
    None for anything later."""
    if tokyo.date() == day:
        return tokyo.hour * 60 + tokyo.minute
    if tokyo.date() == day + timedelta(days=1) and tokyo.time() == time(0):
        return DAY_MINUTES
    return None


def check_booking(start: datetime, end: datetime, hours: OpeningHours, rules: SlotRules) -> Span:
    """The booking ``[start, end)`` as UTC, if it keeps the unit's rules (module
    docstring); otherwise ``SlotError`` with the first rule broken, in the order of
    ``SlotError``'s codes. ``start`` and ``end`` may carry any offset; naive ones are
    refused. Bad settings raise ``ScheduleError``."""
    check_hours(hours, rules.slot_minutes)
    start_tokyo, end_tokyo = _ordered_on_slots(start, end, rules.slot_minutes)
    day = start_tokyo.date()
    opening = hours.opening_on(day)
    begins = start_tokyo.hour * 60 + start_tokyo.minute
    if opening is None or not opening.opens_minute <= begins < opening.closes_minute:
        raise SlotError(_l("The workspace is not open at that time."), "outside_hours")
    ends = _minute_in_day(end_tokyo, day)
    if ends is None or ends > opening.closes_minute:
        raise SlotError(_l("A booking must end by the closing time."), "spans_closing")
    if ends - begins < rules.min_minutes:
        raise SlotError(
            _l("Book at least %(minutes)d minutes.", minutes=rules.min_minutes), "too_short"
        )
    if ends - begins > rules.max_minutes:
        raise SlotError(
            _l("Book at most %(minutes)d minutes.", minutes=rules.max_minutes), "too_long"
        )
    return Span(start.astimezone(UTC), end.astimezone(UTC))


# -- the API's times ------------------------------------------------------------------


def parse_api_time(value: str) -> datetime:
    """An API time (RFC 3339 with an offset: ``2026-12-07T14:00:00+09:00``,
    ``2026-12-07T05:00:00Z``) as aware UTC; ``SlotError`` ``invalid_time`` for a
    missing offset or anything else."""
    if not isinstance(value, str) or not _API_TIME.fullmatch(value):
        raise SlotError(
            _l("Times are ISO 8601 with an offset, e.g. 2026-12-07T14:00:00+09:00."),
            "invalid_time",
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SlotError(_l("That time does not exist."), "invalid_time") from None
    return parsed.astimezone(UTC)


def format_api_time(moment: datetime) -> str:
    """An aware datetime as Japan time to the second, ``2026-12-07T14:00:00+09:00``
    (any fraction of a second is dropped)."""
    return _aware(moment, "given").astimezone(TOKYO).isoformat(timespec="seconds")


# -- price ----------------------------------------------------------------------------


def _yen(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScheduleError(
            f"The {name} must be a whole number of yen, not negative.", "invalid_price"
        )
    return value


@dataclass(frozen=True)
class WorkspacePrices:
    """A unit's prices in integer yen, tax included: ``hourly``, and ``day`` (optional),
    the most one booking costs."""

    hourly: int
    day: int | None = None

    def __post_init__(self) -> None:
        _yen(self.hourly, "hourly price")
        if self.day is not None:
            _yen(self.day, "day price")


def booking_price(prices: WorkspacePrices, minutes: int) -> int:
    """The base price of a booking of ``minutes``: ``hourly × minutes / 60`` rounded
    down to the yen, capped at the day price when there is one (a booking never spans a
    day, so the cap applies per booking)."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise ValueError(f"a booking lasts a whole, non-negative number of minutes: {minutes!r}")
    price = prices.hourly * minutes // 60
    return price if prices.day is None else min(price, prices.day)
