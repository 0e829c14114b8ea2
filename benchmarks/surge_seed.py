"""The surge's data: the demo network, more facilities, and the company whose people surge.

``migrate`` runs ``flask db upgrade`` against the primary, as a deployment does.
``seed`` then fills the database in this process:

- the demo network exactly as ``flask seed-demo`` makes it (``demo.seed.seed_demo``,
  prices by ``pricing.engine.recompute``, Acme and Globex subscribed through the local
  billing backend), only without the illustrative photo files, which the command
  writes into the project's ``instance/`` folder;
- ``extra_facilities`` more facilities across Japan, each a copy of a demo place
  with its own rooms (3 to 10), licence and regional pricing: a national network;
- a company of ``users`` employees, subscribed with a seat each and ample stay
  credit, each with an API token. Their password is hashed with
  ``pbkdf2:sha256:1000`` (the test suite's fast hash) so that signing hundreds of
  people in does not measure scrypt: production refuses that method for new
  passwords, and only these benchmark accounts carry it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from sqlalchemy import func, select

from accounts.models import Company, OperatorOrg, Role, User
from accounts.services import create_api_token, hash_password
from app import create_app
from billing import flows, ledger
from billing.models import EntryKind
from billing.providers import local_gateway
from billing.services import plans
from billing.settings import BillingSettings
from core.db import edge_now
from core.extensions import db
from demo.data import MINPAKU, OFFICE, PLACES
from demo.lodging import licence_of
from demo.seed import region_pricing, seed_demo, subscribe_demo_companies
from facilities.models import Facility, Unit
from pricing.engine import recompute

ROOT = Path(__file__).resolve().parent.parent
FAST_HASH = "pbkdf2:sha256:1000"
SURGE_PASSWORD = "surge-benchmark-password"  # noqa: S105 - throwaway accounts
SURGE_DOMAIN = "surge.example"
CREDIT_PER_EMPLOYEE = 400_000  # yen: several GW stays each, cancellations refunded
PRICE_FLOOR, PRICE_CEILING = 6_000, 30_000


@dataclass(frozen=True)
class Employee:
    index: int
    user_id: int
    email: str
    token: str


@dataclass
class Seeded:
    company_id: int
    employees: list[Employee]
    facilities: int
    units: int
    demo_bookings: int
    seconds: float


def migrate(database_url: str, secret_key: str) -> float:
    """``flask --app wsgi db upgrade`` on the primary; seconds taken."""
    started = time.perf_counter()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "ENGAWA_ENV": "development",
    }
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def seed(
    database_url: str, secret_key: str, users: int, extra_facilities: int, seed_value: int
) -> Seeded:
    started = time.perf_counter()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": secret_key,
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "BILLING_BACKEND": "local",
            "LOG_LEVEL": "WARNING",  # the local checkout's requests are not the surge's
        }
    )
    rng = random.Random(seed_value)
    with app.app_context():
        now = edge_now()
        summary = seed_demo(now, password_method=FAST_HASH, photo_dir=None)
        add_facilities(rng, extra_facilities, now - timedelta(days=365))
        db.session.commit()
        recompute(now, horizon_days=app.config["PRICING_HORIZON_DAYS"])
        settings = BillingSettings.from_config(app.config)
        subscribe_demo_companies(now, settings=settings)
        company_id, employees = surge_company(users, now, settings)
        facilities = db.session.scalar(select(func.count()).select_from(Facility))
        units = db.session.scalar(select(func.count()).select_from(Unit))
        db.session.remove()
        db.engine.dispose()
    return Seeded(
        company_id, employees, facilities, units, summary["bookings"],
        time.perf_counter() - started,
    )  # fmt: skip


def add_facilities(rng: random.Random, count: int, since: datetime) -> None:
    """``count`` facilities more, copies of the demo's places (not its 住宅宿泊事業
    house, whose whole-house letting and 180-night cap the demo shows once)."""
    operators = db.session.scalars(select(OperatorOrg).order_by(OperatorOrg.id)).all()
    places = [p for p in PLACES if p.licence != MINPAKU]
    for n in range(count):
        place = places[n % len(places)]
        copy = n // len(places) + 2
        has = set(place.has.split())
        licence_type, licence_number = licence_of(place, 1000 + n)
        facility = Facility(
            operator=operators[n % len(operators)],
            name_ja=f"{place.name_ja} 第{copy}館",
            name_en=f"{place.name_en} {copy}",
            kind=place.kind,
            prefecture=place.pref,
            municipality=place.municipality,
            address=f"{place.address} 別館{copy}",
            latitude=place.lat + rng.uniform(-0.03, 0.03),
            longitude=place.lon + rng.uniform(-0.03, 0.03),
            wifi_mbps=place.wifi,
            work_desks=place.desks,
            meeting_room="meeting" in has,
            parking="parking" in has,
            kitchen="kitchen" in has,
            onsen="onsen" in has,
            family_friendly="family" in has,
            check_in_time=dtime.fromisoformat(place.hours[0]),
            check_out_time=dtime.fromisoformat(place.hours[1]),
            min_nights=1,
            max_nights=place.nights[1],
            description_ja=place.ja,
            description_en=place.en,
            licence_type=licence_type,
            licence_number=licence_number,
            created_at=since,
            reviewed_at=since,
        )
        for i in range(rng.randint(3, 10)):
            capacity = rng.choice((1, 2, 2, 2, 3, 4))
            price = place.price * (75 + 25 * (capacity - 1)) // 100 // 100 * 100
            label = "ブース" if place.kind == OFFICE else "客室"
            Unit(
                facility=facility,
                name=f"{label} {i // 4 + 1}{i % 4 + 1:02d}",
                capacity=capacity,
                base_price=min(max(price, PRICE_FLOOR), PRICE_CEILING),
            )
        db.session.add(facility)
        db.session.add(region_pricing(facility))


def surge_company(
    users: int, now: datetime, settings: BillingSettings
) -> tuple[int, list[Employee]]:
    """A company with ``users`` employees, a seat each, credit and an API token each
    (commits)."""
    since = now - timedelta(days=30)
    company = Company(
        name="サージ株式会社", active=True, max_nights_per_stay=14, max_nights_per_month=20,
        created_at=since,
    )  # fmt: skip
    password_hash = hash_password(SURGE_PASSWORD, FAST_HASH)
    admin = User(
        email=f"admin@{SURGE_DOMAIN}", name="管理 太郎", role=Role.COMPANY_ADMIN,
        company=company, password_hash=password_hash, created_at=since,
    )  # fmt: skip
    people = [
        User(
            email=f"employee{i:04d}@{SURGE_DOMAIN}",
            name=f"社員 {i:04d}",
            role=Role.EMPLOYEE,
            company=company,
            password_hash=password_hash,
            created_at=since,
        )  # fmt: skip
        for i in range(users)
    ]
    db.session.add_all([company, admin, *people])
    db.session.commit()
    standard = next(plan for plan in plans() if plan.code == "standard")
    url = flows.subscribe(
        company.id, admin.id, standard.id, users + 10, "card", now,
        success_url="/company/billing", cancel_url="/company/billing", settings=settings,
    )  # fmt: skip
    local_gateway().complete_checkout(url.rsplit("/", 1)[1])
    account = ledger.account_of(company.id, lock=True)
    ledger.append(
        account, EntryKind.GRANT, CREDIT_PER_EMPLOYEE * users, now, note="surge benchmark credit"
    )
    employees = []
    for i, person in enumerate(people):
        _token, secret = create_api_token(person, "surge", now)
        employees.append(Employee(i, person.id, person.email, secret))
    db.session.commit()
    return company.id, employees
