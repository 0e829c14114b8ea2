"""Stay dates: half-open ranges [check_in, check_out) of Tokyo calendar nights."""

from __future__ import annotations

import re
from datetime import date, timedelta

MAX_SEARCH_NIGHTS = 90
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def stay_nights(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


def month_bounds(day: date) -> tuple[date, date]:
    """First day of ``day``'s month and first day of the next month."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def parse_iso_date(value: str | None) -> date | None:
    """A strict ``YYYY-MM-DD`` date, or None for anything else (week dates included)."""
    if not value or not ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
