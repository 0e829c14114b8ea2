"""Stay dates: half-open ranges [check_in, check_out) of Tokyo calendar nights; a
report's period (``DateRange``)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.db import TOKYO

MAX_SEARCH_NIGHTS = 90
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def stay_nights(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


def month_bounds(day: date) -> tuple[date, date]:
    """First day of ``day``'s month and first day of the next month."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


@dataclass(frozen=True)
class DateRange:
    """The Tokyo dates ``[first, end)``: a report's period (the company's outcome report
    counts its nights, the region report its days)."""

    first: date
    end: date

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.first).days

    def months(self) -> list[date]:
        """The first day of every month the range has a date in, in order."""
        months, month = [], self.first.replace(day=1)
        while month < self.end:
            months.append(month)
            month = month_bounds(month)[1]
        return months

    def instants(self) -> tuple[datetime, datetime]:
        """The range as aware instants: Tokyo midnight of ``first`` and of ``end``."""
        return (
            datetime.combine(self.first, time(0), TOKYO),
            datetime.combine(self.end, time(0), TOKYO),
        )


MONTH_ARG = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)


def parse_month(raw: str | None, today: date, months_around: int) -> date:
    """The first day of the month ``YYYY-MM``; this month when ``raw`` is missing,
    malformed, or more than ``months_around`` months from today."""
    this_month = today.replace(day=1)
    found = MONTH_ARG.fullmatch(raw or "")
    if not found:
        return this_month
    year, month = int(found.group(1)), int(found.group(2))
    if not 1 <= month <= 12 or abs((year - today.year) * 12 + month - today.month) > months_around:
        return this_month
    return date(year, month, 1)


def month_weeks(first: date) -> list[list[date]]:
    """The weeks of a month, Sunday first as Japanese calendars are, padded with the
    days of the months either side."""
    return calendar.Calendar(firstweekday=6).monthdatescalendar(first.year, first.month)


def adjacent_months(first: date) -> tuple[date, date]:
    """The first days of the months before and after ``first``'s."""
    return (first - timedelta(days=1)).replace(day=1), month_bounds(first)[1]


def parse_iso_date(value: str | None) -> date | None:
    """A strict ``YYYY-MM-DD`` date, or None for anything else (week dates included)."""
    if not value or not ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
