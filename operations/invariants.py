"""The data's invariants, checked with a few set-wise queries (after a restore, after a
surge, on a schedule): nights held by exactly who should hold them, no night claimed
twice, each company's balance the sum of its ledger, each stay paid once.

What each check holds to, read from the code that writes the rows:

- ``occupancy`` (``availability.models``, ``booking``): a stay the company pays for
  (``CHARGED_STATUSES``) or that waits for an approval or the employee's payment
  (``WAITING_STATUSES``) holds one ``Occupancy`` row per night from its check-in up to
  ``held_until`` (its check-out, or the day an early check-out or a no-show gave the
  rest back), each night one of its priced ``BookingNight`` rows; from ``today`` on in
  the stay's own room (a guest moved while in the house leaves the nights already slept
  in the room they were slept in). A cancelled stay holds none. A block's row lies in
  the block's unit and range; every night a block wants from ``today`` on is held (by
  the block, another block or a stay: ``availability.blocks.reconcile_unit``). Every
  row has exactly one claimant.
- ``double_claim``: one row per unit and night, and per stay and night (the unique
  constraint may be missing from a hand-made or partial restore, so it is queried).
- ``stay_nights``: a paid stay's priced nights are exactly its dates, and its total
  and accommodation tax are their sums (``booking.changes.set_night_prices``).
- ``ledger``: ``BillingAccount.credit_balance`` is the sum of the company's
  ``CreditEntry`` amounts and never below zero; each entry's ``balance_after`` is the
  running sum in entry order (entries are appended under the account lock,
  ``billing.ledger.append``); each kind has its sign; a stay's entries carry a stay of
  the same company.
- ``paid_once``: a stay is spent and refunded at most once; a paid stay with a price
  has its spend; what it holds (spend and changes, ``billing.ledger.paid_for``) is at
  least the company's part of its price (``Booking.company_part``; a change may keep
  a fee, never give back more than the policy); a cancelled stay never got back more
  than it paid; a stay holds in
  ``accommodation_tax`` entries exactly the tax of the nights it keeps (none once
  cancelled or after a no-show: ``booking.stay_tax.kept_tax``).

Each query returns at most ``limit`` rows: a broken database is reported, not listed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session, scoped_session

from operations import ledger_checks, night_checks
from operations.violation import Violation

__all__ = ["CHECK_NAMES", "DEFAULT_LIMIT", "Violation", "check"]

DEFAULT_LIMIT = 100
CHECK_NAMES = ("occupancy", "double_claim", "stay_nights", "ledger", "paid_once")
CHECKS: tuple[Callable[[Session, date, int], list[Violation]], ...] = (
    night_checks.occupancy,
    night_checks.double_claims,
    night_checks.stay_nights,
    ledger_checks.ledger,
    ledger_checks.paid_once,
)


def check(session: Session, today: date, *, limit: int = DEFAULT_LIMIT) -> list[Violation]:
    """Every invariant of the data; an empty list when all hold.

    ``today`` (a Tokyo date) decides which nights a stay holds in its own room and
    which nights of a block must be held. The queries read one snapshot: on
    PostgreSQL a session with no transaction open begins a read-only REPEATABLE READ
    one (the caller ends it); SQLite's transaction is one snapshot already."""
    if isinstance(session, scoped_session):
        session = session()  # the session itself, which knows whether it began
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
    found: list[Violation] = []
    for run in CHECKS:
        found.extend(run(session, today, limit))
    return found
