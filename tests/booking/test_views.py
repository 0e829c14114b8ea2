"""The employee journey through the pages: search, facility, quote, book, my stays."""

from __future__ import annotations

import re

from icalendar import Calendar
from sqlalchemy import func, select

from availability.models import Occupancy
from booking import services
from booking.models import Booking
from tests.conftest import NOW, days


def _search(client, **params):
    query = {"check_in": days(10).isoformat(), "check_out": days(13).isoformat(), **params}
    return client.get("/", query_string=query)


def test_search_lists_free_facilities_with_lowest_total(
    client, login, make_employee, make_unit, make_facility
):
    login(make_employee())
    karuizawa = make_facility(name_ja="軽井沢の森", prefecture=20)
    make_unit(facility=karuizawa, base_price=15000)
    make_unit(facility=karuizawa, base_price=9000)
    tokyo = make_facility(name_ja="日本橋オフィス", prefecture=13, kind="office")
    make_unit(facility=tokyo, base_price=7000)

    page = _search(client).get_data(as_text=True)
    assert "軽井沢の森" in page and "日本橋オフィス" in page
    assert "¥27,000（税込）" in page  # 3 nights × ¥9,000, the cheaper unit
    assert page.index("日本橋オフィス") < page.index("軽井沢の森")  # cheapest first

    nagano_only = _search(client, place="p:20").get_data(as_text=True)
    assert "軽井沢の森" in nagano_only and "日本橋オフィス" not in nagano_only
    kanto = _search(client, place="r:kanto").get_data(as_text=True)
    assert "日本橋オフィス" in kanto and "軽井沢の森" not in kanto
    dearest_first = _search(client, sort="price_desc").get_data(as_text=True)
    assert dearest_first.index("軽井沢の森") < dearest_first.index("日本橋オフィス")
    offices = _search(client, kind="office").get_data(as_text=True)
    assert "日本橋オフィス" in offices and "軽井沢の森" not in offices


def test_search_hides_facilities_without_a_free_unit_and_filters_amenities(
    db, client, login, make_employee, make_unit, make_facility
):
    login(make_employee())
    full = make_facility(name_ja="満室の宿")
    unit = make_unit(facility=full)
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(11), days(12), 1), NOW)
    db.session.commit()
    onsen = make_facility(name_ja="湯の宿", onsen=True)
    make_unit(facility=onsen, capacity=4)

    page = _search(client).get_data(as_text=True)
    assert "満室の宿" not in page and "湯の宿" in page
    assert "湯の宿" in _search(client, amenities="onsen").get_data(as_text=True)
    make_unit(facility=make_facility(name_ja="普通の宿"))
    assert "普通の宿" not in _search(client, amenities="onsen").get_data(as_text=True)
    assert "湯の宿" not in _search(client, guests=5).get_data(as_text=True)


def test_search_paginates(app, client, login, make_employee, make_unit, make_facility):
    app.config["SEARCH_PAGE_SIZE"] = 2
    login(make_employee())
    for n in range(5):
        make_unit(facility=make_facility(name_ja=f"宿{n}"), base_price=10000 + n * 1000)
    first = _search(client).get_data(as_text=True)
    assert "宿0" in first and "宿1" in first and "宿2" not in first
    assert "1 / 3" in first
    third = _search(client, page="3").get_data(as_text=True)
    assert "宿4" in third and "宿0" not in third
    assert _search(client, page="abc").status_code == 200


def test_search_rejects_bad_dates_with_a_message(client, login, make_employee):
    login(make_employee())
    response = client.get("/", query_string={"check_in": days(5), "check_out": days(3)})
    assert response.status_code == 400
    past = client.get("/", query_string={"check_in": days(-3), "check_out": days(2)})
    assert past.status_code == 400
    assert "チェックインに過去の日付は指定できません" in past.get_data(as_text=True)


def test_facility_page_shows_calendar_with_free_few_full(
    db, client, login, make_employee, make_unit, make_facility
):
    login(make_employee())
    facility = make_facility(name_ja="海辺の家")
    a = make_unit(facility=facility, base_price=10000)
    make_unit(facility=facility, base_price=20000)
    services.book_stay(
        make_employee(), services.StayRequest(a.id, days(10), days(11), 1), NOW
    )  # 2026-12-11
    db.session.commit()

    page = client.get(f"/facilities/{facility.id}?month=2026-12").get_data(as_text=True)
    assert "海辺の家" in page
    cells = dict(re.findall(r'data-date="([\d-]+)" data-status="(\w+)"', page))
    assert cells["2026-12-11"] == "few"  # one of two rooms left
    assert cells["2026-12-12"] == "free"
    assert cells["2026-11-30"] == "past"
    # The cheaper room is taken on the 11th, so the price from is the dearer one.
    day_11 = page[page.index('data-date="2026-12-11"') :][:400]
    assert "¥20,000" in day_11

    next_month = client.get(f"/facilities/{facility.id}?month=2027-01").get_data(as_text=True)
    assert 'data-date="2027-01-15"' in next_month
    assert client.get(f"/facilities/{facility.id}?month=garbage").status_code == 200
    assert client.get("/facilities/999999").status_code == 404


def test_quote_book_confirm_and_download(db, client, login, make_employee, make_unit):
    employee = make_employee()
    login(employee)
    unit = make_unit(base_price=11000)
    stay = {
        "unit_id": unit.id,
        "check_in": days(20).isoformat(),
        "check_out": days(22).isoformat(),
        "guests": 2,
    }

    quote = client.get("/book", query_string=stay)
    page = quote.get_data(as_text=True)
    assert quote.status_code == 200
    breakdown = page[page.index('data-testid="breakdown"') : page.index('data-testid="total"')]
    assert breakdown.count("¥11,000（税込）") == 2 and "¥22,000（税込）" in page
    # The money terms before confirming: paid from the company's credit, and what a
    # cancellation would return (half of it 1–2 days before check-in).
    who_pays = page.split('data-testid="who-pays"')[1].split("</section>")[0]
    assert "¥22,000（税込）" in who_pays
    assert (
        'data-testid="terms"' in page and "¥11,000（税込）" in page.split('data-testid="terms"')[1]
    )
    key = re.search(r'name="request_key" type="hidden" value="([^"]+)"', page).group(1)

    booked = client.post("/book", data={**stay, "request_key": key})
    assert booked.status_code == 303
    confirmation = client.get(booked.headers["Location"]).get_data(as_text=True)
    assert "¥22,000（税込）" in confirmation

    # The same form submitted again (double click, back button) books nothing new.
    again = client.post("/book", data={**stay, "request_key": key})
    assert again.headers["Location"] == booked.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1

    booking_id = int(booked.headers["Location"].rsplit("/", 1)[1])
    ics = client.get(f"/stays/{booking_id}.ics")
    assert ics.mimetype == "text/calendar"
    event = Calendar.from_ical(ics.data).walk("VEVENT")[0]
    assert event.decoded("dtstart") == days(20) and event.decoded("dtend") == days(22)


def test_taken_nights_answer_409_with_a_clear_message(db, client, login, make_employee, make_unit):
    login(make_employee())
    unit = make_unit()
    stay = {
        "unit_id": unit.id,
        "check_in": days(20).isoformat(),
        "check_out": days(22).isoformat(),
        "guests": 1,
    }
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(21), days(23), 1), NOW)
    db.session.commit()
    response = client.post("/book", data={**stay, "request_key": "abc"})
    assert response.status_code == 409
    assert 'data-testid="booking-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_rule_violation_is_explained_on_the_quote_page(client, login, make_employee, make_unit):
    login(make_employee())
    unit = make_unit(capacity=2)
    response = client.get(
        "/book",
        query_string={
            "unit_id": unit.id,
            "check_in": days(20).isoformat(),
            "check_out": days(22).isoformat(),
            "guests": 3,
        },
    )
    assert response.status_code == 422
    assert 'data-testid="booking-error"' in response.get_data(as_text=True)


def test_my_stays_and_cancel(db, client, login, make_employee, make_unit):
    employee = make_employee()
    login(employee)
    unit = make_unit()
    upcoming = services.book_stay(
        employee, services.StayRequest(unit.id, days(30), days(32), 1), NOW
    )
    db.session.commit()

    page = client.get("/stays").get_data(as_text=True)
    assert f'data-booking-id="{upcoming.id}"' in page
    response = client.post(f"/stays/{upcoming.id}/cancel")
    assert response.status_code == 303
    assert db.session.get(Booking, upcoming.id).status == "cancelled"
    assert db.session.scalar(select(func.count()).select_from(Occupancy)) == 0
    after = client.get("/stays").get_data(as_text=True)
    row = after[after.index(f'data-booking-id="{upcoming.id}"') :]
    assert "キャンセル済み" in row[: row.index("</li>")]
    # Cancelling twice changes nothing and does not fail.
    assert client.post(f"/stays/{upcoming.id}/cancel").status_code == 303


def test_facility_page_with_dates_offers_only_rooms_free_for_the_stay(
    db, client, login, make_employee, make_unit, make_facility
):
    login(make_employee())
    facility = make_facility()
    taken = make_unit(facility=facility, base_price=9000)
    free = make_unit(facility=facility, base_price=12000)
    services.book_stay(make_employee(), services.StayRequest(taken.id, days(11), days(12), 1), NOW)
    db.session.commit()

    page = client.get(
        f"/facilities/{facility.id}",
        query_string={"check_in": days(10), "check_out": days(13), "unit_id": taken.id},
    ).get_data(as_text=True)
    taken_radio = re.search(rf'<input[^>]*name="unit_id" value="{taken.id}"[^>]*>', page).group(0)
    free_radio = re.search(rf'<input[^>]*name="unit_id" value="{free.id}"[^>]*>', page).group(0)
    assert "disabled" in taken_radio and "checked" not in taken_radio
    assert "checked" in free_radio and "disabled" not in free_radio


def test_facility_page_offers_only_rooms_big_enough_and_keeps_the_stay_in_month_links(
    client, login, make_employee, make_unit, make_facility
):
    login(make_employee())
    facility = make_facility()
    small = make_unit(facility=facility, capacity=2)
    big = make_unit(facility=facility, capacity=4)
    page = client.get(
        f"/facilities/{facility.id}",
        query_string={"check_in": days(10), "check_out": days(13), "guests": 4},
    ).get_data(as_text=True)
    small_radio = re.search(rf'<input[^>]*name="unit_id" value="{small.id}"[^>]*>', page).group(0)
    big_radio = re.search(rf'<input[^>]*name="unit_id" value="{big.id}"[^>]*>', page).group(0)
    assert "disabled" in small_radio and "checked" in big_radio
    next_link = re.search(r'<a href="([^"]+)" rel="next">', page).group(1)
    assert "guests=4" in next_link and f"check_in={days(10)}" in next_link
    assert 'rel="prev"' not in page  # this month is the first bookable one


def test_search_respects_each_facility_min_and_max_nights(
    client, login, make_employee, make_unit, make_facility
):
    login(make_employee())
    make_unit(facility=make_facility(name_ja="連泊の宿", min_nights=3))
    make_unit(facility=make_facility(name_ja="短期の宿", max_nights=2))
    one_night = _search(client, check_out=days(11).isoformat()).get_data(as_text=True)
    assert "短期の宿" in one_night and "連泊の宿" not in one_night
    three_nights = _search(client).get_data(as_text=True)
    assert "連泊の宿" in three_nights and "短期の宿" not in three_nights
