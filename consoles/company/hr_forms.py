"""Forms of the company admin's HR pages: one employee's HR details, the people CSV
upload, the group policies (their purposes, approval, subsidy and companions) and the
company's fiscal year (CSRF through Flask-WTF)."""

from __future__ import annotations

from babel.dates import get_month_names
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core.i18n import current_locale
from hr.groups import (
    COMPANION_COLUMNS,
    MAX_ANNUAL_CAP,
    MAX_APPROVAL_HOURS,
    MAX_APPROVAL_NIGHTS,
    MAX_YEN,
    MIN_APPROVAL_HOURS,
    PolicySettings,
)
from hr.models import CompanionRule, SubsidyKind

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


# --- a policy's approval, subsidy and companions ------------------------------------------

NOBODY = ""

SUBSIDY_CHOICES = [
    C(SubsidyKind.FULL.value, _l("The company pays all")),
    C(SubsidyKind.FIXED.value, _l("A fixed amount per person-night")),
    C(SubsidyKind.PERCENT.value, _l("A percentage of each night")),
    C(SubsidyKind.NONE.value, _l("No subsidy")),
]
# One line under each choice: what it means for the employee.
SUBSIDY_HINTS = {
    SubsidyKind.FULL.value: _l(
        "Every night is paid from the stay credit; the employee pays nothing (up to the"
        " yearly cap, if you set one)."
    ),
    SubsidyKind.FIXED.value: _l(
        "The company pays this many yen for each person and night; the employee pays the"
        " rest of the price by card before the stay is confirmed."
    ),
    SubsidyKind.PERCENT.value: _l(
        "The company pays this share of each night's price (rounded down to the yen), at"
        " most the maximum per person-night if you set one; the employee pays the rest by"
        " card."
    ),
    SubsidyKind.NONE.value: _l(
        "The employee pays every night by card; the stay credit pays only the accommodation tax."
    ),
}
COMPANION_CHOICES = [
    C(CompanionRule.SUBSIDISED.value, _l("Subsidised like the employee")),
    C(CompanionRule.RATE.value, _l("A fixed company rate per night")),
    C(CompanionRule.EMPLOYEE.value, _l("Paid by the employee")),
]
COMPANION_HINTS = {
    CompanionRule.SUBSIDISED.value: _l(
        "Each companion counts as one more person for the subsidy per person-night."
    ),
    CompanionRule.RATE.value: _l(
        "The company adds this many yen for each such companion and night."
    ),
    CompanionRule.EMPLOYEE.value: _l("The company pays nothing more for these companions."),
}


def _yen_field(label, hint_max: int = MAX_YEN) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(0, hint_max)])


def _rule_field(label) -> RadioField:
    return RadioField(
        label,
        choices=COMPANION_CHOICES,
        default=CompanionRule.EMPLOYEE.value,
        validators=[InputRequired()],
    )


class PolicySettingsForm(FlaskForm):
    """Everything a group's policy (or the company default) sets: purposes, approval,
    subsidy and companions. The service (``hr.groups.check_settings``) checks it all
    again; this form refuses what it can see alone (numbers out of range, an approver
    who is not offered, an amount missing for the kind chosen)."""

    leisure_allowed = BooleanField(_l("Leisure stays allowed"))
    business_allowed = BooleanField(_l("Business workations allowed"))

    approval_all = BooleanField(_l("Every stay"))
    approval_business = BooleanField(_l("Business workations"))
    approval_over_nights = IntegerField(
        _l("Stays longer than this many nights"),
        validators=[Optional(), NumberRange(1, MAX_APPROVAL_NIGHTS)],
    )
    approval_peak = BooleanField(_l("Stays with a night in peak season"))
    approval_over_subsidy = BooleanField(_l("Stays beyond the subsidy"))
    approver = SelectField(_l("Approver"), choices=[], default=NOBODY)
    deputy = SelectField(_l("Deputy"), choices=[], default=NOBODY)
    approval_hours = IntegerField(
        _l("Hours a request waits"),
        default=48,
        validators=[InputRequired(), NumberRange(MIN_APPROVAL_HOURS, MAX_APPROVAL_HOURS)],
    )

    subsidy_kind = RadioField(
        _l("What the company pays"),
        choices=SUBSIDY_CHOICES,
        default=SubsidyKind.FULL.value,
        validators=[InputRequired()],
    )
    subsidy_yen = _yen_field(_l("Fixed amount (yen per person-night)"))
    subsidy_percent = IntegerField(
        _l("Percentage of each night"), validators=[Optional(), NumberRange(0, 100)]
    )
    subsidy_max = _yen_field(_l("Maximum (yen per person-night)"))
    annual_cap = _yen_field(_l("Yearly cap per employee (yen)"), MAX_ANNUAL_CAP)

    companion_adult = _rule_field(_l("Adults"))
    companion_adult_rate = _yen_field(_l("Company rate for an adult (yen a night)"))
    companion_child = _rule_field(_l("Children"))
    companion_child_rate = _yen_field(_l("Company rate for a child (yen a night)"))
    companion_infant = _rule_field(_l("Infants"))
    companion_infant_rate = _yen_field(_l("Company rate for an infant (yen a night)"))

    def __init__(self, *args, people=(), **kwargs):
        """``people``: (user id, label) of those who may be approver or deputy."""
        super().__init__(*args, **kwargs)
        offered = [C(str(user_id), label) for user_id, label in people]
        self.approver.choices = [C(NOBODY, _l("Each employee's manager")), *offered]
        self.deputy.choices = [C(NOBODY, _l("No deputy")), *offered]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Checked here, not inline: Optional() ends a field's own chain on a blank value.
        needed = {
            SubsidyKind.FIXED.value: self.subsidy_yen,
            SubsidyKind.PERCENT.value: self.subsidy_percent,
        }.get(self.subsidy_kind.data)
        if needed is not None and needed.data is None and not needed.errors:
            needed.errors.append(_l("Enter the amount for the subsidy chosen."))
            valid = False
        for rule_name, rate_name in COMPANION_COLUMNS.values():
            rate = self[rate_name]
            if self[rule_name].data == CompanionRule.RATE and rate.data is None and not rate.errors:
                rate.errors.append(_l("Enter the company rate for these companions."))
                valid = False
        if self.deputy.data and self.deputy.data == self.approver.data:
            self.deputy.errors.append(_l("The deputy must be someone other than the approver."))
            valid = False
        return valid

    def settings(self) -> PolicySettings:
        """The settings as ``hr.groups.save_policy_settings`` takes them."""
        kind = self.subsidy_kind.data
        amount = {
            SubsidyKind.FIXED.value: self.subsidy_yen.data,
            SubsidyKind.PERCENT.value: self.subsidy_percent.data,
        }.get(kind)
        rates = {name: self[name].data or 0 for _rule, name in COMPANION_COLUMNS.values()}
        return PolicySettings(
            leisure_allowed=bool(self.leisure_allowed.data),
            business_allowed=bool(self.business_allowed.data),
            approval_all=bool(self.approval_all.data),
            approval_business=bool(self.approval_business.data),
            approval_over_nights=self.approval_over_nights.data,
            approval_peak=bool(self.approval_peak.data),
            approval_over_subsidy=bool(self.approval_over_subsidy.data),
            approver_id=int(self.approver.data) if self.approver.data else None,
            deputy_id=int(self.deputy.data) if self.deputy.data else None,
            approval_hours=self.approval_hours.data,
            subsidy_kind=kind,
            subsidy_amount=amount or 0,
            subsidy_max=self.subsidy_max.data if kind == SubsidyKind.PERCENT else None,
            annual_cap=self.annual_cap.data,
            companion_adult=self.companion_adult.data,
            companion_child=self.companion_child.data,
            companion_infant=self.companion_infant.data,
            **rates,
        )

    def fill(self, s: PolicySettings, approver: str, deputy: str) -> None:
        """Show stored settings (``approver``/``deputy``: the select's value, "" when the
        stored one is no longer offered)."""
        for name in (
            "leisure_allowed",
            "business_allowed",
            "approval_all",
            "approval_business",
            "approval_over_nights",
            "approval_peak",
            "approval_over_subsidy",
            "approval_hours",
            "subsidy_kind",
            "annual_cap",
            *(name for pair in COMPANION_COLUMNS.values() for name in pair),
        ):
            self[name].data = getattr(s, name)
        self.approver.data, self.deputy.data = approver, deputy
        if s.subsidy_kind == SubsidyKind.FIXED:
            self.subsidy_yen.data = s.subsidy_amount
        elif s.subsidy_kind == SubsidyKind.PERCENT:
            self.subsidy_percent.data = s.subsidy_amount
            self.subsidy_max.data = s.subsidy_max
        for _rule, rate_name in COMPANION_COLUMNS.values():
            if not self[rate_name].data:
                self[rate_name].data = None


class FiscalYearForm(FlaskForm):
    """The month the company's fiscal year begins."""

    fiscal_year_start_month = SelectField(
        _l("Fiscal year begins in"), coerce=int, choices=[], validators=[InputRequired()]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = get_month_names("wide", locale=current_locale())
        self.fiscal_year_start_month.choices = [C(month, names[month]) for month in range(1, 13)]
