"""Forms of the organiser's programme pages (``programme_views``): a programme's facts,
a session (one-off or a weekly series), a session's seats, cancelling one, attendance
and a message to the participants.

The ranges the models' CHECK constraints hold are checked here too, so bad input is an
error on the page; ``regions.organise`` checks everything again and its refusals are
put on the field they are about (``put_errors``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from consoles.operator.forms import Finite
from facilities.geo import JAPAN_EAST, JAPAN_NORTH, JAPAN_SOUTH, JAPAN_WEST
from regions import organise, organise_people, organise_sessions
from regions.models import PriceKind, ProgrammeKind, ProgrammeLanguage, ProgrammeSignup

TIME_FORMATS = ["%H:%M", "%H:%M:%S"]  # browsers send 09:30, some 09:30:00


class ProgrammeForm(FlaskForm):
    kind = SelectField(
        _l("Kind"),
        choices=[C(k.value, organise.KIND_LABELS[k]) for k in ProgrammeKind],
        default=ProgrammeKind.LOCAL_WORK.value,
    )
    title_ja = StringField(
        _l("Title (Japanese)"),
        validators=[
            DataRequired(_l("Enter the title in Japanese.")),
            Length(max=organise.MAX_TITLE),
        ],
    )
    title_en = StringField(
        _l("Title (English, optional)"), validators=[Length(max=organise.MAX_TITLE)]
    )
    description_ja = TextAreaField(
        _l("Description (Japanese)"), validators=[Length(max=organise.MAX_DESCRIPTION)]
    )
    description_en = TextAreaField(
        _l("Description (English, optional)"), validators=[Length(max=organise.MAX_DESCRIPTION)]
    )
    municipality_code = StringField(
        _l("Local government code"),
        validators=[DataRequired(), Length(max=6)],
    )
    meeting_point = StringField(
        _l("Meeting point"), validators=[Length(max=organise.MAX_MEETING_POINT)]
    )
    latitude = FloatField(
        _l("Latitude"),
        validators=[
            InputRequired(),
            Finite(),
            NumberRange(JAPAN_SOUTH, JAPAN_NORTH, message=_l("Put the pin in Japan.")),
        ],
    )
    longitude = FloatField(
        _l("Longitude"),
        validators=[
            InputRequired(),
            Finite(),
            NumberRange(JAPAN_WEST, JAPAN_EAST, message=_l("Put the pin in Japan.")),
        ],
    )
    capacity = IntegerField(
        _l("Seats per session"),
        default=10,
        validators=[InputRequired(), NumberRange(1, organise.MAX_CAPACITY)],
    )
    min_participants = IntegerField(
        _l("Fewest participants"),
        default=1,
        validators=[InputRequired(), NumberRange(1, organise.MAX_CAPACITY)],
    )
    price_kind = SelectField(
        _l("Price"),
        choices=[C(k.value, organise.PRICE_LABELS[k]) for k in PriceKind],
        default=PriceKind.FREE.value,
    )
    price = IntegerField(
        _l("Price per participant (yen, tax included)"),
        default=0,
        validators=[InputRequired(), NumberRange(0, organise.MAX_PRICE)],
    )
    language = SelectField(
        _l("Language"),
        choices=[C(k.value, organise.LANGUAGE_LABELS[k]) for k in ProgrammeLanguage],
        default=ProgrammeLanguage.JA.value,
    )
    stay_required = BooleanField(_l("Only for guests with a stay in the network"), default=True)

    def draft(self) -> organise.ProgrammeDraft:
        return organise.ProgrammeDraft(
            kind=self.kind.data,
            title_ja=self.title_ja.data or "",
            title_en=self.title_en.data or "",
            description_ja=self.description_ja.data or "",
            description_en=self.description_en.data or "",
            municipality_code=self.municipality_code.data or "",
            meeting_point=self.meeting_point.data or "",
            latitude=self.latitude.data,
            longitude=self.longitude.data,
            capacity=self.capacity.data,
            min_participants=self.min_participants.data,
            price_kind=self.price_kind.data,
            price=self.price.data,
            language=self.language.data,
            stay_required=bool(self.stay_required.data),
        )


def put_errors(form: FlaskForm, errors: Mapping[str, object], fallback: str) -> None:
    """The service's refusals on the fields they are about (else on ``fallback``)."""
    for name, message in errors.items():
        field = form._fields.get(name) or form._fields[fallback]
        field.errors = [*field.errors, str(message)]


class SessionForm(FlaskForm):
    """A one-off session: a Japan date and its start and end times."""

    day = DateField(_l("Date"), validators=[InputRequired()])
    start = TimeField(_l("Starts"), validators=[InputRequired()], format=TIME_FORMATS)
    end = TimeField(_l("Ends"), validators=[InputRequired()], format=TIME_FORMATS)


class SeriesForm(FlaskForm):
    """The same time every week from a first date, for 1–26 weeks."""

    first_day = DateField(_l("First date"), validators=[InputRequired()])
    start = TimeField(_l("Starts"), validators=[InputRequired()], format=TIME_FORMATS)
    end = TimeField(_l("Ends"), validators=[InputRequired()], format=TIME_FORMATS)
    weeks = IntegerField(
        _l("Weeks"),
        default=4,
        validators=[InputRequired(), NumberRange(1, organise_sessions.MAX_WEEKS)],
    )


class CapacityForm(FlaskForm):
    capacity = IntegerField(
        _l("Seats"), validators=[InputRequired(), NumberRange(1, organise.MAX_CAPACITY)]
    )


class CancelSessionForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (told to the participants)"),
        validators=[
            DataRequired(_l("Say why the session is cancelled.")),
            Length(max=organise_sessions.MAX_REASON),
        ],
    )


class MessageForm(FlaskForm):
    body = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(_l("Write the message.")),
            Length(max=organise_people.MAX_MESSAGE),
        ],
    )


CAME, ABSENT, UNMARKED = "yes", "no", ""
ATTENDANCE_CHOICES = [
    C(CAME, _l("Came")),
    C(ABSENT, _l("Did not come")),
    C(UNMARKED, _l("Not marked")),
]


def _mark_value(attended: bool | None) -> str:
    return UNMARKED if attended is None else CAME if attended else ABSENT


def attendance_form(signups: Iterable[ProgrammeSignup], **kw) -> FlaskForm:
    """A form with one choice per joined sign-up (``attended_<id>``), set to its mark."""

    class AttendanceForm(FlaskForm):
        def marks(self) -> dict[int, bool | None]:
            found = {}
            for name, field in self._fields.items():
                if name.startswith("attended_"):
                    found[int(name.removeprefix("attended_"))] = (
                        None if field.data == UNMARKED else field.data == CAME
                    )
            return found

    rows = list(signups)
    for signup in rows:
        setattr(
            AttendanceForm,
            f"attended_{signup.id}",
            RadioField(
                _l("Attendance"),
                choices=ATTENDANCE_CHOICES,
                default=_mark_value(signup.attended),
                validators=[Optional()],
            ),
        )
    return AttendanceForm(**kw)
