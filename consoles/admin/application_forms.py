"""Forms of the platform admin's review of sign-up applications (CSRF through Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from identity.applications import MAX_REASON


class RejectForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (sent to the applicant)"),
        validators=[
            DataRequired(message=_l("Give the reason for the applicant.")),
            Length(max=MAX_REASON),
        ],
    )
