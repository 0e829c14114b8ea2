"""The demo network: forty-five facilities across Japan, demo accounts and months of bookings.

``seed_demo`` fills an empty database for ``flask seed-demo``. It only adds and
flushes; the caller commits. Everything is drawn from ``random.Random(2026)``
relative to ``now``'s Tokyo date, so the same ``now`` gives the same network.

The lodging law is in it too: every facility carries its licence (a 住宅宿泊事業 house
among them), stays pay the accommodation tax of their place (Tokyo, Osaka, Kyoto,
Fukuoka and Kanazawa), and a few stays of each taxed lodging facility and of the
house have their guest register (宿泊者名簿) filled in.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from accounts import two_factor
from accounts.models import Company, OperatorOrg, Role, User
from accounts.services import hash_password
from availability.models import Occupancy
from billing import flows
from billing.models import BillingAccount, CreditEntry
from billing.providers import local_gateway
from billing.services import ensure_default_plans, plans, seats_used
from billing.settings import BillingSettings
from booking.models import Booking, BookingNight, BookingStatus
from booking.stay_tax import night_taxes
from core.dates import month_bounds, stay_nights
from core.db import TOKYO, tokyo_today
from core.extensions import db
from demo.data import (
    AMENITIES,
    DEMO_TOTP_SECRET,
    FAMILY_NAMES,
    GIVEN_NAMES,
    MINPAKU,
    OFF_SEASON_MONTHS,
    OFFICE,
    OPERATORS,
    PLACES,
    STAY,
    Place,
)
from demo.lodging import ensure_tax_rules, fill_registers, licence_of
from demo.photos import add_demo_photos
from demo.regions import seed_coupons, seed_regions
from demo.workspace import add_workspace
from facilities.models import Facility, Unit
from facilities.regions import PREFECTURES_BY_CODE
from hr.models import CompanionRule, GroupPolicy, SubsidyKind
from identity import applications
from lodging.tax import TaxTable
from pricing.models import PricingPolicy

SEED = 2026
DEMO_PASSWORD = "engawa-demo"  # noqa: S105 - published in the README for the demo
HISTORY_DAYS = 90  # existing bookings start this long before today…
FUTURE_DAYS = 120  # …and end this long after it
STAY_LENGTHS = (2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 7, 8, 9, 10)  # nights, short stays likelier
OCCUPANCY = (0.40, 0.55)  # share of nights booked, drawn per unit
# Every 2-night window in the next OPEN_WINDOW_DAYS keeps at least this many facilities
# with a free unit, and every facility keeps a free 3-night run in the next two weeks.
OPEN_WINDOW_DAYS = 60
MIN_OPEN_FACILITIES = 8
PRICE_FLOOR, PRICE_CEILING = 6_000, 30_000
# Room types by capacity for stays (offices rent workspace by the slot: demo.workspace).
ROOM_TYPES = {1: ("シングル",), 2: ("洋室", "和室", "ツイン"), 3: ("和室", "和洋室"),
              4: ("和洋室", "ファミリー"), 5: ("メゾネット",), 6: ("メゾネット",)}  # fmt: skip
STAY_CAPACITIES = (1, 2, 2, 2, 2, 3, 3, 4, 4, 5, 6)
GUEST_COUNTS = (1, 1, 1, 1, 2, 2, 3, 4, 5, 6)
# A 住宅宿泊事業 house is let whole, as one unit.
WHOLE_HOUSE = ("一棟貸し", 6)


@dataclass(eq=False)
class _Stay:
    unit: Unit
    check_in: date
    check_out: date
    holder: _Holder | None = None
    months: Counter = field(init=False)  # nights per calendar month

    def __post_init__(self) -> None:
        self.months = Counter()
        day = self.check_in
        while day < self.check_out:
            month, following = month_bounds(day)
            end = min(following, self.check_out)
            self.months[month] += (end - day).days
            day = end


@dataclass(eq=False)
class _Holder:
    """A background employee and the nights they already hold, per calendar month."""

    user: User
    company: Company
    free_from: date
    month_nights: Counter = field(default_factory=Counter)

    def fits(self, stay: _Stay) -> bool:
        if stay.check_in < self.free_from:
            return False  # one person, one place at a time
        cap = self.company.max_nights_per_month
        return all(self.month_nights[m] + n <= cap for m, n in stay.months.items())

    def take(self, stay: _Stay) -> None:
        stay.holder = self
        self.free_from = stay.check_out
        self.month_nights.update(stay.months)


def seed_demo(
    now: datetime,
    password_method: str = "scrypt",  # noqa: S107
    photo_dir: Path | None = None,
) -> dict:
    """Fill an empty database with the demo network; flushes, never commits.

    With ``photo_dir``, every facility also gets illustrative photos stored there
    (``demo.photos``: a cover and three more, with their resized copies).

    Existing bookings cover about 40–55% of each unit's nights from 90 days before
    ``now``'s Tokyo date to 120 days after, held by background employees who stay in
    one place at a time and within their company's nights-per-month cap. The demo
    employees (employee@acme.example, employee@globex.example) hold only past stays.
    """
    rng = random.Random(SEED)
    today = tokyo_today(now)
    since = now - timedelta(days=365)

    ensure_default_plans()
    ensure_tax_rules(now)
    operators = _operators(since)
    companies = _companies(since)
    facilities = _facilities(rng, operators, since)
    # One hash for every demo account: they share the published password, and hashing
    # hundreds of accounts with scrypt would take most of the seeding time.
    password_hash = hash_password(DEMO_PASSWORD, password_method)
    demo_users, demo_employees = _demo_accounts(operators, companies, password_hash, since)
    db.session.flush()
    _demo_hr_policy(companies["acme"])
    region_people = seed_regions(now, companies, password_hash, since)
    if photo_dir is not None:
        add_demo_photos(facilities, photo_dir, now)

    stays = _plan_stays(rng, facilities, today)
    for user in demo_employees:
        _give_past_stays(rng, stays, _Holder(user, user.company, date.min), today)
    background = _assign_holders(rng, stays, companies, password_hash, since)
    db.session.flush()
    bookings = _insert_bookings(rng, stays, now)
    seed_coupons(now, rng)
    _bill_seeded_stays(companies.values(), since)
    fill_registers(facilities, today, now)
    _demo_applications(now)

    return {
        "facilities": len(facilities),
        "units": sum(len(f.units) for f in facilities),
        "bookings": bookings,
        "users": len(demo_users) + len(background) + len(region_people),
    }


def _demo_applications(now: datetime) -> None:
    """A company and an operator that applied yesterday and confirmed their e-mail, so
    the Engawa team has applications to review (/admin/applications)."""
    applied = now - timedelta(days=1)
    company, secret = applications.apply_company(
        "森のワークス株式会社", "9010401234567", "東京都千代田区丸の内1-1-1",
        "森 花子", "hr@morinoworks.example", 120, applied,
    )  # fmt: skip
    applications.confirm(secret, applied)
    facility = applications.FirstFacility(
        name="奥入瀬の森ワークラウンジ", kind="both", postal_code="0340301",
        prefecture=2, municipality="十和田市", address="奥瀬字栃久保1-1",
        licence_number="青森県指令十保第123号",
    )  # fmt: skip
    operator, secret = applications.apply_operator(
        "一般社団法人とわだ観光推進機構", "association", "田中 一郎",
        "info@towada-kanko.example", facility, applied,
    )  # fmt: skip
    applications.confirm(secret, applied)


def _operators(since: datetime) -> dict[str, OperatorOrg]:
    orgs = {key: OperatorOrg(name=name, created_at=since) for key, (name, *_) in OPERATORS.items()}
    db.session.add_all(orgs.values())
    return orgs


def _companies(since: datetime) -> dict[str, Company]:
    companies = {
        slug: Company(
            name=name, active=True, max_nights_per_stay=14, max_nights_per_month=20,
            created_at=since,
        )
        for slug, name in (("acme", "Acme 株式会社"), ("globex", "Globex 株式会社"))
    }  # fmt: skip
    db.session.add_all(companies.values())
    return companies


def _facilities(
    rng: random.Random, operators: dict[str, OperatorOrg], since: datetime
) -> list[Facility]:
    facilities = []
    for index, place in enumerate(PLACES):
        facility = _facility(place, operators[place.operator], since)
        facility.licence_type, facility.licence_number = licence_of(place, index)
        _add_units(rng, facility, place)
        facilities.append(facility)
    db.session.add_all(facilities)
    db.session.add_all(region_pricing(f) for f in facilities)
    return facilities


def region_pricing(facility: Facility) -> PricingPolicy:
    """Pricing with the facility's region's quiet months as its off-season."""
    policy = PricingPolicy(facility=facility)
    policy.months = OFF_SEASON_MONTHS[PREFECTURES_BY_CODE[facility.prefecture].region]
    return policy


def _facility(place: Place, operator: OperatorOrg, since: datetime) -> Facility:
    if place.pref not in PREFECTURES_BY_CODE:
        raise ValueError(f"{place.name_en}: unknown prefecture {place.pref}")
    has = set(place.has.split())
    if has - AMENITIES:
        raise ValueError(f"{place.name_en}: unknown amenities {sorted(has - AMENITIES)}")
    return Facility(
        operator=operator,
        name_ja=place.name_ja,
        name_en=place.name_en,
        kind=place.kind,
        prefecture=place.pref,
        municipality=place.municipality,
        address=place.address,
        latitude=place.lat,
        longitude=place.lon,
        wifi_mbps=place.wifi,
        work_desks=place.desks,
        meeting_room="meeting" in has,
        parking="parking" in has,
        kitchen="kitchen" in has,
        onsen="onsen" in has,
        family_friendly="family" in has,
        check_in_time=time.fromisoformat(place.hours[0]),
        check_out_time=time.fromisoformat(place.hours[1]),
        min_nights=place.nights[0],
        max_nights=place.nights[1],
        description_ja=place.ja,
        description_en=place.en,
        arrival_notes_ja=(
            f"チェックインは{place.hours[0]}から。管理人が不在のときは、玄関横のキーボックスから"
            "鍵をお取りください（暗証番号は予約番号の下4桁です）。"
            + ("駐車場は建物の裏手です。" if "parking" in has else "駐車場はありません。")
        ),
        arrival_notes_en=(
            f"Check-in from {place.hours[0]}. When the caretaker is out, take the key from the"
            " key box beside the entrance (the code is the last 4 digits of your booking number)."
            + (" Parking is behind the building." if "parking" in has else " There is no parking.")
        ),
        created_at=since,
        reviewed_at=since,
    )


def _add_units(rng: random.Random, facility: Facility, place: Place) -> None:
    add_workspace(rng, facility, place.kind)
    if place.kind == OFFICE:
        return  # an office rents workspace by the slot (demo.workspace), no rooms
    if place.licence == MINPAKU:
        name, capacity = WHOLE_HOUSE
        Unit(facility=facility, name=name, capacity=capacity, base_price=place.price)
        return
    count = rng.randint(3, 12)
    numbered_first = rng.random() < 0.5  # "101 和室" or "洋室 202", one style per house
    for i in range(count):
        capacity = rng.choice(STAY_CAPACITIES)
        number = f"{i // 4 + 1}{i % 4 + 1:02d}"
        room = rng.choice(ROOM_TYPES[capacity])
        name = f"{number} {room}" if numbered_first else f"{room} {number}"
        if i == count - 1 and capacity >= 5 and place.kind == STAY:
            name = "離れ"  # a detached cottage for families and teams
        price = _price(rng, place, capacity)
        Unit(facility=facility, name=name, capacity=capacity, base_price=price)


def _price(rng: random.Random, place: Place, capacity: int) -> int:
    """Tax-included yen a night, rounded to ¥100: a quarter more for each extra guest."""
    percent = 75 + 25 * (capacity - 1) + rng.randint(-8, 8)
    price = (place.price * percent // 100 + 50) // 100 * 100
    return min(max(price, PRICE_FLOOR), PRICE_CEILING)


def _demo_accounts(
    operators: dict[str, OperatorOrg],
    companies: dict[str, Company],
    password_hash: str,
    since: datetime,
) -> tuple[list[User], list[User]]:
    """The eight documented sign-ins, and which of them are the demo employees."""

    def user(email: str, name: str, role: Role, **membership) -> User:
        return User(
            email=email, name=name, role=role, created_at=since,
            password_hash=password_hash, **membership,
        )  # fmt: skip

    acme, globex = companies["acme"], companies["globex"]
    employees = [
        user("employee@acme.example", "青木 陽介", Role.EMPLOYEE, company=acme),
        user("employee@globex.example", "村上 健", Role.EMPLOYEE, company=globex),
    ]
    others = [
        user("admin@acme.example", "石田 恵子", Role.COMPANY_ADMIN, company=acme),
        user("admin@globex.example", "中島 由美", Role.COMPANY_ADMIN, company=globex),
        *(
            user(email, person, Role.OPERATOR, operator=operators[key])
            for key, (_, email, person) in OPERATORS.items()
        ),
        user("root@engawa.example", "縁側 管理者", Role.PLATFORM_ADMIN),
    ]
    for person in others:  # their roles require two-factor sign-in: enrolled with the demo key
        two_factor.enrol_with_secret(person, DEMO_TOTP_SECRET, since)
    # HR details (the hr package): each company admin manages its demo employee.
    for number, (employee, admin) in enumerate(zip(employees, others[:2], strict=True), 1):
        admin.employee_number, employee.employee_number = f"E{number:02d}001", f"E{number:02d}102"
        admin.department, employee.department = "人事部", "営業部"
        admin.employee_group = employee.employee_group = "正社員"
        employee.manager = admin
    # A contract employee of Acme, whose group's policy shows the HR workflow: business
    # stays and long ones wait for approval, and a subsidy with a yearly cap leaves a part
    # to pay by card (_demo_hr_policy).
    contract = user("contract@acme.example", "西村 美咲", Role.EMPLOYEE, company=acme)
    contract.employee_number, contract.department = "E01205", "開発部"
    contract.employee_group, contract.manager = CONTRACT_GROUP, others[0]
    others.append(contract)
    db.session.add_all(employees + others)
    return employees + others, employees


CONTRACT_GROUP = "契約社員"


def _demo_hr_policy(acme: Company) -> None:
    """Acme's policy for its contract employees (契約社員): both purposes; approval by the
    manager for business stays and stays over 7 nights; a subsidy of ¥6,000 per
    person-night up to ¥120,000 a fiscal year; children at a company rate of ¥3,000 a
    night, infants as the employee, adult companions paid by the employee."""
    db.session.add(
        GroupPolicy(
            company_id=acme.id,
            employee_group=CONTRACT_GROUP,
            approval_business=True,
            approval_over_nights=7,
            subsidy_kind=SubsidyKind.FIXED,
            subsidy_amount=6000,
            annual_cap=120_000,
            companion_adult=CompanionRule.EMPLOYEE,
            companion_child=CompanionRule.RATE,
            companion_child_rate=3000,
            companion_infant=CompanionRule.SUBSIDISED,
        )
    )


def _plan_stays(rng: random.Random, facilities: list[Facility], today: date) -> list[_Stay]:
    first = today - timedelta(days=HISTORY_DAYS)
    last = today + timedelta(days=FUTURE_DAYS)
    plan = {unit: _plan_unit(rng, first, last) for f in facilities for unit in f.units}
    _keep_rooms_open(rng, plan, facilities, today)
    stays = [_Stay(unit, ci, co) for unit, ranges in plan.items() for ci, co in ranges]
    stays.sort(key=lambda s: (s.check_in, s.unit.id))
    return stays


def _plan_unit(rng: random.Random, first: date, last: date) -> list[tuple[date, date]]:
    """Back-to-back or spaced stays, so that about the drawn share of nights is booked."""
    occupancy = rng.uniform(*OCCUPANCY)
    mean_gap = sum(STAY_LENGTHS) / len(STAY_LENGTHS) * (1 - occupancy) / occupancy
    day = first + timedelta(days=int(rng.expovariate(1 / mean_gap)))
    ranges = []
    while True:
        check_out = day + timedelta(days=rng.choice(STAY_LENGTHS))
        if check_out > last:
            return ranges
        ranges.append((day, check_out))
        day = check_out + timedelta(days=int(rng.expovariate(1 / mean_gap)))


def _is_free(ranges: list[tuple[date, date]], start: date, end: date) -> bool:
    return all(check_out <= start or check_in >= end for check_in, check_out in ranges)


def _clear(ranges: list[tuple[date, date]], start: date, end: date) -> None:
    ranges[:] = [(ci, co) for ci, co in ranges if co <= start or ci >= end]


def _keep_rooms_open(
    rng: random.Random,
    plan: dict[Unit, list[tuple[date, date]]],
    facilities: list[Facility],
    today: date,
) -> None:
    """Leave room for trying the booking flow: drop planned stays where it is full."""
    facilities = [f for f in facilities if f.units]  # offices have workspace, no rooms
    for facility in facilities:
        # A free 3-night run somewhere in the next two weeks.
        if not any(
            _is_free(plan[unit], today + timedelta(days=k), today + timedelta(days=k + 3))
            for unit in facility.units
            for k in range(12)
        ):
            start = today + timedelta(days=rng.randint(2, 9))
            _clear(plan[rng.choice(facility.units)], start, start + timedelta(days=3))

    for offset in range(OPEN_WINDOW_DAYS):
        start, end = today + timedelta(days=offset), today + timedelta(days=offset + 2)
        full = [f for f in facilities if not any(_is_free(plan[u], start, end) for u in f.units)]
        rng.shuffle(full)
        while len(facilities) - len(full) < MIN_OPEN_FACILITIES:
            _clear(plan[full.pop().units[0]], start, end)


def _give_past_stays(rng: random.Random, stays: list[_Stay], holder: _Holder, today: date) -> None:
    """Two stays that ended before this month, so this month's cap stays whole."""
    month_start = today.replace(day=1)
    candidates = [s for s in stays if s.holder is None and s.check_out <= month_start]
    taken: list[_Stay] = []
    for stay in rng.sample(candidates, len(candidates)):
        if all(t.unit.facility is not stay.unit.facility for t in taken) and holder.fits(stay):
            holder.take(stay)
            taken.append(stay)
            if len(taken) == 2:
                return


def _assign_holders(
    rng: random.Random,
    stays: list[_Stay],
    companies: dict[str, Company],
    password_hash: str,
    since: datetime,
) -> list[User]:
    """Give every unheld stay to a background employee, hiring more when all are busy.

    Stays are taken in check-in order, so ``free_from`` keeps each person's stays apart.
    """
    names = [(f, g) for f in FAMILY_NAMES for g in GIVEN_NAMES]
    rng.shuffle(names)
    order = [companies["acme"], companies["globex"]]
    pool: list[_Holder] = []

    def hire(check_in: date) -> _Holder:
        n = len(pool)
        (family, family_latin), (given, given_latin) = names[n % len(names)]
        suffix = str(n // len(names) + 1) if n >= len(names) else ""
        company = order[n % 2]
        domain = "acme" if company is companies["acme"] else "globex"
        user = User(
            email=f"{given_latin}.{family_latin}{suffix}@{domain}.example",
            name=f"{family} {given}", role=Role.EMPLOYEE, company=company,
            password_hash=password_hash, created_at=since,
        )  # fmt: skip
        db.session.add(user)
        holder = _Holder(user, company, check_in)
        pool.append(holder)
        return holder

    for stay in stays:
        if stay.holder is not None:
            continue
        tries = [rng.choice(pool) for _ in range(6)] if pool else []
        holder = next((h for h in tries if h.fits(stay)), None)
        if holder is None:
            holder = next((h for h in pool if h.fits(stay)), None) or hire(stay.check_in)
        holder.take(stay)
    return [h.user for h in pool]


def _insert_bookings(rng: random.Random, stays: list[_Stay], now: datetime) -> int:
    """Bulk-insert bookings, then their nights and occupancy rows (one per unit and night).

    Each night's accommodation tax is the one booking would freeze on it
    (``booking.stay_tax.night_taxes``, by the rule in force that night)."""
    table = TaxTable.load()
    rows, taxes = [], []
    for stay in stays:
        nights = stay_nights(stay.check_in, stay.check_out)
        guests = min(rng.choice(GUEST_COUNTS), stay.unit.capacity)
        priced = [(night, stay.unit.base_price) for night in nights]
        taxes.append(night_taxes(stay.unit.facility, priced, guests, table))
        rows.append({
            "user_id": stay.holder.user.id,
            "company_id": stay.holder.company.id,
            "unit_id": stay.unit.id,
            "check_in": stay.check_in,
            "check_out": stay.check_out,
            "guests": guests,
            "status": BookingStatus.CONFIRMED.value,
            "total_price": stay.unit.base_price * len(nights),
            "accommodation_tax": sum(taxes[-1]),
            "created_at": _booked_at(rng, stay.check_in, now),
        })  # fmt: skip
    # Core inserts on the tables: the ORM's bulk path costs more than the rows themselves.
    booking = Booking.__table__
    ids = db.session.scalars(
        insert(booking).returning(booking.c.id, sort_by_parameter_order=True), rows
    ).all()

    night_rows, occupancy_rows = [], []
    for booking_id, stay, stay_taxes in zip(ids, stays, taxes, strict=True):
        unit = stay.unit
        nights = stay_nights(stay.check_in, stay.check_out)
        for night, tax in zip(nights, stay_taxes, strict=True):
            night_rows.append({
                "booking_id": booking_id, "night": night, "price": unit.base_price,
                "accommodation_tax": tax,
            })  # fmt: skip
            occupancy_rows.append({"unit_id": unit.id, "night": night, "booking_id": booking_id})
    if night_rows:
        db.session.execute(insert(BookingNight.__table__), night_rows)
        db.session.execute(insert(Occupancy.__table__), occupancy_rows)
    return len(ids)


def _bill_seeded_stays(companies, since: datetime) -> None:
    """Write the seeded stays into each company's credit ledger, so ledger and bookings
    reconcile: an opening grant covering them, then one spend per stay and, where the
    stay owes accommodation tax, its tax entry, in booking order."""
    for company in companies:
        stays = db.session.execute(
            select(
                Booking.id, Booking.user_id, Booking.total_price, Booking.accommodation_tax,
                Booking.created_at,
            )
            .where(Booking.company_id == company.id)
            .order_by(Booking.created_at, Booking.id)
        ).all()  # fmt: skip
        opening = sum(total + tax for _id, _user, total, tax, _at in stays)
        balance, rows = opening, []
        rows.append({
            "company_id": company.id, "kind": "grant", "amount": opening,
            "balance_after": opening, "booking_id": None, "user_id": None,
            "created_at": since, "note": "demo: stays before the demo",
        })  # fmt: skip
        for booking_id, user_id, total, tax, created_at in stays:
            for kind, amount in (("spend", total), ("accommodation_tax", tax)):
                if kind == "accommodation_tax" and not amount:
                    continue
                balance -= amount
                rows.append({
                    "company_id": company.id, "kind": kind, "amount": -amount,
                    "balance_after": balance, "booking_id": booking_id, "user_id": user_id,
                    "created_at": created_at, "note": "",
                })  # fmt: skip
        db.session.execute(insert(CreditEntry.__table__), rows)
        account = BillingAccount(company_id=company.id, credit_balance=balance)
        account.billing_name = company.name
        db.session.add(account)
    db.session.flush()


def subscribe_demo_companies(now: datetime, *, settings: BillingSettings) -> list[str]:
    """Subscribe Acme and Globex through the local backend's test-mode Checkout (commits)."""
    done = []
    standard = next(plan for plan in plans() if plan.code == "standard")
    for company in db.session.scalars(select(Company).order_by(Company.id)).all():
        admin = db.session.scalar(
            select(User).where(User.company_id == company.id, User.role == Role.COMPANY_ADMIN)
        )
        seats = (seats_used(company.id) // 10 + 2) * 10  # room to invite a few more
        company_id, admin_id, name, plan_id = company.id, admin.id, company.name, standard.id
        url = flows.subscribe(
            company_id, admin_id, plan_id, seats, "card", now,
            success_url="/company/billing", cancel_url="/company/billing", settings=settings,
        )  # fmt: skip
        local_gateway().complete_checkout(url.rsplit("/", 1)[1])
        done.append(f"{name}: Standard × {seats} seats")
    return done


def _booked_at(rng: random.Random, check_in: date, now: datetime) -> datetime:
    """When the stay was booked: days to weeks before check-in, and never after ``now``."""
    arrival = datetime.combine(check_in, time(), tzinfo=TOKYO).astimezone(UTC)
    booked = arrival - timedelta(days=rng.randint(3, 60), seconds=rng.randint(0, 86_399))
    if booked > now:
        booked = now - timedelta(seconds=rng.randint(3_600, 14 * 86_400))
    return booked
