"""A facility's licence (facilities.licences) as the operator enters it: each type with
its number, an office with none, a facility offering stays never "none"; without a
lodging licence a facility offering stays is not listed."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts.models import Role
from booking.search import SearchQuery, search
from facilities import services
from facilities.licences import LicenceType
from facilities.models import Facility
from tests.conftest import NOW, TODAY, signed_in

FORM = {
    "name_ja": "蓼科 森の保養所",
    "name_en": "Tateshina Forest Retreat",
    "kind": "stay",
    "prefecture": "20",
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


def english(message) -> str:
    """A rule's message as its English text (the default locale is Japanese)."""
    with force_locale("en"):
        return str(message)


def values_of(facility: Facility, **change) -> dict:
    values = {name: getattr(facility, name) for name in services.FACILITY_FIELDS}
    return {**values, **change}


# --- the service --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "licence_type", "number"),
    [
        ("stay", "hotel", "長野県指令第1234号"),
        ("stay", "simple", "茅保第 56-789 号"),
        ("both", "minpaku", "M200012345"),
        ("stay", "special_zone", "大田区指令 第2019-12号"),
        ("stay", "", ""),  # not yet: allowed, not listed
        ("office", "none", ""),
        ("office", "", ""),
        ("office", "hotel", "長野県指令第1234号"),  # an office may hold one all the same
    ],
)
def test_each_licence_that_fits_the_kind_is_saved(db, make_facility, kind, licence_type, number):
    facility = make_facility()
    services.update_facility(
        facility,
        values_of(facility, kind=kind, licence_type=licence_type, licence_number=number),
    )
    db.session.commit()
    db.session.expire_all()
    assert (facility.kind, facility.licence_type, facility.licence_number) == (
        kind,
        licence_type,
        number,
    )
    assert facility.licensed == (kind == "office" or licence_type != "")


@pytest.mark.parametrize(
    ("kind", "licence_type", "number", "says"),
    [
        ("stay", "none", "", "needs a lodging licence"),
        ("both", "none", "", "needs a lodging licence"),
        ("stay", "hotel", "", "Enter the licence or notification number"),
        ("stay", "", "長野県指令第1234号", "Choose the type"),
        ("office", "none", "第12号", "has no licence number"),
        ("stay", "castle", "第12号", "Choose a licence type"),
        ("stay", "hotel", "x", "2–60 letters"),
        ("stay", "hotel", "<script>alert(1)</script>", "2–60 letters"),
        ("stay", "hotel", "1" * 61, "2–60 letters"),
        ("stay", "hotel", "第12号; DROP TABLE", "2–60 letters"),
    ],
)
def test_a_licence_that_does_not_fit_is_refused(
    db, make_facility, kind, licence_type, number, says
):
    facility = make_facility()
    with pytest.raises(services.ConsoleError) as refused:
        services.update_facility(
            facility,
            values_of(facility, kind=kind, licence_type=licence_type, licence_number=number),
        )
    assert refused.value.code == "licence"
    assert says in english(refused.value.message)


def test_a_facility_made_without_a_licence_keeps_none_and_an_update_keeps_its_own(
    db, make_facility, make_user
):
    """A sign-up's facility is made without one; a caller leaving it out keeps it."""
    facility = make_facility()
    operator = make_user(Role.OPERATOR, operator=facility.operator)
    values = values_of(facility)
    for name in ("licence_type", "licence_number", "arrival_notes_ja", "arrival_notes_en"):
        values.pop(name)

    made = services.create_facility(operator, values, NOW)
    assert (made.licence_type, made.licence_number) == ("", "")
    assert not made.licensed

    services.update_facility(facility, values)
    assert (facility.licence_type, facility.licence_number[:5]) == ("hotel", "長野県指令")
    # …and its kind is checked against the licence it keeps.
    with pytest.raises(services.ConsoleError):
        office = make_facility(kind="office")
        services.update_facility(office, {**values, "kind": "stay"})


# --- listing --------------------------------------------------------------------------------


def test_a_stay_facility_without_a_licence_is_not_listed(db, make_facility, make_unit):
    licensed = make_unit(facility=make_facility(name_en="Licensed Inn")).facility
    bare = make_unit(
        facility=make_facility(name_en="Bare Inn", licence_type="", licence_number="")
    ).facility
    office = make_unit(facility=make_facility(kind="office", name_en="Desk")).facility
    query = SearchQuery(check_in=TODAY + timedelta(days=7), check_out=TODAY + timedelta(days=9))

    found = {r.facility_id for r in search(query)}

    assert licensed.id in found and office.id in found
    assert bare.id not in found
    assert not bare.licensed and not bare.listed
    assert db.session.scalars(select(Facility.id).where(Facility.listed)).all() == sorted(
        [licensed.id, office.id]
    )

    bare.licence_type, bare.licence_number = LicenceType.SIMPLE, "茅保第12号"
    db.session.commit()
    assert bare.id in {r.facility_id for r in search(query)}


def test_unlicensed_facilities_are_the_open_stay_facilities_without_one(db, make_facility):
    bare = make_facility(licence_type="", licence_number="")
    make_facility(licence_type="", licence_number="", active=False)  # closed: not a concern
    make_facility(kind="office")
    make_facility()
    numberless = make_facility(kind="both", licence_type="hotel", licence_number="")

    assert [f.id for f in services.unlicensed_facilities()] == sorted([bare.id, numberless.id])
    assert services.unlicensed_count() == 2


# --- the operator's form ----------------------------------------------------------------------


@pytest.fixture
def operator_browser(app, make_user, make_facility):
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, licence_type="", licence_number="")
    browser = signed_in(app, operator)
    return browser, facility


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<div class="field-errors" id="{field}-error">(.*?)</div>', page, re.S)
    assert found, f"no error on {field}"
    return html.unescape(re.sub(r"<[^>]+>", "", found[1])).strip()


def test_the_form_explains_the_licence_and_saves_it(db, operator_browser):
    browser, facility = operator_browser
    page = html.unescape(
        browser.get(f"/operator/facilities/{facility.id}/edit").get_data(as_text=True)
    )
    assert re.search(r'<select [^>]*name="licence_type"', page)
    assert '<option selected value="">Not yet</option>' in page
    assert "Private lodging business notification" in page
    assert "is listed (found in search and bookable) only once it has" in page

    response = browser.post(
        f"/operator/facilities/{facility.id}/edit",
        data={**FORM, "licence_type": "minpaku", "licence_number": "  M200012345 "},
    )

    assert response.status_code == 303
    db.session.expire_all()
    saved = db.session.get(Facility, facility.id)
    assert (saved.licence_type, saved.licence_number) == ("minpaku", "M200012345")
    assert saved.is_minpaku and saved.listed


def test_a_new_facility_may_start_without_a_licence(db, operator_browser):
    browser, _facility = operator_browser
    response = browser.post("/operator/facilities/new", data=FORM)
    assert response.status_code == 303
    made = db.session.scalar(select(Facility).where(Facility.name_en == FORM["name_en"]))
    assert (made.licence_type, made.licence_number, made.licensed) == ("", "", False)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"licence_type": "none"}, "licence_type", "needs a lodging licence"),
        ({"licence_number": "第12号"}, "licence_type", "Choose the type"),
        ({"licence_type": "hotel"}, "licence_number", "Enter the licence or notification number"),
        ({"licence_type": "hotel", "licence_number": "?"}, "licence_number", "2–60 letters"),
        ({"licence_type": "hotel", "licence_number": "1" * 61}, "licence_number", "60"),
        (
            {"kind": "office", "licence_type": "none", "licence_number": "第12号"},
            "licence_number",
            "has no licence number",
        ),
        ({"licence_type": "castle", "licence_number": "第12号"}, "licence_type", "valid choice"),
    ],
)
def test_a_licence_that_does_not_fit_is_an_error_on_its_field(
    db, operator_browser, change, field, says
):
    browser, facility = operator_browser
    response = browser.post(f"/operator/facilities/{facility.id}/edit", data={**FORM, **change})

    assert response.status_code == 400
    assert says in field_error(response.get_data(as_text=True), field)
    db.session.expire_all()
    assert db.session.get(Facility, facility.id).licence_number == ""


def test_an_office_chooses_no_lodging(db, operator_browser):
    browser, facility = operator_browser
    response = browser.post(
        f"/operator/facilities/{facility.id}/edit",
        data={**FORM, "kind": "office", "licence_type": "none"},
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Facility, facility.id).licensed
