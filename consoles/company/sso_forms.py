"""The company admin's single sign-on settings form (CSRF through Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from identity.sso import MAX_CLIENT_ID_LENGTH, MAX_ISSUER_LENGTH, MAX_SECRET_LENGTH


class SsoForm(FlaskForm):
    issuer = StringField(
        _l("Issuer URL"), validators=[DataRequired(), Length(max=MAX_ISSUER_LENGTH)]
    )
    client_id = StringField(
        _l("Client ID"), validators=[DataRequired(), Length(max=MAX_CLIENT_ID_LENGTH)]
    )
    # Write-only: never filled in from the stored value; left empty, the stored one stays.
    client_secret = PasswordField(_l("Client secret"), validators=[Length(max=MAX_SECRET_LENGTH)])
    domains = TextAreaField(_l("E-mail domains"), validators=[DataRequired(), Length(max=2000)])
    enabled = BooleanField(_l("Sign in through the identity provider"))
    mandatory = BooleanField(_l("Make it the only way to sign in (no passwords for these domains)"))
