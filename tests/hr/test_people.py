"""Employees' HR facts: one person at a time (hr.people) and from a CSV file
(hr.people_import); only the company's own people, numbers unique, managers active and
never in a loop, audited."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts.audit import ACTOR_SCIM, AuditEntry
from accounts.membership import MemberNotFound
from accounts.models import Role, User
from hr import people, people_import
from hr.people import HrError, HrNotFound
from hr.people_import import RowError
from tests.conftest import NOW

HEADER = "email,employee_number,department,group,manager_email"


def english(message) -> str:
    with force_locale("en"):
        return str(message)


def entries(db, action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def fresh(db, user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


@pytest.fixture
def company(make_company):
    return make_company(subscribed=False)


@pytest.fixture
def admin(make_user, company):
    return make_user(Role.COMPANY_ADMIN, company=company, email="admin@corp.example.com")


@pytest.fixture
def person(make_employee, company):
    return make_employee(company=company, email="hanako@corp.example.com", name="山田 花子")


@pytest.fixture
def boss(make_employee, company):
    return make_employee(company=company, email="boss@corp.example.com", name="佐藤 太郎")


@pytest.fixture
def stranger(make_employee, make_company):
    """Someone of another company."""
    return make_employee(company=make_company(subscribed=False), email="x@other.example.com")


def set_facts(company, user, *, actor=None, **kw) -> User:
    values = {"employee_number": None, "department": None, "employee_group": None}
    values["manager_id"] = None
    values.update(kw)
    return people.set_hr_facts(
        company.id, user.id, actor_id=actor.id if actor else None, now=NOW, **values
    )


# --- one person ------------------------------------------------------------------------


def test_facts_are_set_stripped_and_audited_by_name_only(db, company, admin, person, boss):
    user = set_facts(
        company,
        person,
        actor=admin,
        employee_number="  E0001 ",
        department="\u3000営業部 ",
        employee_group=" 正社員",
        manager_id=boss.id,
    )
    db.session.commit()

    user = fresh(db, person)
    assert (user.employee_number, user.department, user.employee_group) == (
        "E0001",
        "営業部",
        "正社員",
    )
    assert user.manager_id == boss.id and user.manager.email == boss.email
    [entry] = entries(db, "hr.facts")
    assert (entry.actor_id, entry.object_type, entry.object_id, entry.company_id) == (
        admin.id,
        "user",
        person.id,
        company.id,
    )
    assert entry.after_values == {
        "facts": ["employee_number", "department", "employee_group", "manager_id"],
        "manager_id": boss.id,
    }
    assert entry.before_values == {"manager_id": None}
    # The values themselves never reach the log.
    assert "E0001" not in (entry.after or "") and "営業部" not in (entry.after or "")


def test_empty_values_clear_and_only_changed_facts_are_named(db, company, admin, person, boss):
    set_facts(company, person, employee_number="E1", department="営業部", manager_id=boss.id)
    db.session.commit()

    set_facts(company, person, actor=admin, employee_number="E1", department="  ")
    db.session.commit()

    user = fresh(db, person)
    assert (user.employee_number, user.department, user.manager_id) == ("E1", None, None)
    last = entries(db, "hr.facts")[-1]
    assert last.after_values == {"facts": ["department", "manager_id"], "manager_id": None}
    assert last.before_values == {"manager_id": boss.id}


def test_nothing_changed_records_nothing(db, company, person):
    set_facts(company, person, employee_number="E1")
    db.session.commit()
    set_facts(company, person, employee_number=" E1 ")
    db.session.commit()
    assert len(entries(db, "hr.facts")) == 1


def test_a_company_admin_has_facts_too_and_scim_may_act(db, company, admin):
    set_facts(company, admin, employee_number="A1")
    people.set_hr_facts(
        company.id,
        admin.id,
        employee_number="A1",
        department="人事部",
        employee_group=None,
        manager_id=None,
        actor_id=None,
        actor_kind=ACTOR_SCIM,
        now=NOW,
    )
    db.session.commit()
    assert fresh(db, admin).department == "人事部"
    assert [e.actor_kind for e in entries(db, "hr.facts")] == ["system", ACTOR_SCIM]


def test_another_companys_person_is_not_found(db, company, stranger, make_user, make_employee):
    operator = make_user(Role.OPERATOR)
    for user_id in (stranger.id, operator.id, 999_999, 0, -1, 2**63):
        with pytest.raises(HrNotFound) as refused:
            people.set_hr_facts(
                company.id,
                user_id,
                employee_number="E1",
                department=None,
                employee_group=None,
                manager_id=None,
                actor_id=None,
                now=NOW,
            )
        assert refused.value.code == "not_found"
        assert isinstance(refused.value, MemberNotFound)  # the member pages' 404
        db.session.rollback()
    assert fresh(db, stranger).employee_number is None


LIMITS = {"employee_number": 40, "department": 100, "employee_group": 40}


def test_values_have_length_limits(db, company, person):
    for field, limit in LIMITS.items():
        set_facts(company, person, **{field: "営" * limit})
        db.session.commit()
        assert getattr(fresh(db, person), field) == "営" * limit

        with pytest.raises(HrError) as refused:
            set_facts(company, person, **{field: "営" * (limit + 1)})
        assert (refused.value.code, refused.value.field) == ("too_long", field)
        assert str(limit) in english(refused.value.message)
        db.session.rollback()


def test_control_characters_are_refused(db, company, person):
    for value in ("E\x000001", "営業\n部", "営業\t部", "E\x7f1", "E\x1b[31m"):
        for field in LIMITS:
            with pytest.raises(HrError) as refused:
                set_facts(company, person, **{field: value})
            assert (refused.value.code, refused.value.field) == ("invalid_characters", field)
            db.session.rollback()
    assert fresh(db, person).employee_number is None


def test_an_employee_number_is_unique_within_the_company(
    db, company, person, boss, stranger, make_company
):
    set_facts(company, boss, employee_number="E1")
    db.session.commit()

    with pytest.raises(HrError) as refused:
        set_facts(company, person, employee_number="E1")
    assert (refused.value.code, refused.value.field) == (
        "employee_number_taken",
        "employee_number",
    )
    db.session.rollback()

    # Another company may use the same number; a person keeps their own.
    set_facts(stranger.company, stranger, employee_number="E1")
    set_facts(company, boss, employee_number="E1", department="経理部")
    db.session.commit()
    assert fresh(db, stranger).employee_number == "E1"


def test_a_number_taken_at_the_same_moment_is_the_friendly_error(
    db, company, person, boss, monkeypatch
):
    set_facts(company, boss, employee_number="E1")
    db.session.commit()
    # As if the other person's change committed after this request checked.
    monkeypatch.setattr(people, "_number_holder", lambda *a, **kw: None)
    with pytest.raises(HrError) as refused:
        set_facts(company, person, employee_number="E1", department="営業部")
    assert refused.value.code == "employee_number_taken"
    db.session.rollback()
    assert fresh(db, person).department is None


def test_a_manager_is_an_active_person_of_the_company(
    db, company, person, boss, stranger, make_employee, make_user
):
    left = make_employee(company=company, active=False)
    operator = make_user(Role.OPERATOR)
    for manager_id in (stranger.id, left.id, operator.id, 999_999, -5):
        with pytest.raises(HrError) as refused:
            set_facts(company, person, manager_id=manager_id)
        assert (refused.value.code, refused.value.field) == ("manager_unknown", "manager_id")
        db.session.rollback()

    with pytest.raises(HrError) as refused:
        set_facts(company, person, manager_id=person.id)
    assert refused.value.code == "manager_self"


def test_a_manager_who_left_is_kept_until_changed(db, company, person, boss):
    set_facts(company, person, manager_id=boss.id)
    boss.active = False
    db.session.commit()

    set_facts(company, person, manager_id=boss.id, department="営業部")
    db.session.commit()
    assert fresh(db, person).manager_id == boss.id


def test_managers_never_make_a_loop(db, company, make_employee):
    a, b, c = (make_employee(company=company) for _ in range(3))
    set_facts(company, b, manager_id=a.id)
    set_facts(company, c, manager_id=b.id)
    db.session.commit()

    for manager in (b, c):  # a's own report, and a report of a report
        with pytest.raises(HrError) as refused:
            set_facts(company, a, manager_id=manager.id)
        assert (refused.value.code, refused.value.field) == ("manager_cycle", "manager_id")
        db.session.rollback()
    assert fresh(db, a).manager_id is None

    # Sideways is fine: c reports to a directly instead.
    set_facts(company, c, manager_id=a.id)
    db.session.commit()
    assert fresh(db, c).manager_id == a.id


def test_the_walk_up_the_chain_is_bounded(db, company, make_employee, monkeypatch):
    a, b, c, d = (make_employee(company=company) for _ in range(4))
    set_facts(company, b, manager_id=a.id)
    set_facts(company, c, manager_id=b.id)
    db.session.commit()
    monkeypatch.setattr(people, "MAX_MANAGER_CHAIN", 1)
    with pytest.raises(HrError) as refused:
        set_facts(company, d, manager_id=c.id)
    assert refused.value.code == "manager_chain"


def test_managed_by_lists_active_reports_by_name(db, company, boss, make_employee, stranger):
    b = make_employee(company=company, name="B さん")
    a = make_employee(company=company, name="A さん")
    gone = make_employee(company=company, name="C さん")
    for user in (a, b, gone):
        set_facts(company, user, manager_id=boss.id)
    gone.active = False
    db.session.commit()

    assert [u.id for u in people.managed_by(boss)] == [a.id, b.id]
    assert people.managed_by(stranger) == []


# --- a CSV file --------------------------------------------------------------------------


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


def run_import(db, company, data: bytes, actor=None) -> people_import.ImportResult:
    result = people_import.import_people_csv(
        company.id, data, actor_id=actor.id if actor else None, now=NOW
    )
    db.session.commit()
    return result


def codes(result) -> list[tuple[int, str]]:
    return [(error.line, error.column) for error in result.errors]


def test_the_template_is_a_header_and_a_made_up_row():
    template = people_import.people_csv_template()
    assert template.startswith("\ufeff" + HEADER + "\r\n")
    lines = template.lstrip("\ufeff").splitlines()
    assert len(lines) == 2 and "@example.com" in lines[1]
    names, rows = people_import.read_people_csv(template.encode("utf-8"))
    assert names == list(people_import.CSV_COLUMNS) and [line for line, _ in rows] == [2]


def test_an_import_sets_every_row_and_is_audited_once(db, company, admin, person, boss):
    set_facts(company, admin, employee_number="A1", department="人事部")
    db.session.commit()
    data = csv_bytes(
        "hanako@corp.example.com,E0001,営業部,正社員,boss@corp.example.com",
        "BOSS@Corp.Example.com , E0002 ,営業部,役員,",
        "admin@corp.example.com,A1,人事部,,",
    )
    result = run_import(db, company, b"\xef\xbb\xbf" + data, actor=admin)  # with a BOM

    assert result == people_import.ImportResult(errors=[], updated=2, unchanged=1)
    assert result.ok
    hanako, taro = fresh(db, person), fresh(db, boss)
    assert (hanako.employee_number, hanako.department, hanako.employee_group) == (
        "E0001",
        "営業部",
        "正社員",
    )
    assert hanako.manager_id == boss.id
    assert (taro.employee_number, taro.employee_group, taro.manager_id) == ("E0002", "役員", None)
    [entry] = entries(db, "hr.import")
    assert (entry.actor_id, entry.object_type, entry.object_id, entry.company_id) == (
        admin.id,
        "company",
        company.id,
        company.id,
    )
    assert entry.after_values == {
        "rows": 3,
        "updated": 2,
        "user_ids": sorted([person.id, boss.id]),
    }
    assert len(entries(db, "hr.facts")) == 1  # the setup's: none per row


def test_an_import_reads_shift_jis_with_japanese_departments(db, company, person, boss):
    data = csv_bytes(
        "hanako@corp.example.com,社員001,第一営業部,契約社員,boss@corp.example.com",
        "boss@corp.example.com,社員002,経営企画室,正社員,",
        encoding="cp932",
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert run_import(db, company, data).updated == 2
    hanako = fresh(db, person)
    assert (hanako.employee_number, hanako.department, hanako.employee_group) == (
        "社員001",
        "第一営業部",
        "契約社員",
    )
    assert fresh(db, boss).department == "経営企画室"


def test_empty_cells_clear_and_columns_may_come_in_any_order(db, company, person, boss):
    set_facts(company, person, employee_number="E1", department="営業部", manager_id=boss.id)
    db.session.commit()
    data = csv_bytes(
        "E1,hanako@corp.example.com,,,",
        header="Employee_Number,EMAIL,group,manager_email,department",
    )
    assert run_import(db, company, data).updated == 1
    hanako = fresh(db, person)
    assert (hanako.employee_number, hanako.department, hanako.manager_id) == ("E1", None, None)


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(db, company, person):
    data = csv_bytes(
        "", ",,,,", "hanako@corp.example.com,E1,営業部,,", "nobody@corp.example.com,,,,"
    )
    result = run_import(db, company, data)
    assert codes(result) == [(5, "email")]


def test_an_error_on_a_later_line_applies_nothing(db, company, admin, person, boss):
    data = csv_bytes(
        "hanako@corp.example.com,E1,営業部,正社員,boss@corp.example.com",
        "boss@corp.example.com,E2,営業部,役員,",
        "admin@corp.example.com,A1,人事部,,nobody@corp.example.com",
    )
    result = run_import(db, company, data, actor=admin)

    assert not result.ok and (result.updated, result.unchanged) == (0, 0)
    [error] = result.errors
    assert error == RowError(4, "manager_email", error.message)
    assert english(error.message) == "No one in your company has this e-mail address."
    for user in (person, boss, admin):
        user = fresh(db, user)
        assert (user.employee_number, user.department, user.manager_id) == (None, None, None)
    assert entries(db) == []


def test_every_wrong_row_is_reported_at_once(db, company, person, boss, stranger, make_employee):
    make_employee(company=company, email="gone@corp.example.com", active=False)
    make_employee(company=company, email="third@corp.example.com")
    other = make_employee(company=company, email="other@corp.example.com")
    set_facts(company, other, employee_number="HELD")
    db.session.commit()
    data = csv_bytes(
        "x@other.example.com,,,,",  # another company's person: unknown here
        ",E9,,,",  # no address
        "hanako@corp.example.com,HELD,,,hanako@corp.example.com",  # held number; self
        "HANAKO@corp.example.com,,,,",  # the same person twice
        "boss@corp.example.com,E7,,,gone@corp.example.com",  # a manager who left
        "gone@corp.example.com,E7,,,x@other.example.com",  # number twice; foreign manager
        "boss@corp.example.com",  # too few cells
        "nobody@corp.example.com,,,,,",  # too many cells
        f"third@corp.example.com,{'9' * 41},{'部' * 101},G\x00,",
    )
    result = run_import(db, company, data)

    assert codes(result) == [
        (2, "email"),
        (3, "email"),
        (4, "employee_number"),
        (4, "manager_email"),
        (5, "email"),
        (6, "manager_email"),
        (7, "employee_number"),
        (7, "manager_email"),
        (8, ""),
        (9, ""),
        (10, "employee_number"),
        (10, "department"),
        (10, "group"),
    ]
    messages = {(e.line, e.column): english(e.message) for e in result.errors}
    assert messages[(2, "email")] == "No one in your company has this e-mail address."
    assert messages[(4, "employee_number")] == (
        "This employee number belongs to someone else in your company."
    )
    assert messages[(4, "manager_email")] == "A person cannot be their own manager."
    assert messages[(5, "email")] == "This person is also on line 4."
    assert messages[(6, "manager_email")] == "This manager's account is deactivated."
    assert messages[(7, "employee_number")] == "This employee number is also on line 6."
    assert "40" in messages[(10, "employee_number")]
    assert "100" in messages[(10, "department")]
    assert fresh(db, person).employee_number is None
    assert fresh(db, boss).employee_number is None


def test_numbers_repeated_in_the_file_are_refused(db, company, person, boss, admin):
    data = csv_bytes(
        "hanako@corp.example.com,E1,,,",
        "boss@corp.example.com,E2,,,",
        "admin@corp.example.com,E1,,,",
    )
    result = run_import(db, company, data)
    [error] = result.errors
    assert (error.line, error.column) == (4, "employee_number")
    assert english(error.message) == "This employee number is also on line 2."


def test_numbers_may_move_between_people_of_the_file(db, company, person, boss):
    set_facts(company, person, employee_number="E1")
    set_facts(company, boss, employee_number="E2")
    db.session.commit()
    data = csv_bytes("hanako@corp.example.com,E2,,,", "boss@corp.example.com,E1,,,")
    assert run_import(db, company, data).updated == 2
    assert (fresh(db, person).employee_number, fresh(db, boss).employee_number) == ("E2", "E1")


def test_loops_are_judged_on_the_files_final_state(db, company, make_employee):
    a, b, c = (make_employee(company=company, email=f"{name}@corp.example.com") for name in "abc")
    set_facts(company, b, manager_id=a.id)
    db.session.commit()

    # a under c, c under b, b (already) under a: a loop through the database's row.
    result = run_import(
        db,
        company,
        csv_bytes(
            "a@corp.example.com,,,,c@corp.example.com", "c@corp.example.com,,,,b@corp.example.com"
        ),
    )
    assert codes(result) == [(2, "manager_email"), (3, "manager_email")]
    assert "loop" in english(result.errors[0].message)

    # The same file, breaking b's old line to a, is fine.
    result = run_import(
        db,
        company,
        csv_bytes(
            "a@corp.example.com,,,,c@corp.example.com",
            "c@corp.example.com,,,,b@corp.example.com",
            "b@corp.example.com,,,,",
        ),
    )
    assert result.ok and result.updated == 3
    assert fresh(db, b).manager_id is None and fresh(db, a).manager_id == c.id


def test_control_characters_in_a_cell_are_refused(db, company, person):
    result = run_import(db, company, csv_bytes('hanako@corp.example.com,E1,"営業\n部",,'))
    assert codes(result) == [(2, "department")]


WRONG_HEADERS = (
    HEADER + ",extra",  # a column this import does not know
    HEADER + ",",  # an unnamed one
    "email,employee_number,department,group",  # one missing
    "email,employee_number,department,group,manager_email,email",  # one twice
    "mail,employee_number,department,group,manager_email",
)


def test_a_wrong_first_line_refuses_the_file(db, company, person):
    for header in WRONG_HEADERS:
        with pytest.raises(HrError) as refused:
            people_import.import_people_csv(
                company.id,
                csv_bytes("hanako@corp.example.com,E1,,,", header=header),
                actor_id=None,
                now=NOW,
            )
        assert (refused.value.code, refused.value.field) == ("csv_header", "file")
    assert fresh(db, person).employee_number is None


def test_a_wrong_first_line_says_what_it_must_be():
    with pytest.raises(HrError) as refused:
        people_import.read_people_csv(csv_bytes(header=HEADER + ",extra,備考"))
    message = english(refused.value.message)
    assert "extra, 備考" in message and HEADER in message


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "csv_header"),
        (b"\r\n\r\n", "csv_header"),
        (HEADER.encode() + b"\r\n\x81 ,,,,\r\n", "csv_encoding"),
        (b"x" * (2 * 1024 * 1024 + 1), "csv_too_large"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(data, code):
    with pytest.raises(HrError) as refused:
        people_import.read_people_csv(data)
    assert (refused.value.code, refused.value.field) == (code, "file")


def test_a_file_holds_at_most_5000_people():
    rows = [f"p{i}@corp.example.com,E{i},,," for i in range(5000)]
    names, read = people_import.read_people_csv(csv_bytes(*rows))
    assert len(read) == 5000 and read[-1][0] == 5001

    with pytest.raises(HrError) as refused:
        people_import.read_people_csv(csv_bytes(*rows, "one@more.example.com,,,,"))
    assert refused.value.code == "csv_too_many_rows"
    assert "5000" in english(refused.value.message) or "5,000" in english(refused.value.message)
