"""The platform admin sets an operator organisation's municipality code
(全国地方公共団体コード) on its page: checked (six digits, the check digit, a municipality
that exists), one organisation per municipality, cleared by a blank, audited; shown on
the organisation's page with the municipality's name."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import OperatorKind, OperatorOrg, Role
from facilities.municipalities import with_check_digit
from tests.conftest import signed_in


@pytest.fixture
def admin(app, make_user):
    browser = signed_in(app, make_user(Role.PLATFORM_ADMIN, locale="en"))
    browser.get("/lang/en")
    return browser


@pytest.fixture
def city(make_operator):
    return make_operator(name="長野市役所", kind=OperatorKind.MUNICIPALITY)


def code_of(db, org_id: int) -> str | None:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(OperatorOrg, org_id).municipality_code


def entries(db) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "operator.municipality")
            .order_by(AuditEntry.id)
        )
    )


def post(admin, org_id: int, code: str):
    return admin.post(f"/admin/operators/{org_id}/municipality", data={"municipality_code": code})


def test_the_page_shows_the_form_and_no_code_yet(admin, city):
    html = admin.get(f"/admin/operators/{city.id}").get_data(as_text=True)
    assert 'data-testid="municipality-form"' in html
    assert 'name="municipality_code"' in html
    assert "None: not a municipality" in html


def test_a_code_is_set_shown_and_audited(db, admin, city):
    response = post(admin, city.id, " 202011 ")
    assert response.status_code == 303
    assert code_of(db, city.id) == "202011"
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "The municipality code is now 202011 (長野県長野市)." in html
    assert "202011 · 長野県長野市" in html
    (entry,) = entries(db)
    assert (entry.object_type, entry.object_id, entry.operator_id) == ("operator", city.id, city.id)
    assert entry.before_values == {"municipality_code": None}
    assert entry.after_values == {"municipality_code": "202011"}
    assert entry.actor_id is not None

    # The same code again: nothing changes, nothing is written.
    assert post(admin, city.id, "202011").status_code == 303
    assert len(entries(db)) == 1
    # A blank removes it.
    assert post(admin, city.id, "").status_code == 303
    assert code_of(db, city.id) is None
    assert entries(db)[-1].after_values == {"municipality_code": None}


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("202012", "the last being its check digit"),  # 長野市 with a wrong check digit
        ("20201", "the last being its check digit"),
        ("2020111", "the last being its check digit"),
        ("長野市", "the last being its check digit"),
        ("20-2011", "the last being its check digit"),
        (with_check_digit("99001"), "No municipality has this code."),
    ],
)
def test_a_bad_code_is_refused_and_changes_nothing(db, admin, city, code, message):
    response = post(admin, city.id, code)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'class="field-error"' in html
    assert code_of(db, city.id) is None
    assert entries(db) == []


def test_a_too_long_value_is_a_form_error(db, admin, city):
    assert post(admin, city.id, "2" * 21).status_code == 400
    assert code_of(db, city.id) is None


def test_a_second_organisation_cannot_take_the_same_code(db, admin, city, make_operator):
    holder = make_operator(name="長野市観光協会", municipality_code="202011")
    response = post(admin, city.id, "202011")
    assert response.status_code == 422
    assert "長野市観光協会 already has this municipality code." in response.get_data(as_text=True)
    assert code_of(db, city.id) is None and code_of(db, holder.id) == "202011"
    assert entries(db) == []
    # Another municipality's code is free.
    assert post(admin, city.id, "203211").status_code == 303
    assert code_of(db, city.id) == "203211"


def test_unknown_organisations_and_other_roles(app, db, admin, city, make_user):
    assert post(admin, 999_999, "202011").status_code == 404
    assert post(admin, 2**40, "202011").status_code == 404
    operator = signed_in(app, make_user(Role.OPERATOR, operator=city))
    assert post(operator, city.id, "202011").status_code == 403
    assert code_of(db, city.id) is None
