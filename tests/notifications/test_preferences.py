"""Mail preferences: each person switches optional mail on and off on their account
page; mail with legal or money facts cannot be switched off, even by a forged form."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from accounts.models import Role
from notifications.catalog import kinds_for_role
from notifications.models import MailOptOut
from notifications.preferences import set_preferences, wants_mail
from tests.conftest import NOW, signed_in

PAGE = "/account/notifications"


def checkboxes(html: str) -> dict[str, bool]:
    """Each checkbox of the form: its kind and whether it is checked."""
    return {
        m.group(2): "checked" in m.group(0)
        for m in re.finditer(r'<input([^>]*)value="([a-z_]+)"[^>]*>', html)
        if 'type="checkbox"' in m.group(0)
    }


def opted_out(db, user) -> set[str]:
    return set(db.session.scalars(select(MailOptOut.kind).where(MailOptOut.user_id == user.id)))


def test_an_employee_sees_the_optional_mails_checked_and_the_required_listed(app, db, make_user):
    employee = make_user(Role.EMPLOYEE, locale="en")
    page = signed_in(app, employee).get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert checkboxes(html) == {"stay_reminder": True, "stay_thanks": True}
    always = html[html.index('data-testid="always-sent"') :]
    for kind in ("booking_confirmed", "booking_cancelled", "booking_changed"):
        assert f'data-kind="{kind}"' in always
    assert "Booking confirmed" in always


def test_saving_keeps_the_optional_mails_chosen(app, db, make_user):
    employee = make_user(Role.EMPLOYEE, locale="en")
    browser = signed_in(app, employee)
    saved = browser.post(PAGE, data={"wanted": ["stay_thanks"]})
    assert saved.status_code == 303 and saved.location.endswith(PAGE)
    assert opted_out(db, employee) == {"stay_reminder"}
    assert not wants_mail(employee.id, "stay_reminder")
    assert wants_mail(employee.id, "stay_thanks")
    html = browser.get(PAGE).get_data(as_text=True)
    assert "Your mail preferences are saved." in html
    assert checkboxes(html) == {"stay_reminder": False, "stay_thanks": True}
    # Nothing checked: every optional mail off; then all back on.
    browser.post(PAGE, data={})
    assert opted_out(db, employee) == {"stay_reminder", "stay_thanks"}
    browser.post(PAGE, data={"wanted": ["stay_reminder", "stay_thanks"]})
    assert opted_out(db, employee) == set()
    assert wants_mail(employee.id, "stay_reminder")


def test_a_forged_form_cannot_switch_off_a_required_mail(app, db, make_user):
    admin = make_user(Role.COMPANY_ADMIN, locale="en")
    browser = signed_in(app, admin)
    forged = {"wanted": ["no_such_kind", "operator_digest"], "booking_confirmed": "off"}
    assert browser.post(PAGE, data=forged).status_code == 303
    off = opted_out(db, admin)
    assert off == {k.name for k in kinds_for_role(Role.COMPANY_ADMIN) if k.optional}
    for required in ("booking_confirmed", "invoice_issued", "payment_failed"):
        assert required not in off and wants_mail(admin.id, required)
    # The service alone, told nothing is wanted, leaves the required mails on as well.
    assert "invoice_issued" not in set_preferences(admin.id, set(), NOW)
    assert "operator_digest" not in opted_out(db, admin)  # not a company admin's mail


def test_without_its_csrf_token_nothing_is_saved(app, db, make_user):
    employee = make_user(Role.EMPLOYEE, locale="en")
    browser = signed_in(app, employee)
    app.config["WTF_CSRF_ENABLED"] = True
    assert browser.post(PAGE, data={"wanted": ["stay_thanks"]}).status_code == 400
    assert opted_out(db, employee) == set()


@pytest.mark.parametrize(
    ("role", "mine", "not_mine"),
    [
        (Role.OPERATOR, {"operator_booking_created", "calendar_conflict", "operator_digest"},
         {"stay_reminder", "credit_low"}),
        (Role.COMPANY_ADMIN, {"stay_reminder", "credit_low", "seats_full"},
         {"calendar_conflict", "application_submitted"}),
        (Role.PLATFORM_ADMIN, {"application_submitted"}, {"stay_reminder", "calendar_conflict"}),
    ],
)  # fmt: skip
def test_each_role_chooses_among_its_own_mails(app, db, make_user, role, mine, not_mine):
    person = make_user(role, locale="en")
    browser = signed_in(app, person)
    shown = checkboxes(browser.get(PAGE).get_data(as_text=True))
    assert mine <= set(shown) and not (not_mine & set(shown))
    assert set(shown) == {k.name for k in kinds_for_role(role) if k.optional}
    browser.post(PAGE, data={"wanted": sorted(not_mine)})  # none of them is its own
    assert opted_out(db, person) == set(shown)


def test_the_account_page_links_to_the_preferences(app, db, make_user):
    employee = make_user(Role.EMPLOYEE, locale="en")
    html = signed_in(app, employee).get("/account").get_data(as_text=True)
    assert f'href="{PAGE}"' in html


def test_signed_out_people_are_sent_to_sign_in(app, db):
    for answer in (app.test_client().get(PAGE), app.test_client().post(PAGE, data={})):
        assert answer.status_code == 302 and "/login" in answer.location
