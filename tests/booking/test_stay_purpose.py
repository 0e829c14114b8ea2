"""A stay's purpose (休暇型 leisure / 業務型 business workation) and a business stay's
working days: booked through the services and the pages, refused by the company's HR
policy (hr.models.GroupPolicy), kept by an idempotent retry, trimmed by a change of dates.

TODAY is Tuesday 2026-12-01: days(4) is Saturday 5 December, days(6) Monday 7, days(31)
Friday 1 January 2027 (a national holiday), days(32) and days(33) the weekend after it.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from availability.models import Occupancy
from booking import changes, services
from booking.models import Booking
from hr.models import DEFAULT_GROUP, GroupPolicy, Purpose
from tests.conftest import NOW, days


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=10_000, capacity=2)


def allow(db, company_id: int, *, leisure: bool, business: bool, group: str = DEFAULT_GROUP):
    db.session.add(
        GroupPolicy(
            company_id=company_id,
            employee_group=group,
            leisure_allowed=leisure,
            business_allowed=business,
        )
    )
    db.session.commit()


def request(room, check_in=7, check_out=10, purpose=None, work_days=None, guests=1):
    return services.StayRequest(
        room.id, days(check_in), days(check_out), guests, purpose, work_days
    )


def book(db, employee, stay, **kw) -> Booking:
    booking = services.book_stay(employee, stay, NOW, **kw)
    db.session.commit()
    return booking


def stored(db, booking_id: int) -> tuple[str, list]:
    db.session.rollback()
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    return booking.purpose, [row.day for row in booking.work_days]


def refusal(db, employee, stay) -> str:
    with pytest.raises(services.BookingError) as refused:
        services.book_stay(employee, stay, NOW)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
    return refused.value.code


BLOCK_TAGS = r"</?(?:dt|dd|p|li|ul|div|h\d|label|legend|fieldset|section)\b[^>]*>"


def text(page: str) -> str:
    """The words of a page: a block's tags part them, an inline tag does not."""
    words = re.sub(r"<[^>]+>", "", re.sub(BLOCK_TAGS, " ", page))
    return re.sub(r"\s+", " ", words)


# --- the services -------------------------------------------------------------------------


def test_a_stay_is_leisure_by_default_with_no_working_days(db, employee, room):
    booking = book(db, employee, request(room))

    assert stored(db, booking.id) == ("leisure", [])


def test_a_business_stay_keeps_the_days_chosen_sorted_once_each(db, employee, room):
    chosen = (days(9), days(7), days(9), days(10))  # the check-out day may be one

    booking = book(db, employee, request(room, 7, 10, "business", chosen))

    assert stored(db, booking.id) == ("business", [days(7), days(9), days(10)])


def test_a_business_stay_without_days_takes_its_weekdays(db, employee, room):
    # Saturday 5 to Thursday 10 December: Monday to Thursday.
    booking = book(db, employee, request(room, 4, 9, "business"))

    assert stored(db, booking.id) == ("business", [days(6), days(7), days(8), days(9)])


def test_holidays_are_no_default_working_day_and_leave_a_business_stay_none(db, employee, room):
    # New Year's Day, then the weekend: no default working day.
    assert refusal(db, employee, request(room, 31, 33, "business")) == "work_days"
    # Ticking the Saturday makes it one.
    booking = book(db, employee, request(room, 31, 33, "business", (days(32),)))
    assert stored(db, booking.id) == ("business", [days(32)])


@pytest.mark.parametrize(
    ("purpose", "work_days", "code"),
    [
        ("holiday", None, "purpose_unknown"),
        ("leisure", (7,), "work_days_for_leisure"),
        ("business", (), "work_days"),
        ("business", (6,), "work_days"),  # the day before check-in
        ("business", (7, 11), "work_days"),  # the day after check-out
    ],
)
def test_a_purpose_or_days_the_policy_refuses_book_nothing(
    db, employee, room, purpose, work_days, code
):
    chosen = tuple(days(n) for n in work_days) if work_days is not None else None

    assert refusal(db, employee, request(room, 7, 10, purpose, chosen)) == code


def test_the_companys_default_policy_refuses_business_stays(db, employee, room):
    allow(db, employee.company_id, leisure=True, business=False)

    assert refusal(db, employee, request(room, purpose="business")) == "purpose_not_allowed"
    assert stored(db, book(db, employee, request(room)).id) == ("leisure", [])


def test_a_groups_policy_comes_before_the_default_and_sets_the_default_purpose(
    db, make_employee, room
):
    contractor = make_employee(employee_group="契約社員")
    allow(db, contractor.company_id, leisure=True, business=True)
    allow(db, contractor.company_id, leisure=False, business=True, group="契約社員")

    assert refusal(db, contractor, request(room, purpose="leisure")) == "purpose_not_allowed"
    booking = book(db, contractor, request(room, 7, 10))  # no purpose: business, its default
    assert stored(db, booking.id) == ("business", [days(7), days(8), days(9), days(10)])


def test_the_quote_states_a_refused_purpose_and_still_prices_the_stay(db, employee, room):
    allow(db, employee.company_id, leisure=True, business=False)

    quote = services.quote_stay(employee, request(room, purpose="business"), NOW)

    assert quote.total == 30_000 and quote.available
    assert quote.purposes == (Purpose.LEISURE,)
    assert quote.purpose == Purpose.LEISURE  # the form starts again on what is allowed
    assert quote.purpose_refusal.code == "purpose_not_allowed"
    assert quote.work_days == ()


def test_the_quote_carries_the_purpose_and_the_days(db, employee, room):
    quote = services.quote_stay(employee, request(room, 4, 7, "business"), NOW)

    assert quote.purposes == (Purpose.LEISURE, Purpose.BUSINESS)
    assert quote.purpose == Purpose.BUSINESS and quote.purpose_refusal is None
    assert quote.work_days == (days(6), days(7))


# --- a retried request key ----------------------------------------------------------------


def test_a_retry_with_the_same_key_and_purpose_gets_the_first_booking(db, employee, room):
    first = book(db, employee, request(room, 4, 9, "business", (days(6), days(8))), request_key="k")

    again = book(db, employee, request(room, 4, 9, "business", (days(8), days(6))), request_key="k")

    assert again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_a_retry_leaving_out_purpose_and_days_matches_the_defaults_it_was_given(db, employee, room):
    first = book(db, employee, request(room, 4, 9, "business"), request_key="k-2")
    leisure = book(db, employee, request(room, 20, 22), request_key="k-3")

    # Left out, the purpose is the one stored and the days a business stay's defaults.
    assert book(db, employee, request(room, 4, 9), request_key="k-2").id == first.id
    assert book(db, employee, request(room, 4, 9, "business"), request_key="k-2").id == first.id
    assert book(db, employee, request(room, 20, 22, "leisure"), request_key="k-3").id == leisure.id


@pytest.mark.parametrize(
    ("purpose", "work_days"),
    [
        ("leisure", None),  # another purpose
        ("business", (6,)),  # other days
        ("business", None),  # the defaults are Monday to Thursday, not Monday and Wednesday
    ],
)
def test_the_same_key_for_another_purpose_or_other_days_is_refused(
    db, employee, room, purpose, work_days
):
    book(db, employee, request(room, 4, 9, "business", (days(6), days(8))), request_key="k-3")
    chosen = tuple(days(n) for n in work_days) if work_days is not None else None

    with pytest.raises(services.BookingError) as refused:
        services.book_stay(employee, request(room, 4, 9, purpose, chosen), NOW, request_key="k-3")
    assert refused.value.code == "idempotency_mismatch"


def test_a_leisure_key_retried_as_business_is_refused(db, employee, room):
    book(db, employee, request(room), request_key="k-4")

    with pytest.raises(services.BookingError) as refused:
        services.book_stay(employee, request(room, purpose="business"), NOW, request_key="k-4")
    assert refused.value.code == "idempotency_mismatch"


# --- a change of dates --------------------------------------------------------------------


def change(db, employee, booking, check_in, check_out):
    stay = services.StayRequest(booking.unit_id, days(check_in), days(check_out), booking.guests)
    result = changes.change_booking(employee, booking.id, stay, NOW)
    db.session.commit()
    return result


def test_a_change_keeps_the_purpose_and_the_working_days_still_within_the_stay(db, employee, room):
    booking = book(db, employee, request(room, 6, 10, "business", (days(6), days(7), days(9))))

    quote = changes.quote_change(employee, booking.id, request(room, 7, 12), NOW)
    assert quote.work_days == (days(7), days(9))
    change(db, employee, booking, 7, 12)

    assert stored(db, booking.id) == ("business", [days(7), days(9)])


def test_a_change_leaving_no_working_day_takes_the_new_dates_defaults(db, employee, room):
    booking = book(db, employee, request(room, 6, 8, "business", (days(6),)))

    change(db, employee, booking, 11, 14)  # Saturday 12 to Tuesday 15 December

    assert stored(db, booking.id) == ("business", [days(13), days(14)])


def test_a_change_to_days_off_only_is_refused_and_changes_nothing(db, employee, room):
    booking = book(db, employee, request(room, 6, 8, "business"))

    with pytest.raises(services.BookingError) as refused:
        changes.quote_change(employee, booking.id, request(room, 31, 33), NOW)
    assert refused.value.code == "work_days"
    with pytest.raises(services.BookingError) as refused:
        changes.change_booking(employee, booking.id, request(room, 31, 33), NOW)
    assert refused.value.code == "work_days"
    db.session.rollback()

    assert stored(db, booking.id) == ("business", [days(6), days(7), days(8)])
    assert db.session.get(Booking, booking.id).check_in == days(6)


def test_a_leisure_stay_changes_without_working_days(db, employee, room):
    booking = book(db, employee, request(room, 6, 8))

    change(db, employee, booking, 31, 33)

    assert stored(db, booking.id) == ("leisure", [])


# --- the confirmation page ----------------------------------------------------------------


def quote_page(client, room, check_in=4, check_out=9):
    return client.get(
        "/book",
        query_string={
            "unit_id": room.id,
            "check_in": days(check_in).isoformat(),
            "check_out": days(check_out).isoformat(),
            "guests": 1,
        },
    )


def book_form(client, room, check_in=4, check_out=9, **fields):
    page = quote_page(client, room, check_in, check_out).get_data(as_text=True)
    data = {
        name: value
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
    }
    data.update(fields)
    return client.post("/book", data=data)


def test_the_confirmation_offers_both_purposes_and_the_working_days(client, login, employee, room):
    login(employee)

    response = quote_page(client, room, 4, 9)  # Saturday 5 to Thursday 10 December

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    purpose = page[page.index('data-testid="purpose"') : page.index('data-testid="work-days"')]
    assert re.findall(r'type="radio" name="purpose" value="(\w+)"', purpose) == [
        "leisure",
        "business",
    ]
    assert 'value="leisure" id="purpose-leisure" checked' in purpose
    assert "Leisure stay" in purpose and "Business workation" in purpose
    assert "Your own time, under your company's welfare rules." in html.unescape(purpose)
    assert "entered as work in your company's HR system." in html.unescape(purpose)
    fieldset = page[page.index('data-testid="work-days"') :]
    fieldset = fieldset[: fieldset.index("</fieldset>")]
    assert "Working days (business workations)" in fieldset
    boxes = re.findall(r'name="work_days" value="([\d-]+)"[^>]*?( checked)?>', fieldset)
    assert [day for day, _checked in boxes] == [days(n).isoformat() for n in range(4, 10)]
    assert [day for day, checked in boxes if checked] == [days(n).isoformat() for n in range(6, 10)]
    assert re.findall(r'data-day="([\d-]+)" data-day-off', fieldset) == [
        days(4).isoformat(),
        days(5).isoformat(),
    ]
    assert "Sat 5 Dec" in text(fieldset) and "Day off" in text(fieldset)
    # The money is shown as before.
    assert 'name="expected_total" value="50000"' in page


def test_one_allowed_purpose_is_stated_not_offered(db, client, login, employee, room):
    allow(db, employee.company_id, leisure=False, business=True)
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    assert 'type="radio" name="purpose"' not in page
    assert '<input type="hidden" name="purpose" value="business">' in page
    assert "Business workation" in page and 'data-testid="work-days"' in page


def test_a_business_only_stay_of_days_off_is_quoted_with_its_days_to_tick(
    db, client, login, employee, room
):
    allow(db, employee.company_id, leisure=False, business=True)
    login(employee)

    # New Year's Day and the weekend: no default working day to start with.
    response = quote_page(client, room, 31, 33)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Choose at least one working day" in page and "Confirm booking" in page
    assert re.search(r'name="work_days"[^>]* checked', page) is None
    booked = book_form(client, room, 31, 33, work_days=[days(32).isoformat()])
    assert booked.status_code == 303
    assert stored(db, db.session.scalar(select(Booking.id))) == ("business", [days(32)])


def test_a_leisure_only_policy_shows_no_working_days(db, client, login, employee, room):
    allow(db, employee.company_id, leisure=True, business=False)
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    assert '<input type="hidden" name="purpose" value="leisure">' in page
    assert "Business workation" not in page and 'name="work_days"' not in page


def test_booking_a_business_workation_through_the_form_saves_the_days_ticked(
    db, client, login, employee, room
):
    login(employee)

    response = book_form(
        client, room, purpose="business", work_days=[days(5).isoformat(), days(7).isoformat()]
    )

    assert response.status_code == 303, response.get_data(as_text=True)
    booking = db.session.scalar(select(Booking))
    assert stored(db, booking.id) == ("business", [days(5), days(7)])


def test_leisure_through_the_form_ignores_the_days_posted(db, client, login, employee, room):
    login(employee)

    # Without JavaScript the ticked days are posted whatever the purpose.
    response = book_form(client, room, purpose="leisure", work_days=[days(6).isoformat()])

    assert response.status_code == 303
    assert stored(db, db.session.scalar(select(Booking.id))) == ("leisure", [])


def test_a_business_workation_without_a_day_is_refused_on_the_page(
    db, client, login, employee, room
):
    login(employee)

    response = book_form(client, room, purpose="business")  # nothing ticked

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page[page.index('data-testid="purpose-error"') :][:300]
    assert "Choose at least one working day for a business workation." in error
    # The form is still there, on business, with nothing ticked, and the price as before.
    assert 'value="business" id="purpose-business" checked' in page
    assert 'name="work_days"' in page and re.search(r'name="work_days"[^>]* checked', page) is None
    assert "Confirm booking" in page and 'name="expected_total" value="50000"' in page
    assert 'data-testid="booking-error"' not in page  # stated beside the days, once
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
    assert db.session.scalar(select(func.count()).select_from(Occupancy)) == 0


def test_a_purpose_the_policy_refuses_is_refused_on_the_page(db, client, login, employee, room):
    login(employee)
    page = quote_page(client, room).get_data(as_text=True)
    allow(db, employee.company_id, leisure=True, business=False)  # changed meanwhile
    data = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))

    response = client.post("/book", data={**data, "purpose": "business"})

    assert response.status_code == 422
    assert "does not allow business workations for you" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_a_malformed_working_day_is_refused_as_an_incomplete_form(
    db, client, login, employee, room
):
    login(employee)

    response = book_form(client, room, purpose="business", work_days=["5 December"])

    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


# --- my stays, the stay page, the change page ---------------------------------------------


def test_my_stays_and_the_stay_page_show_the_purpose_and_the_working_days(
    db, client, login, employee, room
):
    business = book(db, employee, request(room, 4, 9, "business", (days(6), days(8))))
    leisure = book(db, employee, request(room, 20, 22))
    login(employee)

    stays = client.get("/stays").get_data(as_text=True)
    row = stays[stays.index(f'data-booking-id="{business.id}"') :]
    row = text(row[: row.index("</li>")])
    assert "Business workation · 2 working days: Mon 7 Dec, Wed 9 Dec" in row
    other = stays[stays.index(f'data-booking-id="{leisure.id}"') :]
    other = text(other[: other.index("</li>")])
    assert "Leisure stay" in other and "working day" not in other

    stay = text(client.get(f"/stays/{business.id}").get_data(as_text=True))
    assert "Purpose of the stay Business workation" in stay
    assert "Working days 2 working days: Mon 7 Dec, Wed 9 Dec" in stay
    plain = text(client.get(f"/stays/{leisure.id}").get_data(as_text=True))
    assert "Purpose of the stay Leisure stay" in plain and "working day" not in plain


def test_somebody_elses_stay_stays_hidden(db, client, login, make_employee, employee, room):
    theirs = book(db, make_employee(), request(room, 4, 9, "business"))
    login(employee)

    assert client.get(f"/stays/{theirs.id}").status_code == 404
    assert f'data-booking-id="{theirs.id}"' not in client.get("/stays").get_data(as_text=True)


def test_the_change_page_shows_the_working_days_before_and_after(db, client, login, employee, room):
    booking = book(db, employee, request(room, 6, 10, "business", (days(6), days(7), days(9))))
    login(employee)

    preview = client.get(
        f"/stays/{booking.id}/change/preview",
        query_string={
            "unit_id": room.id,
            "check_in": days(7).isoformat(),
            "check_out": days(12).isoformat(),
            "guests": 1,
        },
    )

    assert preview.status_code == 200
    page = text(preview.get_data(as_text=True))
    assert "Purpose of the stay Business workation" in page
    assert "Working days 3 working days: Mon 7 Dec, Tue 8 Dec, Thu 10 Dec" in page
    assert "Working days 2 working days: Tue 8 Dec, Thu 10 Dec" in page  # after the change


def test_a_change_to_days_off_only_is_refused_on_the_change_page(db, client, login, employee, room):
    booking = book(db, employee, request(room, 6, 8, "business"))
    login(employee)

    response = client.post(
        f"/stays/{booking.id}/change",
        data={
            "unit_id": room.id,
            "check_in": days(31).isoformat(),
            "check_out": days(33).isoformat(),
            "guests": 1,
        },
    )

    assert response.status_code == 422
    assert "only weekends and holidays" in response.get_data(as_text=True)
    assert stored(db, booking.id) == ("business", [days(6), days(7), days(8)])
