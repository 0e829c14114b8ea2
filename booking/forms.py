from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    Field,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
)
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from booking.search import SearchQuery
from booking.services import MAX_GUESTS
from core.dates import MAX_SEARCH_NIGHTS, parse_iso_date
from core.db import MAX_ID
from facilities.regions import PREFECTURES, REGIONS
from hr.models import Purpose
from hr.policy import candidate_work_days, default_work_days, is_day_off
from hr.subsidy import MAX_COMPANIONS, Companions

AMENITY_LABELS = {
    "work_desks": _l("Work desks"),
    "meeting_room": _l("Meeting room"),
    "parking": _l("Parking"),
    "kitchen": _l("Kitchen"),
    "onsen": _l("Onsen (hot spring)"),
    "family_friendly": _l("Family-friendly"),
}
KIND_LABELS = {
    "stay": _l("Resort stay"),
    "office": _l("Satellite office"),
    "both": _l("Stay and office"),
}
# The line the booking form says of each purpose (its name: hr.models.PURPOSE_LABELS).
PURPOSE_HINTS = {
    Purpose.LEISURE: _l("Your own time, under your company's welfare rules."),
    Purpose.BUSINESS: _l(
        "Working days at the facility, entered as work in your company's HR system."
    ),
}


def place_choices(locale: str) -> list[C]:
    """One select for the whole country, regions, then prefectures."""
    en = locale == "en"
    choices = [C("", _l("Anywhere in Japan"))]
    for region in REGIONS:
        choices.append(C(f"r:{region.slug}", region.name_en if en else region.name_ja))
        for pref in PREFECTURES:
            if pref.region == region.slug:
                label = "\u3000" + (pref.name_en if en else pref.name_ja)
                choices.append(C(f"p:{pref.code}", label))
    return choices


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class StayDatesMixin:
    def validate_check_out(self, field):
        if self.check_in.data and field.data:
            if field.data <= self.check_in.data:
                raise ValidationError(_l("Check-out must be after check-in."))
            if (field.data - self.check_in.data).days > MAX_SEARCH_NIGHTS:
                raise ValidationError(_l("Stays can be at most %(n)d nights.", n=MAX_SEARCH_NIGHTS))


class SearchForm(StayDatesMixin, FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    place = SelectField(_l("Where"), choices=[], validate_choice=True, default="")
    check_in = DateField(_l("Check-in"), validators=[DataRequired()])
    check_out = DateField(_l("Check-out"), validators=[DataRequired()])
    guests = IntegerField(
        _l("Guests"), default=1, validators=[Optional(), NumberRange(1, MAX_GUESTS)]
    )
    kind = SelectField(
        _l("Kind"),
        choices=[
            C("", _l("Any")),
            C("stay", KIND_LABELS["stay"]),
            C("office", KIND_LABELS["office"]),
        ],
        default="",
    )
    amenities = MultiCheckboxField(
        _l("Amenities"), choices=[C(k, v) for k, v in AMENITY_LABELS.items()]
    )
    min_wifi = SelectField(
        _l("Wi-Fi"),
        choices=[
            C("0", _l("Any")),
            C("50", "50 Mbps+"),
            C("100", "100 Mbps+"),
            C("300", "300 Mbps+"),
        ],
        default="0",
    )
    sort = SelectField(
        _l("Sort"),
        choices=[
            C("price", _l("Price: low to high")),
            C("price_desc", _l("Price: high to low")),
            C("saving", _l("Biggest saving first")),
        ],
        default="price",
    )

    def to_query(self) -> SearchQuery:
        region = prefecture = None
        if self.place.data.startswith("r:"):
            region = self.place.data[2:]
        elif self.place.data.startswith("p:"):
            prefecture = int(self.place.data[2:])
        return SearchQuery(
            check_in=self.check_in.data,
            check_out=self.check_out.data,
            guests=self.guests.data or 1,
            region=region,
            prefecture=prefecture,
            kind=self.kind.data or None,
            amenities=frozenset(self.amenities.data or ()),
            min_wifi_mbps=int(self.min_wifi.data or 0),
            sort=self.sort.data,
        )


class StayForm(StayDatesMixin, FlaskForm):
    """Unit, dates and guests: read from the query string to quote, posted to book."""

    unit_id = IntegerField(_l("Room"), validators=[DataRequired(), NumberRange(1, MAX_ID)])
    check_in = DateField(_l("Check-in"), validators=[DataRequired()])
    check_out = DateField(_l("Check-out"), validators=[DataRequired()])
    guests = IntegerField(
        _l("Guests"), default=1, validators=[DataRequired(), NumberRange(1, MAX_GUESTS)]
    )
    # Fixed when the confirmation page is shown, so a double submit books once.
    request_key = HiddenField(validators=[Optional(), Length(max=64)])
    # The total the guest was shown: a price that moved since is not charged unseen.
    expected_total = IntegerField(validators=[Optional(), NumberRange(0, 10**10)])


class QuoteForm(StayForm):
    class Meta:
        csrf = False


def _companion_count(label) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(0, MAX_COMPANIONS)], default=0)


class CompanionFields:
    """Who comes along with the employee, by category, on the quote and the confirm
    form (none of them given: ``guests`` alone, as a link from the facility page or
    from before companions says it)."""

    adults = _companion_count(_l("Adults"))
    children = _companion_count(_l("Children"))
    infants = _companion_count(_l("Infants"))


class CompanionQuoteForm(CompanionFields, QuoteForm):
    """The quote page's query: the stay and who comes along."""


class DayListField(Field):
    """Dates posted under one name (a business workation's working days, as checkboxes):
    each a strict ``YYYY-MM-DD``, at most one stay's worth of days."""

    def _value(self) -> str:
        return ""

    def process_formdata(self, valuelist):
        if len(valuelist) > MAX_SEARCH_NIGHTS + 1:
            self.data = []
            raise ValueError(_l("Too many days were chosen."))
        days = [parse_iso_date(raw) for raw in valuelist]
        if None in days:
            self.data = []
            raise ValueError(_l("Not a valid date value."))
        self.data = days

    def process_data(self, value):
        self.data = list(value or [])


@dataclass(frozen=True)
class WorkDayChoice:
    """One day a business workation may count as work, on the booking form."""

    day: date
    off: bool  # a weekend or a national holiday
    checked: bool


def work_day_choices(
    check_in: date, check_out: date, checked: Iterable[date] | None
) -> list[WorkDayChoice]:
    """Each day from check-in to check-out, days off marked, ticked as ``checked``
    (None: the default working days, every weekday that is not a holiday)."""
    ticked = set(default_work_days(check_in, check_out) if checked is None else checked)
    return [
        WorkDayChoice(day, is_day_off(day), day in ticked)
        for day in candidate_work_days(check_in, check_out)
    ]


COMPANION_FIELDS = ("adults", "children", "infants")
# The line under each companion field: who counts as what.
COMPANION_HINTS = {
    "adults": _l("Junior high school age and older."),
    "children": _l("Primary school age."),
    "infants": _l("Under school age."),
}


def companions_given(form: CompanionFields) -> bool:
    """Whether the form names any companion field (an empty one counts as 0)."""
    return any(form[name].raw_data for name in COMPANION_FIELDS)


def companions_of(form: CompanionFields) -> Companions | None:
    """The companions the form names, or None when it names none (the stay's guests
    then count as the form says, without companions)."""
    if not companions_given(form):
        return None
    return Companions(form.adults.data or 0, form.children.data or 0, form.infants.data or 0)
