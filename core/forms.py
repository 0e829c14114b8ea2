"""Forms shared by every package."""

from __future__ import annotations

from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons (sign out, revoke, cancel)."""
