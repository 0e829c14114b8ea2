"""What onboarding and identity cost at the scale issue 13 names: a company of 5,000 employees.

    .venv/bin/python benchmarks/identity_scale.py [--employees 5000] [--calls 40] [--backend sqlite]
    .venv/bin/python benchmarks/identity_scale.py --backend postgresql  # a scratch database

Builds its own network in an empty database (a temporary SQLite file, or a scratch
PostgreSQL database it creates and drops): two companies of ``--employees`` people
each (one admin, the rest employees) with enough paid seats, a hundred small companies,
twenty operator organisations, a platform admin enrolled in two-factor sign-in, a SCIM
token for the first company, and ten audit entries per employee (50,000 at the
default) spread over the past year and the organisations. Then times, through the
app's test client (in-process WSGI, one request per call, each in its own app context
as a served request is):

- SCIM, with the first company's token: ``GET /Users?filter=userName eq "…"`` (random
  existing people), ``GET /Users?startIndex=k&count=100`` (pages across the whole
  company), ``POST /Users`` (new people, up to one seat short of the limit),
  ``PATCH`` with ``active: false`` (random employees, none with stays);
- the platform console, signed in as the platform admin (password, then the
  authenticator's code): ``/admin/users?q=…`` (one person's address, then a word every
  employee of a company shares), ``/admin/companies``, ``/admin/``, ``/admin/audit``
  (first page, then narrowed to a company and an action over a date range);
- the first company's audit log as its admin reads it: ``/company/audit``.

Prints p50/p95 and the SQL statements per request for each kind. The page budget it
is read against: p95 ≤ 150 ms (docs/PERFORMANCE.md), and no list that grows with the
company.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
import pyotp  # noqa: E402
from bench_network import NOW  # noqa: E402
from sqlalchemy import event, func, insert, make_url, select, update  # noqa: E402

from accounts import audit, two_factor  # noqa: E402
from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.recovery import unusable_password  # noqa: E402
from accounts.services import hash_password  # noqa: E402
from app import create_app  # noqa: E402
from billing.models import BillingAccount, Plan, Subscription  # noqa: E402
from core.config import normalise_database_url  # noqa: E402
from core.extensions import db  # noqa: E402
from identity import scim  # noqa: E402
from identity.scim_schema import PATCH_OP, USER_SCHEMA  # noqa: E402

SQLITE_PATH = Path("/tmp/engawa-identity-bench.db")
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "engawa_identity_bench"
FAST_HASH = "pbkdf2:sha256:1000"
ADMIN_EMAIL = "root@bench.example"
ADMIN_PASSWORD = "bench admin password"  # noqa: S105 (a throwaway database)
ADMIN_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SMALL_COMPANIES, SMALL_COMPANY_PEOPLE = 100, 5
OPERATORS, OPERATOR_PEOPLE = 20, 3
WARM_UP = 3
SCIM_JSON = "application/scim+json"
FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
GIVEN = ("翔太", "陽菜", "蓮", "結衣", "大輝", "美咲", "健太", "さくら", "拓海", "葵")
# (action, object type, who acted) of the entries the audit log is filled with.
COMPANY_ACTIONS = (
    ("scim.user.create", "user", "scim"),
    ("scim.user.update", "user", "scim"),
    ("scim.user.deactivate", "user", "scim"),
    ("member.invite", "user", "admin"),
    ("member.deactivate", "user", "admin"),
    ("sso.update", "company_sso", "admin"),
    ("user.lock", "user", "platform"),
    ("user.password_reset", "user", "platform"),
    ("company.subscribe", "company", "admin"),
)
OPERATOR_ACTIONS = (
    ("facility.update", "facility", "operator"),
    ("facility.review", "facility", "platform"),
    ("operator.suspend", "operator", "platform"),
)


@dataclass
class Network:
    company_ids: list[int]  # the two large companies first
    emails: dict[int, list[str]]  # each large company's employees' addresses
    employee_ids: list[int]  # the first company's employees (not its admin)
    scim_token: str
    domains: dict[int, str]
    audit_entries: int
    people: int
    build_seconds: float
    operator_ids: list[int] = field(default_factory=list)


# --- Building ----------------------------------------------------------------------------


def _company(
    name: str, plan_id: int, seats: int, corporate_number: str | None, domain: str | None = None
) -> int:
    """A subscribed company; ``domain``: its approved join domain (SCIM creates need one)."""
    company = Company(
        name=name,
        corporate_number=corporate_number,
        created_at=NOW,
        email_domain=domain,
        email_domain_approved_at=NOW if domain else None,
    )
    db.session.add(company)
    db.session.flush()
    sub = Subscription(
        company_id=company.id,
        plan_id=plan_id,
        stripe_subscription_id=f"sub_bench_{company.id}",
        status="active",
        seats=seats,
        current_period_start=NOW - timedelta(days=10),
        current_period_end=NOW + timedelta(days=20),
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(sub)
    db.session.flush()
    db.session.add(
        BillingAccount(company_id=company.id, subscription_id=sub.id, credit_balance=seats * 15000)
    )
    return company.id


def _people(company_id: int, domain: str, count: int, rng: random.Random, prefix: str) -> None:
    """``count`` people of a company: the first its admin, a few deactivated or locked."""
    rows = []
    for i in range(count):
        rows.append(
            {
                "email": f"{prefix}{i:05d}@{domain}",
                "name": f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}",
                "password_hash": unusable_password(),
                "role": Role.COMPANY_ADMIN if i == 0 else Role.EMPLOYEE,
                "company_id": company_id,
                "active": i == 0 or rng.random() > 0.02,
                "locked_at": NOW - timedelta(days=3) if i and rng.random() < 0.002 else None,
                "last_login_at": NOW - timedelta(hours=rng.randint(1, 2000))
                if rng.random() < 0.7
                else None,
                "external_id": f"{prefix}-{i:05d}",
                "created_at": NOW - timedelta(days=rng.randint(30, 700)),
            }
        )
    db.session.execute(insert(User), rows)


def _audit_rows(count: int, rng: random.Random) -> int:
    """``count`` entries over the past year: nine in ten of a company, the rest of an
    operator organisation; objects are real ids of that organisation's people."""
    companies = {
        cid: (ids, admin)
        for cid, ids, admin in (
            (
                cid,
                list(db.session.scalars(select(User.id).where(User.company_id == cid))),
                db.session.scalar(
                    select(User.id).where(User.company_id == cid, User.role == Role.COMPANY_ADMIN)
                ),
            )
            for cid in db.session.scalars(select(Company.id))
        )
    }
    # The large companies get most entries, as their directories do most work.
    weights = [len(ids) for ids, _admin in companies.values()]
    company_ids = list(companies)
    operators = {
        oid: list(db.session.scalars(select(User.id).where(User.operator_id == oid)))
        for oid in db.session.scalars(select(OperatorOrg.id))
    }
    platform = db.session.scalar(select(User.id).where(User.role == Role.PLATFORM_ADMIN))
    rows = []
    for _ in range(count):
        when = NOW - timedelta(seconds=rng.randint(60, 365 * 86400))
        if rng.random() < 0.9:
            cid = rng.choices(company_ids, weights)[0]
            ids, admin = companies[cid]
            action, object_type, who = rng.choice(COMPANY_ACTIONS)
            object_id = rng.choice(ids) if object_type == "user" else cid
            org = {"company_id": cid, "operator_id": None}
        else:
            oid = rng.choice(list(operators))
            action, object_type, who = rng.choice(OPERATOR_ACTIONS)
            object_id = rng.randint(1, 500) if object_type == "facility" else oid
            admin = operators[oid][0]
            org = {"company_id": None, "operator_id": oid}
        actor = {"scim": None, "admin": admin, "operator": admin, "platform": platform}[who]
        rows.append(
            {
                "created_at": when,
                "actor_id": actor,
                "actor_kind": "scim" if who == "scim" else "user",
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "before": '{"active": true}' if action.endswith("deactivate") else None,
                "after": '{"active": false}' if action.endswith("deactivate") else None,
                **org,
            }
        )
        if len(rows) == 10_000:
            db.session.execute(insert(audit.AuditEntry), rows)
            rows = []
    if rows:
        db.session.execute(insert(audit.AuditEntry), rows)
    return count


def build(employees: int, audit_entries: int, seat_headroom: int, seed: int) -> Network:
    started = time.perf_counter()
    rng = random.Random(seed)
    plan = Plan(code="standard", name="Standard", fee_per_seat=8000, credit_per_seat=15000)
    db.session.add(plan)
    db.session.flush()
    domains = {}
    big = []
    for n, (name, domain) in enumerate(
        (("Kaisha A 株式会社", "a.example"), ("Kaisha B 株式会社", "b.example"))
    ):
        cid = _company(name, plan.id, employees + seat_headroom, f"100000000000{n}", domain)
        _people(cid, domain, employees, rng, "staff")
        # The seats: every active person's, and the creates to come but one.
        active = db.session.scalar(
            select(func.count()).select_from(User).where(User.company_id == cid, User.active)
        )
        db.session.execute(
            update(Subscription)
            .where(Subscription.company_id == cid)
            .values(seats=active + seat_headroom)
        )
        domains[cid] = domain
        big.append(cid)
    for n in range(SMALL_COMPANIES):
        cid = _company(f"Small company {n:03d}", plan.id, 20, None)
        _people(cid, f"small{n:03d}.example", SMALL_COMPANY_PEOPLE, rng, "p")
    operator_ids = []
    for n in range(OPERATORS):
        org = OperatorOrg(name=f"Operator {n:02d}")
        db.session.add(org)
        db.session.flush()
        operator_ids.append(org.id)
        db.session.execute(
            insert(User),
            [
                {
                    "email": f"op{i}@operator{n:02d}.example",
                    "name": f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}",
                    "password_hash": unusable_password(),
                    "role": Role.OPERATOR,
                    "operator_id": org.id,
                    "created_at": NOW - timedelta(days=100),
                }
                for i in range(OPERATOR_PEOPLE)
            ],
        )
    root = User(
        email=ADMIN_EMAIL,
        name="Engawa root",
        password_hash=hash_password(ADMIN_PASSWORD, FAST_HASH),
        role=Role.PLATFORM_ADMIN,
        created_at=NOW - timedelta(days=800),
    )
    two_factor.enrol_with_secret(root, ADMIN_TOTP, NOW)
    db.session.add(root)
    db.session.flush()
    admin_a = db.session.scalar(
        select(User).where(User.company_id == big[0], User.role == Role.COMPANY_ADMIN)
    )
    admin_a.password_hash = root.password_hash  # the company's admin reads its audit log
    two_factor.enrol_with_secret(admin_a, ADMIN_TOTP, NOW)
    _token, secret = scim.rotate_token(
        big[0], NOW, actor=None, actor_kind=audit.ACTOR_CLI, made_for=admin_a
    )
    audit_count = _audit_rows(audit_entries, rng)
    db.session.commit()
    emails = {
        cid: list(
            db.session.scalars(select(User.email).where(User.company_id == cid).order_by(User.id))
        )
        for cid in big
    }
    employee_ids = list(
        db.session.scalars(
            select(User.id).where(
                User.company_id == big[0], User.role == Role.EMPLOYEE, User.active
            )
        )
    )
    people = db.session.scalar(select(func.count()).select_from(User))
    return Network(
        company_ids=big,
        emails=emails,
        employee_ids=employee_ids,
        scim_token=secret,
        domains=domains,
        audit_entries=audit_count + 1,
        people=people,
        build_seconds=time.perf_counter() - started,
        operator_ids=operator_ids,
    )


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


# --- Timing ------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Statements:
    """Counts the SQL statements the app sends (its engine's cursor executions)."""

    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *_args) -> None:
        self.count += 1


def timed(label: str, calls: list, run, statements: Statements) -> str:
    """Each call is one request: ``run(*args)`` returns the response, checked by it."""
    samples, counts = [], []
    for i, args in enumerate(calls):  # the first WARM_UP calls are not counted
        before = statements.count
        started = time.perf_counter()
        run(*args)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= WARM_UP:
            samples.append(elapsed)
            counts.append(statements.count - before)
    return (
        f"{label:<44} p50 {percentile(samples, 50):7.1f} ms  p95 {percentile(samples, 95):7.1f} ms"
        f"  ({len(samples)} calls, {max(counts)} SQL statements)"
    )


def expect(response, status: int, what: str):
    if response.status_code != status:
        body = response.get_data(as_text=True)[:500]
        raise SystemExit(f"{what}: {response.status_code}, expected {status}: {body}")
    return response


def sign_in(client, email: str, home: str) -> None:
    """The password, then the authenticator's code (both admins are enrolled)."""
    expect(
        client.post("/login", data={"email": email, "password": ADMIN_PASSWORD}),
        303,
        "sign-in: password",
    )
    code = pyotp.TOTP(ADMIN_TOTP).now()
    expect(client.post("/login/two-factor", data={"code": code}), 302, "sign-in: code")
    expect(client.get(home), 200, "sign-in: the console")


def measure(app, network: Network, calls: int, seed: int) -> list[str]:
    rng = random.Random(seed + 1)
    total = calls + WARM_UP
    company_a, company_b = network.company_ids
    scim_client = app.test_client()
    scim_headers = {"Authorization": f"Bearer {network.scim_token}"}
    with app.app_context():
        statements = Statements(db.engine)
    lines = []

    def scim_get(url: str):
        expect(scim_client.get(url, headers=scim_headers), 200, url)

    def scim_filter(email: str):
        url = f'/scim/v2/Users?filter=userName eq "{email}"'
        body = expect(scim_client.get(url, headers=scim_headers), 200, url).get_json()
        if body["totalResults"] != 1:
            raise SystemExit(f"{url}: {body['totalResults']} results")

    emails = network.emails[company_a]
    lines.append(
        timed(
            'SCIM GET /Users?filter=userName eq "…"',
            [(rng.choice(emails),) for _ in range(total)],
            scim_filter,
            statements,
        )
    )
    starts = [(rng.randint(1, max(1, len(emails) - 99)),) for _ in range(total)]
    lines.append(
        timed(
            "SCIM GET /Users?startIndex=k&count=100",
            [(f"/scim/v2/Users?startIndex={k}&count=100",) for (k,) in starts],
            scim_get,
            statements,
        )
    )

    def scim_create(n: int):
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"new{n:05d}@{network.domains[company_a]}",
            "externalId": f"new-{n:05d}",
            "name": {"familyName": rng.choice(FAMILY), "givenName": rng.choice(GIVEN)},
            "displayName": "新入社員",
            "active": True,
        }
        expect(
            scim_client.post(
                "/scim/v2/Users", json=body, headers=scim_headers, content_type=SCIM_JSON
            ),
            201,
            "SCIM POST /Users",
        )

    lines.append(
        timed(
            "SCIM POST /Users (inside the seats)",
            [(n,) for n in range(total)],
            scim_create,
            statements,
        )
    )

    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }

    def scim_deactivate(user_id: int):
        expect(
            scim_client.patch(
                f"/scim/v2/Users/{user_id}", json=patch, headers=scim_headers,
                content_type=SCIM_JSON,
            ),
            200,
            "SCIM PATCH active false",
        )  # fmt: skip

    leavers = rng.sample(network.employee_ids, min(total, len(network.employee_ids)))
    lines.append(
        timed(
            "SCIM PATCH active: false (no stays)",
            [(u,) for u in leavers],
            scim_deactivate,
            statements,
        )
    )

    console = app.test_client()
    sign_in(console, ADMIN_EMAIL, "/admin/")

    def page(url: str):
        expect(console.get(url), 200, url)

    everyone = emails + network.emails[company_b]
    lines.append(
        timed(
            "/admin/users?q=<one person's address>",
            [(f"/admin/users?q={rng.choice(everyone)}",) for _ in range(total)],
            page,
            statements,
        )
    )
    lines.append(
        timed(
            "/admin/users?q=<a company's domain>",
            [
                (f"/admin/users?q={rng.choice(list(network.domains.values()))}",)
                for _ in range(total)
            ],
            page,
            statements,
        )
    )
    lines.append(timed("/admin/companies", [("/admin/companies",)] * total, page, statements))
    lines.append(timed("/admin/ (overview)", [("/admin/",)] * total, page, statements))
    lines.append(timed("/admin/audit (first page)", [("/admin/audit",)] * total, page, statements))
    narrowed = []
    for _ in range(total):
        since = (NOW - timedelta(days=rng.randint(30, 300))).date()
        until = since + timedelta(days=60)
        company = rng.choice(network.company_ids)
        action = rng.choice(("scim.user", "member", "user.lock", "scim.user.deactivate"))
        narrowed.append(
            (f"/admin/audit?company={company}&action={action}&since={since}&until={until}",)
        )
    lines.append(timed("/admin/audit (company + action + dates)", narrowed, page, statements))

    company_admin = app.test_client()
    sign_in(company_admin, emails[0], "/company/audit")

    def own_page(url: str):
        expect(company_admin.get(url), 200, url)

    lines.append(
        timed(
            "/company/audit (its admin, first page)",
            [("/company/audit",)] * total,
            own_page,
            statements,
        )
    )
    return lines


# --- Databases ---------------------------------------------------------------------------


def prepare_postgres(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    url = make_url(normalise_database_url(admin_url)).set(database=PG_BENCH_DB)
    return url.render_as_string(hide_password=False)


def drop_postgres(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


def run(url: str, backend: str, args) -> None:
    app = create_app(
        {
            "SECRET_KEY": "bench-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": url,
            "FIXED_NOW": NOW,
            "WTF_CSRF_ENABLED": False,  # the console's pages are read; sign-in posts once
            "PASSWORD_HASH_METHOD": FAST_HASH,
        }
    )
    with app.app_context():
        db.create_all()
        network = build(
            args.employees,
            args.audit_entries if args.audit_entries is not None else 10 * args.employees,
            args.calls + WARM_UP + 1,  # the creates to come, and one seat left over
            args.seed,
        )
        settle(backend)
    print(
        f"{backend}: 2 companies of {args.employees:,} people, {SMALL_COMPANIES} of"
        f" {SMALL_COMPANY_PEOPLE}, {OPERATORS} operators: {network.people:,} people,"
        f" {network.audit_entries:,} audit entries; built in {network.build_seconds:.1f} s"
    )
    for line in measure(app, network, args.calls, args.seed):
        print(line)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--employees", type=int, default=5000, help="people per large company")
    parser.add_argument("--audit-entries", type=int, help="default: 10 per employee")
    parser.add_argument("--calls", type=int, default=40, help="timed requests per kind")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--pg-url", default=PG_ADMIN_DEFAULT, help="a server's admin database")
    args = parser.parse_args(argv)
    if args.backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        run(f"sqlite:///{SQLITE_PATH}", "sqlite", args)
        return
    admin_url = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    url = prepare_postgres(admin_url)
    try:
        run(url, "postgresql", args)
    finally:
        drop_postgres(admin_url)


if __name__ == "__main__":
    main()
