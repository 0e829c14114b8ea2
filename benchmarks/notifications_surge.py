"""The notification pipeline under a surge: N bookings, then every stage that tells people.

    .venv/bin/python benchmarks/notifications_surge.py [--bookings 2000] [--calls 100]
    .venv/bin/python benchmarks/notifications_surge.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_notify

Builds its own data in an empty database: a throwaway SQLite file (in a temporary
folder, removed after), or with ``--database-url`` a PostgreSQL database of that name
on a server of this machine, which the script creates (refusing a name that exists)
and drops at the end (``--keep`` keeps it). The network: 5 companies (an admin and
``--bookings``/4 employees between them, one in four reading English), each with
ample stay credit; 3 operator organisations of 2 people each, owning 8 facilities
(4, 2 and 2, so the first operator hears of half the bookings); one webhook endpoint
per company and per operator (rows, as ``webhook_endpoints.create_endpoint`` would
leave them) choosing ``booking.created``; and ``--history`` past stays at the first
operator's facilities, booked over the past year, each with its dispatched event and
a read notice for each of the operator's people (the bell's year behind it; the
booking tables are not empty when the surge begins). Then ``VACUUM ANALYZE`` on
PostgreSQL, as autovacuum would after the load.

A mail server (aiosmtpd) and a webhook receiver (a ``ThreadingHTTPServer`` answering
200) listen on 127.0.0.1, in a process of their own so they do not share the
benchmark's interpreter; they count what arrives (each mail by its Message-ID, each
webhook by its endpoint and ``Engawa-Event-Id``). Nothing leaves the machine. Then,
with the app's clock fixed (``FIXED_NOW``), times:

1. ``--bookings`` stays booked through ``booking.services.book_stay`` by random
   employees, one commit each: each emits ``booking.created``;
2. ``notifications.dispatch.dispatch_events`` draining every event (run again until
   none waits): mails queued (the guest's, and each operator person's), notices
   written (each operator person's bell) and webhook deliveries queued (the company's
   endpoint and the operator's);
3. ``accounts.mail.deliver_outbox`` sending the outbox to the mail server, called
   again until it has nothing to send (a call claims batches of ``mail.BATCH_SIZE``
   for up to ``mail.RUN_SECONDS``; the ``mail_outbox`` job runs once a minute), and a
   check that each mail arrived exactly once;
4. the same mails again (copied before step 3) drained by ``--drainers`` processes at
   once (0 skips it): the time, and the duplicates (must be 0) and mails missing;
5. ``notifications.webhooks.deliver_webhooks`` posting every delivery to the
   receiver, and a check that each arrived exactly once;
6. the bell: ``notices.unread_count`` for the first operator's first person (p50/p95
   over ``--calls``), and ``GET /notices`` (the first page) through the test client,
   signed in as that person.

Prints one line per stage, and exits 1 if a check failed (a count that does not add
up, a mail or webhook missing or received twice). ``--sql-top K`` also prints the K
statements that took longest in total in each stage; ``--explain`` the plans of the
bell's and the notices page's queries, and of the dispatcher's look-up of an event's
webhook deliveries.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

import psycopg  # noqa: E402
import pyotp  # noqa: E402
from bench_network import NOW, TODAY, fund_company  # noqa: E402
from sqlalchemy import event, func, insert, make_url, select, text  # noqa: E402

from accounts import events as ev  # noqa: E402
from accounts import mail, two_factor  # noqa: E402
from accounts.events import Event  # noqa: E402
from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.recovery import unusable_password  # noqa: E402
from accounts.services import hash_password  # noqa: E402
from app import create_app  # noqa: E402
from booking.models import Booking, BookingNight, BookingStatus  # noqa: E402
from booking.services import StayRequest, book_stay  # noqa: E402
from core.config import normalise_database_url  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.models import Facility, Unit  # noqa: E402
from notifications import dispatch, webhooks  # noqa: E402
from notifications import notices as bell  # noqa: E402
from notifications.models import Notice, WebhookDelivery, WebhookEndpoint  # noqa: E402
from notifications.webhook_endpoints import new_secret, seal_secret  # noqa: E402

LOOPBACK = "127.0.0.1"
SECRET_KEY = "engawa-notifications-bench-" + "x" * 32  # a throwaway database's key
FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = "bench operator password"  # noqa: S105 (a throwaway database)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
COMPANIES = 5
# Facilities per operator organisation: the first hears of half the bookings.
OPERATOR_FACILITIES = (4, 2, 2)
OPERATOR_PEOPLE = 2
SLOTS_PER_UNIT = 70  # stays of 1-3 nights a room takes in the horizon (about 89 fit)
LAST_NIGHT = TODAY + timedelta(days=178)  # inside the 180-day booking horizon
WARM_UP = 3
WEBHOOK_TYPES = ev.BOOKING_CREATED
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)
SENT = re.compile(r"(\d+) sent, (\d+) failed")
HOOKS_DONE = re.compile(r"(\d+) delivered, (\d+) to retry, (\d+) given up")
LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}
RESERVED_DATABASES = {"postgres", "template0", "template1", "test"}


# --- The receivers: a mail server and a webhook receiver, in a process of their own ----


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _serve_receivers(conn) -> None:
    """The child process: an SMTP server and an HTTP receiver on 127.0.0.1 that count
    what arrives; answers the parent's commands ("mail", "hooks", "clear", "stop")."""
    from aiosmtpd.controller import Controller

    lock = threading.Lock()
    mails: Counter = Counter()  # Message-ID -> times received
    hooks: Counter = Counter()  # (path, Engawa-Event-Id) -> times received

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's)
            found = MESSAGE_ID.search(envelope.original_content or b"")
            with lock:
                mails[found.group(1).decode() if found else "?"] += 1
            return "250 OK"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                hooks[(self.path, self.headers.get("Engawa-Event-Id", "?"))] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    http = Server((LOOPBACK, 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    smtp = Controller(Sink(), hostname=LOOPBACK, port=free_port())
    smtp.start()
    conn.send((smtp.port, http.server_address[1]))
    while (command := conn.recv()) != "stop":
        with lock:
            if command == "mail":
                conn.send(dict(mails))
            elif command == "hooks":
                conn.send(dict(hooks))
            else:  # "clear"
                mails.clear()
                hooks.clear()
                conn.send(None)
    smtp.stop()
    http.shutdown()


class Receivers:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_receivers, args=(child,), daemon=True)
        self._process.start()
        if not self._conn.poll(60):
            raise SystemExit("the mail server and webhook receiver did not start")
        self.smtp_port, self.http_port = self._conn.recv()

    def _ask(self, command: str):
        self._conn.send(command)
        return self._conn.recv()

    def mail(self) -> dict[str, int]:
        return self._ask("mail")

    def hooks(self) -> dict[tuple[str, str], int]:
        return self._ask("hooks")

    def clear(self) -> None:
        self._ask("clear")

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()


def make_app(url: str, smtp_port: int):
    return create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": url,
            "FIXED_NOW": NOW,
            "WTF_CSRF_ENABLED": False,  # the notices page is read; sign-in posts once
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "SMTP_HOST": LOOPBACK,
            "SMTP_PORT": smtp_port,
            "SMTP_STARTTLS": False,
            "SMTP_USER": "",
            "SMTP_PASSWORD": "",
            "SMTP_CA_FILE": "",
            "WEBHOOK_ALLOW_PRIVATE_HOSTS": True,  # the receiver is on 127.0.0.1
        }
    )


# --- Building ----------------------------------------------------------------------------


@dataclass
class Surge:
    employee_ids: list[int]
    slots: list[tuple[int, date, int]]  # (unit id, check-in, nights), shuffled
    bell_user_id: int  # the first operator's first person
    bell_email: str
    people_per_operator: dict[int, int]
    operator_of_unit: dict[int, int]
    units: int
    endpoints: int
    history: int
    build_seconds: float


def build(bookings: int, history: int, http_port: int, rng: random.Random) -> Surge:
    started = time.perf_counter()
    employees = max(10, bookings // 4)
    company_ids = []
    for c in range(COMPANIES):
        company = Company(
            name=f"ベンチ企業 {c}", max_nights_per_stay=30, max_nights_per_month=100_000
        )
        db.session.add(company)
        db.session.flush()
        fund_company(company.id)
        company_ids.append(company.id)
    rows = []
    for c, company_id in enumerate(company_ids):
        rows.append(
            {
                "email": f"admin@company{c}.bench.example",
                "name": f"管理者 {c}",
                "password_hash": unusable_password(),
                "role": Role.COMPANY_ADMIN,
                "company_id": company_id,
                "created_at": NOW - timedelta(days=200),
            }
        )
    for i in range(employees):
        c = i % COMPANIES
        rows.append(
            {
                "email": f"employee{i:05d}@company{c}.bench.example",
                "name": f"社員 {i}",
                "password_hash": unusable_password(),
                "role": Role.EMPLOYEE,
                "company_id": company_ids[c],
                "locale": "en" if i % 4 == 3 else None,
                "created_at": NOW - timedelta(days=rng.randint(30, 600)),
            }
        )
    db.session.execute(insert(User), rows)
    employee_ids = list(
        db.session.scalars(select(User.id).where(User.role == Role.EMPLOYEE).order_by(User.id))
    )

    password_hash = hash_password(PASSWORD, FAST_HASH)
    units_per_facility = max(2, math.ceil(bookings / (sum(OPERATOR_FACILITIES) * SLOTS_PER_UNIT)))
    operator_of_unit: dict[int, int] = {}
    people_per_operator: dict[int, int] = {}
    operator_ids = []
    bell_user = None
    for n, facilities in enumerate(OPERATOR_FACILITIES):
        org = OperatorOrg(name=f"ベンチ運営 {n}")
        db.session.add(org)
        db.session.flush()
        operator_ids.append(org.id)
        for p in range(OPERATOR_PEOPLE):
            person = User(
                email=f"op{p}@operator{n}.bench.example",
                name=f"運営 {n}-{p}",
                password_hash=password_hash,
                role=Role.OPERATOR,
                operator_id=org.id,
                locale="en" if p % 2 else None,
                created_at=NOW - timedelta(days=400),
            )
            if n == 0 and p == 0:
                two_factor.enrol_with_secret(person, TOTP_SECRET, NOW)
                bell_user = person
            db.session.add(person)
        people_per_operator[org.id] = OPERATOR_PEOPLE
        for f in range(facilities):
            facility = Facility(
                operator_id=org.id,
                name_ja=f"ベンチ保養所 {n}-{f}",
                name_en=f"Bench Retreat {n}-{f}",
                prefecture=1 + (n * 7 + f * 5) % 47,
                municipality="町",
                address=f"{f + 1}-1-1",
                latitude=35.0,
                longitude=139.0,
                check_in_time=dtime(15),
                check_out_time=dtime(10),
                min_nights=1,
                max_nights=30,
                reviewed_at=NOW - timedelta(days=300),
                licence_type="hotel",
                licence_number=f"ベンチ第{n}-{f}号",
            )
            db.session.add(facility)
            db.session.flush()
            for u in range(units_per_facility):
                unit = Unit(
                    facility_id=facility.id,
                    name=f"{101 + u} 号室",
                    capacity=2,
                    base_price=rng.randrange(8000, 30001, 500),
                )
                db.session.add(unit)
                db.session.flush()
                operator_of_unit[unit.id] = org.id
    db.session.flush()

    # One endpoint per organisation, as create_endpoint leaves it (the URL checked at
    # entry is the receiver's on 127.0.0.1, allowed by WEBHOOK_ALLOW_PRIVATE_HOSTS).
    owners = [("company", cid) for cid in company_ids] + [("operator", oid) for oid in operator_ids]
    for kind, owner_id in owners:
        db.session.add(
            WebhookEndpoint(
                company_id=owner_id if kind == "company" else None,
                operator_id=owner_id if kind == "operator" else None,
                url=f"http://{LOOPBACK}:{http_port}/hooks/{kind}/{owner_id}",
                description=f"bench {kind} {owner_id}",
                event_types=WEBHOOK_TYPES,
                secret=seal_secret(new_secret()),
                active=True,
                created_at=NOW - timedelta(days=30),
            )
        )

    company_of = dict(
        db.session.execute(
            select(User.id, User.company_id).where(User.role == Role.EMPLOYEE).order_by(User.id)
        ).all()
    )
    _history(history, operator_ids[0], company_of, rng)
    db.session.commit()

    slots = []
    for unit_id in operator_of_unit:
        day = TODAY + timedelta(days=1)
        while True:
            nights = rng.randint(1, 3)
            if day + timedelta(days=nights) > LAST_NIGHT:
                break
            slots.append((unit_id, day, nights))
            day += timedelta(days=nights)
    rng.shuffle(slots)
    if len(slots) < bookings:
        raise SystemExit(f"only {len(slots)} free stays for {bookings} bookings")
    return Surge(
        employee_ids=employee_ids,
        slots=slots[:bookings],
        bell_user_id=bell_user.id,
        bell_email=bell_user.email,
        people_per_operator=people_per_operator,
        operator_of_unit=operator_of_unit,
        units=len(operator_of_unit),
        endpoints=len(owners),
        history=history,
        build_seconds=time.perf_counter() - started,
    )


def _history(count: int, operator_id: int, company_of: dict[int, int], rng) -> None:
    """``count`` past stays at the operator's facilities (bookings and their nights,
    made 40 days to a year ago, over by now), each with its dispatched
    ``booking.created`` event and a read notice for every one of the operator's people.
    So the bell has a year behind it, and the booking tables are not empty when the
    surge begins (as they would not be on a network in use)."""
    if not count:
        return
    people = list(
        db.session.scalars(select(User.id).where(User.operator_id == operator_id).order_by(User.id))
    )
    units = db.session.execute(
        select(
            Unit.id.label("unit_id"),
            Unit.base_price,
            Facility.id.label("facility_id"),
            Facility.name_ja,
            Facility.name_en,
        )
        .join(Facility, Facility.id == Unit.facility_id)
        .where(Facility.operator_id == operator_id)
        .order_by(Unit.id)
    ).all()
    employee_ids = list(company_of)
    for start in range(0, count, 5000):
        stays = []
        for _ in range(start, min(count, start + 5000)):
            booked_at = NOW - timedelta(minutes=rng.randint(40 * 24 * 60, 365 * 24 * 60))
            check_in = (booked_at + timedelta(days=rng.randint(3, 30))).date()
            nights = rng.randint(1, 3)
            employee = rng.choice(employee_ids)
            stays.append((booked_at, check_in, nights, employee, rng.choice(units)))
        booking_ids = db.session.scalars(
            insert(Booking).returning(Booking.id, sort_by_parameter_order=True),
            [
                {
                    "user_id": employee,
                    "company_id": company_of[employee],
                    "unit_id": unit.unit_id,
                    "check_in": check_in,
                    "check_out": check_in + timedelta(days=nights),
                    "guests": 1,
                    "status": BookingStatus.CONFIRMED,
                    "total_price": nights * unit.base_price,
                    "created_at": booked_at,
                }
                for booked_at, check_in, nights, employee, unit in stays
            ],
        ).all()
        db.session.execute(
            insert(BookingNight),
            [
                {
                    "booking_id": booking_id,
                    "night": check_in + timedelta(days=k),
                    "price": unit.base_price,
                }
                for booking_id, (_at, check_in, nights, _e, unit) in zip(
                    booking_ids, stays, strict=True
                )
                for k in range(nights)
            ],
        )
        event_ids = db.session.scalars(
            insert(Event).returning(Event.id, sort_by_parameter_order=True),
            [
                {
                    "type": ev.BOOKING_CREATED,
                    "created_at": booked_at,
                    "company_id": company_of[employee],
                    "operator_id": operator_id,
                    "user_id": employee,
                    "actor_id": employee,
                    "subject_type": "booking",
                    "subject_id": booking_id,
                    "data": "{}",
                    "dedupe_key": None,
                    "dispatched_at": booked_at + timedelta(minutes=1),
                }
                for booking_id, (booked_at, _ci, _n, employee, _u) in zip(
                    booking_ids, stays, strict=True
                )
            ],
        ).all()
        notices = []
        for event_id, booking_id, stay in zip(event_ids, booking_ids, stays, strict=True):
            booked_at, check_in, nights, _employee, unit = stay
            told = booked_at + timedelta(minutes=1)
            params = {
                "booking": booking_id,
                "facility": unit.name_ja,
                "facility_en": unit.name_en,
                "check_in": check_in.isoformat(),
                "check_out": (check_in + timedelta(days=nights)).isoformat(),
            }
            for person in people:
                notices.append(
                    {
                        "user_id": person,
                        "event_id": event_id,
                        "kind": "operator_booking_created",
                        "created_at": told,
                        "read_at": told + timedelta(hours=rng.randint(1, 48)),
                        "params": json.dumps(params, sort_keys=True),
                        "link": f"/operator/facilities/{unit.facility_id}",
                    }
                )
        db.session.execute(insert(Notice), notices)


def settle(backend: str) -> None:
    """As a long-running database would be after a bulk load (see bench_network)."""
    db.session.remove()
    raw = db.engine.raw_connection()
    try:
        if backend == "postgresql":
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE")
        else:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    db.engine.dispose()


# --- Measuring ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Statements:
    """Counts the statements the app's engine sends; with ``timed``, also the time each
    kind of statement took (for ``--sql-top``)."""

    def __init__(self, engine, timed: bool) -> None:
        self.count = 0
        self.spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        event.listen(engine, "before_cursor_execute", self._before)
        if timed:
            event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, _cursor, _statement, _params, _context, _many) -> None:
        self.count += 1
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, _cursor, statement, _params, _context, _many) -> None:
        started = conn.info["bench_started"].pop()
        kind = self.spent[" ".join(statement.split())]
        kind[0] += 1
        kind[1] += time.perf_counter() - started

    def reset(self) -> None:
        self.count = 0
        self.spent.clear()

    def top(self, k: int) -> list[str]:
        ranked = sorted(self.spent.items(), key=lambda item: item[1][1], reverse=True)[:k]
        return [f"    {seconds:7.2f} s {n:7,}x  {sql[:150]}" for sql, (n, seconds) in ranked]


def runs_of(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


class Report:
    """The printed table, and what failed its check."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    @staticmethod
    def stage(label: str, n: int, seconds: float, unit: str, note: str) -> None:
        print(
            f"{label:<40} {n:>7,} {seconds:8.2f} s {n / seconds:8.0f} {unit + '/s':<14} {note}",
            flush=True,
        )

    @staticmethod
    def repeated(label: str, samples: list[float], note: str) -> None:
        print(
            f"{label:<40} p50 {percentile(samples, 50):7.2f} ms  p95"
            f" {percentile(samples, 95):7.2f} ms  ({len(samples)} calls, {note})",
            flush=True,
        )


def make_bookings(surge: Surge, rng: random.Random, sql: Statements, args, report: Report) -> None:
    sql.reset()
    started = time.perf_counter()
    for unit_id, check_in, nights in surge.slots:
        employee = db.session.get(User, rng.choice(surge.employee_ids))
        book_stay(
            employee, StayRequest(unit_id, check_in, check_in + timedelta(days=nights), 1), NOW
        )
        db.session.commit()
    seconds = time.perf_counter() - started
    waiting = count(Event, Event.type == ev.BOOKING_CREATED, Event.dispatched_at.is_(None))
    report.check(waiting == len(surge.slots), f"{waiting} booking.created events waiting")
    report.stage(
        "book_stay, one commit each", len(surge.slots), seconds, "bookings",
        f"{waiting:,} booking.created events waiting",
    )  # fmt: skip
    print_top(sql, args)


def dispatch_all(surge: Surge, sql: Statements, args, report: Report) -> tuple[int, int]:
    """Every event into mail, notices and deliveries; (mails, deliveries) queued."""
    n = len(surge.slots)
    notices_before = count(Notice)
    sql.reset()
    started = time.perf_counter()
    runs = 0
    while dispatch.events_pending() and runs <= n:
        dispatch.dispatch_events(NOW)
        runs += 1
    seconds = time.perf_counter() - started
    statements = sql.count
    db.session.rollback()
    mails = count(mail.OutgoingMail)
    notices = count(Notice) - notices_before
    deliveries = count(WebhookDelivery)
    dispatched = count(Event, Event.dispatched_at == NOW)
    operator_people = sum(
        surge.people_per_operator[surge.operator_of_unit[unit_id]] for unit_id, *_ in surge.slots
    )
    report.check(dispatched == n, f"{dispatched} of {n} events dispatched")
    report.check(mails == n + operator_people, f"{mails} mails, expected {n + operator_people}")
    report.check(notices == operator_people, f"{notices} notices, expected {operator_people}")
    report.check(deliveries == 2 * n, f"{deliveries} webhook deliveries, expected {2 * n}")
    report.stage(
        "dispatch_events", dispatched, seconds, "events",
        f"{mails:,} mails, {notices:,} notices, {deliveries:,} webhook deliveries queued"
        f" ({runs_of(runs)}, {statements / max(1, n):.0f} SQL/event)",
    )  # fmt: skip
    print_top(sql, args)
    return mails, deliveries


def print_top(sql: Statements, args) -> None:
    if args.sql_top:
        for line in sql.top(args.sql_top):
            print(line)


MAIL_COLUMNS = [c.name for c in mail.OutgoingMail.__table__.columns if c.name != "id"]


def keep_copy_of_outbox() -> None:
    """The queued mails as they are now, to queue again for the drainers' run."""
    db.session.execute(text("CREATE TABLE bench_mail_copy AS SELECT * FROM outgoing_mail"))
    db.session.commit()


def queue_copy_again() -> None:
    columns = ", ".join(MAIL_COLUMNS)
    db.session.execute(
        text(
            f"INSERT INTO outgoing_mail ({columns})"  # noqa: S608 (the table's own columns)
            f" SELECT {columns} FROM bench_mail_copy ORDER BY id"
        )
    )
    db.session.execute(text("DROP TABLE bench_mail_copy"))
    db.session.commit()


def received_once(received: dict, expected: int) -> tuple[int, int]:
    """(duplicates, missing) of what a receiver counted."""
    duplicates = sum(times - 1 for times in received.values() if times > 1)
    return duplicates, max(0, expected - len(received))


def send_outbox(mails: int, receivers: Receivers, sql: Statements, args, report: Report) -> None:
    receivers.clear()
    sql.reset()
    started = time.perf_counter()
    runs = sent = failed = 0
    while (result := mail.deliver_outbox(NOW)) != "nothing to send" and runs <= mails:
        runs += 1
        found = SENT.search(result)
        sent += int(found[1]) if found else 0
        failed += int(found[2]) if found else 0
    seconds = time.perf_counter() - started
    db.session.rollback()
    duplicates, missing = received_once(receivers.mail(), mails)
    unsent = count(mail.OutgoingMail, mail.OutgoingMail.sent_at.is_(None))
    report.check(sent == mails and not failed, f"one process: {sent} sent, {failed} failed")
    report.check(not duplicates and not missing and not unsent, "one process: not each once")
    report.stage(
        "deliver_outbox, one process", sent, seconds, "mails",
        f"received: {duplicates} duplicates, {missing} missing; {unsent} unsent"
        f" ({runs_of(runs)}, batches of {mail.BATCH_SIZE} for up to {mail.RUN_SECONDS} s a"
        f" run; {sql.count / max(1, sent):.1f} SQL/mail)",
    )  # fmt: skip
    print_top(sql, args)


def _drain_outbox(url: str, smtp_port: int, conn) -> None:
    """A drainer process: as a second scheduler would, ``deliver_outbox`` until it
    finds nothing to send, started on the parent's word; answers (runs, sent, failed)."""
    app = make_app(url, smtp_port)
    runs = sent = failed = 0
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # connected before the start
        db.session.rollback()
        conn.send("ready")
        conn.recv()
        while (result := mail.deliver_outbox(NOW)) != "nothing to send":
            runs += 1
            found = SENT.search(result)
            sent += int(found[1]) if found else 0
            failed += int(found[2]) if found else 0
        db.session.remove()
        db.engine.dispose()
    conn.send((runs, sent, failed))


def drain_together(
    url: str, mails: int, drainers: int, receivers: Receivers, report: Report
) -> None:
    queue_copy_again()
    db.session.remove()
    receivers.clear()
    context = multiprocessing.get_context("spawn")
    workers = []
    for _ in range(drainers):
        mine, theirs = context.Pipe()
        process = context.Process(
            target=_drain_outbox, args=(url, receivers.smtp_port, theirs), daemon=True
        )
        process.start()
        workers.append((process, mine))
    try:
        for _process, conn in workers:
            if not conn.poll(120) or conn.recv() != "ready":
                raise SystemExit("a drainer process did not start")
        started = time.perf_counter()
        for _process, conn in workers:
            conn.send("go")
        results = []
        for _process, conn in workers:
            if not conn.poll(1800):
                raise SystemExit("a drainer process did not finish")
            results.append(conn.recv())
        seconds = time.perf_counter() - started
    finally:
        for process, _conn in workers:
            process.join(30)
            if process.is_alive():
                process.terminate()
    sent = sum(r[1] for r in results)
    failed = sum(r[2] for r in results)
    duplicates, missing = received_once(receivers.mail(), mails)
    unsent = count(mail.OutgoingMail, mail.OutgoingMail.sent_at.is_(None))
    db.session.rollback()
    report.check(
        sent == mails and not failed, f"{drainers} processes: {sent} sent, {failed} failed"
    )
    report.check(not duplicates, f"{drainers} processes: {duplicates} mails received twice")
    report.check(not missing and not unsent, f"{drainers} processes: {missing} missing")
    report.stage(
        f"deliver_outbox, {drainers} processes at once", sent, seconds, "mails",
        f"received: {duplicates} duplicates, {missing} missing; {unsent} unsent"
        f" (runs: {', '.join(str(r[0]) for r in results)}; sent: "
        f"{', '.join(str(r[1]) for r in results)})",
    )  # fmt: skip


def send_webhooks(
    deliveries: int, receivers: Receivers, sql: Statements, args, report: Report
) -> None:
    receivers.clear()
    sql.reset()
    started = time.perf_counter()
    runs = delivered = retrying = given_up = 0
    while (result := webhooks.deliver_webhooks(NOW)) and runs <= deliveries:
        runs += 1
        found = HOOKS_DONE.search(result)
        if found:
            delivered += int(found[1])
            retrying += int(found[2])
            given_up += int(found[3])
    seconds = time.perf_counter() - started
    db.session.rollback()
    duplicates, missing = received_once(receivers.hooks(), deliveries)
    stored = count(WebhookDelivery, WebhookDelivery.status == "delivered")
    report.check(
        delivered == deliveries == stored and not retrying and not given_up,
        f"webhooks: {delivered} delivered ({stored} stored), {retrying} to retry,"
        f" {given_up} given up",
    )
    report.check(not duplicates and not missing, f"webhooks: {duplicates} twice, {missing} missing")
    report.stage(
        "deliver_webhooks", delivered, seconds, "deliveries",
        f"received: {duplicates} duplicates, {missing} missing"
        f" ({runs_of(runs)}, {sql.count / max(1, delivered):.1f} SQL/delivery)",
    )  # fmt: skip
    print_top(sql, args)


def expect(response, status: int, what: str):
    if response.status_code != status:
        body = response.get_data(as_text=True)[:500]
        raise SystemExit(f"{what}: {response.status_code}, expected {status}: {body}")
    return response


def the_bell(app, surge: Surge, sql: Statements, calls: int, report: Report) -> None:
    with app.app_context():
        uid = surge.bell_user_id
        total = count(Notice, Notice.user_id == uid)
        unread = bell.unread_count(uid)
        db.session.rollback()
        samples = []
        for i in range(calls + WARM_UP):
            started = time.perf_counter()
            found = bell.unread_count(uid)
            db.session.rollback()  # the end of the page's transaction
            if i >= WARM_UP:
                samples.append((time.perf_counter() - started) * 1000)
            report.check(found == unread, f"the bell counted {found}, then {unread}")
    report.repeated(f"bell: unread count ({unread:,} of {total:,})", samples, "1 SQL statement")

    client = app.test_client()
    expect(
        client.post("/login", data={"email": surge.bell_email, "password": PASSWORD}),
        303,
        "sign-in: password",
    )
    code = pyotp.TOTP(TOTP_SECRET).now()
    expect(client.post("/login/two-factor", data={"code": code}), 302, "sign-in: code")
    samples, statements = [], []
    for i in range(calls + WARM_UP):
        before = sql.count
        started = time.perf_counter()
        page = expect(client.get("/notices"), 200, "/notices").get_data(as_text=True)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= WARM_UP:
            samples.append(elapsed)
            statements.append(sql.count - before)
    report.check("Bench Retreat" in page or "ベンチ保養所" in page, "/notices shows no notice")
    report.repeated("/notices, first page", samples, f"{max(statements)} SQL statements")


def explain(backend: str, uid: int) -> None:
    """The plans of the bell's count and of the notices page's queries."""
    queries = {
        "bell count": select(func.count())
        .select_from(Notice)
        .where(Notice.user_id == uid, Notice.read_at.is_(None)),
        "notices total": select(func.count()).select_from(Notice).where(Notice.user_id == uid),
        "notices page": select(Notice)
        .where(Notice.user_id == uid)
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .limit(bell.PER_PAGE),
        "deliveries of an event": select(WebhookDelivery.endpoint_id).where(
            WebhookDelivery.event_id == 1
        ),
    }
    prefix = "EXPLAIN ANALYZE" if backend == "postgresql" else "EXPLAIN QUERY PLAN"
    for name, query in queries.items():
        compiled = query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        rows = db.session.execute(text(f"{prefix} {compiled}")).all()
        print(f"  plan, {name}:")
        for row in rows:
            print(f"    {row[-1]}")
    db.session.rollback()


# --- Running -----------------------------------------------------------------------------


def run(url: str, backend: str, args) -> int:
    rng = random.Random(args.seed)
    report = Report()
    receivers = Receivers()
    try:
        app = make_app(url, receivers.smtp_port)
        with app.app_context():
            db.create_all()
            surge = build(args.bookings, args.history, receivers.http_port, rng)
            settle(backend)
        load = os.getloadavg()[0]
        print(
            f"{backend}: {COMPANIES} companies, {len(surge.employee_ids):,} employees;"
            f" {len(OPERATOR_FACILITIES)} operators of {OPERATOR_PEOPLE} people,"
            f" {sum(OPERATOR_FACILITIES)} facilities, {surge.units} rooms;"
            f" {surge.endpoints} webhook endpoints; {surge.history:,} past stays of the first"
            f" operator, each a read notice for its people; built in"
            f" {surge.build_seconds:.1f} s (1-minute load {load:.2f})",
            flush=True,
        )
        if backend == "postgresql":
            with app.app_context():
                autovacuum = db.session.scalar(text("SHOW autovacuum"))
                db.session.rollback()
            if autovacuum != "on":
                print("note: autovacuum is off on this server: no ANALYZE during the surge")
        print(f"{'stage':<40} {'count':>7} {'time':>10} {'rate':>8}")
        with app.app_context():
            sql = Statements(db.engine, timed=bool(args.sql_top))
            make_bookings(surge, rng, sql, args, report)
            mails, deliveries = dispatch_all(surge, sql, args, report)
            if args.drainers:
                keep_copy_of_outbox()
            send_outbox(mails, receivers, sql, args, report)
            if args.drainers:
                drain_together(url, mails, args.drainers, receivers, report)
            send_webhooks(deliveries, receivers, sql, args, report)
            db.session.remove()
        the_bell(app, surge, sql, args.calls, report)
        if args.explain:
            with app.app_context():
                explain(backend, surge.bell_user_id)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        receivers.stop()
    for problem in report.problems:
        print(f"CHECK FAILED: {problem}")
    return 1 if report.problems else 0


def postgres_database(url: str) -> tuple[str, str, str]:
    """(the app's URL, the server's admin URL, the database's name), refusing a server
    elsewhere than this machine, a name that is not a plain identifier, or one of the
    server's own databases."""
    parsed = make_url(normalise_database_url(url))
    if not parsed.drivername.startswith("postgresql"):
        raise SystemExit("--database-url must be a postgresql:// URL")
    if parsed.host not in LOCAL_HOSTS:
        raise SystemExit(f"--database-url must name a server on this machine, not {parsed.host}")
    name = parsed.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name in RESERVED_DATABASES:
        raise SystemExit(f"--database-url must name a scratch database, not {name!r}")
    admin = parsed.set(drivername="postgresql", database="postgres")
    return (
        parsed.render_as_string(hide_password=False),
        admin.render_as_string(hide_password=False),
        name,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=2000, help="the surge: N bookings")
    parser.add_argument(
        "--history",
        type=int,
        default=5000,
        help="past stays of the first operator (a read notice each)",
    )
    parser.add_argument("--calls", type=int, default=100, help="timed calls of the bell's reads")
    parser.add_argument(
        "--drainers", type=int, default=2, help="processes draining the outbox at once (0: skip)"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database on this machine to create, fill and drop"
        " (default: a temporary SQLite file)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--sql-top", type=int, default=0, help="print the K slowest statements")
    parser.add_argument("--explain", action="store_true", help="print the bell queries' plans")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.bookings < 1 or args.calls < 1 or args.drainers < 0 or args.history < 0:
        parser.error(
            "--bookings and --calls must be positive, --drainers and --history not negative"
        )

    if not args.database_url:
        folder = tempfile.mkdtemp(prefix="engawa-notify-bench-")
        try:
            status = run(f"sqlite:///{folder}/bench.db", "sqlite", args)
        finally:
            if args.keep:
                print(f"kept: {folder}/bench.db")
            else:
                shutil.rmtree(folder, ignore_errors=True)
        sys.exit(status)

    url, admin_url, name = postgres_database(args.database_url)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"database {name} exists already: drop it or name another")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        status = run(url, "postgresql", args)
    finally:
        if args.keep:
            print(f"kept: database {name}")
        else:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    sys.exit(status)


if __name__ == "__main__":
    main()
