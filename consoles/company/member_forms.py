"""Forms of the employee management and joining pages (CSRF through Flask-WTF)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from accounts.passwords import MIN_PASSWORD_LENGTH


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class EmailDomainForm(FlaskForm):
    domain = StringField(_l("Company e-mail domain"), validators=[Optional(), Length(max=253)])


class JoinForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                message=_l(
                    "The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH
                ),
            ),
            Length(max=200),
        ],
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class JoinRequestForm(FlaskForm):
    email = EmailField(_l("Your company e-mail"), validators=[DataRequired(), Length(max=254)])
