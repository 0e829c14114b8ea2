"""Forms of the platform admin's pages (CSRF through Flask-WTF)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from accounts.models import OperatorKind
from identity.orgs import MAX_SEATS


class DomainReviewForm(FlaskForm):
    """The platform admin's approve / reject button: carries the domain they saw, so a
    domain the company changed meanwhile is not decided blind."""

    domain = HiddenField(validators=[DataRequired(), Length(max=253)])


class CompanyCreateForm(FlaskForm):
    """A company made by the Engawa team, with its first admin and, optionally, its
    subscription (paid by invoice)."""

    name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    admin_email = EmailField(
        _l("Admin's e-mail address"), validators=[DataRequired(), Length(max=254)]
    )
    admin_name = StringField(
        _l("Admin's name (optional)"), validators=[Optional(), Length(max=200)]
    )
    plan = SelectField(_l("Plan"), choices=[], validators=[Optional()])
    seats = IntegerField(_l("Seats"), validators=[Optional(), NumberRange(min=1, max=MAX_SEATS)])

    def validate(self, extra_validators=None) -> bool:
        """A plan and its seats go together (seats is Optional, so checked here)."""
        valid = super().validate(extra_validators)
        if self.plan.data and self.seats.data is None and not self.seats.errors:
            self.seats.errors = [_l("Please enter the number of seats for the plan.")]
            return False
        if self.seats.data is not None and not self.plan.data:
            self.plan.errors = [_l("Please choose a plan for the seats.")]
            return False
        return valid


OPERATOR_KIND_LABELS = {
    OperatorKind.COMPANY: _l("Business corporation (kabushiki kaisha, gōdō kaisha…)"),
    OperatorKind.MUNICIPALITY: _l("Municipality"),
    OperatorKind.ASSOCIATION: _l("General incorporated association or foundation"),
    OperatorKind.NONPROFIT: _l("Non-profit organisation (NPO)"),
    OperatorKind.OTHER: _l("Other"),
}


class OperatorCreateForm(FlaskForm):
    """An operator organisation made by the Engawa team, with its first operator."""

    name = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(kind.value, label) for kind, label in OPERATOR_KIND_LABELS.items()],
        default=OperatorKind.COMPANY.value,
    )
    admin_email = EmailField(
        _l("Operator's e-mail address"), validators=[DataRequired(), Length(max=254)]
    )
    admin_name = StringField(
        _l("Operator's name (optional)"), validators=[Optional(), Length(max=200)]
    )
