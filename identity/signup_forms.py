"""Forms of the public sign-up pages (CSRF through Flask-WTF).

They check what the services check (``identity.applications``), so bad input is a
message beside its field; a rule only the service knows comes back to the field it
names (``ApplicationError.code``).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from accounts.models import OperatorKind
from booking.forms import KIND_LABELS
from facilities import postal
from facilities.models import FacilityKind
from facilities.regions import PREFECTURES
from identity.applications import (
    MAX_ADDRESS,
    MAX_LICENCE,
    MAX_NAME,
    MAX_NOTE,
    MAX_SEATS,
    ApplicationError,
    FirstFacility,
    normalise_corporate_number,
)

OPERATOR_KIND_LABELS = {
    OperatorKind.COMPANY: _l("Company (株式会社, 合同会社…)"),
    OperatorKind.MUNICIPALITY: _l("Municipality (地方公共団体)"),
    OperatorKind.ASSOCIATION: _l("General association or foundation (一般社団法人・一般財団法人)"),
    OperatorKind.NONPROFIT: _l("Non-profit (NPO法人)"),
    OperatorKind.OTHER: _l("Other"),
}
FACILITY_KIND_LABELS = KIND_LABELS


def _required(limit: int) -> list:
    return [DataRequired(), Length(max=limit)]


class _ContactFields(FlaskForm):
    org_name = StringField(_l("Organisation name"), validators=_required(MAX_NAME))
    contact_name = StringField(_l("Contact person"), validators=_required(MAX_NAME))
    contact_email = EmailField(_l("Contact e-mail"), validators=[DataRequired(), Length(max=254)])

    def show(self, error: ApplicationError) -> bool:
        """Put a service's refusal beside the field it names; False if it names none."""
        field = self._fields.get(error.code)
        if field is None or error.code == "csrf_token":
            return False
        field.errors = [*field.errors, error.message]
        return True


class CompanyApplicationForm(_ContactFields):
    org_name = StringField(_l("Company name"), validators=_required(MAX_NAME))
    corporate_number = StringField(
        _l("Corporate number (法人番号)"), validators=[DataRequired(), Length(max=40)]
    )
    billing_address = TextAreaField(_l("Billing address"), validators=_required(MAX_ADDRESS))
    expected_seats = IntegerField(
        _l("Expected seats"),
        validators=[
            InputRequired(message=_l("Enter a whole number.")),
            NumberRange(1, MAX_SEATS, message=_l("From 1 to 100,000.")),
        ],
    )

    def validate_corporate_number(self, field) -> None:
        try:
            field.data = normalise_corporate_number(field.data or "")
        except ApplicationError as exc:
            raise ValidationError(str(exc.message)) from None


def prefecture_choices(locale: str) -> list[C]:
    en = locale == "en"
    return [C(str(p.code), p.name_en if en else p.name_ja) for p in PREFECTURES]


class OperatorApplicationForm(_ContactFields):
    operator_kind = SelectField(
        _l("Kind of organisation"),
        choices=[C(k.value, OPERATOR_KIND_LABELS[k]) for k in OperatorKind],
        default=OperatorKind.COMPANY.value,
    )
    facility_name = StringField(_l("Facility name (Japanese)"), validators=_required(MAX_NAME))
    facility_kind = SelectField(
        _l("Kind of facility"),
        choices=[C(k.value, FACILITY_KIND_LABELS[k.value]) for k in FacilityKind],
        default=FacilityKind.STAY.value,
    )
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    prefecture = SelectField(_l("Prefecture"), choices=[], coerce=int, default=13)
    municipality = StringField(_l("Municipality"), validators=[DataRequired(), Length(max=100)])
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=300)])
    licence_number = StringField(
        _l("Licence number under the Inns and Hotels Act (旅館業許可番号)"),
        validators=[Length(max=MAX_LICENCE)],
    )
    office_note = TextAreaField(_l("About the satellite office"), validators=[Length(max=MAX_NOTE)])

    def __init__(self, *args, locale: str = "ja", **kwargs):
        super().__init__(*args, **kwargs)
        self.prefecture.choices = prefecture_choices(locale)
        # The place a postal code filled in on this submission (shown for checking).
        self.filled_from: postal.PostalAddress | None = None

    def validate(self, extra_validators=None) -> bool:
        """Without JavaScript, a postal code sent with the municipality and address
        empty fills them in: the form comes back for the applicant to check them."""
        self.filled_from = None
        unknown = False
        if not (self.municipality.data or "").strip() and not (self.address.data or "").strip():
            self.filled_from, unknown = self._fill_from_postal_code()
        valid = super().validate(extra_validators)
        if self.filled_from is not None:
            self.municipality.errors = []
            self.address.errors = []
        if unknown:
            self.postal_code.errors.append(_l("No address has this postal code: type it in."))
        return valid and self.filled_from is None and not unknown

    def _fill_from_postal_code(self) -> tuple[postal.PostalAddress | None, bool]:
        try:
            place = postal.lookup(self.postal_code.data or "")
        except postal.PostalCodeError:
            return None, False  # empty or malformed: the field's own check speaks
        if place is None:
            return None, True
        self.prefecture.data = place.prefecture
        self.municipality.data = place.municipality
        self.address.data = place.town
        return place, False

    def validate_postal_code(self, field) -> None:
        try:
            field.data = postal.normalise(field.data or "")
        except postal.PostalCodeError as exc:
            raise ValidationError(exc.message) from None

    def validate_licence_number(self, field) -> None:
        if self.facility_kind.data != FacilityKind.OFFICE and not (field.data or "").strip():
            raise ValidationError(
                _l("A facility where guests stay needs its 旅館業 licence number.")
            )

    def validate_office_note(self, field) -> None:
        if self.facility_kind.data == FacilityKind.OFFICE and not (field.data or "").strip():
            raise ValidationError(
                _l("For a satellite office, say what it offers (no 旅館業 licence is needed).")
            )

    def first_facility(self) -> FirstFacility:
        return FirstFacility(
            name=self.facility_name.data or "",
            kind=self.facility_kind.data or "",
            postal_code=self.postal_code.data or "",
            prefecture=self.prefecture.data,
            municipality=self.municipality.data or "",
            address=self.address.data or "",
            licence_number=self.licence_number.data or "",
            office_note=self.office_note.data or "",
        )
