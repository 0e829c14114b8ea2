"""Forms of the company admin's HR pages: one employee's HR details, the people CSV
upload and the group policies (CSRF through Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, Length, Optional

# The lengths of the columns on accounts.models.User (and hr.models.GroupPolicy).
EMPLOYEE_NUMBER_MAX = 40
DEPARTMENT_MAX = 100
GROUP_MAX = 40
NO_MANAGER = ""


def _text(value: str | None) -> str:
    return (value or "").strip()


class EmployeeHrForm(FlaskForm):
    """A member's employee number, department, group and manager (a select of the
    company's active members, this person left out)."""

    employee_number = StringField(
        _l("Employee number"), validators=[Optional(), Length(max=EMPLOYEE_NUMBER_MAX)]
    )
    department = StringField(_l("Department"), validators=[Optional(), Length(max=DEPARTMENT_MAX)])
    employee_group = StringField(_l("Group"), validators=[Optional(), Length(max=GROUP_MAX)])
    manager = SelectField(_l("Manager"), choices=[], default=NO_MANAGER)

    def __init__(self, *args, managers=(), **kwargs):
        """``managers``: (user id, label) of the people who may be chosen."""
        super().__init__(*args, **kwargs)
        self.manager.choices = [C(NO_MANAGER, _l("None"))] + [
            C(str(user_id), label) for user_id, label in managers
        ]

    def values(self) -> dict:
        """The facts as ``hr.people.set_hr_facts`` takes them (empty text: none)."""
        manager = self.manager.data or NO_MANAGER
        return {
            "employee_number": _text(self.employee_number.data),
            "department": _text(self.department.data),
            "employee_group": _text(self.employee_group.data),
            "manager_id": None if manager == NO_MANAGER else int(manager),
        }


class PeopleImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file to upload."))])


class GroupPolicyForm(FlaskForm):
    """The policy of one group: added with a group name, or an existing one saved again
    (its name then comes back in a hidden field)."""

    employee_group = StringField(_l("Group"), validators=[DataRequired(), Length(max=GROUP_MAX)])
    leisure_allowed = BooleanField(_l("Leisure stays allowed"))
    business_allowed = BooleanField(_l("Business workations allowed"))

    def group(self) -> str:
        return _text(self.employee_group.data)


class DefaultPolicyForm(FlaskForm):
    """The company default: for everyone whose group has no policy of its own."""

    leisure_allowed = BooleanField(_l("Leisure stays allowed"))
    business_allowed = BooleanField(_l("Business workations allowed"))
