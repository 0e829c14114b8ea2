"""Companions at booking (family and colleagues, by category): said on the quote page,
which re-quotes; the company's part follows each category's rule (subsidised like the
employee, a fixed company rate, paid by the employee); the stay is booked with them
counted among its guests, and its page and My stays show them. Too many for the room,
or not a number: refused beside them, nothing booked.

TODAY is Tuesday 2026-12-01; days(7)–days(10) are three nights of 8–11 December."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from availability.models import Occupancy
from booking import services
from booking.models import Booking
from hr.models import DEFAULT_GROUP, GroupPolicy
from hr.subsidy import Companions
from tests.conftest import NOW, days

BLOCK_TAGS = r"</?(?:dt|dd|p|li|ul|div|h\d|label|legend|fieldset|section|button)\b[^>]*>"


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=10_000, capacity=4)


def policy(db, company_id: int, **settings) -> GroupPolicy:
    """¥3,000 per person-night; adults subsidised, children ¥1,000 a night, infants paid
    by the employee, unless told otherwise."""
    values = {
        "subsidy_kind": "fixed",
        "subsidy_amount": 3_000,
        "companion_adult": "subsidised",
        "companion_child": "rate",
        "companion_child_rate": 1_000,
        "companion_infant": "employee",
        **settings,
    }
    row = GroupPolicy(company_id=company_id, employee_group=DEFAULT_GROUP, **values)
    db.session.add(row)
    db.session.commit()
    return row


def words(page: str) -> str:
    plain = re.sub(r"<[^>]+>", "", re.sub(BLOCK_TAGS, " ", page))
    return re.sub(r"\s+", " ", html.unescape(plain))


def section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return words(page[start : start + 1500].split(">", 1)[1]).strip()


def quote(client, room, guests=1, **companions):
    query = {
        "unit_id": room.id,
        "check_in": days(7).isoformat(),
        "check_out": days(10).isoformat(),
        "guests": guests,
        **companions,
    }
    return client.get("/book", query_string=query)


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))


def split_of(page: str) -> tuple[int, int]:
    found = re.search(r'data-testid="split" data-company="(\d+)" data-employee="(\d+)"', page)
    return int(found[1]), int(found[2])


def nothing_booked(db) -> bool:
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(Booking)) == 0
        and db.session.scalar(select(func.count()).select_from(Occupancy)) == 0
    )


def test_the_quote_with_companions_splits_by_their_rules_and_books_them(
    db, client, login, employee, room
):
    policy(db, employee.company_id)
    login(employee)

    response = quote(client, room, adults=1, children=1, infants=1)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert section(page, "guests").startswith("4 guests (you and 1 adult, 1 child, 1 infant)")
    # A night: ¥3,000 for the employee and for the adult, ¥1,000 for the child, nothing
    # for the infant: ¥7,000 of ¥10,000, three nights.
    assert split_of(page) == (21_000, 9_000)
    fields = hidden_fields(page)
    assert (fields["adults"], fields["children"], fields["infants"], fields["guests"]) == (
        "1",
        "1",
        "1",
        "4",
    )
    # The companions form shows them, to change and re-quote.
    form = page[page.rindex("<form", 0, page.index('data-testid="companions-form"')) :]
    form = form[: form.index("</form>")]
    assert re.search(r'id="companions-adults"[^>]*value="1"', form)
    assert 'action="/book"' in form and 'method="get"' in form

    booked = client.post("/book", data=fields)

    assert booked.status_code == 303, booked.get_data(as_text=True)
    booking = db.session.scalar(select(Booking))
    assert (
        booking.guests,
        booking.companion_adults,
        booking.companion_children,
        booking.companion_infants,
        booking.employee_part,
    ) == (4, 1, 1, 1, 9_000)
    stay = client.get(booked.headers["Location"]).get_data(as_text=True)
    assert section(stay, "companions").startswith("1 adult, 1 child, 1 infant")
    assert section(stay, "guests").startswith("4 guests")
    stays = client.get("/stays").get_data(as_text=True)
    assert section(stays, "companions").startswith("With 1 adult, 1 child, 1 infant")


@pytest.mark.parametrize(
    ("rule", "company_part"),
    [
        ("subsidised", 3 * (3_000 + 3_000)),  # one more person a night
        ("rate", 3 * (3_000 + 2_500)),  # the company rate
        ("employee", 3 * 3_000),  # nothing more
    ],
)
def test_each_companion_rule(db, client, login, employee, room, rule, company_part):
    policy(db, employee.company_id, companion_adult=rule, companion_adult_rate=2_500)
    login(employee)

    page = quote(client, room, adults=1).get_data(as_text=True)

    assert split_of(page) == (company_part, 30_000 - company_part)
    # The service books the same split.
    stay = services.StayRequest(room.id, days(7), days(10), 2, companions=Companions(adults=1))
    booking = services.book_stay(employee, stay, NOW)
    db.session.commit()
    assert booking.company_part == company_part and booking.companion_adults == 1


def test_companions_without_a_subsidy_rule_change_nothing(db, client, login, employee, room):
    login(employee)  # no policy: the company pays all

    page = quote(client, room, adults=2, children=1).get_data(as_text=True)

    assert 'data-testid="split"' not in page
    assert "¥30,000 (tax incl.) is paid from your company's stay credit." in section(
        page, "who-pays"
    )
    booked = client.post("/book", data=hidden_fields(page))
    assert booked.status_code == 303
    booking = db.session.scalar(select(Booking))
    assert (booking.status, booking.guests, booking.companion_adults) == ("confirmed", 4, 2)
    assert booking.companion_children == 1 and booking.employee_part == 0


def test_too_many_for_the_room_is_refused_beside_the_companions(
    db, client, login, employee, make_unit
):
    small = make_unit(base_price=10_000, capacity=2)
    policy(db, employee.company_id)
    login(employee)

    response = quote(client, small, adults=1, children=1)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert section(page, "companions-error").startswith("This room sleeps at most 2.")
    # The stay is quoted without them, and the confirm form carries none.
    assert section(page, "guests").startswith("1 guest")
    assert "adults" not in hidden_fields(page)
    assert re.search(r'id="companions-children"[^>]*value="1"', page)  # as typed

    # Posted anyway: refused, nothing booked.
    data = {**hidden_fields(page), "adults": "1", "children": "1", "guests": "3"}
    refused = client.post("/book", data=data)
    assert refused.status_code == 422
    assert "This room sleeps at most 2." in words(refused.get_data(as_text=True))
    assert nothing_booked(db)


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", "20"])
def test_a_count_that_is_not_one_is_refused(db, client, login, employee, room, bad):
    login(employee)

    response = quote(client, room, adults=bad)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert section(page, "companions-error").startswith("Please check the number of companions.")
    assert 'aria-invalid="true"' in page[page.index('id="companions-adults"') - 300 :][:600]
    assert "adults" not in hidden_fields(page)

    refused = client.post("/book", data={**hidden_fields(page), "adults": bad})
    assert refused.status_code == 400
    assert "Adults:" in words(refused.get_data(as_text=True))
    assert nothing_booked(db)


def test_guests_without_companions_still_book_as_before(db, client, login, employee, room):
    policy(db, employee.company_id)
    login(employee)

    page = quote(client, room, guests=2).get_data(as_text=True)

    # Counted as asked, the companions not said: offered as one adult to re-quote with.
    assert section(page, "guests").startswith("2 guests")
    assert "You chose 2 guests: say who comes along with you" in section(page, "companions-unsaid")
    assert re.search(r'id="companions-adults"[^>]*value="1"', page)
    assert split_of(page) == (9_000, 21_000)  # the employee alone is subsidised
    fields = hidden_fields(page)
    assert "adults" not in fields and fields["guests"] == "2"

    booked = client.post("/book", data=fields)
    assert booked.status_code == 303
    booking = db.session.scalar(select(Booking))
    assert (booking.guests, booking.companion_adults, booking.employee_part) == (2, 0, 21_000)
    stay = client.get(booked.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="companions"' not in stay


def test_zero_companions_is_the_employee_alone(db, client, login, employee, room):
    login(employee)

    page = quote(client, room, guests=3, adults=0, children="", infants=0).get_data(as_text=True)

    assert section(page, "guests").startswith("1 guest")
    assert hidden_fields(page)["guests"] == "1"
    assert 'data-testid="companions-unsaid"' not in page
