"""The operator's form of a workspace unit (a desk, booth or meeting room sold by the
slot, ``facilities.workspace``), and the summary of its opening hours for the list.

The hours, slot rules and prices are checked by ``availability.slots`` itself
(``Opening``, ``OpeningHours``, ``check_hours``, ``SlotRules``, ``WorkspacePrices``):
what it refuses becomes an error on the field it is about, so bad input is shown on the
page and nothing is saved. The ranges of the model's CHECK constraints are checked here
too, so a bad value is never an IntegrityError.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from babel.dates import get_day_names
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, IntegerField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from availability.slots import (
    DAY_MINUTES,
    SLOT_SIZES,
    Opening,
    OpeningHours,
    ScheduleError,
    SlotRules,
    WorkspacePrices,
    check_hours,
)
from availability.workspace import hours_value
from consoles.operator.forms import MAX_BASE_PRICE, one_line
from facilities.workspace import DEFAULT_HOURS, EQUIPMENT, KIND_LABELS, WorkspaceKind

MAX_CAPACITY = 100
MAX_PRICE = MAX_BASE_PRICE  # yen an hour or a day; anything above is a typo
RELEASE_RANGE = (15, 120)  # minutes without check-in before a booking is released; 0: never
DAYS = range(7)  # Monday first, as ``date.weekday()``
CLOSED = ""  # the holiday choice "closed"
TIME_FORMATS = ["%H:%M", "%H:%M:%S"]  # browsers send 09:30, some 09:30:00


def day_names(locale: str, width: str = "wide") -> list[str]:
    """Monday … Sunday (月曜日 … 日曜日) in the reader's language."""
    names = get_day_names(width, locale=locale)
    return [names[day] for day in DAYS]


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def hours_summary(hours: OpeningHours, locale: str) -> list[str]:
    """The opening hours in a few lines: runs of weekdays with the same opening
    ("Mon – Fri 09:00–20:00", "Sat – Sun closed"), then what a holiday is."""
    short = day_names(locale, "abbreviated")
    lines: list[str] = []
    first = 0
    for day in DAYS:
        if day + 1 < len(DAYS) and hours.week[day + 1] == hours.week[first]:
            continue
        days = short[first] if first == day else f"{short[first]} – {short[day]}"
        opening = hours.week[first]
        if opening is None:
            lines.append(_("%(days)s closed", days=days))
        else:
            lines.append(
                _(
                    "%(days)s %(opens)s–%(closes)s",
                    days=days,
                    opens=_clock(opening.opens_minute),
                    closes=_clock(opening.closes_minute),
                )
            )
        first = day + 1
    if hours.holiday is None:
        lines.append(_("Holidays closed"))
    else:
        lines.append(_("Holidays: hours of %(day)s", day=day_names(locale)[hours.holiday]))
    return lines


@dataclass(frozen=True)
class DayFields:
    """The fields of one weekday: open or closed, and its times."""

    index: int
    name: str
    open: Field
    opens: Field
    closes: Field


class WorkspaceUnitForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    kind = SelectField(
        _l("Kind"),
        choices=[C(k.value, KIND_LABELS[k]) for k in WorkspaceKind],
        default=WorkspaceKind.HOT_DESK.value,
    )
    capacity = IntegerField(
        _l("Capacity (people)"),
        default=1,
        validators=[InputRequired(), NumberRange(1, MAX_CAPACITY)],
    )
    has_monitor = BooleanField(EQUIPMENT["monitor"])
    has_web_meeting = BooleanField(EQUIPMENT["web_meeting"])
    has_whiteboard = BooleanField(EQUIPMENT["whiteboard"])
    holiday = SelectField(_l("National holidays"), choices=[], default=CLOSED)
    slot_minutes = SelectField(
        _l("Slot size"),
        choices=[C(size, _l("%(num)d minutes", num=size)) for size in SLOT_SIZES],
        coerce=int,
        default=30,
    )
    min_minutes = IntegerField(
        _l("Shortest booking (minutes)"),
        default=30,
        validators=[InputRequired(), NumberRange(1, DAY_MINUTES)],
    )
    max_minutes = IntegerField(
        _l("Longest booking (minutes)"),
        default=660,
        validators=[InputRequired(), NumberRange(1, DAY_MINUTES)],
    )
    hourly_price = IntegerField(
        _l("Price per hour (yen, tax included)"),
        validators=[InputRequired(), NumberRange(0, MAX_PRICE)],
    )
    day_price = IntegerField(
        _l("Price per day, at most (yen, tax included; optional)"),
        validators=[Optional(), NumberRange(0, MAX_PRICE)],
    )
    demand_pricing = BooleanField(
        _l("Demand pricing (off-peak hours and months cheaper)"), default=True
    )
    release_after_minutes = IntegerField(
        _l("Release a booking not checked in after (minutes; 0: never)"),
        default=30,
        validators=[InputRequired()],
    )

    EQUIPMENT_FIELDS = ("has_monitor", "has_web_meeting", "has_whiteboard")

    def __init__(self, *args, locale: str = "ja", taken_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        names = day_names(locale)
        self.holiday.choices = [C(CLOSED, _l("Closed"))] + [
            C(str(day), _l("Open with the hours of %(day)s", day=names[day])) for day in DAYS
        ]
        # Names of the facility's other workspace units (lower case): a name is used once.
        self.taken_names = {name.lower() for name in taken_names}
        self.days = [
            DayFields(
                day, names[day], self[f"open_{day}"], self[f"opens_{day}"], self[f"closes_{day}"]
            )
            for day in DAYS
        ]
        for day in self.days:  # each day is a group named by its box: "Monday"
            day.open.label.text = names[day.index]
            day.opens.label.text = _l("Opens")
            day.closes.label.text = _l("Closes")
        self.hours: OpeningHours | None = None  # once validated

    # -- filling the form from a unit ---------------------------------------------------

    def fill_hours(self, stored: dict | None) -> None:
        """Show stored hours (``WorkspaceUnit.hours``; a new unit: ``DEFAULT_HOURS``)."""
        stored = stored or DEFAULT_HOURS
        for day in self.days:
            opening = stored["week"][day.index]
            day.open.data = opening is not None
            if opening is not None:
                opens, closes = int(opening[0]), int(opening[1])
                day.opens.data = time(opens // 60, opens % 60)
                day.closes.data = time(closes // 60 % 24, closes % 60)  # 24:00 shows as 00:00
        holiday = stored.get("holiday")
        self.holiday.data = CLOSED if holiday is None else str(holiday)

    # -- checks -------------------------------------------------------------------------

    def validate_name(self, field) -> None:
        if one_line(field.data).lower() in self.taken_names:
            raise ValidationError(_l("This facility already has a workspace unit of that name."))

    def validate_release_after_minutes(self, field) -> None:
        low, high = RELEASE_RANGE
        if field.data is not None and field.data != 0 and not low <= field.data <= high:
            raise ValidationError(
                _l("Enter 0 (never) or %(low)d to %(high)d minutes.", low=low, high=high)
            )

    def validate_holiday(self, field) -> None:
        if field.data != CLOSED and field.data not in {str(day) for day in DAYS}:
            raise ValidationError(_l("Choose closed or a weekday's hours."))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        slot = None if self.slot_minutes.errors else self.slot_minutes.data
        hours_ok = self._check_hours(slot)
        rules_ok = self._check_rules(slot)
        prices_ok = self._check_prices()
        return valid and hours_ok and rules_ok and prices_ok

    @staticmethod
    def _refuse(field: Field, message) -> bool:
        field.errors = [*field.errors, message]
        return False

    def _day_opening(self, day: DayFields, slot: int | None) -> Opening | None | bool:
        """The day's ``Opening`` (None: closed), or False after putting its error on the
        field it is about."""
        if not day.open.data:
            return None
        if day.opens.errors or day.closes.errors:
            return False  # not a time: the field's own error speaks
        if day.opens.data is None:
            return self._refuse(day.opens, _l("Enter the opening time, or mark the day closed."))
        if day.closes.data is None:
            return self._refuse(day.closes, _l("Enter the closing time, or mark the day closed."))
        closes = None if day.closes.data == time(0) else day.closes.data  # 00:00: midnight
        try:
            opening = Opening(day.opens.data, closes)
        except ScheduleError:
            return self._refuse(
                day.closes,
                _l("The closing time must be after the opening time (00:00 is midnight)."),
            )
        if slot is None:
            return opening
        alone = OpeningHours(tuple(opening if i == day.index else None for i in DAYS))
        try:
            check_hours(alone, slot)
        except ScheduleError:
            field = day.opens if opening.opens_minute % slot else day.closes
            return self._refuse(
                field,
                _l("Use times on the %(num)d-minute slots, e.g. 09:00 or 09:30.", num=slot)
                if slot == 30
                else _l("Use times on the %(num)d-minute slots, e.g. 09:00 or 09:15.", num=slot),
            )
        return opening

    def _check_hours(self, slot: int | None) -> bool:
        week = [self._day_opening(day, slot) for day in self.days]
        if any(opening is False for opening in week) or slot is None or self.holiday.errors:
            return False
        holiday = None if self.holiday.data == CLOSED else int(self.holiday.data)
        try:
            hours = OpeningHours(tuple(week), holiday)
            check_hours(hours, slot)
        except ScheduleError as exc:
            return self._refuse(self.holiday, exc.message)
        self.hours = hours
        return True

    def _check_rules(self, slot: int | None) -> bool:
        low, high = self.min_minutes, self.max_minutes
        if slot is None or low.errors or high.errors:
            return False
        try:
            SlotRules(slot, low.data, high.data)
        except ScheduleError:
            if low.data % slot:
                return self._refuse(low, _l("Use a multiple of %(num)d minutes.", num=slot))
            if high.data % slot:
                return self._refuse(high, _l("Use a multiple of %(num)d minutes.", num=slot))
            return self._refuse(
                high, _l("The longest booking cannot be shorter than the shortest booking.")
            )
        return True

    def _check_prices(self) -> bool:
        if self.hourly_price.errors or self.day_price.errors:
            return False
        try:
            WorkspacePrices(self.hourly_price.data, self.day_price.data)
        except ScheduleError:
            return self._refuse(self.hourly_price, _l("Prices are whole yen, zero or more."))
        return True

    # -- the unit's columns -------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The unit's columns as ``WorkspaceUnit`` takes them (the form is valid)."""
        assert self.hours is not None, "values() of a validated form only"
        return {
            "name": one_line(self.name.data),
            "kind": self.kind.data,
            "capacity": self.capacity.data,
            **{name: bool(self[name].data) for name in self.EQUIPMENT_FIELDS},
            "hours": hours_value(self.hours),
            "slot_minutes": self.slot_minutes.data,
            "min_minutes": self.min_minutes.data,
            "max_minutes": self.max_minutes.data,
            "hourly_price": self.hourly_price.data,
            "day_price": self.day_price.data,
            "demand_pricing": bool(self.demand_pricing.data),
            "release_after_minutes": self.release_after_minutes.data,
        }


# One open/closed box and two times per weekday: open_0, opens_0, closes_0 … (Monday 0).
for _day in DAYS:
    setattr(WorkspaceUnitForm, f"open_{_day}", BooleanField())
    setattr(
        WorkspaceUnitForm,
        f"opens_{_day}",
        TimeField(validators=[Optional()], format=TIME_FORMATS),
    )
    setattr(
        WorkspaceUnitForm,
        f"closes_{_day}",
        TimeField(validators=[Optional()], format=TIME_FORMATS),
    )
