"""Does demand pricing move stays into each region's off-season? A simulated year.

A small, seeded simulation of the year 2027 on a made-up network of 24 company
facilities (保養所) in the eight regions of ``facilities.regions``, run twice on the
same employees, the same trips and the same random tastes:

- **pricing OFF**: every night costs the unit's base price;
- **pricing ON**: every night is priced by the real rules,
  ``pricing.rules.night_factors`` and ``compute_price``, at the moment
  the employee books: season (peak, holiday eve, off-season), weekend, the
  facility's occupancy against its target pace (from the simulation's own sold
  nights, ±3 nights around each night), last minute (from the lead time), gap
  nights (from the room's own stays, ``find_gaps``) and the bounds. A booked night
  keeps the price it was booked at.

The demand model, in plain words:

1. **Employees.** ``--employees`` people work for subscribing companies. Each
   belongs to a home region (weighted roughly by population: Kanto most, Shikoku
   least) and thinks about a stay ``TRIPS_PER_EMPLOYEE`` times a year on average.
2. **When.** The arrival dates of those trips follow national seasonality: a
   monthly level (high in August, May and July, low in February, June and
   December) times the kind of night: peak nights (GW, Obon, New Year) ×3,
   holiday eves ×2, Friday and Saturday ×1.6, other nights ×0.6.
3. **How long and how early.** A stay of 1–14 nights (mostly 1–3, some week-long
   workation stays) and a lead time of 0–180 days (peak trips are planned
   earlier). A trip is decided on its arrival date minus its lead time; the two
   runs process the trips in that order, so each price and each full room is
   what the employee would have seen that day.
4. **Where.** A multinomial-logit choice among the facilities with a room free on
   every night of the stay, plus "not at all" (a hotel elsewhere, or staying
   home). Utility of a facility =
   its appeal + its region's attractiveness in the arrival month
   − ``DISTANCE_COST`` × distance from the employee's home region
   − ``--beta`` × (the stay's average price per night − the base price) / the base price
   + random taste (a Gumbel draw, which makes the choice a logit).
   Regional seasonality: Hokkaido peaks in summer and in February (snow);
   Okinawa in winter and spring and is quiet in the rainy season and the typhoon
   months; Tohoku, Chugoku, Shikoku, Kyushu and Kinki are quiet in the cold
   months; Kanto and Chubu in the rainy season; and so on (``SEASONS``).
5. **Full.** A facility with no single room free on every night of the stay
   cannot be chosen. An employee who finds nothing at all tries other dates
   (up to 7 days earlier or later) with probability ``RETRY_CHANCE``, at most
   ``RETRIES`` times, and otherwise gives up.

Each facility's pricing ``Policy`` has its region's quiet months as its
off-season months (``SEASONS``); every other setting is the default.

What it prints: the occupancy (sold unit-nights / available unit-nights) of each
month of 2027, split between the facilities for which that month is an
off-season month and all the others, pricing off and on; then the year's totals
(nights sold, revenue in yen, average price, the share of nights sold in
off-season months, trips booked, given up and gone elsewhere). It saves a chart
of the monthly occupancies (``--chart``).

    .venv/bin/python benchmarks/offseason_shift.py            # the full run, under a minute
    .venv/bin/python benchmarks/offseason_shift.py --quick    # a smoke run, a few seconds
    .venv/bin/python benchmarks/offseason_shift.py --breakdown    # which factors do it
    .venv/bin/python benchmarks/offseason_shift.py --seed 7 --beta 3

It is a model with made-up numbers, not a forecast; docs/PRICING.md says what
it leaves out.
"""

from __future__ import annotations

import argparse
import calendar
import math
import random
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT)]

from facilities.regions import PREFECTURES_BY_CODE  # noqa: E402
from pricing.rules import Policy, compute_price, find_gaps, night_factors  # noqa: E402
from pricing.seasons import HOLIDAY_EVE, PEAK, is_weekend_night, season_of  # noqa: E402

YEAR = 2027
# Trips arrive from a month before the year to two weeks after it, so that the
# first and last nights of 2027 are as full as they would really be. Only the
# nights of 2027 are counted.
FIRST_ARRIVAL = date(YEAR - 1, 12, 1)
LAST_ARRIVAL = date(YEAR + 1, 1, 14)
MAX_NIGHTS = 14
MAX_LEAD = 180  # the app's booking horizon
DAY0 = FIRST_ARRIVAL  # day index 0
YEAR_FIRST = (date(YEAR, 1, 1) - DAY0).days
YEAR_LAST = (date(YEAR, 12, 31) - DAY0).days
N_DAYS = (LAST_ARRIVAL - DAY0).days + MAX_NIGHTS + 1
LAST_DAY = (LAST_ARRIVAL - DAY0).days  # the last arrival, also after a change of dates
DATES = tuple(DAY0 + timedelta(days=d) for d in range(N_DAYS))
PRICING_OFF = Policy(enabled=False)

TRIPS_PER_EMPLOYEE = 0.5  # stays thought about per employee per year
DEFAULT_EMPLOYEES = 40_000
# Price sensitivity: utility per 100% of the base price above or below it. 2.0 makes a
# 20% discount worth +0.4, about 1.5 times the odds of being chosen. A base price is
# taken to be what the facility is worth (its appeal says the rest), so only the change
# from it counts, and a run with pricing off is the same whatever the sensitivity.
DEFAULT_BETA = 2.0
DISTANCE_COST = 0.35  # utility lost per step of distance between regions
OUTSIDE_UTILITY = 2.0  # "not at all": a hotel elsewhere, or staying home
RETRY_CHANCE = 0.5
RETRIES = 2
RETRY_SHIFT = 7  # days, earlier or later

MONTH_NAMES = tuple(calendar.month_abbr[m] for m in range(1, 13))

# Trip arrivals by month (national), and by the kind of night.
MONTH_LEVEL = (0.75, 0.6, 0.9, 0.85, 1.05, 0.6, 1.05, 1.4, 0.9, 0.95, 0.9, 0.7)
NIGHT_LEVEL = {PEAK: 3.0, HOLIDAY_EVE: 2.0, "weekend": 1.6, None: 0.6}

# Stay length in nights 1..14: mostly short recreation stays, some workation weeks.
NIGHTS_WEIGHTS = (30, 30, 14, 7, 4, 3, 4, 1, 1, 1, 0.6, 0.6, 0.6, 1.5)


@dataclass(frozen=True)
class Season:
    """A region's attractiveness by month (added to utility) and its quiet months."""

    position: float  # along the archipelago, for the distance from home
    by_month: tuple[float, ...]  # Jan..Dec
    off_season: frozenset[int]

    def __post_init__(self) -> None:
        # The off-season months are the region's least attractive months.
        quiet = max(self.by_month[m - 1] for m in self.off_season)
        assert all(self.by_month[m - 1] >= quiet for m in range(1, 13) if m not in self.off_season)


# Seasonal zones: the eight regions, with Okinawa apart from Kyushu.
# Attractiveness by month, added to the utility of a stay arriving in that month:
#              Jan   Feb   Mar   Apr   May   Jun   Jul   Aug   Sep   Oct   Nov   Dec
_BY_MONTH = {
    "hokkaido": (0.3,  0.6, -0.2, -0.9, -0.3,  0.2,  0.8,  0.8,  0.3,  0.0, -0.9,  0.0),
    "tohoku":  (-0.6, -0.6, -0.7,  0.0,  0.2, -0.2,  0.2,  0.6,  0.1,  0.5,  0.0, -0.4),
    "kanto":   (-0.3, -0.5,  0.1,  0.3,  0.3, -0.5,  0.2,  0.4, -0.1,  0.2,  0.4, -0.2),
    "chubu":    (0.1,  0.2, -0.1, -0.6,  0.1, -0.6,  0.5,  0.8,  0.1,  0.2, -0.6, -0.1),
    "kinki":   (-0.5, -0.6,  0.2,  0.6,  0.2, -0.4, -0.1,  0.1, -0.1,  0.3,  0.7, -0.2),
    "chugoku": (-0.7, -0.7,  0.0,  0.3,  0.3, -0.3,  0.1,  0.3,  0.0,  0.3,  0.2, -0.6),
    "shikoku": (-0.8, -0.8,  0.0,  0.3,  0.2, -0.3,  0.2,  0.5,  0.0,  0.2,  0.1, -0.7),
    "kyushu":  (-0.5, -0.5,  0.2,  0.3,  0.3, -0.5,  0.1,  0.3, -0.1,  0.3,  0.3, -0.3),
    "okinawa":  (0.3,  0.5,  0.6,  0.4,  0.0, -0.6,  0.5,  0.4, -0.6, -0.5,  0.0,  0.2),
}  # fmt: skip
# Off-season months: each zone's quiet months, set in its facilities' pricing Policy.
_OFF_SEASON = {
    "hokkaido": (4, 11),  # mud season (spring thaw), late autumn before the snow
    "tohoku": (1, 2, 3),  # deep winter
    "kanto": (2, 6),  # cold, rainy season (梅雨)
    "chubu": (4, 6, 11),  # between ski and summer, rainy season, after the leaves
    "kinki": (1, 2, 6),  # winter, rainy season
    "chugoku": (1, 2, 12),  # winter
    "shikoku": (1, 2, 12),  # winter
    "kyushu": (1, 2, 6),  # winter, rainy season
    "okinawa": (6, 9, 10),  # rainy season, typhoons
}
# Position along the archipelago: distance from home is the difference.
_POSITION = {
    "hokkaido": 0.0, "tohoku": 1.0, "kanto": 2.0, "chubu": 2.4, "kinki": 3.0,
    "chugoku": 3.7, "shikoku": 3.8, "kyushu": 4.6, "okinawa": 6.0,
}  # fmt: skip
SEASONS = {
    zone: Season(_POSITION[zone], by_month, frozenset(_OFF_SEASON[zone]))
    for zone, by_month in _BY_MONTH.items()
}

# Where employees live: their region's share of the population (roughly).
HOME_WEIGHTS = {
    "kanto": 35, "kinki": 17, "chubu": 17, "kyushu": 10, "tohoku": 7,
    "chugoku": 6, "hokkaido": 4, "shikoku": 3, "okinawa": 1,
}  # fmt: skip

# The network: (name, prefecture code, rooms, base price per room-night in yen, appeal).
FACILITIES = (
    ("ニセコ山荘", 1, 8, 14_000, 0.3),
    ("富良野ハウス", 1, 5, 11_000, 0.1),
    ("函館ベイ", 1, 6, 10_000, 0.0),
    ("蔵王保養所", 6, 6, 9_000, 0.0),
    ("松島荘", 4, 5, 9_000, -0.1),
    ("箱根湯本寮", 14, 10, 13_000, 0.4),
    ("日光保養所", 9, 6, 10_000, 0.0),
    ("草津荘", 10, 7, 11_000, 0.2),
    ("南房総ハウス", 12, 5, 9_000, -0.1),
    ("軽井沢山荘", 20, 10, 15_000, 0.4),
    ("白馬ロッジ", 20, 6, 12_000, 0.1),
    ("伊豆高原荘", 22, 8, 12_000, 0.2),
    ("金沢町家", 17, 4, 12_000, 0.1),
    ("河口湖ハウス", 19, 6, 11_000, 0.1),
    ("京都町家", 26, 6, 15_000, 0.4),
    ("南紀白浜荘", 30, 7, 11_000, 0.1),
    ("有馬保養所", 28, 6, 12_000, 0.1),
    ("宮島荘", 34, 5, 10_000, 0.0),
    ("大山ロッジ", 31, 4, 8_000, -0.2),
    ("道後保養所", 38, 5, 9_000, 0.0),
    ("高知ハウス", 39, 4, 8_000, -0.2),
    ("別府保養所", 44, 7, 10_000, 0.2),
    ("阿蘇ロッジ", 43, 5, 9_000, 0.0),
    ("恩納ビーチハウス", 47, 8, 15_000, 0.4),
)


def zone_of(prefecture_code: int) -> str:
    region = PREFECTURES_BY_CODE[prefecture_code].region
    if region == "kyushu-okinawa":
        return "okinawa" if prefecture_code == 47 else "kyushu"
    return region


@dataclass
class Facility:
    name: str
    zone: str
    units: int
    base: int
    appeal: float
    policy: Policy
    taken: list[bytearray] = field(default_factory=list)  # per unit, per day: 1 if sold
    sold: list[int] = field(default_factory=list)  # per day: units sold
    around: list[int] = field(default_factory=list)  # per day: units sold from day-3 to day+3
    revenue: list[int] = field(default_factory=list)  # per day: yen

    def reset(self) -> None:
        self.taken = [bytearray(N_DAYS) for _ in range(self.units)]
        self.sold = [0] * N_DAYS
        self.around = [0] * N_DAYS
        self.revenue = [0] * N_DAYS

    def sell(self, unit: int, day: int, price: int) -> None:
        self.taken[unit][day] = 1
        self.sold[day] += 1
        self.revenue[day] += price
        for d in range(max(0, day - 3), min(N_DAYS, day + 4)):
            self.around[d] += 1

    def sold_share(self, day: int) -> float:
        """The sold share of unit-nights from 3 nights before to 3 nights after."""
        first, last = max(0, day - 3), min(N_DAYS - 1, day + 3)
        return self.around[day] / (self.units * (last - first + 1))


@dataclass(frozen=True)
class Trip:
    booked_on: int  # day index the employee decides
    arrival: int  # day index of the first night
    nights: int
    home: str
    seed: int  # the employee's tastes and second thoughts, the same in both runs


def build_network(scale: float) -> list[Facility]:
    network = []
    for name, prefecture, units, base, appeal in FACILITIES:
        zone = zone_of(prefecture)
        policy = Policy(off_season_months=SEASONS[zone].off_season)
        network.append(Facility(name, zone, max(1, round(units * scale)), base, appeal, policy))
    return network


def night_kind(night: date) -> str | None:
    season = season_of(night)
    if season is None and is_weekend_night(night):
        return "weekend"
    return season


def draw_lead(rng: random.Random, peak: bool) -> int:
    roll = rng.random()
    short, medium = (0.1, 0.4) if peak else (0.2, 0.65)
    if roll < short:
        return rng.randint(0, 6)
    if roll < medium:
        return rng.randint(7, 44)
    return min(MAX_LEAD, 45 + int(rng.expovariate(1 / 45)))


def make_trips(employees: int, rng: random.Random) -> list[Trip]:
    """Every trip of the simulated period, in the order they are decided."""
    homes = list(HOME_WEIGHTS)
    home_of = rng.choices(homes, weights=[HOME_WEIGHTS[h] for h in homes], k=employees)
    arrivals = range(LAST_DAY + 1)
    weights = []
    for day in arrivals:
        night = DATES[day]
        weights.append(MONTH_LEVEL[night.month - 1] * NIGHT_LEVEL[night_kind(night)])
    # Trips per arrival day: the yearly rate spread over the days by their weight.
    per_weight = employees * TRIPS_PER_EMPLOYEE * len(arrivals) / 365 / sum(weights)
    trips = []
    for day, weight in zip(arrivals, weights, strict=True):
        expected = weight * per_weight
        count = int(expected) + (rng.random() < expected - int(expected))
        peak = season_of(DATES[day]) == PEAK
        for _ in range(count):
            nights = rng.choices(range(1, MAX_NIGHTS + 1), weights=NIGHTS_WEIGHTS)[0]
            lead = draw_lead(rng, peak)
            trips.append(
                Trip(
                    day - lead, day, nights, home_of[rng.randrange(employees)], rng.getrandbits(32)
                )
            )
    trips.sort(key=lambda t: (t.booked_on, t.seed))  # same-day decisions in random order
    return trips


def gumbel(rng: random.Random) -> float:
    return -math.log(-math.log(rng.random() or 1e-12))


def stay_offer(
    facility: Facility, arrival: int, nights: int, booked_on: int, policy: Policy
) -> tuple[int, list[int]] | None:
    """The cheapest free room for the stay and its nightly prices, or None if full."""
    end = arrival + nights
    free = [u for u, taken in enumerate(facility.taken) if not any(taken[arrival:end])]
    if not free:
        return None
    pricing = policy.enabled
    if pricing:
        factors = [
            night_factors(DATES[day], day - booked_on, facility.sold_share(day), policy)
            for day in range(arrival, end)
        ]
    else:
        factors = [()] * nights
    plain = [compute_price(facility.base, f, policy)[0] for f in factors]
    best: tuple[int, list[int]] | None = None
    for unit in free:
        prices = plain
        if pricing and nights <= 2:  # a night of a longer stay is never in a 1–2 night gap
            taken = facility.taken[unit]
            window = range(max(0, arrival - 3), min(N_DAYS, end + 3))
            gaps = find_gaps((d for d in window if taken[d]), arrival, end - 1)
            if gaps:
                prices = [
                    compute_price(facility.base, f, policy, gap=True)[0]
                    if arrival + i in gaps
                    else plain[i]
                    for i, f in enumerate(factors)
                ]
        if best is None or sum(prices) < sum(best[1]):
            best = (unit, prices)
    return best


@dataclass
class Outcome:
    booked: int = 0
    elsewhere: int = 0  # chose "not at all" over what was free
    gave_up: int = 0  # found nothing free, even on other dates


def simulate(
    network: list[Facility], trips: list[Trip], beta: float, variant: dict | None
) -> Outcome:
    """One run over all the trips: pricing off if ``variant`` is None, else on with
    each facility's policy changed by ``variant`` (``{}``: as set)."""
    for facility in network:
        facility.reset()
    policies = [PRICING_OFF if variant is None else replace(f.policy, **variant) for f in network]
    outcome = Outcome()
    positions = [SEASONS[f.zone].position for f in network]
    for trip in trips:
        rng = random.Random(trip.seed)
        home = SEASONS[trip.home].position
        arrival = trip.arrival
        for attempt in range(RETRIES + 1):
            tastes = [gumbel(rng) for _ in range(len(network) + 1)]
            month = DATES[arrival].month
            best_utility, choice = OUTSIDE_UTILITY + tastes[-1], None
            any_free = False
            for index, facility in enumerate(network):
                offer = stay_offer(facility, arrival, trip.nights, trip.booked_on, policies[index])
                if offer is None:
                    continue
                any_free = True
                per_night = sum(offer[1]) / trip.nights
                utility = (
                    facility.appeal
                    + SEASONS[facility.zone].by_month[month - 1]
                    - DISTANCE_COST * abs(positions[index] - home)
                    - beta * (per_night - facility.base) / facility.base
                    + tastes[index]
                )
                if utility > best_utility:
                    best_utility, choice = utility, (facility, offer)
            retry_roll = rng.random()
            shift = rng.choice([s for s in range(-RETRY_SHIFT, RETRY_SHIFT + 1) if s])
            if choice is not None:
                facility, (unit, prices) = choice
                for i, price in enumerate(prices):
                    facility.sell(unit, arrival + i, price)
                outcome.booked += 1
                break
            if any_free:
                outcome.elsewhere += 1
                break
            new_arrival = min(LAST_DAY, max(trip.booked_on, 0, arrival + shift))
            if attempt == RETRIES or retry_roll >= RETRY_CHANCE or new_arrival == arrival:
                outcome.gave_up += 1
                break
            arrival = new_arrival
    return outcome


@dataclass
class YearFigures:
    outcome: Outcome
    # Per month: [sold, available] for off-season facilities, then for the others.
    off: list[list[int]]
    other: list[list[int]]
    nights: int
    revenue: int
    off_nights: int  # nights sold in the facility's off-season months

    @property
    def occupancy(self) -> float:
        sold = sum(s for s, _ in self.off) + sum(s for s, _ in self.other)
        available = sum(a for _, a in self.off) + sum(a for _, a in self.other)
        return sold / available


def year_figures(network: list[Facility], outcome: Outcome) -> YearFigures:
    off = [[0, 0] for _ in range(12)]
    other = [[0, 0] for _ in range(12)]
    nights = revenue = off_nights = 0
    for facility in network:
        for day in range(YEAR_FIRST, YEAR_LAST + 1):
            month = DATES[day].month
            in_off = month in facility.policy.off_season_months
            cell = (off if in_off else other)[month - 1]
            cell[0] += facility.sold[day]
            cell[1] += facility.units
            nights += facility.sold[day]
            revenue += facility.revenue[day]
            if in_off:
                off_nights += facility.sold[day]
    return YearFigures(outcome, off, other, nights, revenue, off_nights)


def share(cell: list[int]) -> float | None:
    return cell[0] / cell[1] if cell[1] else None


def percent(value: float | None) -> str:
    return "   —" if value is None else f"{100 * value:3.0f}%"


def print_report(
    network: list[Facility], off: YearFigures, on: YearFigures, args: argparse.Namespace
) -> None:
    units = sum(f.units for f in network)
    print(
        f"Off-season shift, {YEAR}: {len(network)} facilities, {units} rooms, "
        f"{args.employees:,} employees, beta {args.beta}, seed {args.seed}"
    )
    print("Occupancy by month (sold room-nights / room-nights):")
    print("  off-season = facilities for which the month is one of their off-season months")
    print()
    print("        off-season facilities          other facilities")
    print("month   facilities  pricing off    on    facilities  pricing off    on")
    for m in range(12):
        count = sum(1 for f in network if m + 1 in f.policy.off_season_months)
        print(
            f"{MONTH_NAMES[m]:<7} {count:>10}  {percent(share(off.off[m])):>11}  "
            f"{percent(share(on.off[m])):>5}  {len(network) - count:>10}  "
            f"{percent(share(off.other[m])):>11}  {percent(share(on.other[m])):>5}"
        )
    all_off = [sum(c[0] for c in off.off), sum(c[1] for c in off.off)]
    all_on = [sum(c[0] for c in on.off), sum(c[1] for c in on.off)]
    other_off = [sum(c[0] for c in off.other), sum(c[1] for c in off.other)]
    other_on = [sum(c[0] for c in on.other), sum(c[1] for c in on.other)]
    print(
        f"{'year':<7} {'':>10}  {percent(share(all_off)):>11}  {percent(share(all_on)):>5}  "
        f"{'':>10}  {percent(share(other_off)):>11}  {percent(share(other_on)):>5}"
    )
    print()
    rows = (
        ("room-nights sold", lambda y: f"{y.nights:,}"),
        ("occupancy", lambda y: percent(y.occupancy).strip()),
        ("revenue (yen)", lambda y: f"¥{y.revenue:,}"),
        ("average price per night", lambda y: f"¥{y.revenue // max(1, y.nights):,}"),
        (
            "nights sold in off-season months",
            lambda y: f"{y.off_nights:,} ({100 * y.off_nights / max(1, y.nights):.1f}%)",
        ),
        ("trips booked", lambda y: f"{y.outcome.booked:,}"),
        ("trips gone elsewhere", lambda y: f"{y.outcome.elsewhere:,}"),
        ("trips given up (all full)", lambda y: f"{y.outcome.gave_up:,}"),
    )
    print(f"{'year ' + str(YEAR):<34} {'pricing off':>18} {'pricing on':>18}")
    for label, fmt in rows:
        print(f"{label:<34} {fmt(off):>18} {fmt(on):>18}")
    print(
        "(trips: all trips decided in the simulated period, arrivals "
        f"{FIRST_ARRIVAL:%Y-%m-%d} to {LAST_ARRIVAL:%Y-%m-%d}; nights and revenue: {YEAR} only)"
    )


# --breakdown: which factors do the moving.
BREAKDOWN = (
    ("on, no off-season discount", {"off_season_discount": 0}),
    (
        "off-season discount only",
        {
            "peak_premium": 0,
            "holiday_eve_premium": 0,
            "weekend_premium": 0,
            "occupancy_swing": 0,
            "last_minute_max": 0,
            "gap_discount": 0,
        },
    ),
)


def print_breakdown(rows: list[tuple[str, YearFigures]]) -> None:
    print()
    print("Breakdown (the same trips; on = every factor as set):")
    print(
        f"{'':<28} {'nights':>7} {'occupancy':>9} {'off-season fac.':>15} "
        f"{'revenue (yen)':>14} {'avg/night':>9} {'off-season nights':>17}"
    )
    for label, y in rows:
        off_fac = [sum(c[0] for c in y.off), sum(c[1] for c in y.off)]
        print(
            f"{label:<28} {y.nights:>7,} {percent(y.occupancy):>9} "
            f"{percent(share(off_fac)):>15} {y.revenue:>14,} "
            f"{y.revenue // max(1, y.nights):>9,} {100 * y.off_nights / max(1, y.nights):>16.1f}%"
        )


def draw_chart(
    network: list[Facility], off: YearFigures, on: YearFigures, path: Path, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = list(range(1, 13))

    def series(figures: YearFigures, group: str) -> list[float]:
        cells = figures.off if group == "off" else figures.other
        return [math.nan if share(c) is None else 100 * share(c) for c in cells]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, group, heading in (
        (axes[0], "off", "Facilities in one of their off-season months"),
        (axes[1], "other", "Facilities in season"),
    ):
        ax.plot(months, series(off, group), "o--", color="0.5", label="pricing off")
        ax.plot(months, series(on, group), "o-", color="tab:blue", label="pricing on")
        ax.set_title(heading, fontsize=11)
        ax.set_xticks(months, MONTH_NAMES)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for m in months:
        count = sum(1 for f in network if m in f.policy.off_season_months)
        axes[0].annotate(f"{count}", (m, 2), ha="center", fontsize=8, color="0.4")
        axes[1].annotate(f"{len(network) - count}", (m, 2), ha="center", fontsize=8, color="0.4")
    axes[0].set_ylabel("occupancy (%)")
    fig.text(
        0.5,
        0.01,
        "Occupancy = sold room-nights / room-nights of the group in the month. "
        "Small figures: facilities in the group that month.",
        ha="center",
        fontsize=8,
        color="0.3",
    )
    axes[0].legend(loc="upper center")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=2027, help="default 2027")
    parser.add_argument(
        "--employees",
        type=int,
        default=None,
        help=f"default {DEFAULT_EMPLOYEES:,} ({DEFAULT_EMPLOYEES // 4:,} with --quick)",
    )
    parser.add_argument(
        "--beta",
        type=float,
        default=DEFAULT_BETA,
        help="price sensitivity: utility per 100%% of the base price above or below it",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=ROOT / "docs" / "img" / "offseason_shift.png",
        help="where to save the PNG chart (default: docs/img/offseason_shift.png)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also run pricing on without the off-season discount, and with it alone",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: a quarter of the employees and of the rooms",
    )
    args = parser.parse_args(argv)
    args.scale = 0.25 if args.quick else 1.0
    if args.employees is None:
        args.employees = round(DEFAULT_EMPLOYEES * args.scale)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    rng = random.Random(args.seed)
    network = build_network(args.scale)
    trips = make_trips(args.employees, rng)
    results = {}
    for pricing, variant in ((False, None), (True, {})):
        outcome = simulate(network, trips, args.beta, variant)
        results[pricing] = year_figures(network, outcome)
    print_report(network, results[False], results[True], args)
    if args.breakdown:
        rows = [("pricing off", results[False]), ("pricing on", results[True])]
        for label, variant in BREAKDOWN:
            rows.append(
                (label, year_figures(network, simulate(network, trips, args.beta, variant)))
            )
        print_breakdown(rows)
    title = (
        f"Simulated occupancy {YEAR}, pricing off vs on "
        f"({len(network)} facilities, {args.employees:,} employees, seed {args.seed})"
    )
    draw_chart(network, results[False], results[True], args.chart, title)
    shown = args.chart.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    print(f"chart: {shown}  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
