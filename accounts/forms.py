from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from accounts.membership import valid_email
from accounts.passwords import MAX_PASSWORD_LENGTH, weak_password_reason


class LoginForm(FlaskForm):
    """The password may be left empty only by people whose company signs them in
    through its identity provider (the view sends them there); anyone else is asked
    for it."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=200)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        _l("E-mail"),
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Length(max=254),
        ],
    )

    def validate_email(self, field) -> None:
        if not valid_email((field.data or "").strip().lower()):
            raise ValidationError(_l("Enter a valid e-mail address."))


class NewPasswordForm(FlaskForm):
    """A password chosen through a reset or set link; ``email`` is the person's own
    address (a password must not contain it)."""

    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a new password.")),
            Length(max=MAX_PASSWORD_LENGTH),
        ],
    )
    password_confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("password", message=_l("The passwords differ.")),
        ],
    )

    def __init__(self, *args, email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def validate_password(self, field) -> None:
        reason = weak_password_reason(field.data or "", self.email)
        if reason is not None:
            raise ValidationError(str(reason))


class TwoFactorCodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code.")), Length(max=40)])


class TwoFactorOffForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=200)],
    )


class PasswordChangeForm(FlaskForm):
    """``email`` is the person's own address: a new password must not contain it."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The passwords differ."))],
    )

    def __init__(self, *args, email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def validate_new_password(self, field) -> None:
        reason = weak_password_reason(field.data or "", self.email)
        if reason is not None:
            raise ValidationError(str(reason))


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    expires_in = SelectField(
        _l("Expires"),
        choices=[
            C("30", _l("in 30 days")),
            C("90", _l("in 90 days")),
            C("365", _l("in 1 year")),
            C("never", _l("never")),
        ],
        default="90",
    )

    def valid_days(self) -> int | None:
        """The chosen lifetime in days, None for a token that lasts until revoked."""
        return int(self.expires_in.data) if self.expires_in.data.isdigit() else None
