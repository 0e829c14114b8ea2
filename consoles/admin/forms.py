"""Forms of the platform admin's pages (CSRF through Flask-WTF)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length


class DomainReviewForm(FlaskForm):
    """The platform admin's approve / reject button: carries the domain they saw, so a
    domain the company changed meanwhile is not decided blind."""

    domain = HiddenField(validators=[DataRequired(), Length(max=253)])
