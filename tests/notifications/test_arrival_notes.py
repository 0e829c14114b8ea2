"""The facility's arrival notes: written by its operator in both languages on the
facility form, sent to each guest in their language with the reminder."""

from __future__ import annotations

import pytest

from accounts.models import Role
from facilities import services
from facilities.models import Facility
from tests.conftest import NOW, signed_in

FORM = {
    "name_ja": "白樺の宿",
    "name_en": "Birch Inn",
    "kind": "stay",
    "prefecture": "20",
    "municipality": "北佐久郡軽井沢町",
    "address": "軽井沢1-2-3",
    "latitude": "36.34",
    "longitude": "138.63",
    "wifi_mbps": "100",
    "work_desks": "2",
    "check_in_time": "15:00",
    "check_out_time": "10:00",
    "min_nights": "1",
    "max_nights": "14",
}


@pytest.fixture
def operator_user(make_user, make_facility):
    user = make_user(Role.OPERATOR, locale="en")
    make_facility(operator=user.operator, name_ja="白樺の宿", name_en="Birch Inn")
    return user


def the_facility(db, operator_user) -> Facility:
    db.session.rollback()
    return db.session.query(Facility).filter_by(operator_id=operator_user.operator_id).one()


def test_the_operator_writes_arrival_notes_in_both_languages(app, db, operator_user):
    facility = the_facility(db, operator_user)
    browser = signed_in(app, operator_user)
    page = browser.get(f"/operator/facilities/{facility.id}/edit").get_data(as_text=True)
    assert "Arrival notes" in page
    assert 'aria-describedby="arrival_notes_ja-hint"' in page
    assert "3 days before check-in" in page
    response = browser.post(
        f"/operator/facilities/{facility.id}/edit",
        data={
            **FORM,
            "arrival_notes_ja": "  鍵は玄関のキーボックス（暗証番号は予約番号の下4桁）。 ",
            "arrival_notes_en": "The key is in the box by the door.\nLast bus 18:40.",
        },
    )
    assert response.status_code == 303
    facility = the_facility(db, operator_user)
    assert facility.arrival_notes_ja == "鍵は玄関のキーボックス（暗証番号は予約番号の下4桁）。"
    assert facility.arrival_notes_en == "The key is in the box by the door.\nLast bus 18:40."
    page = browser.get(f"/operator/facilities/{facility.id}/edit").get_data(as_text=True)
    assert "Last bus 18:40." in page  # shown again for the next edit


def test_notes_longer_than_2000_characters_are_refused(app, db, operator_user):
    facility = the_facility(db, operator_user)
    browser = signed_in(app, operator_user)
    response = browser.post(
        f"/operator/facilities/{facility.id}/edit",
        data={**FORM, "arrival_notes_en": "x" * 2001},
    )
    assert response.status_code == 400
    assert the_facility(db, operator_user).arrival_notes_en == ""


def test_a_facility_made_without_notes_has_none_and_an_update_without_them_keeps_them(
    app, db, operator_user
):
    facility = the_facility(db, operator_user)
    values = {
        name: getattr(facility, name)
        for name in services.FACILITY_FIELDS
        if name not in services.OPTIONAL_FACILITY_FIELDS
    }
    made = services.create_facility(operator_user, values, NOW)  # as a sign-up's facility
    assert (made.arrival_notes_ja, made.arrival_notes_en) == ("", "")
    made.arrival_notes_en = "Ring the bell."
    services.update_facility(made, values)
    assert made.arrival_notes_en == "Ring the bell."
