"""宿泊税 in every money flow of a stay: each night taxed by the rule in force that
night from its frozen price and the guests, paid from the company's credit as its own
ledger entry, and given back in full for every night not stayed (cancellation,
no-show, early check-out, a shorter or moved stay).

Kyoto (京都市) taxes every stay and changed its rates on 2026-03-01; Tokyo taxes from
¥10,000 a guest before consumption tax. Prices here include the 10% consumption tax,
so ¥11,000 for one guest is ¥10,000 before it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from accounts import events
from accounts.models import Role
from billing import ledger, tax_ledger
from billing.models import CreditEntry, EntryKind
from booking import cancellation, changes, front_desk, operator_moves, services
from booking.models import Booking, BookingStatus
from tests.conftest import NOW, days

KYOTO = {"prefecture": 26, "municipality": "京都市東山区"}
TOKYO = {"prefecture": 13, "municipality": "新宿区"}
# 2026-02-20 noon in Tokyo: Kyoto's old rates are still in force for a week.
FEB = datetime(2026, 2, 20, 3, 0, tzinfo=UTC)


def feb(day: int, month: int = 2) -> date:
    return date(2026, month, day)


@pytest.fixture
def kyoto(tax_rules, make_facility, make_unit):
    """A room in Kyoto's Higashiyama ward for up to four, ¥11,000 a night."""
    return make_unit(facility=make_facility(**KYOTO), base_price=11_000, capacity=4)


@pytest.fixture
def desk(make_user, kyoto):
    return make_user(Role.OPERATOR, operator=kyoto.facility.operator)


def book(db, employee, unit, check_in: date, check_out: date, guests: int = 1, now=NOW):
    booking = services.book_stay(
        employee, services.StayRequest(unit.id, check_in, check_out, guests), now
    )
    db.session.commit()
    return booking


def entries(db, booking_id: int, kind: str = EntryKind.ACCOMMODATION_TAX) -> list[int]:
    return list(
        db.session.scalars(
            select(CreditEntry.amount)
            .where(CreditEntry.booking_id == booking_id, CreditEntry.kind == kind)
            .order_by(CreditEntry.id)
        )
    )


def night_taxes(booking: Booking) -> list[int]:
    return [n.accommodation_tax for n in booking.nights]


def books_balance(db, company_id: int) -> int:
    """The company's balance, after checking it is the sum of its ledger."""
    db.session.expire_all()
    account = ledger.account_of(company_id)
    assert account.credit_balance == ledger.ledger_sum(company_id) >= 0
    return account.credit_balance


# --- Booking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guests", "old", "new"),
    [
        # ¥22,000 a night is ¥20,000 before consumption tax, shared by the guests.
        (1, 500, 1_000),  # ¥20,000 each: ¥500 until 2/28, ¥1,000 from 3/1
        (2, 400, 800),  # ¥10,000 each: ¥200 → ¥400 each
        (3, 600, 1_200),  # ¥6,666 each: ¥200 → ¥400 each
        (4, 800, 800),  # ¥5,000 each: ¥200 under either rule
    ],
)
def test_a_kyoto_stay_across_march_1_2026_pays_each_night_by_its_own_rule(
    db, make_employee, make_unit, make_facility, tax_rules, guests, old, new
):
    unit = make_unit(facility=make_facility(**KYOTO), base_price=22_000, capacity=4)
    employee = make_employee()
    stay = services.StayRequest(unit.id, feb(27), feb(3, 3), guests)

    quote = services.quote_stay(employee, stay, FEB)
    assert quote.taxes == [old, old, new, new]
    assert (quote.total, quote.accommodation_tax) == (4 * 22_000, 2 * old + 2 * new)

    # The price the guest was shown is the price only: the tax is its own line.
    booking = services.book_stay(employee, stay, FEB, expected_total=quote.total)
    db.session.commit()
    assert night_taxes(booking) == [old, old, new, new]
    assert booking.accommodation_tax == 2 * old + 2 * new
    assert booking.total_price == 4 * 22_000
    assert entries(db, booking.id, EntryKind.SPEND) == [-88_000]
    assert entries(db, booking.id) == [-(2 * old + 2 * new)]
    assert books_balance(db, employee.company_id) == 10_000_000 - 88_000 - 2 * old - 2 * new


def test_free_nights_in_kyoto_pay_the_lowest_bracket(
    db, make_employee, make_unit, make_facility, tax_rules
):
    free_in_kyoto = make_unit(facility=make_facility(**KYOTO), base_price=0, capacity=3)
    employee = make_employee()
    booking = book(db, employee, free_in_kyoto, days(10), days(12), guests=2)
    assert (booking.total_price, night_taxes(booking)) == (0, [400, 400])
    # Nothing spent on the price; the tax is paid all the same.
    assert entries(db, booking.id, EntryKind.SPEND) == []
    assert entries(db, booking.id) == [-800]
    # The old rule's lowest bracket too.
    earlier = book(db, employee, free_in_kyoto, feb(25), feb(27), guests=3, now=FEB)
    assert night_taxes(earlier) == [600, 600]


def test_free_nights_in_tokyo_pay_nothing(db, make_employee, make_unit, make_facility, tax_rules):
    unit = make_unit(facility=make_facility(**TOKYO), base_price=0)
    booking = book(db, make_employee(), unit, days(10), days(12))
    assert (booking.accommodation_tax, night_taxes(booking)) == (0, [0, 0])
    assert entries(db, booking.id) == []


@pytest.mark.parametrize(
    ("price", "guests", "tax"),
    [
        (10_999, 1, 0),  # ¥9,999 before consumption tax: under ¥10,000, none
        (11_000, 1, 100),
        (16_499, 1, 100),  # ¥14,999
        (16_500, 1, 200),  # ¥15,000
        (21_999, 2, 0),  # ¥9,999 each
        (22_000, 2, 200),  # ¥10,000 each
        (33_000, 3, 300),  # ¥10,000 each
        (33_000, 2, 400),  # ¥15,000 each
    ],
)
def test_tokyo_taxes_a_guest_from_10000_yen_before_consumption_tax(
    db, make_employee, make_unit, make_facility, tax_rules, price, guests, tax
):
    unit = make_unit(facility=make_facility(**TOKYO), base_price=price, capacity=4)
    booking = book(db, make_employee(), unit, days(10), days(12), guests)
    assert night_taxes(booking) == [tax, tax]
    assert entries(db, booking.id) == ([-2 * tax] if tax else [])


def test_no_tax_where_no_rule_levies_it_or_no_one_lodges(
    db, make_employee, make_unit, make_facility, tax_rules
):
    nagano = make_unit()  # the default test facility
    office = make_unit(facility=make_facility(kind="office", **KYOTO))
    employee = make_employee()
    for unit in (nagano, office):
        booking = book(db, employee, unit, days(10), days(12))
        assert (booking.accommodation_tax, entries(db, booking.id)) == (0, [])


def test_credit_for_the_price_but_not_the_tax_refuses_the_stay(
    db, make_employee, make_company, kyoto
):
    company = make_company(credit=22_000)  # two nights' price; their tax is ¥800 more
    employee = make_employee(company=company)
    stay = services.StayRequest(kyoto.id, days(10), days(12), 1)

    for attempt in (services.quote_stay, services.book_stay):
        with pytest.raises(services.BillingRefused) as refused:
            attempt(employee, stay, NOW)
        db.session.rollback()
        assert refused.value.code == "credit"
        assert "¥800" in str(refused.value.message)
    assert db.session.scalar(select(Booking.id)) is None
    assert books_balance(db, company.id) == 22_000

    ledger.append(ledger.account_of(company.id, lock=True), EntryKind.GRANT, 800, NOW)
    db.session.commit()
    booking = book(db, employee, kyoto, days(10), days(12))
    assert booking.accommodation_tax == 800
    assert books_balance(db, company.id) == 0


def test_overage_covers_the_tax_and_the_monthly_cap_counts_the_price_only(
    db, make_employee, make_company, kyoto
):
    company = make_company(credit=22_000)
    account = ledger.account_of(company.id, lock=True)
    account.overage_allowed, account.overage_monthly_limit = True, 5_000
    account.employee_monthly_cap = 22_000  # the stay's price, not its tax
    db.session.commit()
    employee = make_employee(company=company)

    booking = book(db, employee, kyoto, days(10), days(12))
    assert entries(db, booking.id, EntryKind.OVERAGE) == [800]
    assert entries(db, booking.id) == [-800]
    assert ledger.month_spent_by(employee.id, NOW.date()) == 22_000
    assert books_balance(db, company.id) == 0


# --- Refunds -----------------------------------------------------------------------


def test_cancelling_late_keeps_half_the_price_but_returns_the_whole_tax(db, make_employee, kyoto):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(2), days(4))  # inside the 50% window
    result = cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()
    assert (result.refunded, result.kept, result.tax_refunded) == (11_000, 11_000, 800)
    assert entries(db, booking.id) == [-800, 800]
    assert tax_ledger.tax_held([booking.id]) == {booking.id: 0}
    (event,) = db.session.scalars(
        select(events.Event).where(events.Event.type == events.BOOKING_CANCELLED)
    )
    assert event.facts["tax_refund"] == 800

    again = cancellation.cancel_booking(employee, booking.id, NOW)
    assert (again.already, again.tax_refunded) == (True, 0)
    assert entries(db, booking.id) == [-800, 800]
    assert books_balance(db, employee.company_id) == 10_000_000 - 11_000


def test_a_deactivated_employees_stays_return_their_tax(db, make_employee, kyoto):
    employee = make_employee()
    first = book(db, employee, kyoto, days(10), days(12))
    second = book(db, employee, kyoto, days(20), days(21), guests=2)
    cancellation.cancel_future_stays(employee, NOW)
    db.session.commit()
    assert entries(db, first.id) == [-800, 800]
    assert entries(db, second.id) == [-400, 400]
    assert books_balance(db, employee.company_id) == 10_000_000


def test_the_operators_cancellation_returns_the_tax(db, make_employee, kyoto, desk):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(1), days(3))
    result = front_desk.cancel_for_guest(desk, booking.id, "Water leak", NOW)
    db.session.commit()
    assert (result.refunded, result.tax_refunded) == (22_000, 800)
    assert entries(db, booking.id) == [-800, 800]


@pytest.mark.parametrize("day", [0, 1])
def test_a_no_show_returns_the_whole_tax_but_not_the_price(db, make_employee, kyoto, desk, day):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(0), days(3))
    front_desk.mark_no_show(desk, booking.id, NOW + timedelta(days=day))
    db.session.commit()
    # No guest lodged: every night's tax comes back, even the nights that have passed.
    assert entries(db, booking.id) == [-1_200, 1_200]
    assert entries(db, booking.id, EntryKind.REFUND) == []
    assert books_balance(db, employee.company_id) == 10_000_000 - 33_000


def test_leaving_early_returns_the_tax_of_the_nights_not_stayed(db, make_employee, kyoto, desk):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(0), days(4))
    # In the house (check-in itself, with its guest register, is tested elsewhere).
    booking.status, booking.checked_in_at = BookingStatus.CHECKED_IN, NOW
    db.session.commit()
    front_desk.check_out(desk, booking.id, NOW + timedelta(days=1))
    db.session.commit()
    assert entries(db, booking.id) == [-1_600, 1_200]  # one night of ¥400 stayed
    assert tax_ledger.tax_held([booking.id]) == {booking.id: 400}
    assert entries(db, booking.id, EntryKind.REFUND) == []  # the price is not refunded


def test_checking_out_on_the_last_morning_returns_no_tax(db, make_employee, kyoto, desk):
    booking = book(db, make_employee(), kyoto, days(0), days(2))
    booking.status, booking.checked_in_at = BookingStatus.CHECKED_IN, NOW
    db.session.commit()
    front_desk.check_out(desk, booking.id, NOW + timedelta(days=2))
    db.session.commit()
    assert entries(db, booking.id) == [-800]


# --- Changes -----------------------------------------------------------------------


def change(employee, booking, check_in, check_out, guests=None, now=NOW, **kw):
    stay = services.StayRequest(
        booking.unit_id, check_in, check_out, guests if guests is not None else booking.guests
    )
    quote = changes.quote_change(employee, booking.id, stay, now)
    result = changes.change_booking(
        employee, booking.id, stay, now, expected_tax=quote.tax_difference, **kw
    )
    return quote, result


def test_a_shorter_stay_returns_the_tax_of_the_nights_dropped(db, make_employee, kyoto):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(10), days(14))
    quote, result = change(employee, booking, days(10), days(12))
    db.session.commit()
    assert (quote.tax_before, quote.tax_after, quote.tax_difference) == (1_600, 800, -800)
    assert (result.tax_before, result.tax_after) == (1_600, 800)
    assert (night_taxes(booking), booking.accommodation_tax) == ([400, 400], 800)
    assert entries(db, booking.id) == [-1_600, 800]
    assert books_balance(db, employee.company_id) == 10_000_000 - 22_000 - 800


def test_moving_over_march_1_2026_taxes_the_new_nights_by_the_new_rule(db, make_employee, kyoto):
    employee = make_employee()
    booking = book(db, employee, kyoto, feb(25), feb(27), now=FEB)  # ¥200 a night
    quote, _result = change(employee, booking, feb(28), feb(2, 3), now=FEB)
    db.session.commit()
    assert [n.tax for n in quote.nights] == [200, 400]
    assert (quote.tax_difference, quote.money.difference) == (200, 0)
    assert night_taxes(booking) == [200, 400]
    assert entries(db, booking.id) == [-400, -200]


def test_more_guests_retax_the_nights_kept_at_their_frozen_price(
    db, make_employee, make_unit, make_facility, tax_rules
):
    unit = make_unit(facility=make_facility(**KYOTO), base_price=22_000, capacity=4)
    employee = make_employee()
    booking = book(db, employee, unit, days(10), days(12))  # ¥20,000 a guest: ¥1,000
    assert night_taxes(booking) == [1_000, 1_000]
    unit.base_price = 44_000  # today's price moved; the kept nights keep theirs
    db.session.commit()

    quote, result = change(employee, booking, days(10), days(12), guests=2)
    db.session.commit()
    assert result.money.difference == 0
    assert (quote.tax_before, quote.tax_after) == (2_000, 1_600)  # ¥400 each for two
    assert night_taxes(booking) == [800, 800]
    assert entries(db, booking.id) == [-2_000, 400]


def test_a_kept_night_keeps_its_frozen_tax(db, make_employee, kyoto, tax_rules):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(10), days(12))
    # The table changes after booking: Kyoto doubles its lowest brackets.
    rule = tax_rules[3]
    rule.brackets = [[0, 400], [6_000, 800], [20_000, 1_000], [50_000, 4_000], [100_000, 10_000]]
    db.session.commit()
    quote, _result = change(employee, booking, days(10), days(13))
    db.session.commit()
    assert [n.tax for n in quote.nights] == [400, 400, 800]
    assert entries(db, booking.id) == [-800, -800]


def test_a_longer_stay_needs_credit_for_its_tax_too(db, make_employee, make_company, kyoto):
    company = make_company(credit=22_000 + 800 + 11_000)  # one more night, not its tax
    employee = make_employee(company=company)
    booking = book(db, employee, kyoto, days(10), days(12))
    stay = services.StayRequest(kyoto.id, days(10), days(13), 1)
    for attempt in (changes.quote_change, changes.change_booking):
        with pytest.raises(services.BillingRefused) as refused:
            attempt(employee, booking.id, stay, NOW)
        db.session.rollback()
        assert refused.value.code == "credit"
    db.session.expire_all()
    assert (db.session.get(Booking, booking.id).check_out, entries(db, booking.id)) == (
        days(12),
        [-800],
    )
    assert books_balance(db, company.id) == 11_000


def test_a_shorter_and_fuller_stay_pays_its_tax_with_what_it_gives_back(
    db, make_employee, make_company, kyoto
):
    company = make_company(credit=44_000 + 1_600)  # exactly four nights and their tax
    employee = make_employee(company=company)
    booking = book(db, employee, kyoto, days(10), days(14))
    assert books_balance(db, company.id) == 0
    # Three nights for four guests: ¥11,000 back; ¥200 × 4 × 3 = ¥2,400 of tax, ¥800 more.
    quote, result = change(employee, booking, days(10), days(13), guests=4)
    db.session.commit()
    assert (quote.tax_difference, result.money.refunded) == (800, 11_000)
    assert night_taxes(booking) == [800, 800, 800]
    assert entries(db, booking.id) == [-1_600, -800]
    assert books_balance(db, company.id) == 10_200


def test_a_changed_tax_since_the_quote_is_refused(db, make_employee, kyoto):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(10), days(12))
    stay = services.StayRequest(kyoto.id, days(10), days(13), 1)
    with pytest.raises(services.PriceChanged):
        changes.change_booking(employee, booking.id, stay, NOW, expected_tax=0)
    db.session.rollback()
    assert entries(db, booking.id) == [-800]


# --- The operator's moves -------------------------------------------------------------


def test_an_operators_move_over_march_1_charges_the_new_rules_tax(db, make_employee, kyoto, desk):
    employee = make_employee()
    booking = book(db, employee, kyoto, feb(25), feb(27), now=FEB)
    quote = operator_moves.quote_move(desk, booking.id, kyoto.id, feb(1, 3), feb(3, 3), FEB)
    assert (quote.net, quote.tax_before, quote.tax_after) == (0, 400, 800)
    operator_moves.move_booking(
        desk, booking.id, kyoto.id, feb(1, 3), feb(3, 3), FEB, expected_net=0, expected_tax=400
    )
    db.session.commit()
    assert night_taxes(booking) == [400, 400]
    assert entries(db, booking.id) == [-400, -400]


def test_an_operators_shortening_returns_the_tax_of_the_nights_dropped(
    db, make_employee, kyoto, desk
):
    employee = make_employee()
    booking = book(db, employee, kyoto, days(5), days(8), guests=3)  # ¥3,333 each: ¥600
    quote = operator_moves.quote_move(desk, booking.id, kyoto.id, days(5), days(6), NOW)
    assert quote.tax_difference == -1_200
    operator_moves.move_booking(desk, booking.id, kyoto.id, days(5), days(6), NOW)
    db.session.commit()
    assert entries(db, booking.id) == [-1_800, 1_200]
    assert books_balance(db, employee.company_id) == 10_000_000 - 11_000 - 600


def test_a_moved_tax_since_the_operators_quote_is_refused(db, make_employee, kyoto, desk):
    booking = book(db, make_employee(), kyoto, days(5), days(7))
    with pytest.raises(services.PriceChanged):
        operator_moves.move_booking(
            desk, booking.id, kyoto.id, days(5), days(8), NOW, expected_tax=0
        )
    db.session.rollback()
    assert entries(db, booking.id) == [-800]
