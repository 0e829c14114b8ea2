"""Forms of the local coupons' pages: a shop's registration, the short code a shop
types, and a coupon fund (CSRF through Flask-WTF).

They check the shape of what is typed; the rules themselves are the services'
(``regions.shops``, ``regions.coupons``), whose refusals come back to the field they
name (``show``).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from accounts.passwords import MAX_PASSWORD_LENGTH
from core.errors import RuleError
from regions import coupons
from regions.shops import CATEGORY_LABELS, MAX_ADDRESS_LINE, MAX_NAME


class _Shows(FlaskForm):
    def show(self, error: RuleError) -> bool:
        """Put a service's refusal beside the field it names; False if it names none."""
        field = self._fields.get(error.code)
        if field is None or error.code == "csrf_token":
            return False
        field.errors = [*field.errors, error.message]
        return True


class ShopRegisterForm(_Shows):
    name = StringField(_l("Shop name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    category = SelectField(
        _l("Kind of shop"),
        choices=[C(code.value, label) for code, label in CATEGORY_LABELS.items()],
        validators=[DataRequired()],
    )
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    address_line = StringField(
        _l("Street number and building"),
        validators=[DataRequired(), Length(max=MAX_ADDRESS_LINE)],
    )
    person_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=MAX_NAME)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class ShortCodeForm(FlaskForm):
    code = StringField(_l("Coupon code"), validators=[DataRequired(), Length(max=40)])


def _yen(label, high: int, message) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            InputRequired(message=_l("Enter whole yen.")),
            NumberRange(1, high, message=message),
        ],
    )


def area_choices(places) -> list[C]:
    """``(code, name)`` pairs as the municipality field's choices."""
    return [C(code, name) for code, name in places]


class FundForm(_Shows):
    """A coupon fund. ``municipality_code`` is a choice for a company (the places its
    employees stay) and fixed for a municipality; ``confirmed`` is set by the confirm
    page's button."""

    name = StringField(_l("Name of the fund"), validators=[DataRequired(), Length(max=200)])
    municipality_code = SelectField(_l("Municipality"), choices=[], validate_choice=False)
    yen_per_guest_night = _yen(
        _l("Yen per guest-night"),
        coupons.MAX_YEN_PER_GUEST_NIGHT,
        _l("Enter whole yen per guest-night, from ¥1 to ¥100,000."),
    )
    budget = _yen(
        _l("Budget (yen)"),
        coupons.MAX_BUDGET,
        _l("Enter the budget in whole yen, up to ¥2,000,000,000."),
    )
    starts_on = DateField(
        _l("First check-in day"), validators=[InputRequired(message=_l("Enter a date."))]
    )
    ends_on = DateField(
        _l("Last check-in day"), validators=[InputRequired(message=_l("Enter a date."))]
    )
    confirmed = HiddenField()


def draft_of(form: FundForm, today) -> tuple[coupons.FundDraft | None, str | None]:
    """The form's fund as the service checks it: the draft, or None with the refusal
    put beside its field (or returned, when it names none)."""
    try:
        draft = coupons.check_fund(
            name=form.name.data,
            municipality_code=form.municipality_code.data,
            yen_per_guest_night=form.yen_per_guest_night.data,
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            budget=form.budget.data,
            today=today,
        )
    except coupons.FundError as exc:
        return None, None if form.show(exc) else str(exc.message)
    return draft, None
