"""The operator moves a stay: another room, other dates, longer or shorter, with what
it does to the company's credit and to the nights held.

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture). A night without a
stored price costs the room's base price, so raising a base price after booking is how
"today's price" differs from the frozen one.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accounts import events
from accounts.models import Role
from availability import blocks
from availability.models import Block, BlockReason, BlockSource, ChangedNights, Occupancy
from billing import ledger
from billing.models import EntryKind
from booking import front_desk, operator_moves, services
from booking.models import Booking, BookingStatus
from tests.booking.test_front_desk import (
    at,
    balance,
    book,
    claimed,
    english,
    entries,
    events_of,
    stay_state,
)
from tests.conftest import NOW, days

CREDIT = 1_000_000
PRICE = 10_000


@pytest.fixture
def company(make_company):
    return make_company(credit=CREDIT)


@pytest.fixture
def employee(make_user, company):
    return make_user(Role.EMPLOYEE, company=company)


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2, name="101 和室")


@pytest.fixture
def cheap_room(make_unit, room):
    return make_unit(facility=room.facility, base_price=8_000, capacity=2, name="102 洋室")


@pytest.fixture
def dear_room(make_unit, room):
    return make_unit(facility=room.facility, base_price=15_000, capacity=4, name="201 特別室")


@pytest.fixture
def desk(make_user, room):
    return make_user(Role.OPERATOR, operator=room.facility.operator)


def move(db, actor, booking, unit, check_in: int, check_out: int, now=NOW, **kw):
    result = operator_moves.move_booking(
        actor, booking.id, unit.id, days(check_in), days(check_out), now, **kw
    )
    db.session.commit()
    return result


def quote(actor, booking, unit, check_in: int, check_out: int, now=NOW, **kw):
    return operator_moves.quote_move(
        actor, booking.id, unit.id, days(check_in), days(check_out), now, **kw
    )


def kinds(result) -> list[tuple[object, int, str]]:
    return [(n.night, n.price, n.kind) for n in result.nights]


def refused(db, company, booking, action, code: str, error=services.BookingError):
    before = stay_state(db, company, booking.id)
    with pytest.raises(error) as caught:
        action()
    db.session.rollback()
    assert caught.value.code == code
    assert stay_state(db, company, booking.id) == before
    return caught.value


# --- money and nights ------------------------------------------------------------------


def test_a_move_to_a_cheaper_room_lowers_the_price_and_refunds_the_difference(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 13)
    queued = db.session.scalar(select(func.count()).select_from(ChangedNights))

    shown = quote(desk, booking, cheap_room, 10, 13)
    result = move(db, desk, booking, cheap_room, 10, 13)

    assert (shown.new_total, shown.net, shown.available) == (24_000, -6_000, True)
    assert (result.old_total, result.new_total, result.charged, result.refunded) == (
        30_000,
        24_000,
        0,
        6_000,
    )
    assert kinds(result) == [(days(n), 8_000, "moved") for n in range(10, 13)]
    assert [n.old_price for n in result.nights] == [PRICE] * 3
    b = db.session.get(Booking, booking.id)
    assert (b.unit_id, b.check_in, b.check_out, b.total_price) == (
        cheap_room.id,
        days(10),
        days(13),
        24_000,
    )
    assert [(n.night, n.price) for n in b.nights] == [(days(n), 8_000) for n in range(10, 13)]
    assert claimed(db, booking.id) == [(cheap_room.id, days(n)) for n in range(10, 13)]
    assert entries(db, booking.id) == [(EntryKind.SPEND, -30_000), (EntryKind.CHANGE, 6_000)]
    assert balance(company) == CREDIT - 24_000 == ledger.ledger_sum(company.id)
    assert db.session.scalar(select(func.count()).select_from(ChangedNights)) == queued + 2
    (event,) = events_of(db, booking.id, events.BOOKING_CHANGED)
    assert event.facts == {
        "old_check_in": days(10).isoformat(),
        "old_check_out": days(13).isoformat(),
        "old_unit_id": room.id,
        "charged": 0,
        "refunded": 6_000,
        "by": "operator",
    }
    assert (event.actor_id, event.user_id, event.company_id) == (desk.id, employee.id, company.id)
    # The old room is for sale again.
    book(db, employee, room, 10, 13)


def test_a_move_to_a_dearer_room_keeps_the_price(db, company, employee, room, dear_room, desk):
    booking = book(db, employee, room, 10, 13)

    result = move(db, desk, booking, dear_room, 10, 13)

    assert (result.new_total, result.charged, result.refunded, result.net) == (30_000, 0, 0, 0)
    assert kinds(result) == [(days(n), PRICE, "moved") for n in range(10, 13)]
    assert entries(db, booking.id) == [(EntryKind.SPEND, -30_000)]
    assert balance(company) == CREDIT - 30_000
    assert claimed(db, booking.id) == [(dear_room.id, days(n)) for n in range(10, 13)]


def test_moving_dates_in_the_same_room_keeps_the_shared_nights(db, company, employee, room, desk):
    booking = book(db, employee, room, 10, 13)
    room.base_price = 9_000  # cheaper today
    db.session.commit()

    result = move(db, desk, booking, room, 11, 14)

    assert kinds(result) == [
        (days(11), PRICE, "kept"),
        (days(12), PRICE, "kept"),
        (days(13), 9_000, "moved"),
    ]
    assert (result.new_total, result.refunded) == (29_000, 1_000)
    assert claimed(db, booking.id) == [(room.id, days(n)) for n in range(11, 14)]
    assert balance(company) == CREDIT - 29_000


def test_an_extension_is_charged_at_todays_prices(db, company, employee, room, desk):
    booking = book(db, employee, room, 10, 12)
    room.base_price = 12_000
    db.session.commit()

    shown = quote(desk, booking, room, 10, 14)
    result = move(db, desk, booking, room, 10, 14, expected_net=shown.net)

    assert kinds(result) == [
        (days(10), PRICE, "kept"),
        (days(11), PRICE, "kept"),
        (days(12), 12_000, "added"),
        (days(13), 12_000, "added"),
    ]
    assert (result.new_total, result.charged, result.refunded) == (44_000, 24_000, 0)
    assert entries(db, booking.id) == [(EntryKind.SPEND, -20_000), (EntryKind.CHANGE, -24_000)]
    assert balance(company) == CREDIT - 44_000 == ledger.ledger_sum(company.id)
    assert claimed(db, booking.id) == [(room.id, days(n)) for n in range(10, 14)]


def test_a_longer_stay_in_a_cheaper_room_nets_the_saving_against_the_extension(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 12)

    result = move(db, desk, booking, cheap_room, 10, 13)

    assert kinds(result) == [
        (days(10), 8_000, "moved"),
        (days(11), 8_000, "moved"),
        (days(12), 8_000, "added"),
    ]
    # 8,000 added, 4,000 saved on the moved nights: 4,000 charged, at most one side moves.
    assert (result.new_total, result.charged, result.refunded) == (24_000, 4_000, 0)
    assert balance(company) == CREDIT - 24_000


def test_shortening_refunds_the_dropped_nights_in_full_even_late(db, company, employee, room, desk):
    booking = book(db, employee, room, 10, 14)  # the guest would get half back from days(8)

    result = move(db, desk, booking, room, 10, 12, now=at(9))

    assert (result.new_total, result.charged, result.refunded) == (20_000, 0, 20_000)
    assert entries(db, booking.id) == [(EntryKind.SPEND, -40_000), (EntryKind.CHANGE, 20_000)]
    assert balance(company) == CREDIT - 20_000
    assert claimed(db, booking.id) == [(room.id, days(10)), (room.id, days(11))]
    book(db, employee, room, 12, 14)  # the dropped nights are for sale again


def test_a_checked_in_guest_can_stay_longer_or_leave_later(db, company, employee, room, desk):
    booking = book(db, employee, room, 0, 2)
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    result = move(db, desk, booking, room, 0, 3, now=at(1))

    assert result.charged == PRICE
    b = db.session.get(Booking, booking.id)
    assert (b.status, b.check_out) == (BookingStatus.CHECKED_IN, days(3))
    assert claimed(db, booking.id) == [(room.id, days(n)) for n in range(3)]


def test_the_facilitys_own_stay_length_does_not_bind_its_operator(
    db, company, employee, make_unit, make_facility, desk
):
    small = make_unit(facility=make_facility(operator=desk.operator, max_nights=2))
    booking = book(db, employee, small, 10, 12)

    result = move(db, desk, booking, small, 10, 15)

    assert result.charged == 3 * 11_000


def test_the_quote_changes_nothing(db, company, employee, room, cheap_room, desk):
    booking = book(db, employee, room, 10, 12)
    before = stay_state(db, company, booking.id)

    shown = quote(desk, booking, cheap_room, 11, 14)

    assert (shown.new_total, shown.charged, shown.refunded) == (24_000, 4_000, 0)
    assert stay_state(db, company, booking.id) == before


def test_nights_released_by_a_move_go_to_a_closing_that_wanted_them(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 12)
    # A closing that had to wait for the stay (as an external calendar's event does).
    block = Block(
        unit_id=room.id,
        start_date=days(10),
        end_date=days(12),
        source=BlockSource.MANUAL,
        reason=BlockReason.MAINTENANCE,
    )
    db.session.add(block)
    db.session.commit()

    move(db, desk, booking, cheap_room, 10, 12)

    held = db.session.scalars(
        select(Occupancy.block_id).where(Occupancy.unit_id == room.id).order_by(Occupancy.night)
    ).all()
    assert held == [block.id, block.id]


# --- refused ---------------------------------------------------------------------------


def test_an_extension_the_credit_cannot_pay_is_refused(db, make_company, make_user, room, desk):
    poor = make_company(credit=25_000)
    guest = make_user(Role.EMPLOYEE, company=poor)
    booking = book(db, guest, room, 10, 12)  # 5,000 left

    error = refused(db, poor, booking, lambda: quote(desk, booking, room, 10, 13), "credit")
    assert isinstance(error, services.BillingRefused)
    refused(
        db,
        poor,
        booking,
        lambda: operator_moves.move_booking(desk, booking.id, room.id, days(10), days(13), NOW),
        "credit",
    )


def test_an_extension_beyond_the_companys_nights_per_stay_is_refused(
    db, make_company, make_user, room, desk
):
    strict = make_company(credit=CREDIT, max_nights_per_stay=3)
    guest = make_user(Role.EMPLOYEE, company=strict)
    booking = book(db, guest, room, 10, 13)

    error = refused(
        db,
        strict,
        booking,
        lambda: operator_moves.move_booking(desk, booking.id, room.id, days(10), days(14), NOW),
        "policy_stay",
    )
    assert "3 nights" in english(error.message)
    # A range far beyond is refused on its length, before its nights are counted.
    refused(
        db,
        strict,
        booking,
        lambda: operator_moves.quote_move(desk, booking.id, room.id, days(10), days(10_010), NOW),
        "policy_stay",
    )
    # Moving the same three nights elsewhere is no extension.
    move(db, desk, booking, room, 11, 14)


def test_an_extension_beyond_the_employees_nights_per_month_is_refused(
    db, make_company, make_user, room, desk
):
    capped = make_company(credit=CREDIT, max_nights_per_month=3)
    guest = make_user(Role.EMPLOYEE, company=capped)
    booking = book(db, guest, room, 10, 13)

    refused(
        db,
        capped,
        booking,
        lambda: operator_moves.move_booking(desk, booking.id, room.id, days(10), days(14), NOW),
        "policy_month",
    )


def test_moving_into_a_closed_room_is_refused_naming_the_room_and_date(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 13)
    blocks.close_dates(desk, [cheap_room], days(12), days(15), BlockReason.MAINTENANCE, "", NOW)
    db.session.commit()

    with pytest.raises(services.BookingError) as shown:
        quote(desk, booking, cheap_room, 10, 13)
    db.session.rollback()
    assert shown.value.code == "closed"
    error = refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(
            desk, booking.id, cheap_room.id, days(10), days(13), NOW
        ),
        "closed",
    )
    assert "102 洋室" in english(error.message)
    assert "13 Dec 2026" in english(error.message)


def test_moving_onto_a_taken_night_answers_taken_and_changes_nothing(
    db, company, employee, make_employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 13)
    book(db, make_employee(), cheap_room, 12, 14)

    assert quote(desk, booking, cheap_room, 10, 13).available is False
    refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(
            desk, booking.id, cheap_room.id, days(10), days(13), NOW
        ),
        "taken",
        services.BookingConflict,
    )


def test_a_stay_that_is_over_or_gone_is_not_moved(db, company, employee, room, cheap_room, desk):
    out = book(db, employee, room, 0, 2)
    front_desk.check_in(desk, out.id, NOW)
    front_desk.check_out(desk, out.id, at(1))
    no_show = book(db, employee, room, 3, 4)
    front_desk.mark_no_show(desk, no_show.id, at(3))
    cancelled = book(db, employee, room, 5, 6)
    front_desk.cancel_for_guest(desk, cancelled.id, "Closed", NOW)
    db.session.commit()

    for booking, now in [(out, at(1)), (no_show, at(3)), (cancelled, NOW)]:
        error = refused(
            db,
            company,
            booking,
            lambda booking=booking, now=now: operator_moves.move_booking(
                desk, booking.id, cheap_room.id, days(20), days(21), now
            ),
            "not_movable",
        )
        assert "can no longer be moved" in english(error.message)


def test_a_checked_in_stay_keeps_its_check_in_date(db, company, employee, room, desk):
    booking = book(db, employee, room, 0, 3)
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()
    move_to = operator_moves.move_booking

    refused(
        db,
        company,
        booking,
        lambda: move_to(desk, booking.id, room.id, days(1), days(3), at(1)),
        "not_movable",
    )
    refused(
        db,
        company,
        booking,
        lambda: move_to(desk, booking.id, room.id, days(0), days(1), at(1)),
        "dates_past",
    )
    refused(
        db,
        company,
        booking,
        lambda: move_to(desk, booking.id, room.id, days(0), days(0), at(1)),
        "dates_order",
    )


@pytest.mark.parametrize(
    ("check_in", "check_out", "code"),
    [
        (12, 10, "dates_order"),
        (-1, 2, "dates_past"),
        (200, 202, "dates_horizon"),
        (10, 13, "unchanged"),
    ],
)
def test_bad_dates_are_refused(db, company, employee, room, desk, check_in, check_out, code):
    booking = book(db, employee, room, 10, 13)

    refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(
            desk, booking.id, room.id, days(check_in), days(check_out), NOW
        ),
        code,
    )


def test_a_room_elsewhere_off_sale_or_too_small_is_refused(
    db, company, employee, make_unit, make_facility, room, desk
):
    booking = book(db, employee, room, 10, 13, guests=2)
    own_other_facility = make_unit(facility=make_facility(operator=desk.operator))
    foreign = make_unit()
    off_sale = make_unit(facility=room.facility, active=False)
    single = make_unit(facility=room.facility, capacity=1)

    for unit_id, code in [
        (own_other_facility.id, "unit_unavailable"),
        (foreign.id, "unit_unavailable"),
        (off_sale.id, "unit_unavailable"),
        (10**9, "unit_unavailable"),
        (0, "unit_unavailable"),
        (single.id, "capacity"),
    ]:
        refused(
            db,
            company,
            booking,
            lambda unit_id=unit_id: operator_moves.move_booking(
                desk, booking.id, unit_id, days(10), days(13), NOW
            ),
            code,
        )


def test_another_organisations_stay_is_not_found(
    db, company, employee, make_user, room, cheap_room
):
    booking = book(db, employee, room, 10, 13)
    stranger = make_user(Role.OPERATOR)

    for who, booking_id in [(stranger, booking.id), (employee, booking.id), (stranger, 2**63)]:
        for act in (operator_moves.quote_move, operator_moves.move_booking):
            refused(
                db,
                company,
                booking,
                lambda act=act, who=who, booking_id=booking_id: act(
                    who, booking_id, cheap_room.id, days(10), days(13), NOW
                ),
                "not_found",
                services.BookingNotFound,
            )


def test_a_price_that_moved_since_the_quote_is_refused(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 13)
    shown = quote(desk, booking, cheap_room, 10, 13)
    cheap_room.base_price = 7_000  # a pricing run since
    db.session.commit()

    refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(
            desk, booking.id, cheap_room.id, days(10), days(13), NOW, expected_net=shown.net
        ),
        "price_changed",
        services.PriceChanged,
    )
    result = move(db, desk, booking, cheap_room, 10, 13, expected_net=-9_000)
    assert result.new_total == 21_000


# --- a guest in the house: the nights already slept stay as they were -------------------


def test_a_guest_moved_on_the_last_night_keeps_the_nights_slept_at_their_price(
    db, company, employee, make_employee, make_unit, room, desk
):
    suite = make_unit(facility=room.facility, base_price=20_000, capacity=2, name="301 Suite")
    small = make_unit(facility=room.facility, base_price=8_000, capacity=2, name="103 Single")
    booking = book(db, employee, suite, 0, 4)  # 4 nights, 80,000
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    shown = quote(desk, booking, small, 0, 4, now=at(3))
    result = move(db, desk, booking, small, 0, 4, now=at(3), expected_net=shown.net)

    assert (shown.net, shown.available) == (-12_000, True)
    assert kinds(result) == [
        (days(0), 20_000, "kept"),
        (days(1), 20_000, "kept"),
        (days(2), 20_000, "kept"),
        (days(3), 8_000, "moved"),
    ]
    assert (result.old_total, result.new_total, result.charged, result.refunded) == (
        80_000,
        68_000,
        0,
        12_000,
    )
    b = db.session.get(Booking, booking.id)
    assert (b.status, b.unit_id, b.check_in, b.check_out, b.total_price) == (
        BookingStatus.CHECKED_IN,
        small.id,
        days(0),
        days(4),
        68_000,
    )
    assert [(n.night, n.price) for n in b.nights] == [
        (days(0), 20_000),
        (days(1), 20_000),
        (days(2), 20_000),
        (days(3), 8_000),
    ]
    # The nights slept stay where they were slept; only the last one moved.
    assert claimed(db, booking.id) == [
        (suite.id, days(0)),
        (suite.id, days(1)),
        (suite.id, days(2)),
        (small.id, days(3)),
    ]
    assert entries(db, booking.id) == [(EntryKind.SPEND, -80_000), (EntryKind.CHANGE, 12_000)]
    assert balance(company) == CREDIT - 68_000 == ledger.ledger_sum(company.id)
    # The suite's last night is for sale again; the guest leaves from the small room.
    book(db, make_employee(), suite, 3, 4)
    front_desk.check_out(desk, booking.id, at(4))
    db.session.commit()
    assert len(claimed(db, booking.id)) == 4


def test_a_guest_moved_twice_and_kept_longer_pays_only_for_the_nights_ahead(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 0, 3)  # 3 × 10,000
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    # Day 1: to the cheaper room, a night longer.
    first = move(db, desk, booking, cheap_room, 0, 4, now=at(1))
    assert kinds(first) == [
        (days(0), PRICE, "kept"),
        (days(1), 8_000, "moved"),
        (days(2), 8_000, "moved"),
        (days(3), 8_000, "added"),
    ]
    # 8,000 added, 4,000 saved on the two moved nights.
    assert (first.new_total, first.charged, first.refunded) == (34_000, 4_000, 0)
    # Day 2: back to the first room, a night shorter. Night 0 was slept there and night 1
    # in the cheaper room: both stay as they were, at their price.
    second = move(db, desk, booking, room, 0, 3, now=at(2))
    assert kinds(second) == [
        (days(0), PRICE, "kept"),
        (days(1), 8_000, "kept"),
        (days(2), 8_000, "moved"),
    ]
    assert (second.new_total, second.charged, second.refunded) == (26_000, 0, 8_000)
    assert claimed(db, booking.id) == [
        (room.id, days(0)),
        (cheap_room.id, days(1)),
        (room.id, days(2)),
    ]
    assert entries(db, booking.id) == [
        (EntryKind.SPEND, -30_000),
        (EntryKind.CHANGE, -4_000),
        (EntryKind.CHANGE, 8_000),
    ]
    assert balance(company) == CREDIT - 26_000 == ledger.ledger_sum(company.id)


def test_a_guest_in_the_house_moves_onto_a_room_someone_else_slept_in_or_was_closed(
    db, company, employee, make_employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 0, 4)
    front_desk.check_in(desk, booking.id, NOW)
    earlier = book(db, make_employee(), cheap_room, 0, 1)  # slept in the cheap room on night 0
    front_desk.check_in(desk, earlier.id, NOW)
    front_desk.check_out(desk, earlier.id, at(1))
    blocks.close_dates(desk, [cheap_room], days(1), days(2), BlockReason.MAINTENANCE, "", NOW)
    db.session.commit()

    assert quote(desk, booking, cheap_room, 0, 4, now=at(2)).available is True
    result = move(db, desk, booking, cheap_room, 0, 4, now=at(2))

    assert (result.new_total, result.refunded) == (36_000, 4_000)
    assert claimed(db, booking.id) == [
        (room.id, days(0)),
        (room.id, days(1)),
        (cheap_room.id, days(2)),
        (cheap_room.id, days(3)),
    ]
    assert claimed(db, earlier.id) == [(cheap_room.id, days(0))]
    # A closing from today on still refuses.
    blocks.close_dates(desk, [room], days(3), days(4), BlockReason.MAINTENANCE, "", at(2))
    db.session.commit()
    refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(desk, booking.id, room.id, days(0), days(4), at(2)),
        "closed",
    )


def test_a_guest_in_the_house_shortened_gets_back_only_the_nights_ahead(
    db, company, employee, room, desk
):
    booking = book(db, employee, room, 0, 4)
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    result = move(db, desk, booking, room, 0, 2, now=at(1))

    assert kinds(result) == [(days(0), PRICE, "kept"), (days(1), PRICE, "kept")]
    assert (result.new_total, result.refunded) == (20_000, 20_000)
    assert claimed(db, booking.id) == [(room.id, days(0)), (room.id, days(1))]
    # Ending the stay today is a check-out, not a move.
    error = refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(desk, booking.id, room.id, days(0), days(1), at(1)),
        "dates_past",
    )
    assert "check them out" in english(error.message)


def test_a_guest_in_the_house_past_their_check_out_is_checked_out_not_moved(
    db, company, employee, room, desk
):
    booking = book(db, employee, room, 0, 2)
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    error = refused(
        db,
        company,
        booking,
        lambda: operator_moves.move_booking(desk, booking.id, room.id, days(0), days(5), at(3)),
        "stay_over",
    )
    assert "Check them out first" in english(error.message)
    # On the check-out day itself the guest may still stay a night longer.
    result = move(db, desk, booking, room, 0, 3, now=at(2))
    assert kinds(result)[-1] == (days(2), PRICE, "added")
    assert (result.new_total, result.charged) == (30_000, PRICE)


# --- a stay begun without its guest -----------------------------------------------------


def test_a_stay_begun_without_its_guest_is_not_moved(db, company, employee, room, cheap_room, desk):
    booking = book(db, employee, room, 0, 3)

    for act in (operator_moves.quote_move, operator_moves.move_booking):
        for unit, check_in in [(cheap_room, 1), (room, 1), (cheap_room, 0)]:
            error = refused(
                db,
                company,
                booking,
                lambda act=act, unit=unit, check_in=check_in: act(
                    desk, booking.id, unit.id, days(check_in), days(3), at(1)
                ),
                "begun",
            )
            assert english(error.message) == (
                "This stay has begun: check the guest in or mark a no-show first."
            )
    assert "move" not in front_desk.allowed_actions(booking, days(1))
    # On its check-in day it still moves.
    assert "move" in front_desk.allowed_actions(booking, days(0))
    result = move(db, desk, booking, cheap_room, 0, 3)
    assert (result.new_total, result.refunded) == (24_000, 6_000)


# --- the guest's account ---------------------------------------------------------------


def test_a_deactivated_guests_stay_is_not_made_longer_but_still_moves(
    db, company, employee, room, cheap_room, desk
):
    booking = book(db, employee, room, 10, 12)
    employee.active = False
    db.session.commit()

    for act in (operator_moves.quote_move, operator_moves.move_booking):
        error = refused(
            db,
            company,
            booking,
            lambda act=act: act(desk, booking.id, room.id, days(10), days(13), NOW),
            "employee_inactive",
        )
        assert "deactivated" in english(error.message)
    # Moves that add no night stay allowed.
    assert move(db, desk, booking, cheap_room, 10, 12).refunded == 4_000
    assert move(db, desk, booking, cheap_room, 10, 11).refunded == 8_000
    assert balance(company) == CREDIT - 8_000
