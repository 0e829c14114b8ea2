"""Where a facility is, as an operator sets it: the postal code look-up (JSON, for the
form's button), the postal code saved with the facility, the address filled in without
JavaScript, and coordinates that must lie in Japan."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from facilities.models import Facility
from tests.conftest import signed_in

FORM = {
    "name_ja": "蓼科 森の保養所",
    "name_en": "Tateshina Forest Retreat",
    "kind": "both",
    "prefecture": "20",
    "postal_code": "391-0301",
    "municipality": "茅野市",
    "address": "北山 4035",
    "latitude": "36.1042",
    "longitude": "138.3125",
    "wifi_mbps": "300",
    "work_desks": "6",
    "check_in_time": "15:00",
    "check_out_time": "10:30",
    "min_nights": "2",
    "max_nights": "21",
}


@pytest.fixture
def operator(app, db, make_user):
    """A signed-in operator reading English (stable texts without the compiled catalogue)."""
    user = make_user(Role.OPERATOR, locale="en")
    return signed_in(app, user), user


def facilities(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Facility))


def saved(db, name_en: str) -> Facility:
    db.session.rollback()
    return db.session.scalar(select(Facility).where(Facility.name_en == name_en))


# --- the look-up ------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1000001", "100-0001", "１００－０００１", "〒100-0001"])
def test_an_operator_looks_up_a_postal_code(operator, typed):
    client, _user = operator

    response = client.get(f"/operator/postal-codes/{typed}")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["postal_code"] == "1000001" and body["display_code"] == "100-0001"
    assert (body["prefecture"], body["prefecture_name"]) == (13, "Tokyo")
    assert (body["municipality"], body["town"], body["towns"]) == ("千代田区", "千代田", ["千代田"])
    # No coordinates in the data: the map goes to the prefecture (東京都庁).
    assert body["centre"] == {"lat": 35.6895, "lng": 139.6917, "zoom": 9}


def test_a_code_for_several_towns_names_none(operator):
    client, _user = operator

    body = client.get("/operator/postal-codes/452-0961").get_json()

    assert (body["municipality"], body["town"]) == ("清須市", "")
    assert len(body["towns"]) > 10


@pytest.mark.parametrize("typed", ["12345", "100-00011", "abcdefg", "1000001x"])
def test_a_malformed_code_is_a_400_that_says_what_a_code_looks_like(operator, typed):
    client, _user = operator

    response = client.get(f"/operator/postal-codes/{typed}")

    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_postal_code",
        "message": "Enter a postal code of 7 digits, such as 100-0001.",
    }


def test_an_unknown_code_is_a_404(operator):
    client, _user = operator

    response = client.get("/operator/postal-codes/999-9999")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_postal_code"


def test_the_look_up_is_for_signed_in_operators_only(app, client, make_employee, make_user):
    signed_out = client.get("/operator/postal-codes/1000001")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]

    for role_user in (make_employee(), make_user(Role.COMPANY_ADMIN)):
        response = signed_in(app, role_user).get("/operator/postal-codes/1000001")
        assert response.status_code == 403
        assert "千代田" not in response.get_data(as_text=True)


# --- the facility form ---------------------------------------------------------------------


def test_the_form_saves_the_postal_code_and_the_pins_coordinates(db, operator):
    client, user = operator

    response = client.post("/operator/facilities/new", data=FORM)

    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    created = saved(db, FORM["name_en"])
    assert created.operator_id == user.operator_id
    assert created.postal_code == "3910301"  # stored as 7 digits
    assert (created.latitude, created.longitude) == (
        pytest.approx(36.1042),
        pytest.approx(138.3125),
    )

    page = client.get(f"/operator/facilities/{created.id}/edit").get_data(as_text=True)
    assert re.search(r'name="postal_code"[^>]*value="3910301"', page)
    assert 'data-map="picker"' in page and 'data-testid="pin-map"' in page
    assert re.search(r'name="latitude"[^>]*value="36.1042"', page)


def test_full_width_digits_and_no_postal_code_are_both_fine(db, operator):
    client, _user = operator

    client.post("/operator/facilities/new", data={**FORM, "postal_code": "３９１－０３０１"})
    client.post(
        "/operator/facilities/new", data={**FORM, "name_en": "No Code Inn", "postal_code": ""}
    )

    assert saved(db, FORM["name_en"]).postal_code == "3910301"
    assert saved(db, "No Code Inn").postal_code == ""


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"latitude": "51.5", "longitude": "-0.12"}, "latitude", "Put the pin in Japan."),  # London
        ({"latitude": "21.3", "longitude": "-157.8"}, "longitude", "Put the pin in Japan."),
        ({"latitude": "19.9"}, "latitude", "Put the pin in Japan."),
        ({"longitude": "154.5"}, "longitude", "Put the pin in Japan."),
        ({"latitude": ""}, "latitude", "This field is required."),
        ({"postal_code": "12345"}, "postal_code", "Enter a postal code of 7 digits"),
        ({"postal_code": "100-00011"}, "postal_code", "Enter a postal code of 7 digits"),
        ({"postal_code": "abc"}, "postal_code", "Enter a postal code of 7 digits"),
    ],
)
def test_a_place_outside_japan_or_a_bad_code_is_refused_and_nothing_is_saved(
    db, operator, change, field, message
):
    client, _user = operator
    before = facilities(db)

    response = client.post("/operator/facilities/new", data={**FORM, **change})
    page = response.get_data(as_text=True)

    assert response.status_code == 400
    assert re.search(
        rf'name="{field}"[^>]*>.*?class="field-error"[^>]*>{re.escape(message)}', page, re.S
    )
    assert facilities(db) == before
    if field in ("latitude", "longitude"):
        # The coordinates' own fields are where the error is: shown, not folded away.
        assert re.search(r'<details class="coordinates" open>', page)


def test_an_edit_cannot_move_a_facility_out_of_japan(db, operator, make_facility):
    client, user = operator
    facility = make_facility(operator=user.operator)

    response = client.post(
        f"/operator/facilities/{facility.id}/edit", data={**FORM, "longitude": "-73.98"}
    )

    assert response.status_code == 400
    db.session.refresh(facility)
    assert facility.longitude == pytest.approx(138.63)


def test_without_javascript_a_postal_code_fills_the_address_for_the_operator_to_check(db, operator):
    client, _user = operator
    before = facilities(db)
    sent = {
        **FORM,
        "postal_code": "048-1511",
        "prefecture": "13",
        "municipality": "",
        "address": "",
    }

    response = client.post("/operator/facilities/new", data=sent)
    page = response.get_data(as_text=True)

    # Not saved yet: the form comes back filled in, and says what to do.
    assert facilities(db) == before
    assert response.status_code == 400
    assert re.search(r'<option selected value="1">Hokkaido</option>', page)
    assert re.search(r'name="municipality"[^>]*value="虻田郡ニセコ町"', page)
    assert re.search(r'name="address"[^>]*value="ニセコ"', page)
    status = re.search(r'data-testid="postal-status">(.*?)</p>', page, re.S).group(1)
    assert "Filled in from the postal code 048-1511: check the address" in status

    # The operator adds the street number and saves.
    checked = {**sent, "prefecture": "1", "municipality": "虻田郡ニセコ町", "address": "ニセコ 1-2"}
    checked.update(latitude="42.8048", longitude="140.6874")
    assert client.post("/operator/facilities/new", data=checked).status_code == 303
    created = saved(db, FORM["name_en"])
    assert (created.prefecture, created.municipality, created.address) == (
        1,
        "虻田郡ニセコ町",
        "ニセコ 1-2",
    )
    assert created.postal_code == "0481511"


def test_an_unknown_postal_code_fills_nothing_and_the_address_is_still_required(db, operator):
    client, _user = operator

    response = client.post(
        "/operator/facilities/new",
        data={**FORM, "postal_code": "999-9999", "municipality": "", "address": ""},
    )
    page = response.get_data(as_text=True)

    assert response.status_code == 400
    assert re.search(r'name="municipality"[^>]*value=""', page)
    assert re.search(r'name="address"[^>]*>.*?This field is required.', page, re.S)
    assert re.search(r'name="postal_code"[^>]*>.*?No address has this postal code', page, re.S)
    assert re.search(r'data-testid="postal-status"></p>', page)  # nothing was filled in
