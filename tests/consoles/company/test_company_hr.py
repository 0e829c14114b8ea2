"""The company admin's HR pages: one employee's HR details, the people CSV import and
its template, and the group policies; each for the admin's own company only."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.models import Role, User
from consoles.company import hr_views
from hr import people_import as hr_import
from hr.models import DEFAULT_GROUP, GroupPolicy
from tests.conftest import signed_in


@pytest.fixture
def world(make_company, make_user):
    acme, globex = make_company(name="Acme"), make_company(name="Globex")
    return {
        "acme": acme,
        "admin": make_user(Role.COMPANY_ADMIN, company=acme, name="総務 太郎",
                           email="admin@acme.example"),
        "hanako": make_user(Role.EMPLOYEE, company=acme, name="山田 花子",
                            email="hanako@acme.example"),
        "jiro": make_user(Role.EMPLOYEE, company=acme, name="鈴木 次郎",
                          email="jiro@acme.example"),
        "gone": make_user(Role.EMPLOYEE, company=acme, name="退職 三郎", active=False,
                          email="gone@acme.example"),
        "rival": make_user(Role.COMPANY_ADMIN, company=globex, email="admin@globex.example"),
        "stranger": make_user(Role.EMPLOYEE, company=globex, email="someone@globex.example"),
    }  # fmt: skip


def english(app, user):
    """Signed in as ``user``, reading English (the msgids)."""
    browser = signed_in(app, user)
    browser.get("/lang/en")
    return browser


def fresh(db, user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def hr_data(**values) -> dict:
    data = {"employee_number": "", "department": "", "employee_group": "", "manager": ""}
    data.update(values)
    return data


def text(response) -> str:
    return response.get_data(as_text=True)


# --- who may -------------------------------------------------------------------------------

PAGES = (
    "/company/employees/{user}/hr",
    "/company/employees/import",
    "/company/employees/import/template.csv",
    "/company/groups",
    "/company/stays/export",
    "/company/stays.csv",
)


def test_only_company_admins_reach_the_pages(app, world, make_user):
    outsiders = [
        world["hanako"],
        make_user(Role.OPERATOR),
        make_user(Role.PLATFORM_ADMIN),
    ]
    for person in outsiders:
        browser = signed_in(app, person)
        for page in PAGES:
            url = page.format(user=world["hanako"].id)
            assert browser.get(url).status_code == 403, (person.role, url)
        posted = browser.post(f"/company/employees/{world['hanako'].id}/hr", data=hr_data())
        assert posted.status_code == 403
        assert browser.post("/company/groups", data={"employee_group": "x"}).status_code == 403
    anonymous = app.test_client().get(f"/company/employees/{world['hanako'].id}/hr")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    admin = signed_in(app, world["admin"])
    for page in PAGES:
        assert admin.get(page.format(user=world["hanako"].id)).status_code == 200, page


def test_another_companys_person_is_not_found(app, db, world):
    rival = signed_in(app, world["rival"])
    hanako = world["hanako"]
    assert rival.get(f"/company/employees/{hanako.id}/hr").status_code == 404
    posted = rival.post(f"/company/employees/{hanako.id}/hr", data=hr_data(department="x"))
    assert posted.status_code == 404
    admin = signed_in(app, world["admin"])
    assert admin.get(f"/company/employees/{world['stranger'].id}/hr").status_code == 404
    assert admin.get("/company/employees/99999999999999/hr").status_code == 404
    assert fresh(db, hanako).department is None


# --- one employee's HR details -------------------------------------------------------------


def test_the_form_offers_active_colleagues_as_managers(app, world):
    hanako = world["hanako"]
    page = text(english(app, world["admin"]).get(f"/company/employees/{hanako.id}/hr"))
    assert "HR details" in page and "山田 花子" in page
    options = re.findall(r'<option[^>]*value="(\d*)"', page)
    # None first, then the active people but herself; the deactivated one is not offered.
    assert options[0] == ""
    assert set(options[1:]) == {str(world["admin"].id), str(world["jiro"].id)}
    assert 'list="groups-in-use"' in page


def test_saving_the_details_and_seeing_them_in_the_list(app, db, world):
    hanako, jiro = world["hanako"], world["jiro"]
    browser = english(app, world["admin"])
    saved = browser.post(
        f"/company/employees/{hanako.id}/hr",
        data=hr_data(
            employee_number=" E0001 ",
            department="営業部",
            employee_group="正社員",
            manager=str(jiro.id),
        ),
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/company/employees"
    person = fresh(db, hanako)
    assert (person.employee_number, person.department, person.employee_group) == (
        "E0001",
        "営業部",
        "正社員",
    )
    assert person.manager_id == jiro.id
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "hr.facts")).one()
    assert entry.object_id == hanako.id and entry.company_id == world["acme"].id

    listing = text(browser.get("/company/employees"))
    assert "The HR details of 山田 花子 have been saved." in listing
    row = re.search(rf'<tr data-user-id="{hanako.id}".*?</tr>', listing, re.S).group(0)
    assert "E0001" in row and "営業部" in row and "正社員" in row
    assert re.search(r'data-testid="manager">鈴木 次郎<', row)
    assert f'href="/company/employees/{hanako.id}/hr"' in row

    # The form comes back filled in; the group is offered in the datalist.
    again = text(browser.get(f"/company/employees/{hanako.id}/hr"))
    assert 'value="E0001"' in again and '<option value="正社員">' in again
    selected = re.search(r"<option([^>]*) selected[^>]*>|<option selected([^>]*)>", again)
    assert f'value="{jiro.id}"' in selected.group(0)

    # Emptied fields clear the facts.
    assert browser.post(f"/company/employees/{hanako.id}/hr", data=hr_data()).status_code == 303
    person = fresh(db, hanako)
    assert (person.employee_number, person.department, person.manager_id) == (None, None, None)


def test_refusals_are_shown_on_the_form(app, db, world):
    hanako, jiro = world["hanako"], world["jiro"]
    browser = english(app, world["admin"])
    ok = browser.post(f"/company/employees/{jiro.id}/hr", data=hr_data(employee_number="E7"))
    assert ok.status_code == 303

    taken = browser.post(
        f"/company/employees/{hanako.id}/hr",
        data=hr_data(employee_number="E7", department="経理部"),
    )
    assert taken.status_code == 422
    page = text(taken)
    assert "This employee number belongs to someone else in your company." in page
    assert 'aria-invalid="true"' in page and 'value="経理部"' in page  # what was typed stays

    # Jiro reports to Hanako; Hanako cannot then report to Jiro.
    assert (
        browser.post(
            f"/company/employees/{jiro.id}/hr",
            data=hr_data(employee_number="E7", manager=str(hanako.id)),
        ).status_code
        == 303
    )
    loop = browser.post(f"/company/employees/{hanako.id}/hr", data=hr_data(manager=str(jiro.id)))
    assert loop.status_code == 422
    assert "reports to this person already" in text(loop)

    too_long = browser.post(
        f"/company/employees/{hanako.id}/hr", data=hr_data(employee_number="9" * 41)
    )
    assert too_long.status_code == 400
    # Someone not offered (another company's person, the deactivated one, herself).
    for other in (world["stranger"], world["gone"], hanako):
        refused = browser.post(
            f"/company/employees/{hanako.id}/hr", data=hr_data(manager=str(other.id))
        )
        assert refused.status_code == 400, other.email
    person = fresh(db, hanako)
    assert (person.employee_number, person.department, person.manager_id) == (None, None, None)


# --- the CSV import ------------------------------------------------------------------------


def upload(browser, data: bytes, filename: str = "people.csv"):
    return browser.post(
        "/company/employees/import",
        data={"file": (BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


GOOD = (
    "email,employee_number,department,group,manager_email\r\n"
    "hanako@acme.example,E0001,営業部,正社員,jiro@acme.example\r\n"
    "jiro@acme.example,E0002,営業部,契約社員,\r\n"
)


def test_the_import_page_explains_the_file(app, world):
    page = text(english(app, world["admin"]).get("/company/employees/import"))
    for column in ("email", "employee_number", "department", "group", "manager_email"):
        assert f'<code translate="no">{column}</code>' in page
    assert "UTF-8 or Shift_JIS" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'href="/company/employees/import/template.csv"' in page


def test_the_template_downloads(app, world):
    response = signed_in(app, world["admin"]).get("/company/employees/import/template.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffemail,employee_number,department,group,manager_email\r\n")


def test_every_hr_form_needs_the_csrf_token(app, db, world):
    """The import checks the token by hand (it reads the file itself): with the token
    missing, it and every other HR form answer 400 and change nothing."""
    browser = signed_in(app, world["admin"])
    app.config["WTF_CSRF_ENABLED"] = True
    person = world["hanako"]
    refused = {
        "import": upload(browser, GOOD.encode()),
        "hr": browser.post(f"/company/employees/{person.id}/hr", data={"department": "x"}),
        "groups": browser.post("/company/groups", data={"employee_group": "x"}),
        "default": browser.post("/company/groups/default", data={"leisure_allowed": "y"}),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 400)
    assert policies(db, world["admin"].company_id) == {}
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.company_id == world["admin"].company_id, User.employee_number.is_not(None))
        )
        == 0
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
def test_a_good_file_updates_everyone_it_names(app, db, world, encoding):
    browser = english(app, world["admin"])
    answer = upload(browser, GOOD.encode(encoding))
    assert answer.status_code == 303 and answer.headers["Location"] == "/company/employees"
    assert "2 employees updated." in text(browser.get("/company/employees"))
    hanako, jiro = fresh(db, world["hanako"]), fresh(db, world["jiro"])
    assert (hanako.employee_number, hanako.employee_group, hanako.manager_id) == (
        "E0001",
        "正社員",
        jiro.id,
    )
    assert (jiro.employee_number, jiro.employee_group) == ("E0002", "契約社員")
    assert jiro.manager_id is None

    # The same file again changes nobody.
    upload(browser, GOOD.encode(encoding))
    page = text(browser.get("/company/employees"))
    assert "0 employees updated." in page and "2 employees were already up to date." in page


def test_a_file_with_errors_lists_its_lines_and_changes_nothing(app, db, world):
    bad = (
        "email,employee_number,department,group,manager_email\n"
        "hanako@acme.example,E0001,営業部,正社員,jiro@acme.example\n"
        "nobody@acme.example,E0002,,,\n"
        "jiro@acme.example,E0001,,,someone@globex.example\n"
    )
    browser = english(app, world["admin"])
    answer = upload(browser, bad.encode())
    assert answer.status_code == 422
    page = text(answer)
    assert "Nothing was changed" in page
    table = re.search(r'data-testid="import-errors".*?</table>', page, re.S).group(0)
    lines = re.findall(r'<tr data-line="(\d+)">', table)
    assert "3" in lines and "4" in lines and "2" not in lines
    assert "No one in your company has this e-mail address." in table
    assert "also on line 2" in table  # E0001 twice
    assert fresh(db, world["hanako"]).employee_number is None


def test_a_file_refused_as_a_whole(app, db, world):
    browser = english(app, world["admin"])
    header = upload(browser, b"mail,number\nhanako@acme.example,1\n")
    assert header.status_code == 422
    assert "The first line must be" in text(header)

    missing = browser.post("/company/employees/import", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400
    assert "Choose a CSV file to upload." in text(missing)
    assert fresh(db, world["hanako"]).employee_number is None


def test_a_file_over_the_limit_is_refused_before_it_is_read(app, db, world, monkeypatch):
    # A small limit keeps the test's bodies in memory (over 500 kB, they go to files).
    limit = 4000
    monkeypatch.setattr(hr_import, "MAX_IMPORT_BYTES", limit)
    browser = english(app, world["admin"])
    # A body over the limit and the room for the form: refused while it is read.
    too_big = upload(browser, GOOD.encode() + b"\n" * (limit + hr_views.BODY_ROOM))
    assert too_big.status_code == 413
    assert "Nothing was changed: the file can be at most" in text(too_big)
    # A file just over the limit, in a body that still fits: refused unparsed.
    just_over = upload(browser, GOOD.encode() + b"\n" * (limit - len(GOOD.encode()) + 1))
    assert just_over.status_code == 413
    # At the limit, it is read.
    at_limit = upload(browser, GOOD.encode() + b"\n" * (limit - len(GOOD.encode())))
    assert at_limit.status_code == 303
    assert fresh(db, world["hanako"]).employee_number == "E0001"


# --- group policies ------------------------------------------------------------------------


def policies(db, company_id: int) -> dict[str, tuple[bool, bool]]:
    db.session.expire_all()
    rows = db.session.scalars(select(GroupPolicy).where(GroupPolicy.company_id == company_id))
    return {row.employee_group: (row.leisure_allowed, row.business_allowed) for row in rows}


def test_the_groups_page_explains_the_default(app, db, world):
    world["hanako"].employee_group = "契約社員"
    db.session.commit()
    page = text(english(app, world["admin"]).get("/company/groups"))
    assert "A group without a policy of its own follows the company default." in page
    assert "With no policy at all, everyone may book both kinds of stay." in page
    assert "Not set: both kinds of stay are allowed." in page
    assert '<option value="契約社員">' in page  # offered in the datalist
    assert "Groups in use that follow the company default:" in page
    # Both boxes ticked on the (unset) default and on the add form.
    for box in ("default-leisure", "default-business", "add-leisure", "add-business"):
        assert re.search(rf'<input checked id="{box}"', page), box


def test_adding_editing_and_deleting_group_policies(app, db, world):
    company_id = world["acme"].id
    browser = english(app, world["admin"])
    added = browser.post(
        "/company/groups", data={"employee_group": " 契約社員 ", "leisure_allowed": "y"}
    )
    assert added.status_code == 303 and added.headers["Location"] == "/company/groups"
    assert policies(db, company_id) == {"契約社員": (True, False)}
    page = text(browser.get("/company/groups"))
    assert "The policy of the group 契約社員 has been saved." in page
    assert 'data-group="契約社員"' in page

    edited = browser.post(
        "/company/groups",
        data={"employee_group": "契約社員", "leisure_allowed": "y", "business_allowed": "y"},
    )
    assert edited.status_code == 303
    assert policies(db, company_id) == {"契約社員": (True, True)}

    default = browser.post("/company/groups/default", data={"business_allowed": "y"})
    assert default.status_code == 303
    assert policies(db, company_id) == {"契約社員": (True, True), DEFAULT_GROUP: (False, True)}
    assert "The company default has been saved." in text(browser.get("/company/groups"))

    # Neither purpose: refused, shown where it was asked, nothing changed.
    neither = browser.post("/company/groups", data={"employee_group": "契約社員"})
    assert neither.status_code == 422
    assert "Allow at least one kind of stay" in text(neither)
    neither_default = browser.post("/company/groups/default", data={})
    assert neither_default.status_code == 422
    new_neither = browser.post("/company/groups", data={"employee_group": "役員"})
    assert new_neither.status_code == 422
    assert 'value="役員"' in text(new_neither)  # the add form keeps what was typed
    no_name = browser.post("/company/groups", data={"employee_group": "  ", "leisure_allowed": "y"})
    assert no_name.status_code == 400
    assert policies(db, company_id) == {"契約社員": (True, True), DEFAULT_GROUP: (False, True)}

    rows = db.session.scalars(select(GroupPolicy).where(GroupPolicy.company_id == company_id))
    ids = {row.employee_group: row.id for row in rows}
    deleted = browser.post(f"/company/groups/{ids['契約社員']}/delete")
    assert deleted.status_code == 303
    assert policies(db, company_id) == {DEFAULT_GROUP: (False, True)}
    assert "its people now follow the company default" in text(browser.get("/company/groups"))
    assert browser.post(f"/company/groups/{ids[DEFAULT_GROUP]}/delete").status_code == 303
    assert policies(db, company_id) == {}
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("hr.group_policy.%"))
    ).all()
    assert sorted(set(actions)) == [
        "hr.group_policy.create",
        "hr.group_policy.delete",
        "hr.group_policy.update",
    ]


def test_another_companys_policy_is_not_found(app, db, world):
    rival = signed_in(app, world["rival"])
    added = rival.post(
        "/company/groups", data={"employee_group": "出向者", "business_allowed": "y"}
    )
    assert added.status_code == 303
    theirs = db.session.scalar(select(GroupPolicy).where(GroupPolicy.employee_group == "出向者"))
    admin = signed_in(app, world["admin"])
    assert admin.post(f"/company/groups/{theirs.id}/delete").status_code == 404
    assert admin.post("/company/groups/99999999999999/delete").status_code == 404
    assert policies(db, world["rival"].company_id) == {"出向者": (False, True)}
    # Nor does the admin's page show it.
    assert "出向者" not in text(admin.get("/company/groups"))
