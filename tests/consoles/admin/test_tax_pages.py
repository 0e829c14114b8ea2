"""The accommodation tax table at /admin/taxes: the rules by place as readable bands,
adding, editing and ending a rule through the forms (audited, overlaps and bad brackets
refused with a clear error), for platform admins only."""

from __future__ import annotations

import html
import json
import re
from datetime import date

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Role
from lodging.models import AccommodationTaxRule
from lodging.rates import TOKYO
from tests.conftest import post_sign_in, signed_in

NAGANO = 20
FORM = {
    "prefecture": "20",
    "municipality": "",
    "effective_from": "2027-06-01",
    "effective_until": "",
    "brackets": "0, 0\n6000, 300",
    "source_url": "https://www.pref.nagano.lg.jp/zeimu/shukuhakuzei.html",
    "note": "長野県 宿泊税",
}


@pytest.fixture
def root(make_user):
    return make_user(Role.PLATFORM_ADMIN, email="root@engawa.example")


@pytest.fixture
def admin_browser(app, root):
    browser = signed_in(app, root)
    browser.get("/lang/en")
    return browser


def text_of(response) -> str:
    page = response.get_data(as_text=True)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def audit_actions(db) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def rules(db, prefecture=NAGANO) -> list[AccommodationTaxRule]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AccommodationTaxRule)
            .where(AccommodationTaxRule.prefecture == prefecture)
            .order_by(AccommodationTaxRule.effective_from)
        )
    )


def field_error(page: str, field: str) -> str:
    """The error text tied to a form field (aria-describedby → its errors)."""
    found = re.search(rf'<div class="field-errors" id="{field}-error">(.*?)</div>', page, re.S)
    assert found, f"no error on {field}"
    return html.unescape(re.sub(r"<[^>]+>", "", found[1])).strip()


def test_the_table_shows_each_place_with_readable_bands(admin_browser, tax_rules):
    response = admin_browser.get("/admin/taxes")
    page = text_of(response)

    assert response.status_code == 200
    assert "Tokyo whole prefecture" in page
    assert "below ¥10,000: none" in page
    assert "¥10,000–¥14,999: ¥100" in page
    assert "¥15,000 and over: ¥200" in page
    assert "Kyoto 京都市" in page
    assert "below ¥6,000: ¥200" in page and "¥100,000 and over: ¥10,000" in page
    assert "Osaka whole prefecture" in page and "Fukuoka 福岡市" in page
    assert "Ishikawa 金沢市" in page
    # Kyoto's old rule ended, its new one is in force (today is 2026-12-01).
    assert "Ended" in page and "In force" in page
    assert "A change applies to stays booked after it" in page
    raw = response.get_data(as_text=True)
    assert 'href="https://www.city.kyoto.lg.jp/gyozai/page/0000236942.html"' in raw
    assert raw.count('data-testid="tax-place"') == 5
    assert 'href="/admin/taxes"' in raw and 'aria-current="page"' in raw


def test_an_empty_table_says_so(admin_browser):
    assert "No accommodation tax rule yet" in text_of(admin_browser.get("/admin/taxes"))


def test_the_admin_adds_a_rule(db, admin_browser):
    assert admin_browser.get("/admin/taxes/new").status_code == 200

    response = admin_browser.post("/admin/taxes/new", data=FORM)

    assert response.status_code == 303 and response.location.endswith("/admin/taxes")
    [rule] = rules(db)
    assert rule.brackets == [[0, 0], [6000, 300]]
    assert (rule.municipality, rule.effective_from, rule.effective_until) == (
        "",
        date(2027, 6, 1),
        None,
    )
    assert audit_actions(db) == ["accommodation_tax_rule.create"]
    page = text_of(admin_browser.get("/admin/taxes"))
    assert "The tax rule of Nagano has been added." in page
    assert "below ¥6,000: none" in page and "¥6,000 and over: ¥300" in page


def test_brackets_may_be_typed_with_yen_signs_and_separators(db, admin_browser):
    brackets = "¥0、0円\n¥10,000, ¥100\n15000 200\n\n"
    response = admin_browser.post("/admin/taxes/new", data={**FORM, "brackets": brackets})
    assert response.status_code == 303
    assert rules(db)[0].brackets == [[0, 0], [10000, 100], [15000, 200]]


@pytest.mark.parametrize(
    ("brackets", "status", "says"),
    [
        ("0, 0\nten thousand, 100", 400, "Line 2: write the price"),
        ("0, 0\n10000", 400, "Line 2: write the price"),
        ("0; 0; 0", 400, "Line 1: write the price"),
        ("", 400, "at least one bracket"),
        ("100, 0\n10000, 100", 422, "The first bracket starts at ¥0"),
        ("0, 0\n15000, 200\n10000, 100", 422, "Brackets go up in price: ¥10,000 comes after"),
        ("0, 0\n10000, -100", 422, "cannot be negative"),
    ],
)
def test_bad_brackets_are_refused_on_the_field(db, admin_browser, brackets, status, says):
    response = admin_browser.post("/admin/taxes/new", data={**FORM, "brackets": brackets})

    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert says in field_error(page, "brackets")
    assert 'aria-invalid="true"' in page
    assert rules(db) == [] and audit_actions(db) == []


def test_an_overlapping_rule_is_refused_unless_the_previous_is_ended(db, admin_browser):
    assert admin_browser.post("/admin/taxes/new", data=FORM).status_code == 303
    later = {**FORM, "effective_from": "2028-04-01", "brackets": "0, 0\n6000, 400"}

    response = admin_browser.post("/admin/taxes/new", data=later)

    assert response.status_code == 422
    error = field_error(response.get_data(as_text=True), "effective_from")
    assert "already has a rule from 1 Jun 2027" in error and "tick the box" in error
    assert len(rules(db)) == 1

    response = admin_browser.post("/admin/taxes/new", data={**later, "end_previous": "y"})

    assert response.status_code == 303
    first, second = rules(db)
    assert first.effective_until == date(2028, 3, 31) and second.effective_until is None
    assert audit_actions(db) == [
        "accommodation_tax_rule.create",
        "accommodation_tax_rule.end",
        "accommodation_tax_rule.create",
    ]


def test_the_admin_edits_a_rule(db, admin_browser, tax_rules):
    tokyo = next(r for r in tax_rules if r.prefecture == TOKYO)
    form = admin_browser.get(f"/admin/taxes/{tokyo.id}/edit").get_data(as_text=True)
    assert "0, 0\n10000, 100\n15000, 200" in html.unescape(form)
    assert "end_previous" not in form  # only a new rule may end the one before

    edited = {
        "prefecture": str(TOKYO),
        "municipality": "",
        "effective_from": "2002-10-01",
        "effective_until": "",
        "brackets": "0, 0\n10000, 100\n15000, 200\n100000, 500",
        "source_url": tokyo.source_url,
        "note": tokyo.note,
    }
    response = admin_browser.post(f"/admin/taxes/{tokyo.id}/edit", data=edited)

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(AccommodationTaxRule, tokyo.id).brackets[-1] == [100000, 500]
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.object_id) == ("accommodation_tax_rule.update", tokyo.id)
    assert json.loads(entry.after) == {
        "brackets": [[0, 0], [10000, 100], [15000, 200], [100000, 500]]
    }
    assert "The tax rule of Tokyo has been saved." in text_of(admin_browser.get("/admin/taxes"))


def test_an_edit_that_would_overlap_is_refused(db, admin_browser, tax_rules):
    old_kyoto = next(r for r in tax_rules if r.effective_until == date(2026, 2, 28))
    edited = {
        "prefecture": "26",
        "municipality": "京都市",
        "effective_from": "2018-10-01",
        "effective_until": "2026-03-01",
        "brackets": "0, 200\n20000, 500\n50000, 1000",
        "source_url": old_kyoto.source_url,
        "note": "",
    }
    response = admin_browser.post(f"/admin/taxes/{old_kyoto.id}/edit", data=edited)

    assert response.status_code == 422
    assert "cannot overlap" in field_error(response.get_data(as_text=True), "effective_from")
    assert rules(db, 26)[0].effective_until == date(2026, 2, 28)
    assert audit_actions(db) == []


def test_the_admin_ends_a_rule(db, admin_browser, tax_rules):
    osaka = next(r for r in tax_rules if r.prefecture == 27)
    page = admin_browser.get(f"/admin/taxes/{osaka.id}/end")
    assert page.status_code == 200 and "Osaka" in text_of(page)

    too_early = admin_browser.post(
        f"/admin/taxes/{osaka.id}/end", data={"last_night": "2025-08-31"}
    )
    assert too_early.status_code == 422
    assert "before the rule's first night" in field_error(
        too_early.get_data(as_text=True), "last_night"
    )
    assert admin_browser.post(f"/admin/taxes/{osaka.id}/end", data={}).status_code == 400

    response = admin_browser.post(f"/admin/taxes/{osaka.id}/end", data={"last_night": "2027-03-31"})

    assert response.status_code == 303
    assert rules(db, 27)[0].effective_until == date(2027, 3, 31)
    assert audit_actions(db) == ["accommodation_tax_rule.end"]
    assert "now ends with the night of 31 Mar 2027" in text_of(admin_browser.get("/admin/taxes"))


def test_unknown_rules_answer_404(admin_browser):
    for path in ("/admin/taxes/999/edit", "/admin/taxes/999/end"):
        assert admin_browser.get(path).status_code == 404, path
        assert admin_browser.post(path, data=FORM).status_code == 404, path


def test_only_platform_admins_reach_the_table(app, db, make_user, tax_rules):
    rule_id = tax_rules[0].id
    paths = ["/admin/taxes", "/admin/taxes/new", f"/admin/taxes/{rule_id}/edit"]
    for role in (Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR):
        browser = signed_in(app, make_user(role))
        for path in paths:
            assert browser.get(path).status_code == 403, (role, path)
        assert browser.post("/admin/taxes/new", data=FORM).status_code == 403
        assert (
            browser.post(
                f"/admin/taxes/{rule_id}/end", data={"last_night": "2027-01-01"}
            ).status_code
            == 403
        )
    assert app.test_client().get("/admin/taxes").status_code == 302
    assert rules(db) == [] and audit_actions(db) == []


def test_the_forms_need_csrf(app, db, root):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    login_page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)[1]
    assert post_sign_in(browser, root.email, data={"csrf_token": token}).status_code == 302

    assert browser.post("/admin/taxes/new", data=FORM).status_code == 400
    assert rules(db) == []
    page = browser.get("/admin/taxes/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    assert browser.post("/admin/taxes/new", data={**FORM, "csrf_token": token}).status_code == 303
    assert len(rules(db)) == 1


def test_the_pages_fit_a_phone(admin_browser, tax_rules):
    """No fixed widths: the table scrolls inside its own focusable region at 390 px."""
    for path in ("/admin/taxes", "/admin/taxes/new", f"/admin/taxes/{tax_rules[0].id}/end"):
        page = admin_browser.get(path).get_data(as_text=True)
        console = page.split('class="admin-nav"', 1)[1].split("</main>", 1)[0]
        assert " style=" not in console and "width" not in console, path
    page = admin_browser.get("/admin/taxes").get_data(as_text=True)
    assert page.count('class="table-wrap" role="region"') == 5
    assert '<label for="brackets">' in admin_browser.get("/admin/taxes/new").get_data(as_text=True)
