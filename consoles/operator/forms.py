"""Forms of the operator console: facility, room, photo, closed dates, housekeeping.

Every rule a CHECK constraint of the models enforces is checked here too, so bad
input is a form error on the page, never an IntegrityError.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
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

from availability.blocks import MANUAL_REASONS
from availability.closing import MAX_CLOSE_AHEAD_DAYS
from availability.models import BlockReason
from booking.forms import KIND_LABELS
from core.db import edge_now, tokyo_today
from core.i18n import format_day
from facilities import postal
from facilities.geo import JAPAN_EAST, JAPAN_NORTH, JAPAN_SOUTH, JAPAN_WEST
from facilities.licences import LICENCE_LABELS, LicenceError, LicenceType, check_licence
from facilities.models import YES_NO_AMENITIES, FacilityKind, Housekeeping
from facilities.regions import PREFECTURES
from facilities.services import FACILITY_FIELDS

MAX_NIGHTS_LIMIT = 365
MAX_WIFI_MBPS = 100_000
MAX_WORK_DESKS = 1_000
MAX_CAPACITY = 50
MAX_BASE_PRICE = 10_000_000  # yen a night; anything above is a typo
WHOLE_FACILITY = "all"

REASON_LABELS = {
    BlockReason.MAINTENANCE: _l("Maintenance"),
    BlockReason.PRIVATE_USE: _l("Private use"),
    BlockReason.OTHER: _l("Other"),
    BlockReason.EXTERNAL: _l("Another channel"),
}
HOUSEKEEPING_LABELS = {
    Housekeeping.CLEAN: _l("Clean"),
    Housekeeping.DIRTY: _l("Dirty"),
    Housekeeping.INSPECTED: _l("Inspected"),
}


def prefecture_choices(locale: str) -> list[C]:
    en = locale == "en"
    return [C(str(p.code), p.name_en if en else p.name_ja) for p in PREFECTURES]


class Finite:
    """Refuse NaN and infinity, which pass NumberRange and break the database's CHECK."""

    def __call__(self, form, field):
        if field.data is not None and not math.isfinite(field.data):
            raise ValidationError(_l("Enter a number."))


class WithinHorizon:
    """A date from today (Tokyo) to ``ahead_days`` ahead: an operator's dates never lie
    in the past, and a typo such as 9999-12-31 is a form error here, never a date that
    overflows further on. ``ahead_days`` may be a callable, read when the form validates
    (for a bound that follows the configuration)."""

    def __init__(self, ahead_days: int | Callable[[], int]):
        self.ahead_days = ahead_days

    def __call__(self, form, field):
        if field.data is None:  # missing or not a date: the field's own error says so
            return
        ahead = self.ahead_days() if callable(self.ahead_days) else self.ahead_days
        first = tokyo_today(edge_now())
        last = first + timedelta(days=ahead)
        if not first <= field.data <= last:
            raise ValidationError(
                _(
                    "Choose a date from %(first)s to %(last)s.",
                    first=format_day(first, "long"),
                    last=format_day(last, "long"),
                )
            )


def one_line(name: str | None) -> str:
    """A name as one line: runs of whitespace (line breaks too) become one space. A name
    goes into mail subjects, where a line break would make the header unsendable."""
    return " ".join((name or "").split())


class FacilityForm(FlaskForm):
    name_ja = StringField(_l("Name (Japanese)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=[C(k.value, KIND_LABELS[k.value]) for k in FacilityKind],
        default=FacilityKind.STAY.value,
    )
    prefecture = SelectField(_l("Prefecture"), choices=[], coerce=int, default=13)
    postal_code = StringField(_l("Postal code"), validators=[Optional()])
    municipality = StringField(_l("Municipality"), validators=[DataRequired(), Length(max=100)])
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=300)])
    # Set by the pin on the map; typed by hand only without JavaScript. Inside Japan.
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
    wifi_mbps = IntegerField(
        _l("Wi-Fi speed (Mbps)"),
        default=0,
        validators=[InputRequired(), NumberRange(0, MAX_WIFI_MBPS)],
    )
    work_desks = IntegerField(
        _l("Work desks"), default=0, validators=[InputRequired(), NumberRange(0, MAX_WORK_DESKS)]
    )
    meeting_room = BooleanField(_l("Meeting room"))
    parking = BooleanField(_l("Parking"))
    kitchen = BooleanField(_l("Kitchen"))
    onsen = BooleanField(_l("Onsen (hot spring)"))
    family_friendly = BooleanField(_l("Family-friendly"))
    check_in_time = TimeField(_l("Check-in from"), validators=[InputRequired()])
    check_out_time = TimeField(_l("Check-out by"), validators=[InputRequired()])
    min_nights = IntegerField(
        _l("Shortest stay (nights)"),
        default=1,
        validators=[InputRequired(), NumberRange(1, MAX_NIGHTS_LIMIT)],
    )
    max_nights = IntegerField(
        _l("Longest stay (nights)"),
        default=30,
        validators=[InputRequired(), NumberRange(1, MAX_NIGHTS_LIMIT)],
    )
    description_ja = TextAreaField(
        _l("Description (Japanese)"), validators=[Optional(), Length(max=5000)]
    )
    description_en = TextAreaField(
        _l("Description (English)"), validators=[Optional(), Length(max=5000)]
    )
    # Sent in the reminder 3 days before check-in (notifications), in the guest's language.
    arrival_notes_ja = TextAreaField(
        _l("Arrival notes (Japanese)"), validators=[Optional(), Length(max=2000)]
    )
    arrival_notes_en = TextAreaField(
        _l("Arrival notes (English)"), validators=[Optional(), Length(max=2000)]
    )
    # The licence it lodges guests under (facilities.licences): without a lodging
    # licence, a facility offering stays is not listed.
    licence_type = SelectField(
        _l("Licence"),
        choices=[C("", _l("Not yet"))] + [C(t.value, LICENCE_LABELS[t]) for t in LicenceType],
        default="",
    )
    licence_number = StringField(
        _l("Licence or notification number"), validators=[Optional(), Length(max=60)]
    )

    AMENITIES = YES_NO_AMENITIES

    def __init__(self, *args, locale: str = "ja", **kwargs):
        super().__init__(*args, **kwargs)
        self.prefecture.choices = prefecture_choices(locale)
        # The place a postal code filled in on this submission (shown, not yet saved).
        self.filled_from: postal.PostalAddress | None = None

    def validate(self, extra_validators=None) -> bool:
        """Without JavaScript, a postal code sent with the municipality and address
        empty fills them in: the form comes back for the operator to check them."""
        self.filled_from = None
        unknown = False
        if not (self.municipality.data or "").strip() and not (self.address.data or "").strip():
            self.filled_from, unknown = self._fill_from_postal_code()
        valid = super().validate(extra_validators)
        if unknown:
            self.postal_code.errors.append(_l("No address has this postal code: type it in."))
        licensed = self._check_licence()
        return valid and licensed and self.filled_from is None and not unknown

    def _check_licence(self) -> bool:
        """The licence fits the kind (``check_licence``); its error goes on the field
        it is about: the type (missing, ``none`` for stays) or the number."""
        if self.kind.errors or self.licence_type.errors or self.licence_number.errors:
            return True  # their own errors speak
        kind, licence_type = self.kind.data, self.licence_type.data or ""
        number = (self.licence_number.data or "").strip()
        try:
            check_licence(kind, licence_type, number)
        except LicenceError as exc:
            about_type = licence_type == "" or (
                licence_type == LicenceType.NONE and kind != FacilityKind.OFFICE
            )
            field = self.licence_type if about_type else self.licence_number
            field.errors = [*field.errors, exc.message]
            return False
        return True

    def _fill_from_postal_code(self) -> tuple[postal.PostalAddress | None, bool]:
        """The place the postal code names, filled into the form; and whether the code,
        though well formed, names no place."""
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

    def validate_postal_code(self, field):
        try:
            field.data = postal.normalise(field.data)
        except postal.PostalCodeError as exc:
            raise ValidationError(exc.message) from None

    def validate_max_nights(self, field):
        if isinstance(self.min_nights.data, int) and isinstance(field.data, int):
            if field.data < self.min_nights.data:
                raise ValidationError(
                    _l("The longest stay cannot be shorter than the shortest stay.")
                )

    def values(self) -> dict[str, Any]:
        """The facility's columns as the services take them."""
        values = {name: self[name].data for name in FACILITY_FIELDS}
        for name in ("name_ja", "name_en"):
            values[name] = one_line(values[name])
        for name in ("municipality", "address"):
            values[name] = values[name].strip()
        values["postal_code"] = values["postal_code"] or ""  # 7 digits once validated
        for name in ("description_ja", "description_en", "arrival_notes_ja", "arrival_notes_en"):
            values[name] = (values[name] or "").strip()
        values["licence_type"] = values["licence_type"] or ""
        values["licence_number"] = (values["licence_number"] or "").strip()
        return values


class UnitForm(FlaskForm):
    name = StringField(_l("Room name"), validators=[DataRequired(), Length(max=100)])
    capacity = IntegerField(
        _l("Sleeps"), default=2, validators=[InputRequired(), NumberRange(1, MAX_CAPACITY)]
    )
    base_price = IntegerField(
        _l("Nightly price (yen, tax included)"),
        validators=[InputRequired(), NumberRange(0, MAX_BASE_PRICE)],
    )

    def validate_base_price(self, field) -> None:
        # Demand prices are rounded to ¥100; a base price off that grid would make
        # every night look discounted (or dearer) for no reason.
        if field.data is not None and field.data % 100:
            raise ValidationError(_l("Prices are in steps of ¥100."))

    def values(self) -> dict[str, Any]:
        return {
            "name": one_line(self.name.data),
            "capacity": self.capacity.data,
            "base_price": self.base_price.data,
        }


class PhotoFiles(MultipleFileField, FileField):
    """Several files under one name (``<input type=file multiple>``); still a FileField."""


class PhotoForm(FlaskForm):
    """One or more photos at once; each is accepted or refused on its own."""

    photo = PhotoFiles(
        _l("Photos (JPEG, PNG or WebP; several at once)"),
        validators=[FileRequired(_l("Choose a photo to upload."))],
    )
    caption = StringField(_l("Caption"), validators=[Optional(), Length(max=200)])


class PhotoDetailsForm(FlaskForm):
    """A photo's caption and what it shows: the facility, or one of its rooms."""

    caption = StringField(_l("Caption"), validators=[Optional(), Length(max=200)])
    unit = SelectField(_l("Shows"), choices=[], default=WHOLE_FACILITY)

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [C(WHOLE_FACILITY, _l("The facility"))] + [
            C(str(u.id), u.name) for u in units
        ]

    @property
    def unit_id(self) -> int | None:
        """The chosen room's id, or None for the facility as a whole."""
        return None if self.unit.data == WHOLE_FACILITY else int(self.unit.data)


class PhotoMoveForm(FlaskForm):
    """Move a photo one place earlier or later."""

    direction = SelectField(choices=[C("up", _l("Earlier")), C("down", _l("Later"))])


class CloseDatesForm(FlaskForm):
    """Nights to close, both ends included: 10 to 12 December closes three nights."""

    unit = SelectField(_l("Room"), choices=[], default=WHOLE_FACILITY)
    first_night = DateField(
        _l("First night"), validators=[InputRequired(), WithinHorizon(MAX_CLOSE_AHEAD_DAYS)]
    )
    last_night = DateField(
        _l("Last night"), validators=[InputRequired(), WithinHorizon(MAX_CLOSE_AHEAD_DAYS)]
    )
    reason = SelectField(
        _l("Reason"),
        choices=[C(r.value, REASON_LABELS[r]) for r in MANUAL_REASONS],
        default=BlockReason.MAINTENANCE.value,
    )
    note = StringField(_l("Note (staff only)"), validators=[Optional(), Length(max=300)])

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [C(WHOLE_FACILITY, _l("Whole facility (every room)"))] + [
            C(str(u.id), u.name) for u in units
        ]

    def validate_last_night(self, field):
        if self.first_night.data and field.data and field.data < self.first_night.data:
            raise ValidationError(_l("The last night cannot be before the first night."))

    @property
    def unit_id(self) -> int | None:
        """The chosen room's id, or None for the whole facility."""
        return None if self.unit.data == WHOLE_FACILITY else int(self.unit.data)


class HousekeepingForm(FlaskForm):
    status = SelectField(choices=[C(s.value, HOUSEKEEPING_LABELS[s]) for s in Housekeeping])
