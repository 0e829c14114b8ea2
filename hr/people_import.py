"""The people CSV import: a file of employees' HR facts (``hr.people``), one row a
person named by e-mail address, checked whole before anything changes: one wrong row
changes nothing, and every wrong row is reported at once. Each row's values follow
``hr.people``'s rules, judged against the file's final state (numbers unique, no loop
of managers); the import is one audit entry with its counts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import COMPANY_ROLES, User
from accounts.services import normalise_email
from core.csv import write_csv
from core.extensions import db
from core.input_guard import NAME_REFUSED
from hr.people import (
    Facts,
    HrError,
    clean_text,
    flush_facts,
    lock_company,
    manager_self,
    number_taken,
    record_change,
)

MAX_IMPORT_ROWS = 5000
MAX_IMPORT_BYTES = 2 * 1024 * 1024
# The import file's columns, named on its first line (any order).
CSV_COLUMNS = ("email", "employee_number", "department", "group", "manager_email")
# Japanese HR systems often export Shift_JIS (cp932); UTF-8 (with or without a BOM) first.
CSV_ENCODINGS = ("utf-8-sig", "cp932")


@dataclass(frozen=True)
class RowError:
    """A refused cell of an import: ``line`` is the row's number as a spreadsheet shows
    it (the header is 1, the first person 2), ``column`` a CSV column or "" for the
    whole row."""

    line: int
    column: str
    message: str | LazyString


@dataclass
class ImportResult:
    """What an import did: the errors (then nothing changed), or how many rows changed a
    person's facts and how many already matched."""

    errors: list[RowError] = field(default_factory=list)
    updated: int = 0
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def people_csv_template() -> str:
    """The import file's header and one made-up example row (UTF-8 with a BOM, as Excel
    in Japan opens it)."""
    example = ("hanako.yamada@example.com", "E0001", "営業部", "正社員", "taro.sato@example.com")
    return write_csv(CSV_COLUMNS, [example])


def _decode(data: bytes) -> str:
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise HrError(
        _l("The file could not be read: save it as CSV in UTF-8 or Shift_JIS."),
        "csv_encoding",
        "file",
    )


def _header(cells: list[str]) -> list[str]:
    """The column names of the first line, checked: every column named once, no other."""
    names = [cell.strip().lower() for cell in cells]
    expected = ",".join(CSV_COLUMNS)
    unknown = [name for name in names if name not in CSV_COLUMNS]
    if unknown:
        raise HrError(
            _l(
                "The file has columns this import does not know: %(columns)s."
                " The first line must be: %(header)s",
                columns=NAME_REFUSED.sub("", ", ".join(name or '""' for name in unknown))[:200],
                header=expected,
            ),
            "csv_header",
            "file",
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise HrError(
            _l("The first line names a column twice: %(columns)s.", columns=", ".join(repeated)),
            "csv_header",
            "file",
        )
    missing = [name for name in CSV_COLUMNS if name not in names]
    if missing:
        raise HrError(
            _l(
                "The file lacks the columns %(columns)s. The first line must be: %(header)s",
                columns=", ".join(missing),
                header=expected,
            ),
            "csv_header",
            "file",
        )
    return names


def read_people_csv(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The column names and the non-blank rows (with their spreadsheet row numbers) of
    an import file. Refused as a whole (``HrError``, field ``file``): over 2 MB, not
    UTF-8 or Shift_JIS, not CSV, a wrong first line, more than 5,000 rows."""
    if len(data) > MAX_IMPORT_BYTES:
        raise HrError(
            _l("The file can be at most %(mb)d MB.", mb=MAX_IMPORT_BYTES // (1024 * 1024)),
            "csv_too_large",
            "file",
        )
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    rows: list[tuple[int, list[str]]] = []
    try:
        first = next(reader, None)
        if first is None or not any(cell.strip() for cell in first):
            message = _l(
                "The file is empty. The first line must be: %(header)s",
                header=",".join(CSV_COLUMNS),
            )
            raise HrError(message, "csv_header", "file")
        names = _header(first)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a row of empty cells a spreadsheet left behind
            if len(rows) == MAX_IMPORT_ROWS:
                raise HrError(
                    _l("A file can hold at most %(n)d people.", n=MAX_IMPORT_ROWS),
                    "csv_too_many_rows",
                    "file",
                )
            rows.append((number, cells))
    except csv.Error:
        raise HrError(
            _l("The file could not be read as CSV near line %(line)d.", line=reader.line_num),
            "csv_malformed",
            "file",
        ) from None
    return names, rows


@dataclass
class _Planned:
    line: int
    user: User
    facts: Facts


_INVALID = object()  # a cell refused (its error is recorded)


class _Check:
    """The checks of every row of one import, collecting errors instead of stopping."""

    def __init__(self, company_id: int):
        people = db.session.scalars(
            select(User)
            .where(User.company_id == company_id, User.role.in_(COMPANY_ROLES))
            .execution_options(populate_existing=True)
        )
        self.by_email = {person.email.lower(): person for person in people}
        self.errors: list[RowError] = []
        self.planned: list[_Planned] = []
        self.email_lines: dict[str, int] = {}
        self.named: set[int] = set()  # the people the file names, rows refused or not
        self.numbers_given: list[tuple[int, str]] = []  # (line, number) of every row

    def error(self, line: int, column: str, message) -> None:
        self.errors.append(RowError(line, column, message))

    def text(self, line: int, column: str, value: str, fact: str):
        try:
            return clean_text(value, fact)
        except HrError as exc:
            self.error(line, column, exc.message)
            return _INVALID

    def person(self, line: int, raw: str) -> User | None:
        email = normalise_email(raw)
        if not email:
            self.error(line, "email", _l("Enter the person's e-mail address."))
            return None
        if email in self.email_lines:
            message = _l("This person is also on line %(line)d.", line=self.email_lines[email])
            self.error(line, "email", message)
            return None
        self.email_lines[email] = line
        person = self.by_email.get(email)
        if person is None:
            self.error(line, "email", _l("No one in your company has this e-mail address."))
            return None
        self.named.add(person.id)
        return person

    def manager(self, line: int, raw: str, person: User | None):
        """The manager's id, None for none, or ``_INVALID``."""
        email = normalise_email(raw)
        if not email:
            return None
        manager = self.by_email.get(email)
        if manager is None:
            message = _l("No one in your company has this e-mail address.")
        elif person is not None and manager.id == person.id:
            message = manager_self().message
        elif not manager.active and (person is None or manager.id != person.manager_id):
            message = _l("This manager's account is deactivated.")
        else:
            return manager.id
        self.error(line, "manager_email", message)
        return _INVALID

    def row(self, line: int, names: list[str], cells: list[str]) -> None:
        if len(cells) != len(names):
            message = _l(
                "This row has %(found)d cells; the first line names %(expected)d columns.",
                found=len(cells),
                expected=len(names),
            )
            self.error(line, "", message)
            return
        values = dict(zip(names, cells, strict=True))
        person = self.person(line, values["email"])
        facts = {
            "employee_number": self.text(
                line, "employee_number", values["employee_number"], "employee_number"
            ),
            "department": self.text(line, "department", values["department"], "department"),
            "employee_group": self.text(line, "group", values["group"], "employee_group"),
            "manager_id": self.manager(line, values["manager_email"], person),
        }
        if isinstance(facts["employee_number"], str):
            self.numbers_given.append((line, facts["employee_number"]))
        if person is not None and _INVALID not in facts.values():
            self.planned.append(_Planned(line, person, Facts(**facts)))

    def numbers(self) -> None:
        """Employee numbers stay unique: within the file, and against the people the
        file does not name."""
        held = {
            person.employee_number
            for person in self.by_email.values()
            if person.employee_number and person.id not in self.named
        }
        lines: dict[str, int] = {}
        for line, number in self.numbers_given:
            if number in lines:
                message = _l("This employee number is also on line %(line)d.", line=lines[number])
                self.error(line, "employee_number", message)
            elif number in held:
                self.error(line, "employee_number", number_taken().message)
            lines.setdefault(number, line)

    def loops(self) -> None:
        """No loop of managers once every row is applied."""
        manager_of = {
            person.id: person.manager_id
            for person in self.by_email.values()
            if person.manager_id is not None
        }
        for plan in self.planned:
            manager_of[plan.user.id] = plan.facts.manager_id
        looped = on_loops(manager_of)
        for plan in self.planned:
            if plan.user.id in looped and plan.facts.manager_id is not None:
                message = _l(
                    "This makes a loop of managers: someone would manage their own manager."
                )
                self.error(plan.line, "manager_email", message)


def on_loops(manager_of: dict[int, int | None]) -> set[int]:
    """The people on a loop of managers (A manages B manages A), each walk stopping at
    a person already seen, so the whole map is walked once."""
    state: dict[int, bool] = {}  # False: on the current walk; True: done
    looped: set[int] = set()
    for start in manager_of:
        path: list[int] = []
        node: int | None = start
        while node is not None and node not in state:
            state[node] = False
            path.append(node)
            node = manager_of.get(node)
        if node is not None and state[node] is False:
            looped.update(path[path.index(node) :])
        for seen in path:
            state[seen] = True
    return looped


def import_people_csv(
    company_id: int,
    data: bytes,
    *,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> ImportResult:
    """Set the HR facts of the people an import file names (an empty cell clears a fact).

    The file: UTF-8 (a BOM or none) or Shift_JIS, at most 2 MB and 5,000 people, its
    first line naming the columns ``CSV_COLUMNS`` in any order; a file that breaks this
    raises ``HrError`` (field ``file``). Every row names a person of the company by
    e-mail address, once. All rows are checked first, each against the file's final
    state (numbers unique, managers active people of the company, no loop); any error
    changes nothing and returns every error. Otherwise every row is applied and the
    import is recorded once (``hr.import``, with its counts)."""
    names, rows = read_people_csv(data)
    lock_company(company_id)
    check = _Check(company_id)
    for line, cells in rows:
        check.row(line, names, cells)
    check.numbers()
    check.loops()
    if check.errors:
        order = {column: i for i, column in enumerate(("", *CSV_COLUMNS))}
        check.errors.sort(key=lambda error: (error.line, order.get(error.column, 0)))
        return ImportResult(errors=check.errors)
    changing = [plan for plan in check.planned if plan.facts.changed_from(plan.user)]
    # Numbers that move are freed first: two people swapping theirs in one file must
    # not trip the unique constraint half-way through the flush.
    for plan in changing:
        if plan.user.employee_number != plan.facts.employee_number:
            plan.user.employee_number = None
    flush_facts()
    for plan in changing:
        plan.facts.apply_to(plan.user)
    flush_facts()
    result = ImportResult(updated=len(changing), unchanged=len(check.planned) - len(changing))
    record_change(
        "hr.import",
        now,
        actor_id,
        actor_kind,
        object_type="company",
        object_id=company_id,
        company_id=company_id,
        # Who changed, by id (never their values): a person's manager or number can be
        # traced back to this import.
        after={
            "rows": len(check.planned),
            "updated": result.updated,
            "user_ids": sorted(plan.user.id for plan in changing),
        },
    )
    db.session.flush()
    return result
