"""Forms of the accommodation tax table (/admin/taxes): a rule, and ending one.

The brackets are typed as lines "from price, tax per guest" (``0, 0`` /
``10000, 100`` / ``15000, 200``); the form reads the numbers, the service
(``lodging.tax_admin``) checks what they mean (from ¥0, ascending, not negative).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from facilities.regions import PREFECTURES
from lodging.tax_admin import RuleValues

# One amount: optional minus and yen sign, digits with or without thousands
# separators, an optional 円.
_AMOUNT = r"-?[¥￥]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)\s*円?"
_LINE = re.compile(rf"\s*({_AMOUNT})\s*(?:[,，、;:→\t]|\s)\s*({_AMOUNT})\s*")
_NOT_DIGITS = re.compile(r"[¥￥円,\s]")


def _amount(text: str) -> int:
    return int(_NOT_DIGITS.sub("", text))


def parse_bracket_lines(text: str) -> list[list[int]]:
    """``[[from_price, tax], …]`` from lines of two amounts; ValueError names the line."""
    pairs = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(number)
        pairs.append([_amount(match.group(1)), _amount(match.group(2))])
    return pairs


def bracket_lines(brackets: Sequence[Sequence[int]]) -> str:
    return "\n".join(f"{from_price}, {tax}" for from_price, tax in brackets)


def prefecture_choices(locale: str) -> list[C]:
    en = locale == "en"
    return [C(str(p.code), f"{p.code:02d} {p.name_en if en else p.name_ja}") for p in PREFECTURES]


class TaxRuleForm(FlaskForm):
    prefecture = SelectField(_l("Prefecture"), choices=[], coerce=int)
    municipality = StringField(
        _l("Municipality (empty: the whole prefecture)"), validators=[Optional(), Length(max=100)]
    )
    effective_from = DateField(_l("First night"), validators=[InputRequired()])
    effective_until = DateField(
        _l("Last night (empty: until further notice)"), validators=[Optional()]
    )
    brackets = TextAreaField(
        _l("Brackets: one per line, “from price, tax per guest”"),
        validators=[DataRequired(_l("Enter at least one bracket, starting at ¥0."))],
    )
    source_url = StringField(
        _l("The ordinance's page (https://…)"), validators=[DataRequired(), Length(max=500)]
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])
    end_previous = BooleanField(_l("End the rule in force the night before"))

    def __init__(self, *args, locale: str = "ja", **kwargs):
        super().__init__(*args, **kwargs)
        self.prefecture.choices = prefecture_choices(locale)
        self.parsed_brackets: list[list[int]] = []

    def validate_brackets(self, field) -> None:
        try:
            self.parsed_brackets = parse_bracket_lines(field.data)
        except ValueError as exc:
            raise ValidationError(
                _l(
                    "Line %(line)s: write the price the bracket starts from and the tax per"
                    " guest as two whole numbers of yen, e.g. 10000, 100.",
                    line=exc.args[0],
                )
            ) from None

    def validate_effective_until(self, field) -> None:
        if field.data and self.effective_from.data and field.data < self.effective_from.data:
            raise ValidationError(_l("The last night cannot be before the first night."))

    def values(self) -> RuleValues:
        return RuleValues(
            prefecture=self.prefecture.data,
            municipality=(self.municipality.data or "").strip(),
            effective_from=self.effective_from.data,
            effective_until=self.effective_until.data,
            brackets=self.parsed_brackets,
            source_url=(self.source_url.data or "").strip(),
            note=(self.note.data or "").strip(),
        )


class EndTaxRuleForm(FlaskForm):
    last_night = DateField(_l("Last night it taxes"), validators=[InputRequired()])
