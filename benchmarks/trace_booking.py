"""The statements one `POST /api/v1/bookings` runs, and where its CPU goes.

Builds a one-room network on SQLite and, when reachable, PostgreSQL, books through
the WSGI app in process, and prints every statement of one booking request
(traced with SQLAlchemy's ``before_cursor_execute``). With ``--profile N`` it then
books N more stays under cProfile (process time) and prints the share of the
request's CPU in each part of it. Backs the "Where the booking time goes" section
of docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/trace_booking.py
    .venv/bin/python benchmarks/trace_booking.py --profile 400
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

from bench_network import fund_company  # noqa: E402
from search_and_book import (  # noqa: E402
    PG_ADMIN_DEFAULT,
    SECRET_KEY,
    drop_postgres,
    prepare_postgres,
    prepare_sqlite,
    say,
)
from sqlalchemy import event  # noqa: E402

from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.services import create_api_token  # noqa: E402
from app import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.models import Facility, Unit  # noqa: E402

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = NOW.date()
# The parts of a booking request, by the function that does them.
PARTS = (
    ("booking/services.py", "book_stay"),
    ("booking/services.py", "_check_request"),
    ("booking/services.py", "_check_monthly_cap"),
    ("accounts/services.py", "user_for_token"),
    ("booking/api.py", "_booking_json"),
    ("sqlalchemy/orm/session.py", "commit"),
)


ROOMS = 4  # 1-night stays, back to back, within the 180-day horizon: up to 716 bookings


def build() -> tuple[list[int], str]:
    company = Company(name="Trace", max_nights_per_stay=30, max_nights_per_month=100_000)
    operator = OperatorOrg(name="Trace operator")
    db.session.add_all([company, operator])
    db.session.flush()
    fund_company(company.id)
    facility = Facility(
        operator_id=operator.id, name_ja="施設", name_en="Facility", prefecture=13,
        municipality="町", address="1-1", latitude=35.0, longitude=139.0, max_nights=30,
        reviewed_at=datetime.now(UTC), licence_type="hotel", licence_number="第1号",
    )  # fmt: skip
    db.session.add(facility)
    db.session.flush()
    units = [
        Unit(facility_id=facility.id, name=f"10{i}", capacity=2, base_price=11_000)
        for i in range(ROOMS)
    ]
    user = User(
        email="trace@example.com", name="Trace", password_hash="x", role=Role.EMPLOYEE,
        company_id=company.id,
    )  # fmt: skip
    db.session.add_all([*units, user])
    db.session.flush()
    _token, secret = create_api_token(user, "trace", NOW)
    db.session.commit()
    return [u.id for u in units], secret


def book(client, headers: dict, unit_ids: list[int], n: int) -> None:
    """The n-th booking: one night, with an Idempotency-Key as the benchmark sends."""
    check_in = TODAY + timedelta(days=1 + n // len(unit_ids))
    response = client.post(
        "/api/v1/bookings",
        json={
            "unit_id": unit_ids[n % len(unit_ids)],
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=1)).isoformat(),
            "guests": 1,
        },
        headers={**headers, "Idempotency-Key": f"trace-{n}"},
    )
    assert response.status_code == 201, response.get_json()


def run(backend: str, url: str, profile: int) -> None:
    say(f"\n=== {backend} ===")
    app = create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": url, "FIXED_NOW": NOW})
    with app.app_context():
        db.create_all()
        unit_ids, secret = build()
        db.session.remove()
        engine = db.engine
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    book(client, headers, unit_ids, 0)  # warm: caches, pool, token last-used stamp

    statements: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        statements.append(" ".join(statement.split())[:110])

    event.listen(engine, "before_cursor_execute", record)
    book(client, headers, unit_ids, 1)
    event.remove(engine, "before_cursor_execute", record)
    say(f"one booking request: {len(statements)} statements")
    for statement in statements:
        say(f"  {statement}")

    if profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for i in range(profile):
            book(client, headers, unit_ids, 2 + i)
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = max(v[3] for v in stats.stats.values())  # the outermost cumulative time
        say(f"\nCPU per request: {1000 * total / profile:.1f} ms ({profile} bookings, in process)")
        shown = set()
        for (path, _line, name), (_cc, _nc, _tt, cumulative, _callers) in sorted(
            stats.stats.items(), key=lambda item: -item[1][3]
        ):
            part = next((p for p in PARTS if path.endswith(p[0]) and name == p[1]), None)
            if part and part not in shown:  # the outermost of same-named functions
                shown.add(part)
                say(f"  {name:<20} {100 * cumulative / total:5.1f}%")
    with app.app_context():
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--pg-url", default=PG_ADMIN_DEFAULT)
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    (BENCH_DIR / "out").mkdir(exist_ok=True)
    run("sqlite", prepare_sqlite(), args.profile)
    if not args.sqlite:
        pg = prepare_postgres(args.pg_url)
        if pg:
            try:
                run("postgresql", pg, args.profile)
            finally:
                drop_postgres(args.pg_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
