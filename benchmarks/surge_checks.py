"""What must hold after the surge, read from the primary with plain SQL.

Each check compares the database with what the employees were answered
(``surge_load.Outcome``): no night claimed twice, every 201 one booking paid once,
every 204 one cancellation refunded once, no job run twice for one fire time, every
ledger balance the sum of its entries, and ``operations.invariants`` when present.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from surge_load import Outcome

from app import create_app
from core.db import edge_now, tokyo_today
from core.extensions import db

try:  # the invariants check of the backup drill, once written (operations/invariants.py)
    from operations import invariants
except ImportError:  # pragma: no cover - depends on the tree
    invariants = None

LIVE = ("confirmed", "checked_in", "checked_out")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(dsn: str, app_url: str, company_id: int, outcome: Outcome, since) -> list[Check]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        checks = [
            nights_claimed_once(conn),
            bookings_paid_once(conn, company_id, outcome),
            cancellations_refunded_once(conn, company_id, outcome),
            jobs_ran_once(conn, since),
            ledgers_add_up(conn),
        ]
    checks.append(invariants_hold(app_url))
    return checks


def _rows(conn, sql: str, *params) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


def nights_claimed_once(conn) -> Check:
    twice = _rows(
        conn,
        """
        SELECT unit_id, night FROM occupancy GROUP BY unit_id, night HAVING count(*) > 1""",
    )
    live_twice = _rows(
        conn,
        """
        SELECT b.unit_id, n.night FROM booking_night n JOIN booking b ON b.id = n.booking_id
        WHERE b.status = ANY(%s) GROUP BY b.unit_id, n.night HAVING count(*) > 1""",
        list(LIVE),
    )
    # A confirmed booking claims exactly its nights; a cancelled one none. (A stay
    # checked out early or a no-show gives some back: none of those in the surge.)
    wrong = _rows(
        conn,
        """
        SELECT b.id FROM booking b
        LEFT JOIN (SELECT booking_id, count(*) AS n FROM occupancy GROUP BY booking_id) o
          ON o.booking_id = b.id
        WHERE b.status IN ('confirmed', 'cancelled')
          AND COALESCE(o.n, 0) <> CASE WHEN b.status = 'confirmed'
              THEN (SELECT count(*) FROM booking_night n WHERE n.booking_id = b.id) ELSE 0 END""",
    )
    claimed = _rows(conn, "SELECT count(*) FROM occupancy WHERE booking_id IS NOT NULL")[0][0]
    ok = not twice and not live_twice and not wrong
    detail = (
        f"{claimed:,} nights held by bookings; {len(twice)} occupancy rows twice,"
        f" {len(live_twice)} unit-nights in two live bookings, {len(wrong)} bookings whose"
        " claimed nights are not their own"
    )
    return Check("no night is claimed twice", ok, detail)


def bookings_paid_once(conn, company_id: int, outcome: Outcome) -> Check:
    """Every 201 is one booking of the employee answered, paid by one spend of its total
    (and one accommodation-tax charge when it owes any); every booking of the surge was
    answered 201, but for those whose request and retry both got no answer."""
    rows = _rows(conn, """
        SELECT id, user_id, total_price, accommodation_tax FROM booking WHERE company_id = %s""",
        company_id)  # fmt: skip
    in_db = {r[0]: r for r in rows}
    problems = []
    missing = [i for i in outcome.booked if i not in in_db]
    if missing:
        problems.append(f"{len(missing)} answered 201 but absent")
    strangers = [i for i, user in outcome.booked.items() if i in in_db and in_db[i][1] != user]
    if strangers:
        problems.append(f"{len(strangers)} answered to another employee")
    unanswered = [i for i in in_db if i not in outcome.booked]
    if len(unanswered) > outcome.unanswered_books:
        problems.append(
            f"{len(unanswered)} bookings no 201 announced (only {outcome.unanswered_books}"
            " requests went unanswered)"
        )
    spends = {
        b: (n, total)
        for b, n, total in _rows(conn, """
            SELECT booking_id, count(*), sum(amount) FROM credit_entry
            WHERE kind = 'spend' AND company_id = %s GROUP BY booking_id""", company_id)
    }  # fmt: skip
    taxes = {
        b: (n, total)
        for b, n, total in _rows(conn, """
            SELECT booking_id, count(*), sum(amount) FROM credit_entry
            WHERE kind = 'accommodation_tax' AND amount < 0 AND company_id = %s
            GROUP BY booking_id""", company_id)
    }  # fmt: skip
    unpaid = [i for i, r in in_db.items() if spends.get(i) != (1, -r[2])]
    if unpaid:
        problems.append(f"{len(unpaid)} not paid exactly once at their total")
    untaxed = [
        i for i, r in in_db.items() if taxes.get(i, (0, 0)) != ((1, -r[3]) if r[3] else (0, 0))
    ]
    if untaxed:
        problems.append(f"{len(untaxed)} without exactly one accommodation-tax charge")
    detail = (
        f"{outcome.answered_201} answers 201 for {len(outcome.booked)} bookings;"
        f" {len(in_db)} in the database, {len(unanswered)} of them unanswered"
        f" (in flight on the killed node, retried with their key);"
        f" each paid by one spend: {'yes' if not unpaid else 'no'}"
    )
    return Check(
        "every 201 is one booking, paid once", not problems, "; ".join([detail, *problems])
    )


def cancellations_refunded_once(conn, company_id: int, outcome: Outcome) -> Check:
    rows = _rows(conn, """
        SELECT b.id, b.status, (SELECT count(*) FROM credit_entry e
                                WHERE e.booking_id = b.id AND e.kind = 'refund')
        FROM booking b WHERE b.company_id = %s""", company_id)  # fmt: skip
    problems = []
    status = {r[0]: r[1] for r in rows}
    not_cancelled = [i for i in outcome.cancelled if status.get(i) != "cancelled"]
    if not_cancelled:
        problems.append(f"{len(not_cancelled)} answered 204 but not cancelled")
    cancelled = [r[0] for r in rows if r[1] == "cancelled"]
    unannounced = [
        i for i in cancelled if i not in outcome.cancelled and i not in outcome.unanswered_cancels
    ]
    if unannounced:
        problems.append(f"{len(unannounced)} cancelled without an answer saying so")
    refunds = [r for r in rows if r[2] != (1 if r[1] == "cancelled" else 0)]
    if refunds:
        problems.append(f"{len(refunds)} refunded other than once per cancellation")
    detail = (
        f"{len(cancelled)} cancelled, {len(outcome.cancelled)} answered 204, each refunded once"
    )
    return Check("every cancellation refunded once", not problems, "; ".join([detail, *problems]))


def jobs_ran_once(conn, since) -> Check:
    twice = _rows(
        conn,
        """
        SELECT job, fire_time, count(*) FROM job_run WHERE fire_time IS NOT NULL
        GROUP BY job, fire_time HAVING count(*) > 1""",
    )
    by_runner = _rows(conn, """
        SELECT runner, count(*), count(fire_time) FROM job_run WHERE started_at >= %s
        GROUP BY runner ORDER BY min(started_at)""", since)  # fmt: skip
    runs = ", ".join(f"{runner or '(unnamed)'}: {n} runs" for runner, n, _ in by_runner)
    timed = sum(t for _, _, t in by_runner)
    detail = f"{len(twice)} fire times run twice; during the surge {runs or 'no runs'}"
    if by_runner and not timed:
        detail += " (no run records its fire time: core.leader's runs are not in yet)"
    return Check("no job ran twice for one fire time", not twice, detail)


def ledgers_add_up(conn) -> Check:
    wrong = _rows(
        conn,
        """
        SELECT a.company_id FROM billing_account a
        LEFT JOIN credit_entry e ON e.company_id = a.company_id
        GROUP BY a.company_id, a.credit_balance
        HAVING a.credit_balance <> COALESCE(sum(e.amount), 0)""",
    )
    accounts = _rows(conn, "SELECT count(*) FROM billing_account")[0][0]
    return Check(
        "ledger balances equal the sums of their entries",
        not wrong,
        f"{accounts} accounts, {len(wrong)} whose balance is not its entries' sum",
    )


def invariants_hold(app_url: str) -> Check:
    name = "flask check invariants (operations.invariants)"
    if invariants is None:
        return Check(name, True, "absent from this tree: not run")
    app = create_app({"SQLALCHEMY_DATABASE_URI": app_url, "SECRET_KEY": "surge-" + "x" * 32})
    with app.app_context():
        violations = list(invariants.check(db.session, tokyo_today(edge_now())))
        db.session.remove()
        db.engine.dispose()
    shown = "; ".join(str(v) for v in violations[:5])
    return Check(
        name, not violations, f"{len(violations)} violations" + (f": {shown}" if shown else "")
    )
