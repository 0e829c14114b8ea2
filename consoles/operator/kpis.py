"""The operator's hotel figures, for one facility or many at once, in a fixed number of
queries whatever the number of facilities, rooms or nights.

- nights available: open rooms × nights, less the nights closed (manual closings and
  imported external events); a closed room is not available;
- nights sold: nights held by stays (booked, in the house, checked out) and by direct
  stays the operator recorded;
- room revenue: the frozen nightly prices of the nights sold (tax included; a direct
  stay's nightly price as recorded);
- occupancy = sold ÷ available (a fraction 0–1), ADR = revenue ÷ sold, RevPAR =
  revenue ÷ available (both rounded to the yen; 0 when the divisor is 0);
- pickup: nights of the period booked in the last 7 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

PICKUP_DAYS = 7


@dataclass(frozen=True)
class Figures:
    """The hotel figures of one facility (or of several summed) over [start, end)."""

    start: date
    end: date  # exclusive
    nights_available: int
    nights_sold: int
    room_revenue: int  # yen, tax included
    pickup: int  # nights of the period booked in the last PICKUP_DAYS days

    @property
    def occupancy(self) -> float:
        """Nights sold ÷ nights available (0–1; 0 when nothing was available)."""
        return self.nights_sold / self.nights_available if self.nights_available else 0.0

    @property
    def adr(self) -> int:
        """Average daily rate: room revenue ÷ nights sold, rounded to the yen."""
        return round(self.room_revenue / self.nights_sold) if self.nights_sold else 0

    @property
    def revpar(self) -> int:
        """Revenue per available room night, rounded to the yen."""
        return round(self.room_revenue / self.nights_available) if self.nights_available else 0


def period_figures(
    facility_ids: list[int], start: date, end: date, now: datetime
) -> dict[int, Figures]:
    """The figures of each facility over [start, end) (every id present, zeros when
    nothing happened), in a fixed number of queries. The caller has checked the
    facilities are the operator's."""
    raise NotImplementedError


def total(figures: list[Figures], start: date, end: date) -> Figures:
    """Several facilities' figures summed (the organisation's line)."""
    raise NotImplementedError
