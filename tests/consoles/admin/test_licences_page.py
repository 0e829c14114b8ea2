"""/admin/licences: the open facilities offering stays without a lodging licence (so
not listed), with their operator and a way to their review; and their count on the
overview. Platform admins only."""

from __future__ import annotations

import re

import pytest

from accounts.models import Role
from tests.conftest import signed_in


@pytest.fixture
def admin_browser(app, make_user):
    browser = signed_in(app, make_user(Role.PLATFORM_ADMIN))
    browser.get("/lang/en")
    return browser


def listed_ids(page: str) -> list[int]:
    table = page.split('data-testid="unlicensed"', 1)[-1] if "unlicensed" in page else ""
    return [int(n) for n in re.findall(r'data-facility-id="(\d+)"', table)]


def test_the_page_lists_stay_facilities_without_a_licence(
    db, admin_browser, make_facility, make_operator
):
    org = make_operator(name="森の運営")
    bare = make_facility(operator=org, name_en="Bare Inn", licence_type="", licence_number="")
    numberless = make_facility(kind="both", licence_type="simple", licence_number="")
    make_facility(name_en="Licensed Inn")
    make_facility(kind="office", name_en="Desk Only")
    make_facility(licence_type="", licence_number="", active=False, name_en="Closed Inn")

    response = admin_browser.get("/admin/licences")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert sorted(listed_ids(page)) == sorted([bare.id, numberless.id])
    assert "Bare Inn" in page and "Licensed Inn" not in page and "Closed Inn" not in page
    assert "森の運営" in page
    assert f'href="/admin/operators/{org.id}"' in page  # the operator and the review
    assert "Simple lodging business licence" in page and "no number" in page
    assert "employees cannot find them" in page
    assert 'aria-current="page"' in page


def test_the_overview_counts_them_and_links_to_the_page(admin_browser, make_facility):
    make_facility(licence_type="", licence_number="")
    make_facility(licence_type="", licence_number="")
    make_facility()

    page = admin_browser.get("/admin/").get_data(as_text=True)

    figure = page[page.index('data-figure="unlicensed"') :]
    assert re.match(r'data-figure="unlicensed"><dt>Facilities without a licence</dt>', figure)
    assert re.search(r'<a href="/admin/licences">2</a>', figure[:300])


def test_with_every_licence_in_place_the_page_says_so(admin_browser, make_facility):
    make_facility()
    page = admin_browser.get("/admin/licences").get_data(as_text=True)
    assert 'data-testid="no-unlicensed"' in page
    assert "Every open facility that offers stays has its licence." in page


def test_only_platform_admins_see_it(app, make_user, make_facility):
    make_facility(licence_type="", licence_number="", name_en="Bare Inn")
    for role in (Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR):
        response = signed_in(app, make_user(role)).get("/admin/licences")
        assert response.status_code == 403, role
        assert "Bare Inn" not in response.get_data(as_text=True)
    assert app.test_client().get("/admin/licences").status_code == 302
