"""Forms of the operator's pricing pages: settings, a room's bounds, an override.

The ranges the database's CHECK constraints enforce are checked here too, so bad
input is a form error on the page; the services check them again (and the rules
only they know, like prices in steps of ¥100) and raise ``PricingError``.
"""

from __future__ import annotations

from typing import Any

from babel.dates import get_month_names
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from availability.closing import MAX_CLOSE_AHEAD_DAYS
from consoles.operator.forms import WithinHorizon
from pricing.rules import MONTHS
from pricing.services import MAX_PRICE, PERCENT_FIELDS, PERCENT_RANGES

ALL_ROOMS = "all"


def override_ahead_days() -> int:
    """How far ahead a fixed price may reach: as far as closing dates (about three
    years, for events known early), and at least as far as prices are computed."""
    return max(MAX_CLOSE_AHEAD_DAYS, current_app.config["PRICING_HORIZON_DAYS"])


CAUSE_LABELS = {
    "nightly": _l("Nightly re-pricing"),
    "booking": _l("After a booking or a calendar change"),
    "settings": _l("Settings changed"),
    "manual": _l("Fixed price"),
    "cli": _l("Re-priced by hand"),
}


def cause_label(cause: str) -> str:
    return str(CAUSE_LABELS.get(cause, cause))


def month_choices(locale: str) -> list[C]:
    """1月 … 12月 in Japanese, Jan … Dec in English."""
    names = get_month_names("abbreviated", locale=locale)
    return [C(m, names[m]) for m in MONTHS]


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _percent(label, name: str) -> IntegerField:
    low, high = PERCENT_RANGES[name]
    return IntegerField(label, validators=[InputRequired(), NumberRange(low, high)])


class PolicyForm(FlaskForm):
    enabled = BooleanField(_l("Dynamic pricing on (off: every night costs the base price)"))
    off_season_months = MultiCheckboxField(_l("Off-season months"), choices=[], coerce=int)
    off_season_discount = _percent(_l("Off-season discount (%)"), "off_season_discount")
    target_occupancy = _percent(_l("Target occupancy (%)"), "target_occupancy")
    max_discount = _percent(_l("Maximum discount (%)"), "max_discount")
    last_minute_max = _percent(_l("Last-minute discount, at most (%)"), "last_minute_max")
    gap_discount = _percent(_l("Gap-night discount (%)"), "gap_discount")

    def __init__(self, *args, locale: str = "ja", **kwargs):
        super().__init__(*args, **kwargs)
        self.off_season_months.choices = month_choices(locale)

    @staticmethod
    def data_of(row) -> dict[str, Any]:
        """The form's values from a ``PricingPolicy`` row."""
        data = {name: getattr(row, name) for name in PERCENT_FIELDS}
        return data | {"enabled": row.enabled, "off_season_months": sorted(row.months)}

    def values(self) -> dict[str, Any]:
        """Keyword arguments of ``services.save_policy``."""
        return {
            "enabled": bool(self.enabled.data),
            "off_season_months": set(self.off_season_months.data or ()),
            **{name: self[name].data for name in PERCENT_FIELDS},
        }


class BoundsForm(FlaskForm):
    """A room's floor and ceiling; an empty field is no floor / the default ceiling."""

    floor = IntegerField(_l("Floor (yen)"), validators=[Optional(), NumberRange(0, MAX_PRICE)])
    ceiling = IntegerField(_l("Ceiling (yen)"), validators=[Optional(), NumberRange(0, MAX_PRICE)])

    def validate_ceiling(self, field):
        if (
            isinstance(self.floor.data, int)
            and isinstance(field.data, int)
            and self.floor.data > field.data
        ):
            raise ValidationError(_l("The floor cannot be above the ceiling."))


class OverrideForm(FlaskForm):
    """The operator's price for nights first … last, both included."""

    unit = SelectField(_l("Room"), choices=[], default=ALL_ROOMS)
    first_night = DateField(
        _l("First night"), validators=[InputRequired(), WithinHorizon(override_ahead_days)]
    )
    last_night = DateField(
        _l("Last night"), validators=[InputRequired(), WithinHorizon(override_ahead_days)]
    )
    price = IntegerField(
        _l("Price a night (yen, tax included)"),
        validators=[InputRequired(), NumberRange(0, MAX_PRICE)],
    )
    note = StringField(_l("Note (staff only)"), validators=[Optional(), Length(max=200)])

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [C(ALL_ROOMS, _l("All rooms"))] + [C(str(u.id), u.name) for u in units]

    def validate_last_night(self, field):
        if self.first_night.data and field.data and field.data < self.first_night.data:
            raise ValidationError(_l("The last night must not be before the first."))

    @property
    def unit_id(self) -> int | None:
        """The chosen room's id, or None for every room."""
        return None if self.unit.data == ALL_ROOMS else int(self.unit.data)
