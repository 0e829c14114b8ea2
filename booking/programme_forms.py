"""The forms of the employee's programme pages: the list's filters (the dates a list may
ask for, ``EARLIEST_DAY`` to ``LATEST_DAY``), joining and leaving."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from facilities import municipalities
from regions import programmes

# The longest span a list may ask for (the default span: programme_views.LIST_DAYS).
MAX_LIST_DAYS = 366


# The days a list may ask for: far enough for any programme, and never near the ends of
# the calendar, where adding the default window's days would overflow.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2099, 12, 31)


class ProgrammeFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET list changes nothing

    prefecture = SelectField(_l("Prefecture"), choices=[], default="", validate_choice=True)
    municipality = StringField(_l("Municipality code"), validators=[Optional()])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=[], default="", validate_choice=True)
    during_stays = BooleanField(_l("Only during my stays"))

    def validate_municipality(self, field):
        if field.data and not municipalities.is_valid_code(field.data):
            raise ValidationError(_l("A municipality code has six digits, e.g. 202011 (長野市)."))

    def validate_date_from(self, field):
        if field.data and not EARLIEST_DAY <= field.data <= LATEST_DAY:
            raise ValidationError(_l("Choose a date within a few years of today."))

    def validate_date_to(self, field):
        if field.data and not EARLIEST_DAY <= field.data <= LATEST_DAY:
            raise ValidationError(_l("Choose a date within a few years of today."))
        if field.data and self.date_from.data:
            if field.data < self.date_from.data:
                raise ValidationError(_l("The end date must not be before the start date."))
            if (field.data - self.date_from.data).days > MAX_LIST_DAYS:
                raise ValidationError(_l("Choose at most %(n)d days.", n=MAX_LIST_DAYS))


class JoinForm(FlaskForm):
    """The confirm button: the session's place for this many, with this stay, and the
    fee the employee was shown."""

    participants = IntegerField(
        _l("Participants"),
        validators=[
            DataRequired(),
            NumberRange(programmes.MIN_PARTICIPANTS, programmes.MAX_PARTICIPANTS),
        ],
    )
    booking_id = IntegerField(validators=[Optional(), NumberRange(1, 2**31 - 1)])
    waitlist = BooleanField()
    expected_fee = IntegerField(validators=[Optional(), NumberRange(0, 10**9)])


class JoinQuery(JoinForm):
    class Meta:
        csrf = False  # the GET that shows the fee


class LeaveForm(FlaskForm):
    expected_refund = IntegerField(validators=[Optional(), NumberRange(0, 10**9)])
