"""The form that adds a webhook endpoint, for the company's and the operator's consoles
(each passes the event types its organisation may choose)."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from notifications.webhook_endpoints import MAX_DESCRIPTION, TYPE_LABELS, URL_REFUSAL_LABELS
from notifications.webhook_transport import UrlRefused, parse_url


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EndpointForm(FlaskForm):
    url = StringField(
        _l("Endpoint URL"),
        # Its length and form: validate_url.
        validators=[InputRequired(message=_l("Enter the endpoint's URL."))],
    )
    description = StringField(
        _l("Description (optional)"),
        validators=[Optional(), Length(max=MAX_DESCRIPTION)],
    )
    event_types = MultiCheckboxField(
        _l("Events to send"),
        choices=[],
        validators=[InputRequired(message=_l("Choose at least one event type."))],
    )

    def __init__(self, types: Sequence[str], *args, allow_private: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_private = allow_private
        self.event_types.choices = [(t, TYPE_LABELS[t]) for t in types]

    def validate_url(self, field) -> None:
        """The URL's form, at once with the other fields' errors (its host is resolved
        and checked when the endpoint is added: webhook_endpoints.create_endpoint)."""
        try:
            parse_url((field.data or "").strip(), self.allow_private)
        except UrlRefused as exc:
            raise ValidationError(URL_REFUSAL_LABELS[exc.code]) from None
