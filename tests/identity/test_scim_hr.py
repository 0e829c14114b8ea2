"""SCIM provisioning fills the HR facts (issue 18): ``userType`` is the employee group,
the enterprise extension's ``employeeNumber``, ``department`` and ``manager`` the
others, as Entra ID (paths) and Okta (value objects) send them, through the served app."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Company, User
from identity.audit_log import action_label
from identity.scim_schema import ENTERPRISE_SCHEMA, USER_SCHEMA
from tests.identity import test_scim
from tests.identity.test_scim import assert_scim_error, audit_actions, okta_user, user_count

# The served app, its SCIM clients and companies with a token, as test_scim makes them.
served = test_scim.served
client_for = test_scim.client_for
directory = test_scim.directory

EXT = ENTERPRISE_SCHEMA


def company_of(db, d) -> Company:
    return db.session.get(User, d.admin_id).company


def facts(db, user_id) -> tuple:
    db.session.expire_all()
    user = db.session.get(User, int(user_id))
    return (user.employee_number, user.department, user.employee_group, user.manager_id)


def location(app, user_id) -> str:
    return f"{app.config['BASE_URL'].rstrip('/')}/scim/v2/Users/{user_id}"


def with_hr(email: str, manager_id=None, **extension) -> dict:
    """A create with the HR attributes mapped: userType and the enterprise extension."""
    if manager_id is not None:
        extension["manager"] = {"value": str(manager_id)}
    return okta_user(
        email,
        schemas=[USER_SCHEMA, EXT],
        userType="正社員",
        **{EXT: {"employeeNumber": "E0001", "department": "営業部", **extension}},
    )


def path(attribute: str) -> str:
    return f"{EXT}:{attribute}"


# --- create, get, replace --------------------------------------------------------------


def test_a_create_with_the_extension_keeps_the_hr_facts_and_get_returns_them(
    app,
    db,
    directory,
    client_for,
):
    d = directory()
    client = client_for(d.secret)
    boss = client.create(okta_user("boss@acme.example")).json()
    assert boss["schemas"] == [USER_SCHEMA]  # nothing set: no extension, no userType
    assert EXT not in boss and "userType" not in boss

    body = with_hr("hanako@acme.example", boss["id"], costCenter="CC-9", division="East")
    created = client.create(body)

    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["schemas"] == [USER_SCHEMA, EXT]
    assert answer["userType"] == "正社員"
    assert answer[EXT] == {
        "employeeNumber": "E0001",
        "department": "営業部",
        "manager": {"value": boss["id"], "$ref": location(app, boss["id"])},
    }
    assert client.get(answer["id"]).json() == answer
    listed = client.list(filter='userName eq "hanako@acme.example"').json()
    assert listed["Resources"] == [answer]
    assert facts(db, answer["id"]) == ("E0001", "営業部", "正社員", int(boss["id"]))
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "hr.facts")).one()
    assert (entry.actor_kind, entry.actor_id, entry.object_id) == ("scim", None, int(answer["id"]))
    assert entry.after_values == {
        "facts": ["employee_number", "department", "employee_group", "manager_id"],
        "manager_id": int(boss["id"]),
    }
    assert audit_actions(d.company_id) == ["scim.user.create", "scim.user.create", "hr.facts"]


def test_put_replaces_the_hr_facts_it_sends_and_keeps_those_it_leaves_out(
    app,
    db,
    directory,
    client_for,
):
    """RFC 7644 §3.5.1: an attribute a PUT leaves out is not asserted. A directory that
    maps none of the HR facts must not wipe what the admin set on the console."""
    d = directory()
    client = client_for(d.secret)
    boss_id = client.create(okta_user("boss@acme.example")).json()["id"]
    user_id = client.create(with_hr("hanako@acme.example", boss_id)).json()["id"]
    before = facts(db, user_id)
    assert before[0] is not None and before[3] == int(boss_id)

    # The number changes; the department, the group and the manager are not sent.
    only_number = okta_user("hanako@acme.example", schemas=[USER_SCHEMA, EXT])
    only_number[EXT] = {"employeeNumber": "E0002"}
    replaced = client.put(user_id, only_number)
    assert replaced.status_code == 200, replaced.text
    assert facts(db, user_id) == ("E0002", *before[1:])

    bare = client.put(user_id, okta_user("hanako@acme.example"))
    assert bare.status_code == 200, bare.text
    assert facts(db, user_id) == ("E0002", *before[1:])

    # Sent empty, a fact is cleared.
    cleared = okta_user("hanako@acme.example", schemas=[USER_SCHEMA, EXT])
    cleared[EXT] = {"employeeNumber": "", "department": None, "manager": None}
    cleared["userType"] = ""
    assert client.put(user_id, cleared).status_code == 200
    assert facts(db, user_id) == (None, None, None, None)
    # Each change is one entry; sending the same facts again records nothing more.
    assert client.put(user_id, okta_user("hanako@acme.example")).status_code == 200
    assert audit_actions(d.company_id).count("hr.facts") == 3


# --- PATCH as Entra ID and Okta send it -----------------------------------------------


def test_patch_paths_as_entra_sends_them(app, db, directory, client_for):
    client = client_for(directory().secret)
    boss_id = client.create(okta_user("boss@acme.example")).json()["id"]
    user_id = client.create(okta_user("taro@acme.example")).json()["id"]

    added = client.patch(
        user_id,
        {"op": "Add", "path": path("employeeNumber"), "value": "E0100"},
        {"op": "Add", "path": path("department"), "value": "R&D"},
        {"op": "Add", "path": "userType", "value": "契約社員"},
        {"op": "Add", "path": path("manager"), "value": boss_id},  # the id alone, a string
        {"op": "Add", "path": path("costCenter"), "value": "CC-1"},  # accepted, not kept
    )
    assert added.status_code == 200, added.text
    assert added.json()[EXT]["manager"]["value"] == boss_id
    assert facts(db, user_id) == ("E0100", "R&D", "契約社員", int(boss_id))

    replaced = client.patch(
        user_id,
        {"op": "Replace", "path": path("department"), "value": "Sales"},
        {"op": "Replace", "path": f"{USER_SCHEMA}:userType", "value": "正社員"},
    )
    assert replaced.status_code == 200, replaced.text
    assert facts(db, user_id) == ("E0100", "Sales", "正社員", int(boss_id))

    removed = client.patch(
        user_id,
        {"op": "Remove", "path": path("manager")},
        {"op": "Remove", "path": path("department")},
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()[EXT] == {"employeeNumber": "E0100"}
    assert facts(db, user_id) == ("E0100", None, "正社員", None)

    # manager.value names the id too; removing the extension clears its facts, not userType.
    again = client.patch(
        user_id, {"op": "Replace", "path": path("manager.value"), "value": boss_id}
    )
    assert facts(db, user_id)[3] == int(boss_id), again.text
    cleared = client.patch(user_id, {"op": "Remove", "path": EXT})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["schemas"] == [USER_SCHEMA]
    assert facts(db, user_id) == (None, None, "正社員", None)


def test_patch_value_objects_as_okta_sends_them(app, db, directory, client_for):
    client = client_for(directory().secret)
    boss_id = client.create(okta_user("boss@acme.example")).json()["id"]
    user_id = client.create(with_hr("taro@acme.example")).json()["id"]

    changed = client.patch(
        user_id,
        {
            "op": "replace",
            "value": {
                EXT: {"department": "経理部", "manager": {"value": boss_id}},
                "userType": "役員",
                "active": True,
            },
        },
    )

    assert changed.status_code == 200, changed.text
    # The number is not named: it stays.
    assert facts(db, user_id) == ("E0001", "経理部", "役員", int(boss_id))
    assert changed.json()["userType"] == "役員"
    # A null manager clears it.
    unset = client.patch(user_id, {"op": "replace", "value": {EXT: {"manager": None}}})
    assert unset.status_code == 200, unset.text
    assert facts(db, user_id)[3] is None


def test_attribute_names_are_case_insensitive(app, db, directory, client_for):
    client = client_for(directory().secret)
    boss_id = client.create(okta_user("boss@acme.example")).json()["id"]
    body = okta_user("hana@acme.example", schemas=[USER_SCHEMA, EXT.upper()], USERTYPE="正社員")
    body[EXT.lower()] = {
        "EmployeeNumber": "e-7",
        "DEPARTMENT": "営業部",
        "Manager": {"VALUE": boss_id},
    }
    created = client.create(body)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert facts(db, user_id) == ("e-7", "営業部", "正社員", int(boss_id))

    patched = client.patch(
        user_id,
        {"op": "replace", "path": path("EMPLOYEENUMBER").upper(), "value": "e-8"},
        {"op": "REMOVE", "path": "UserType"},
        {"op": "replace", "value": {EXT.upper(): {"department": "R&D"}}},
    )
    assert patched.status_code == 200, patched.text
    assert facts(db, user_id) == ("e-8", "R&D", None, int(boss_id))


# --- refusals ---------------------------------------------------------------------------


def test_a_manager_who_is_not_an_active_person_of_the_company_is_400_and_changes_nothing(
    app,
    db,
    directory,
    client_for,
    make_employee,
):
    d = directory()
    theirs = directory(domain="theirs.example")
    client = client_for(d.secret)
    user_id = client.create(okta_user("taro@acme.example")).json()["id"]
    left = make_employee(company=company_of(db, d), email="left@acme.example", active=False)
    their_person = make_employee(company=company_of(db, theirs), email="p@theirs.example")
    details = set()

    for manager in (str(their_person.id), str(theirs.admin_id), "999999", "abc", str(left.id)):
        refused = client.patch(
            user_id,
            {"op": "Replace", "path": "name.formatted", "value": "Renamed"},
            {"op": "Add", "path": path("department"), "value": "Sales"},
            {"op": "Add", "path": path("manager"), "value": manager},
        )
        details.add(assert_scim_error(refused, 400, "invalidValue")["detail"])
        created = client.create(with_hr(f"new{manager}@acme.example", manager))
        details.add(assert_scim_error(created, 400, "invalidValue")["detail"])

    # One answer for all: another company's id is not told apart from no one's.
    assert len(details) == 1 and "manager" in details.pop()
    user = db.session.get(User, int(user_id))
    assert user.name == "Taro Yamada"
    assert facts(db, user_id) == (None, None, None, None)
    assert user_count(d.company_id) == 3  # the admin, Taro and the one who left
    assert audit_actions(d.company_id) == ["scim.user.create"]


def test_a_leaver_is_deactivated_even_when_their_manager_cannot_be_resolved(
    app, db, directory, client_for
):
    """A directory deactivating someone may send a manager Engawa does not know (another
    system's id, a manager not provisioned): the leaver is deactivated all the same."""
    d = directory()
    client = client_for(d.secret)
    user_id = client.create(okta_user("leaver@acme.example")).json()["id"]
    leaving = with_hr("leaver@acme.example", "00u1abcdOKTA")
    leaving["active"] = False
    answer = client.put(user_id, leaving)
    assert answer.status_code == 200, answer.text
    assert db.session.get(User, int(user_id)).active is False
    assert facts(db, user_id) == (None, None, None, None)  # the refused facts are not kept
    patched = client.create(okta_user("second@acme.example")).json()["id"]
    answer = client.patch(
        patched,
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": path("manager"), "value": "999999"},
    )
    assert answer.status_code == 200, answer.text
    assert db.session.get(User, int(patched)).active is False


def test_a_taken_employee_number_is_409_uniqueness(app, db, directory, client_for, make_employee):
    d = directory()
    other = directory(domain="other.example")
    # Another company's person with the same number takes nothing from this company.
    make_employee(company=company_of(db, other), employee_number="E0002")
    client = client_for(d.secret)
    first = client.create(with_hr("first@acme.example")).json()["id"]  # E0001
    second = client.create(with_hr("second@acme.example", employeeNumber="E0002"))
    assert second.status_code == 201, second.text
    second_id = second.json()["id"]

    taken = client.patch(
        second_id, {"op": "replace", "path": path("employeeNumber"), "value": "E0001"}
    )
    assert_scim_error(taken, 409, "uniqueness")
    assert_scim_error(client.create(with_hr("third@acme.example")), 409, "uniqueness")
    assert facts(db, second_id)[0] == "E0002"
    assert user_count(d.company_id) == 3
    # Keeping one's own number is no conflict.
    assert client.put(first, with_hr("first@acme.example")).status_code == 200


def test_a_loop_of_managers_or_oneself_as_manager_is_400(app, db, directory, client_for):
    client = client_for(directory().secret)
    top = client.create(okta_user("top@acme.example")).json()["id"]
    middle = client.create(with_hr("middle@acme.example", top, employeeNumber="M")).json()["id"]
    low = client.create(with_hr("low@acme.example", middle, employeeNumber="L")).json()["id"]

    for user_id, manager in ((top, low), (top, middle), (middle, middle)):
        refused = client.patch(user_id, {"op": "Add", "path": path("manager"), "value": manager})
        assert "manager" in assert_scim_error(refused, 400, "invalidValue")["detail"]
    assert facts(db, top)[3] is None and facts(db, middle)[3] == int(top)


@pytest.mark.parametrize(
    ("extension", "extra", "scim_type"),
    [
        ({"employeeNumber": "x" * 41}, {}, "invalidValue"),
        ({"department": "x" * 101}, {}, "invalidValue"),
        ({}, {"userType": "x" * 41}, "invalidValue"),
        ({"department": "a\tb"}, {}, "invalidValue"),
        ({"employeeNumber": 7}, {}, "invalidValue"),
        ({"manager": {"value": True}}, {}, "invalidValue"),
        ({"manager": {"id": "1"}}, {}, "invalidSyntax"),
        ({"shoeSize": 42}, {}, "invalidSyntax"),
    ],
)
def test_a_bad_hr_value_is_400_and_makes_nobody(
    app,
    db,
    directory,
    client_for,
    extension,
    extra,
    scim_type,
):
    d = directory()
    body = okta_user("bad@acme.example", schemas=[USER_SCHEMA, EXT], **extra)
    body[EXT] = extension
    assert_scim_error(client_for(d.secret).create(body), 400, scim_type)
    assert user_count(d.company_id) == 1


# --- discovery and the audit log's words ------------------------------------------------


def test_discovery_describes_the_kept_attributes(app, directory, client_for):
    client = client_for(directory().secret)
    user_type = client.request("GET", "/ResourceTypes/User").json()
    assert user_type["schemaExtensions"] == [{"schema": EXT, "required": False}]
    core = client.request("GET", f"/Schemas/{USER_SCHEMA}").json()
    assert "userType" in [a["name"] for a in core["attributes"]]
    extension = client.request("GET", f"/Schemas/{EXT}").json()
    assert extension["id"] == EXT
    attributes = {a["name"]: a for a in extension["attributes"]}
    assert set(attributes) == {"employeeNumber", "department", "manager"}
    assert attributes["employeeNumber"]["uniqueness"] == "server"
    assert [s["name"] for s in attributes["manager"]["subAttributes"]] == ["value", "$ref"]
    assert client.request("GET", f"/Schemas/{EXT.lower()}").json()["id"] == EXT


def test_the_audit_log_names_the_hr_actions(app):
    with app.test_request_context(), force_locale("en"):
        assert action_label("hr.facts") == "HR details changed"
        assert action_label("hr.import") == "HR details imported from a CSV file"
        assert action_label("hr.group_policy.create") == "Group policy added"
        assert action_label("hr.group_policy.update") == "Group policy changed"
        assert action_label("hr.group_policy.delete") == "Group policy removed"
