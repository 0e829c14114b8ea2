"""`operations.invariants.check` and `flask check invariants`, on both engines.

Clean books made by the services (a taxed stay, a changed one, a cancelled one, a
no-show, a closing) pass; then each kind of damage a bad restore, a hand edit or a bug
could leave is planted, one at a time in a transaction rolled back afterwards, and the
check names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from accounts.models import Role
from availability import blocks
from availability.models import Occupancy
from billing import ledger
from billing.models import BillingAccount, CreditEntry, EntryKind
from booking import cancellation, changes, front_desk, services
from booking.models import Booking, BookingNight
from operations import invariants
from tests.conftest import NOW, TODAY, days

KYOTO = {"prefecture": 26, "municipality": "京都市東山区"}  # a city that taxes stays


@dataclass(frozen=True)
class Books:
    rooms: tuple[int, int]
    company: int
    other_company: int
    kept: int  # confirmed, room 0, days 5–8, taxed
    changed: int  # moved to room 1, days 14–17, two guests
    cancelled: int  # room 1, days 5–7, refunded
    no_show: int  # room 1 from today: holds nothing
    block: int  # room 1 closed days 20–23


@pytest.fixture
def books(db, tax_rules, make_company, make_employee, make_facility, make_unit, make_user):
    facility = make_facility(**KYOTO)
    rooms = [make_unit(facility=facility, capacity=2) for _ in range(2)]
    operator = make_user(Role.OPERATOR, operator=facility.operator)
    employee = make_employee()

    def book(room: int, first: int, last: int) -> int:
        stay = services.StayRequest(rooms[room].id, days(first), days(last), 1)
        return services.book_stay(employee, stay, NOW).id

    kept, changed, cancelled, no_show = book(0, 5, 8), book(0, 10, 12), book(1, 5, 7), book(1, 0, 2)
    db.session.commit()
    moved = services.StayRequest(rooms[1].id, days(14), days(17), 2)
    changes.change_booking(employee, changed, moved, NOW)
    cancellation.cancel_booking(employee, cancelled, NOW)
    front_desk.mark_no_show(operator, no_show, NOW)
    (block,) = blocks.close_dates(operator, [rooms[1]], days(20), days(23), "maintenance", "", NOW)
    db.session.commit()
    return Books(
        (rooms[0].id, rooms[1].id),
        employee.company_id,
        make_company().id,
        kept,
        changed,
        cancelled,
        no_show,
        block.id,
    )


def test_books_kept_by_the_services_pass(db, books):
    assert db.session.get(Booking, books.kept).accommodation_tax > 0  # the tax is checked too
    assert invariants.check(db.session, TODAY) == []
    # Another day's view: the no-show and the closing's past nights stay consistent.
    assert invariants.check(db.session, days(21)) == []


def _execute(statement) -> Callable:
    return lambda db, books: db.session.execute(statement(books))


def _occupancy_of(books: Books, booking: str, night: int):
    return (Occupancy.booking_id == getattr(books, booking)) & (Occupancy.night == days(night))


def _rebuild_occupancy_without_constraints(db, books: Books) -> None:
    """What a hand-made restore could leave: the table without its unique constraint,
    and then one night of room 0 claimed twice."""
    db.session.execute(text("CREATE TABLE occupancy_copy AS SELECT * FROM occupancy"))
    db.session.execute(text("DROP TABLE occupancy"))
    db.session.execute(text("ALTER TABLE occupancy_copy RENAME TO occupancy"))
    top = db.session.scalar(select(func.max(Occupancy.id)))
    db.session.execute(
        insert(Occupancy).values(
            id=top + 1, unit_id=books.rooms[0], night=days(5), block_id=books.block
        )
    )


def _append(kind: EntryKind, amount: int, company: str, booking: str) -> Callable:
    def plant(db, books: Books) -> None:
        account = ledger.account_of(getattr(books, company), lock=True)
        ledger.append(account, kind, amount, NOW, booking_id=getattr(books, booking))

    return plant


# (what is planted, how, and what the check must say: check, subject, words of the detail)
PLANTED: list[tuple[str, Callable, Callable[[Books], tuple[str, str, str]]]] = [
    (
        "a night of a stay lost its row",
        _execute(lambda b: delete(Occupancy).where(_occupancy_of(b, "kept", 6))),
        lambda b: ("occupancy", f"booking {b.kept} night {days(6)}", "not held"),
    ),
    (
        "a cancelled stay still holds a night",
        _execute(
            lambda b: insert(Occupancy).values(
                unit_id=b.rooms[1], night=days(5), booking_id=b.cancelled
            )
        ),
        lambda b: ("occupancy", f"booking {b.cancelled} night {days(5)}", "is cancelled"),
    ),
    (
        "a no-show holds the nights it gave back",
        _execute(
            lambda b: insert(Occupancy).values(
                unit_id=b.rooms[1], night=days(1), booking_id=b.no_show
            )
        ),
        lambda b: ("occupancy", f"booking {b.no_show} night {days(1)}", "gave its nights back"),
    ),
    (
        "a stay holds a night in another room",
        _execute(
            lambda b: (
                update(Occupancy).where(_occupancy_of(b, "kept", 7)).values(unit_id=b.rooms[1])
            )
        ),
        lambda b: ("occupancy", f"booking {b.kept} night {days(7)}", f"in unit {b.rooms[1]}"),
    ),
    (
        "a closed night is held by nobody",
        _execute(
            lambda b: delete(Occupancy).where(
                Occupancy.block_id == b.block, Occupancy.night == days(21)
            )
        ),
        lambda b: ("occupancy", f"block {b.block}", "1 of its 3 nights"),
    ),
    (
        "a closing holds a night it does not want",
        _execute(
            lambda b: insert(Occupancy).values(unit_id=b.rooms[1], night=days(30), block_id=b.block)
        ),
        lambda b: ("occupancy", f"unit {b.rooms[1]} night {days(30)}", "does not want"),
    ),
    (
        "a stay holds one night twice",
        _execute(
            lambda b: insert(Occupancy).values(unit_id=b.rooms[1], night=days(6), booking_id=b.kept)
        ),
        lambda b: ("double_claim", f"booking {b.kept} night {days(6)}", "held 2 times"),
    ),
    (
        "a room's night claimed twice (no unique constraint)",
        _rebuild_occupancy_without_constraints,
        lambda b: ("double_claim", f"unit {b.rooms[0]} night {days(5)}", "claimed 2 times"),
    ),
    (
        "a stay's total is not its nights'",
        _execute(
            lambda b: (
                update(Booking)
                .where(Booking.id == b.kept)
                .values(total_price=Booking.total_price + 100)
            )
        ),
        lambda b: ("stay_nights", f"booking {b.kept}", "its nights add up to"),
    ),
    (
        "a stay lost a priced night",
        _execute(
            lambda b: delete(BookingNight).where(
                BookingNight.booking_id == b.kept, BookingNight.night == days(7)
            )
        ),
        lambda b: ("stay_nights", f"booking {b.kept}", "2 priced nights"),
    ),
    (
        "a balance is not the sum of its ledger",
        _execute(
            lambda b: (
                update(BillingAccount)
                .where(BillingAccount.company_id == b.company)
                .values(credit_balance=BillingAccount.credit_balance + 1)
            )
        ),
        lambda b: ("ledger", f"company {b.company}", "but its ledger entries add up to"),
    ),
    (
        "an entry was rewritten",
        _execute(
            lambda b: (
                update(CreditEntry)
                .where(CreditEntry.booking_id == b.kept, CreditEntry.kind == EntryKind.SPEND)
                .values(amount=CreditEntry.amount - 1)
            )
        ),
        lambda b: ("ledger", f"company {b.company}", "not the running sum"),
    ),
    (
        "an entry names another company's stay",
        _append(EntryKind.CHANGE, -100, "other_company", "kept"),
        lambda b: ("ledger", f"company {b.other_company} entry", f"booking {b.kept} of company"),
    ),
    (
        "a stay was never paid for",
        _execute(
            lambda b: delete(CreditEntry).where(
                CreditEntry.booking_id == b.kept, CreditEntry.kind == EntryKind.SPEND
            )
        ),
        lambda b: ("paid_once", f"booking {b.kept} (confirmed)", "never paid for"),
    ),
    (
        "a stay paid less than its price",
        _append(EntryKind.CHANGE, 500, "company", "changed"),
        lambda b: ("paid_once", f"booking {b.changed} (confirmed)", "holds only"),
    ),
    (
        "a cancelled stay got back more than it paid",
        _append(EntryKind.CHANGE, 500, "company", "cancelled"),
        lambda b: ("paid_once", f"booking {b.cancelled} (cancelled)", "yen back"),
    ),
    (
        "a stay's accommodation tax was never charged",
        _execute(
            lambda b: delete(CreditEntry).where(
                CreditEntry.booking_id == b.kept,
                CreditEntry.kind == EntryKind.ACCOMMODATION_TAX,
            )
        ),
        lambda b: ("paid_once", f"booking {b.kept} (confirmed)", "accommodation tax"),
    ),
    (
        "a no-show kept its accommodation tax",
        _append(EntryKind.ACCOMMODATION_TAX, -200, "company", "no_show"),
        lambda b: ("paid_once", f"booking {b.no_show} (no_show)", "owes 0 yen"),
    ),
]


def test_each_check_finds_what_was_planted(db, books):
    missed = []
    for what, plant, expected in PLANTED:
        plant(db, books)
        found = invariants.check(db.session, TODAY)
        db.session.rollback()  # the next one plants on clean books
        check, subject, words = expected(books)
        if not [
            v for v in found if v.check == check and subject in v.subject and words in v.detail
        ]:
            missed.append((what, [str(v) for v in found]))
    assert missed == []
    assert invariants.check(db.session, TODAY) == []
    db.session.rollback()


def test_the_command_prints_each_violation_and_exits_1(app, db, books):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["check", "invariants"])
    assert (result.exit_code, result.output) == (
        0,
        "All invariants hold: occupancy, double_claim, stay_nights, ledger, paid_once.\n",
    )
    db.session.execute(
        delete(Occupancy).where(Occupancy.booking_id == books.kept, Occupancy.night >= days(6))
    )
    db.session.commit()
    result = runner.invoke(args=["check", "invariants"])
    assert result.exit_code == 1
    assert f"occupancy: booking {books.kept} night {days(6)}: not held" in result.output
    assert f"occupancy: booking {books.kept} night {days(7)}: not held" in result.output
    result = runner.invoke(args=["check", "invariants", "--limit", "1"])
    assert result.exit_code == 1
    assert result.output.count(": not held") == 1
    result = runner.invoke(args=["check", "invariants", "--limit", "0"])
    assert result.exit_code == 2  # a usage error, not a verdict
