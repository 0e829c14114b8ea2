"""Forms of the matching pages (``regions.matching``): the company's request, the
operator's proposal, the employees chosen when accepting, and the confirm button.

The rules are the services'; these forms only make sure what reaches them is well
formed: numbers within their columns, dates that are dates, ids among the choices.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
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
from wtforms.widgets import CheckboxInput, ListWidget

from facilities.regions import PREFECTURES
from regions.matching import (
    MAX_BUDGET,
    MAX_DESCRIPTION,
    MAX_MESSAGE,
    MAX_NIGHTS,
    MAX_PEOPLE,
    MAX_TITLE,
    ProposalInput,
    RequestInput,
)
from regions.models import MatchStatus, PriceKind, ProgrammeKind, ProposalStatus

ANY = ""
MAX_PRICE = 10**10  # yen: far beyond any proposal's

PROGRAMME_KIND_LABELS = {
    ProgrammeKind.LOCAL_WORK: _l("Local work and volunteering"),
    ProgrammeKind.EXPERIENCE: _l("Experience"),
    ProgrammeKind.TOUR: _l("Guided tour"),
    ProgrammeKind.SKILLS: _l("Skills session or pro-bono project"),
    ProgrammeKind.COMMUNITY: _l("Community event"),
}
PRICE_KIND_LABELS = {
    PriceKind.FREE: _l("Free"),
    PriceKind.CREDIT: _l("Paid from the company's credit"),
    PriceKind.LOCAL: _l("Paid locally on the day"),
}
REQUEST_STATUS_LABELS = {
    MatchStatus.OPEN: _l("Open"),
    MatchStatus.ACCEPTED: _l("Accepted"),
    MatchStatus.CLOSED: _l("Closed"),
}
PROPOSAL_STATUS_LABELS = {
    ProposalStatus.PROPOSED: _l("Proposed"),
    ProposalStatus.ACCEPTED: _l("Accepted"),
    ProposalStatus.DECLINED: _l("Declined"),
    ProposalStatus.WITHDRAWN: _l("Withdrawn"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def prefecture_choices(locale: str) -> list[C]:
    en = locale == "en"
    return [C(ANY, _l("Anywhere"))] + [
        C(str(p.code), p.name_en if en else p.name_ja) for p in PREFECTURES
    ]


class RequestForm(FlaskForm):
    """A company's request for regions to answer."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=MAX_TITLE)])
    description = TextAreaField(
        _l("What you are looking for"), validators=[Optional(), Length(max=MAX_DESCRIPTION)]
    )
    people = IntegerField(
        _l("Number of people"), validators=[InputRequired(), NumberRange(1, MAX_PEOPLE)]
    )
    nights = IntegerField(_l("Nights"), validators=[InputRequired(), NumberRange(1, MAX_NIGHTS)])
    earliest = DateField(_l("Earliest check-in"), validators=[InputRequired()])
    latest = DateField(_l("Latest check-out"), validators=[InputRequired()])
    prefecture = SelectField(_l("Prefecture"), validators=[Optional()])
    programme_kind = SelectField(
        _l("Kind of programme"),
        choices=[C(ANY, _l("Any kind"))]
        + [C(kind.value, label) for kind, label in PROGRAMME_KIND_LABELS.items()],
        validators=[Optional()],
    )
    wants_onsen = BooleanField(_l("Near a hot spring (温泉)"))
    budget = IntegerField(
        _l("Budget for the whole group (yen, tax included)"),
        validators=[InputRequired(), NumberRange(1, MAX_BUDGET)],
    )

    def __init__(self, *args, locale: str = "ja", **kwargs):
        super().__init__(*args, **kwargs)
        self.prefecture.choices = prefecture_choices(locale)

    def validate_latest(self, field):
        if self.earliest.data and field.data and self.nights.data:
            if (field.data - self.earliest.data).days < self.nights.data:
                raise ValidationError(
                    _l("The window must be at least as long as the nights asked for.")
                )

    def to_input(self) -> RequestInput:
        return RequestInput(
            title=self.title.data or "",
            description=self.description.data or "",
            people=self.people.data,
            nights=self.nights.data,
            earliest=self.earliest.data,
            latest=self.latest.data,
            prefecture=int(self.prefecture.data) if self.prefecture.data else None,
            programme_kind=self.programme_kind.data or None,
            wants_onsen=bool(self.wants_onsen.data),
            budget=self.budget.data,
        )


class ProposalForm(FlaskForm):
    """An operator's proposal: one of its facilities, the dates, sessions, a message;
    ``expected_price`` is the price shown before it is sent."""

    facility = SelectField(_l("Facility"), coerce=int, validators=[InputRequired()])
    check_in = DateField(_l("Check-in"), validators=[InputRequired()])
    check_out = DateField(_l("Check-out"), validators=[InputRequired()])
    sessions = MultiCheckboxField(_l("Programme sessions"), coerce=int)
    message = TextAreaField(
        _l("Message to the company"), validators=[Optional(), Length(max=MAX_MESSAGE)]
    )
    expected_price = IntegerField(validators=[Optional(), NumberRange(0, MAX_PRICE)])

    def __init__(self, *args, facilities=(), sessions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.facility.choices = [C(f.id, f.label) for f in facilities]
        self.sessions.choices = [C(s.id, s.label) for s in sessions]

    def validate_check_out(self, field):
        if self.check_in.data and field.data and field.data <= self.check_in.data:
            raise ValidationError(_l("Check-out must be after check-in."))

    def to_input(self) -> ProposalInput:
        return ProposalInput(
            facility_id=self.facility.data,
            check_in=self.check_in.data,
            check_out=self.check_out.data,
            session_ids=tuple(self.sessions.data or ()),
            message=self.message.data or "",
        )


class EmployeesForm(FlaskForm):
    """The employees who go, when accepting a proposal (the confirm page repeats them as
    hidden fields, with the total shown)."""

    employees = MultiCheckboxField(_l("Employees who go"), coerce=int)
    expected_total = IntegerField(validators=[Optional(), NumberRange(0, MAX_PRICE)])

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.employees.choices = [C(m.id, m.label) for m in members]
