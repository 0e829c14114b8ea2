"""The employee's workspace forms: search, the time asked for, confirm, change, cancel, and the
words the workspace pages show (durations, statuses)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import DateField, Field, HiddenField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from availability.slots import DAY_MINUTES, SlotError, parse_api_time
from booking.forms import MultiCheckboxField
from booking.workspace_models import WorkspaceStatus
from booking.workspace_search import WorkspaceQuery
from core.db import MAX_ID, TOKYO
from core.forms import EmptyForm
from facilities.workspace import EQUIPMENT, KIND_LABELS

SEARCH_STEP = 30  # minutes between the times the search offers
MAX_PEOPLE = 50
MAX_YEN = 10**10  # far beyond any workspace booking

# A workspace booking's status in the employee's words.
WORKSPACE_STATUS_LABELS = {
    WorkspaceStatus.WAITING: _l("Waiting with its stay"),
    WorkspaceStatus.CONFIRMED: _l("Confirmed"),
    WorkspaceStatus.CHECKED_IN: _l("Checked in"),
    WorkspaceStatus.NO_SHOW: _l("Released: not checked in"),
    WorkspaceStatus.CANCELLED: _l("Cancelled"),
}


def status_label(code: str) -> str:
    label = WORKSPACE_STATUS_LABELS.get(code)
    return str(label) if label is not None else _("Unknown (%(code)s)", code=code)


def clock(minute: int) -> str:
    """Minutes from midnight as ``HH:MM`` (1440: ``24:00``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _time_of(value: str) -> time | None:
    """``HH:MM`` of the search's selects as a time; ``24:00`` is None (midnight)."""
    hours, minutes = (int(part) for part in value.split(":"))
    return None if hours == 24 else time(hours, minutes)


STARTS = [C(clock(m), clock(m)) for m in range(0, DAY_MINUTES, SEARCH_STEP)]
ENDS = [C(clock(m), clock(m)) for m in range(SEARCH_STEP, DAY_MINUTES + 1, SEARCH_STEP)]


def duration_label(minutes: int) -> str:
    """A length of time in words: 30 minutes, 2 hours, 1 h 30 min."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return ngettext("%(num)d minute", "%(num)d minutes", rest)
    if not rest:
        return ngettext("%(num)d hour", "%(num)d hours", hours)
    return _("%(hours)d h %(minutes)d min", hours=hours, minutes=rest)


class WorkspaceSearchForm(FlaskForm):
    """Workspace free for a time on one day, where, which kind and equipment."""

    class Meta:
        csrf = False  # a GET search changes nothing

    place = SelectField(_l("Where"), choices=[], validate_choice=True, default="")
    day = DateField(_l("Date"), validators=[DataRequired()])
    starts = SelectField(_l("From"), choices=STARTS, default="10:00")
    ends = SelectField(_l("Until"), choices=ENDS, default="12:00")
    kind = SelectField(
        _l("Kind"),
        choices=[C("", _l("Any")), *(C(str(k), v) for k, v in KIND_LABELS.items())],
        default="",
    )
    people = IntegerField(
        _l("People"), default=1, validators=[Optional(), NumberRange(1, MAX_PEOPLE)]
    )
    equipment = MultiCheckboxField(_l("Equipment"), choices=[C(k, v) for k, v in EQUIPMENT.items()])

    def validate_ends(self, field):
        end = _time_of(field.data)
        start = _time_of(self.starts.data)
        if start is not None and end is not None and end <= start:
            raise ValidationError(_l("The end must be after the start."))

    def to_query(self) -> WorkspaceQuery:
        region = prefecture = None
        if self.place.data.startswith("r:"):
            region = self.place.data[2:]
        elif self.place.data.startswith("p:"):
            prefecture = int(self.place.data[2:])
        return WorkspaceQuery(
            day=self.day.data,
            starts=_time_of(self.starts.data) or time(0),
            ends=_time_of(self.ends.data),
            region=region,
            prefecture=prefecture,
            kind=self.kind.data or None,
            equipment=frozenset(self.equipment.data or ()),
            capacity=self.people.data or 1,
        )


class ApiTimeField(Field):
    """A time with its offset, ``2026-12-07T14:00:00+09:00``, as aware UTC. A ``+`` left
    unescaped in an address arrives as a space, and is read as the ``+`` it was."""

    def _value(self) -> str:
        return self.data.isoformat() if isinstance(self.data, datetime) else ""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0]:
            self.data = None
            return
        raw = valuelist[0].strip()
        if " " in raw and "+" not in raw:
            raw = raw.replace(" ", "+")
        try:
            self.data = parse_api_time(raw)
        except SlotError as exc:
            self.data = None
            raise ValueError(str(exc.message)) from None


class WorkspaceTimeForm(FlaskForm):
    """The time to book, from the day view or a search result: a unit, its start, and
    its end or its length in minutes (the day view's length select)."""

    class Meta:
        csrf = False  # read from the query string; booking is the POST

    unit_id = IntegerField(_l("Workspace"), validators=[DataRequired(), NumberRange(1, MAX_ID)])
    start = ApiTimeField(_l("Start"), validators=[InputRequired()])
    end = ApiTimeField(_l("End"))
    minutes = IntegerField(_l("Length"), validators=[Optional(), NumberRange(1, DAY_MINUTES)])

    def validate_end(self, field):
        if field.data is None and not self.minutes.data:
            raise ValidationError(_l("Choose when the booking ends."))

    def span(self) -> tuple[datetime, datetime]:
        """Start and end, aware UTC (after ``validate``)."""
        start = self.start.data.astimezone(UTC)
        if self.end.data is not None:
            return start, self.end.data.astimezone(UTC)
        return start, start + timedelta(minutes=self.minutes.data)


class WorkspaceBookForm(FlaskForm):
    """The confirm button: the time, and what the employee was shown."""

    unit_id = IntegerField(validators=[DataRequired(), NumberRange(1, MAX_ID)])
    start = ApiTimeField(validators=[InputRequired()])
    end = ApiTimeField(validators=[InputRequired()])
    # Fixed when the confirmation page is shown, so a double submit books once.
    request_key = HiddenField(validators=[Optional(), Length(max=64)])
    # The total shown: a price that moved since is not charged unseen.
    expected_total = IntegerField(validators=[Optional(), NumberRange(0, MAX_YEN)])


class WorkspaceCancelForm(EmptyForm):
    """The cancel button, with the refund the employee was shown."""

    expected_refund = IntegerField(validators=[Optional(), NumberRange(0, MAX_YEN)])


def change_choices(units) -> tuple[list, list, list]:
    """The change form's choices for a facility's units: each unit, the start times from
    the earliest opening to the latest closing of any of them by the finest slot, and the
    lengths from the shortest to the longest booking any of them takes."""
    step = min((u.slot_minutes for u in units), default=SEARCH_STEP)
    # A holiday opens as one of the weekdays (``availability.slots.OpeningHours``).
    hours = [day for u in units for day in u.hours.get("week", ()) if day is not None]
    opens = min((int(day[0]) for day in hours), default=0)
    closes = max((int(day[1]) for day in hours), default=DAY_MINUTES)
    shortest = min((u.min_minutes for u in units), default=step)
    longest = max((u.max_minutes for u in units), default=DAY_MINUTES)
    return (
        [C(u.id, u.name) for u in units],
        [C(clock(m), clock(m)) for m in range(opens - opens % step, closes, step)],
        [C(m, duration_label(m)) for m in range(shortest, longest + 1, step)],
    )


class WorkspaceChangeForm(FlaskForm):
    """The time a booking should move to: a unit of its facility, a day, a start and a
    length (the choices are the facility's, ``change_choices``)."""

    class Meta:
        csrf = False  # a GET preview changes nothing; changing is the POST

    unit_id = SelectField(_l("Workspace"), coerce=int, choices=[], validate_choice=True)
    day = DateField(_l("Date"), validators=[DataRequired()])
    starts = SelectField(_l("From"), choices=[], validate_choice=True)
    minutes = SelectField(_l("Length"), coerce=int, choices=[], validate_choice=True)

    def span(self) -> tuple[datetime, datetime]:
        """Start and end, aware UTC (after ``validate``)."""
        start = datetime.combine(self.day.data, _time_of(self.starts.data) or time(0), tzinfo=TOKYO)
        start = start.astimezone(UTC)
        return start, start + timedelta(minutes=self.minutes.data)


class WorkspaceChangeConfirmForm(FlaskForm):
    """The confirm button of a change: the new time and the difference shown."""

    unit_id = IntegerField(validators=[DataRequired(), NumberRange(1, MAX_ID)])
    start = ApiTimeField(validators=[InputRequired()])
    end = ApiTimeField(validators=[InputRequired()])
    # What the change was shown to charge (+) or refund (−): a moved price is not settled unseen.
    expected_difference = IntegerField(validators=[Optional(), NumberRange(-MAX_YEN, MAX_YEN)])
