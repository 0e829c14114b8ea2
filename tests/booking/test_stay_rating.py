"""Rating a stay (the thank-you mail's link): 1 to 5 stars and a comment, from the
check-out day, by the stay's own employee only; answering again replaces the answer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from booking import cancellation, ratings, services
from booking.models import StayRating
from tests.conftest import NOW, days

CHECK_IN, CHECK_OUT = 10, 13  # days after TODAY


@pytest.fixture
def employee(make_employee):
    # The page's words are asserted in English (the catalogue's Japanese is checked by
    # tests/app/test_no_english_in_japanese.py).
    return make_employee(locale="en")


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=10_000, capacity=2)


@pytest.fixture
def stay(db, employee, room):
    booking = services.book_stay(
        employee, services.StayRequest(room.id, days(CHECK_IN), days(CHECK_OUT), 1), NOW
    )
    db.session.commit()
    return booking


def clock(app, day: int):
    """Move the app's clock to ``day`` days after TODAY (same time of day); the instant."""
    now = NOW + timedelta(days=day)
    app.config["FIXED_NOW"] = now
    return now


def page(response) -> str:
    return response.get_data(as_text=True)


def url(booking_id: int) -> str:
    return f"/stays/{booking_id}/rating"


def stored(db) -> list[tuple]:
    db.session.rollback()
    return [
        (r.booking_id, r.facility_id, r.rating, r.comment, r.created_at, r.updated_at)
        for r in db.session.scalars(select(StayRating).order_by(StayRating.id))
    ]


def count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(StayRating))


def checked(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="rating" value="(\d)"[^>]*\bchecked\b', html)


# --- saving --------------------------------------------------------------------------


def test_the_guest_rates_their_stay_after_check_out_and_is_thanked(
    app, db, client, login, employee, stay, room
):
    now = clock(app, CHECK_OUT)
    login(employee)

    form = client.get(url(stay.id))
    answer = client.post(
        url(stay.id), data={"rating": "4", "comment": "  静かで仕事が捗りました  "}
    )

    assert form.status_code == 200
    assert 'data-testid="rating-form"' in page(form)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/stays/{stay.id}")
    assert stored(db) == [(stay.id, room.facility_id, 4, "静かで仕事が捗りました", now, now)]
    shown = page(client.get(answer.headers["Location"]))
    assert "Thank you for rating your stay." in shown
    assert "You rated this stay 4 stars." in shown


def test_rating_again_replaces_the_answer(app, db, client, login, employee, stay, room):
    first = clock(app, CHECK_OUT)
    login(employee)
    client.post(url(stay.id), data={"rating": "5", "comment": "最高"})
    later = clock(app, CHECK_OUT + 7)
    login(employee)  # a week later: a new session

    again = client.post(url(stay.id), data={"rating": "2", "comment": ""})

    assert again.status_code == 303
    assert stored(db) == [(stay.id, room.facility_id, 2, "", first, later)]


def test_the_form_shows_the_earlier_answer(app, db, client, login, employee, stay):
    clock(app, CHECK_OUT + 1)
    login(employee)
    client.post(url(stay.id), data={"rating": "3", "comment": "布団が快適"})

    html = page(client.get(url(stay.id)))

    assert checked(html) == ["3"]
    assert "布団が快適" in html


@pytest.mark.parametrize(("asked", "chosen"), [("1", ["1"]), ("5", ["5"]), ("9", []), ("x", [])])
def test_a_star_in_the_link_is_chosen_in_the_form(
    app, client, login, employee, stay, asked, chosen
):
    clock(app, CHECK_OUT)
    login(employee)

    response = client.get(url(stay.id), query_string={"rating": asked})

    assert response.status_code == 200
    assert checked(page(response)) == chosen


def test_every_star_is_a_labelled_radio_in_a_named_group(app, client, login, employee, stay):
    clock(app, CHECK_OUT)
    login(employee)

    html = page(client.get(url(stay.id)))

    assert re.search(r"<fieldset[^>]*>\s*<legend>Your rating</legend>", html)
    for n in range(1, 6):
        assert f'id="rating-{n}"' in html
        assert f'<label for="rating-{n}">' in html
    assert '<label for="comment">' in html
    assert 'maxlength="1000"' in html


# --- not open -------------------------------------------------------------------------


@pytest.mark.parametrize("day", [0, CHECK_IN, CHECK_OUT - 1])
def test_before_the_check_out_day_the_page_says_when_ratings_open(
    app, db, client, login, employee, stay, day
):
    clock(app, day)
    login(employee)

    shown = client.get(url(stay.id))
    posted = client.post(url(stay.id), data={"rating": "5"})

    assert shown.status_code == 200
    assert "Ratings open on the check-out day" in page(shown)
    assert 'data-testid="rating-form"' not in page(shown)
    assert posted.status_code == 409
    assert "Ratings open on the check-out day" in page(posted)
    assert count(db) == 0


def test_a_cancelled_stay_cannot_be_rated(app, db, client, login, employee, stay):
    cancellation.cancel_booking(employee, stay.id, NOW)
    db.session.commit()
    clock(app, CHECK_OUT + 1)
    login(employee)

    shown = client.get(url(stay.id))
    posted = client.post(url(stay.id), data={"rating": "5"})

    assert "This stay was cancelled, so it cannot be rated." in page(shown)
    assert posted.status_code == 409
    assert count(db) == 0


def test_the_service_refuses_too_early_and_cancelled(db, employee, stay):
    with pytest.raises(ratings.RatingNotOpen):
        ratings.rate_stay(employee, stay.id, 5, "", days(CHECK_OUT - 1), NOW)
    db.session.rollback()
    cancellation.cancel_booking(employee, stay.id, NOW)
    db.session.commit()
    with pytest.raises(ratings.RatingNotOpen):
        ratings.rate_stay(employee, stay.id, 5, "", days(CHECK_OUT), NOW)
    db.session.rollback()
    assert count(db) == 0


# --- who may -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_somebody_elses_stay_is_404_and_untouched(
    app, db, client, login, make_employee, employee, stay, method
):
    colleague = make_employee(company=employee.company)
    clock(app, CHECK_OUT)
    login(colleague)

    response = client.open(url(stay.id), method=method, data={"rating": "1"})
    missing = client.open(url(stay.id + 1000), method=method, data={"rating": "1"})

    assert (response.status_code, missing.status_code) == (404, 404)
    assert count(db) == 0


def test_the_service_does_not_find_somebody_elses_stay(db, make_employee, stay):
    with pytest.raises(services.BookingNotFound):
        ratings.rate_stay(make_employee(), stay.id, 5, "", days(CHECK_OUT), NOW)
    db.session.rollback()
    assert count(db) == 0


def test_signing_in_comes_first(app, db, client, stay):
    clock(app, CHECK_OUT)

    response = client.get(url(stay.id), query_string={"rating": "5"})
    posted = client.post(url(stay.id), data={"rating": "5"})

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert posted.status_code == 302
    assert count(db) == 0


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [{"rating": "0"}, {"rating": "6"}, {"rating": "x"}, {"rating": "4.5"}, {"rating": ""}, {}],
    ids=["zero", "six", "letter", "fraction", "empty", "missing"],
)
def test_a_rating_outside_1_to_5_is_refused_on_the_form(
    app, db, client, login, employee, stay, data
):
    clock(app, CHECK_OUT)
    login(employee)

    response = client.post(url(stay.id), data={**data, "comment": "コメント"})

    assert response.status_code == 400
    html = page(response)
    assert "Choose from 1 to 5 stars." in html
    assert 'aria-invalid="true"' in html
    assert "コメント" in html  # what was typed is kept
    assert count(db) == 0


def test_a_comment_over_1000_characters_is_refused_and_1000_is_kept(
    app, db, client, login, employee, stay
):
    clock(app, CHECK_OUT)
    login(employee)

    too_long = client.post(url(stay.id), data={"rating": "4", "comment": "あ" * 1001})
    assert too_long.status_code == 400
    assert "at most 1000 characters" in page(too_long)
    assert count(db) == 0

    just_fits = client.post(url(stay.id), data={"rating": "4", "comment": "あ" * 1000})
    assert just_fits.status_code == 303
    assert [row[3] for row in stored(db)] == ["あ" * 1000]


@pytest.mark.parametrize("rating", [0, 6, -1, True, "5", None])
def test_the_service_refuses_a_rating_that_is_not_1_to_5(db, employee, stay, rating):
    with pytest.raises(services.BookingError) as refused:
        ratings.rate_stay(employee, stay.id, rating, "", days(CHECK_OUT), NOW)

    assert refused.value.code == "rating_range"
    db.session.rollback()
    assert count(db) == 0


def test_the_service_refuses_a_long_comment(db, employee, stay):
    with pytest.raises(services.BookingError) as refused:
        ratings.rate_stay(employee, stay.id, 3, "x" * 1001, days(CHECK_OUT), NOW)

    assert refused.value.code == "comment_length"
    db.session.rollback()
    assert count(db) == 0


def test_the_rating_form_needs_the_csrf_token(app, db, client, login, employee, stay):
    clock(app, CHECK_OUT)
    login(employee)
    app.config["WTF_CSRF_ENABLED"] = True

    forged = client.post(url(stay.id), data={"rating": "1"})
    assert forged.status_code == 400
    assert count(db) == 0

    token = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', page(client.get(url(stay.id))))[1]
    real = client.post(url(stay.id), data={"rating": "5", "csrf_token": token})
    assert real.status_code == 303
    assert [row[2] for row in stored(db)] == [5]


# --- the stay page ---------------------------------------------------------------------


def test_the_stay_page_offers_a_rating_only_once_the_stay_is_over(
    app, db, client, login, employee, stay
):
    link = f'href="{url(stay.id)}"'

    clock(app, CHECK_OUT - 1)
    login(employee)
    before = page(client.get(f"/stays/{stay.id}"))
    clock(app, CHECK_OUT)
    login(employee)
    after = page(client.get(f"/stays/{stay.id}"))

    assert link not in before
    assert link in after and "Rate this stay" in after


def test_a_cancelled_stay_page_offers_no_rating(app, db, client, login, employee, stay):
    cancellation.cancel_booking(employee, stay.id, NOW)
    db.session.commit()
    clock(app, CHECK_OUT + 1)
    login(employee)

    assert url(stay.id) not in page(client.get(f"/stays/{stay.id}"))


def test_rating_of_answers_the_stays_rating(db, employee, stay):
    assert ratings.rating_of(stay.id) is None

    ratings.rate_stay(employee, stay.id, 5, "また来たい", days(CHECK_OUT), NOW)
    db.session.commit()

    answer = ratings.rating_of(stay.id)
    assert (answer.rating, answer.comment) == (5, "また来たい")
