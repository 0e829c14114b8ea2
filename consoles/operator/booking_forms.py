"""Forms of the operator's stay pages: the list's filter, the move, the front-desk buttons
(check-in with its identity check), notes, cancelling on the guest's behalf and direct
stays (walk-ins).

The rules (which moves, check-ins and direct stays are allowed) are the services'; these
forms only make sure what reaches them is well formed: dates that are dates and in
order, ids that fit a column, texts within their column's length.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from availability.closing import MAX_CLOSE_AHEAD_DAYS
from availability.direct import MAX_GUEST_NAME
from availability.direct import MAX_NOTE as MAX_DIRECT_NOTE
from booking.front_desk import MAX_CANCEL_REASON, MAX_NOTE
from booking.models import BookingStatus
from core.db import MAX_ID, edge_now, tokyo_today
from core.i18n import STATUS_LABELS, format_day
from facilities.models import Unit

MAX_DIFFERENCE = 10**10  # yen, either way: far beyond any stay
MAX_NIGHTLY_PRICE = 10_000_000  # yen a night; anything above is a typo (as a room's price)
MAX_STAY_NIGHTS = 365  # a move or a direct stay longer than a year is a typo
MAX_LIST_DAYS = 366  # the stays list reads at most a year at once
MAX_SEARCH = 100
MAX_GUESTS = 50  # a room sleeps at most 50 (the room form's bound)
ALL = ""


def _int_or_none(value) -> int | None:
    """A select's value as an id; anything else is None (refused by the form's check)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class StayDates:
    """Check-out after check-in, and not absurdly far (a typo such as 9999)."""

    def validate_check_out(self, field):
        if self.check_in.data and field.data:
            if field.data <= self.check_in.data:
                raise ValidationError(_l("Check-out must be after check-in."))
            if (field.data - self.check_in.data).days > MAX_STAY_NIGHTS:
                raise ValidationError(_l("A stay can be at most %(n)d nights.", n=MAX_STAY_NIGHTS))


class BookingFilterForm(FlaskForm):
    """The stays list: a date range, a state and a search (read from the query string)."""

    class Meta:
        csrf = False  # a GET list changes nothing

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    status = SelectField(_l("Status"), choices=[], default=ALL)
    q = StringField(
        _l("Guest name or booking number"), validators=[Optional(), Length(max=MAX_SEARCH)]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = STATUS_LABELS["operator_booking"]
        self.status.choices = [C(ALL, _l("All"))] + [
            C(s.value, labels[s.value]) for s in BookingStatus
        ]

    def validate_end(self, field):
        if self.start.data and field.data:
            if field.data <= self.start.data:
                raise ValidationError(_l("The end must be after the start."))
            if (field.data - self.start.data).days > MAX_LIST_DAYS:
                raise ValidationError(_l("Choose at most %(n)d days.", n=MAX_LIST_DAYS))

    def range(self, today: date, default_days: int) -> tuple[date, date]:
        """The dates asked for, or today to ``default_days`` ahead."""
        start = self.start.data or today
        end = self.end.data or start + timedelta(days=default_days)
        return start, end

    @property
    def statuses(self) -> tuple[str, ...] | None:
        return (self.status.data,) if self.status.data else None


class MoveFields(StayDates):
    """Where and when the stay should be."""

    unit_id = IntegerField(_l("Room"), validators=[InputRequired(), NumberRange(1, MAX_ID)])
    check_in = DateField(_l("Check-in"), validators=[InputRequired()])
    check_out = DateField(_l("Check-out"), validators=[InputRequired()])


class MoveForm(MoveFields, FlaskForm):
    """The move asked for, read from the query string for the confirm step."""

    class Meta:
        csrf = False  # a GET preview changes nothing


class ConfirmMoveForm(MoveFields, FlaskForm):
    """The move previewed, posted to make it (CSRF-protected), with the amount shown."""

    expected_net = IntegerField(
        validators=[Optional(), NumberRange(-MAX_DIFFERENCE, MAX_DIFFERENCE)]
    )
    # The accommodation tax difference shown (charged > 0, returned < 0).
    expected_tax = IntegerField(
        validators=[Optional(), NumberRange(-MAX_DIFFERENCE, MAX_DIFFERENCE)]
    )


class FrontDeskForm(FlaskForm):
    """A front-desk button (check in, check out, no-show): the CSRF token and where to
    go back to."""

    next = HiddenField(validators=[Optional(), Length(max=500)])


class CheckInForm(FrontDeskForm):
    """Check in: the front desk's word that it checked each guest against the register
    (旅館業法: the operator confirms who stays); the service records who and when."""

    identity_checked = BooleanField(
        _l("I checked each guest's identity against the guest register"),
        validators=[
            DataRequired(_l("Check each guest's identity against the register, then tick this."))
        ],
    )


class NoteForm(FrontDeskForm):
    note = TextAreaField(
        _l("Notes (operators only)"), validators=[Optional(), Length(max=MAX_NOTE)]
    )


class CancelForGuestForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (told to the guest)"),
        validators=[
            DataRequired(_l("Say why the stay is cancelled.")),
            Length(max=MAX_CANCEL_REASON),
        ],
    )


class DirectStayForm(StayDates, FlaskForm):
    """A stay that did not come through Engawa: room, dates, the guest and a price."""

    unit = SelectField(_l("Room"), choices=[], coerce=_int_or_none, validate_choice=False)
    check_in = DateField(_l("Check-in"), validators=[InputRequired()])
    check_out = DateField(_l("Check-out"), validators=[InputRequired()])
    guest_name = StringField(
        _l("Guest name"), validators=[DataRequired(), Length(max=MAX_GUEST_NAME)]
    )
    guests = IntegerField(
        _l("Guests"), default=1, validators=[InputRequired(), NumberRange(1, MAX_GUESTS)]
    )
    nightly_price = IntegerField(
        _l("Nightly price (yen, tax included)"),
        default=0,
        validators=[Optional(), NumberRange(0, MAX_NIGHTLY_PRICE)],
    )
    note = StringField(
        _l("Note (staff only)"), validators=[Optional(), Length(max=MAX_DIRECT_NOTE)]
    )

    def __init__(self, *args, units: list[Unit] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self._units = {u.id: u for u in units}
        self.unit.choices = [C(u.id, u.name) for u in units]

    def validate_check_in(self, field):
        # A walk-in may be recorded late, never a year late; and no further ahead than
        # dates can be closed (a typo such as 9999 is a form error, not a stay).
        if field.data is None:
            return
        today = tokyo_today(edge_now())
        first = today - timedelta(days=MAX_STAY_NIGHTS)
        last = today + timedelta(days=MAX_CLOSE_AHEAD_DAYS)
        if not first <= field.data <= last:
            raise ValidationError(
                _l(
                    "Choose a date from %(first)s to %(last)s.",
                    first=LazyString(format_day, first),
                    last=LazyString(format_day, last),
                )
            )

    def validate_unit(self, field):
        if field.data not in self._units:
            raise ValidationError(_l("Choose one of this facility's rooms."))

    @property
    def chosen_unit(self) -> Unit:
        return self._units[self.unit.data]
