"""Japanese demand seasons, night by night: peaks, holiday eves, weekends.

A *night* is the date a guest sleeps there (check-in day). The night of D is in
demand when the following day is a day off, because that is when people travel.

- **peak**: Golden Week (nights 4/29–5/5), Obon (nights 8/12–8/16) and New Year
  (nights 12/29–1/3): the whole country travels.
- **holiday eve**: the night before a public holiday (振替休日 and 国民の休日
  included, from ``jpholiday``), and every night that leads into or runs through
  a weekend of three days off or more (a 三連休).
- **weekend**: Friday and Saturday nights.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import jpholiday

PEAK = "peak"
HOLIDAY_EVE = "holiday_eve"

# (month, day) of the first and last peak night, inclusive.
PEAK_PERIODS = (
    ((4, 29), (5, 5)),  # ゴールデンウィーク
    ((8, 12), (8, 16)),  # お盆
    ((12, 29), (12, 31)),  # 年末年始 …
    ((1, 1), (1, 3)),  # … into the new year
)


def is_peak_night(night: date) -> bool:
    md = (night.month, night.day)
    return any(first <= md <= last for first, last in PEAK_PERIODS)


@lru_cache(maxsize=4096)
def is_day_off(day: date) -> bool:
    """Saturday, Sunday or a public holiday (substitute holidays included)."""
    return day.weekday() >= 5 or jpholiday.is_holiday(day)


def _in_long_weekend(day: date) -> bool:
    """``day`` is a day off inside a run of three or more consecutive days off."""
    if not is_day_off(day):
        return False
    run = 1
    d = day - timedelta(days=1)
    while is_day_off(d) and run < 3:
        run += 1
        d -= timedelta(days=1)
    d = day + timedelta(days=1)
    while is_day_off(d) and run < 3:
        run += 1
        d += timedelta(days=1)
    return run >= 3


@lru_cache(maxsize=4096)
def season_of(night: date) -> str | None:
    """``PEAK``, ``HOLIDAY_EVE`` or None for an ordinary night."""
    if is_peak_night(night):
        return PEAK
    following = night + timedelta(days=1)
    if jpholiday.is_holiday(following) or _in_long_weekend(following):
        return HOLIDAY_EVE
    return None


def is_weekend_night(night: date) -> bool:
    """Friday and Saturday nights (the guest has no work the next morning)."""
    return night.weekday() in (4, 5)
