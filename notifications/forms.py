"""The mail preferences form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


class PreferencesForm(FlaskForm):
    """One checkbox per optional kind of the person's role (checked: wanted). Values
    outside the choices are not refused here: the service ignores them."""

    wanted = SelectMultipleField(
        _l("Mail you receive"),
        choices=[],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
