"""The guest register's form: one block per guest of the stay (the booker's first).

The fields only carry what was typed; ``lodging.guests.clean_guest`` judges each
block and the page puts its refusals on the fields (``mark_errors``). A block left
entirely empty is a guest not registered yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, FieldList, Form, FormField, SelectField, StringField
from wtforms.fields import TelField

from booking.services import MAX_GUESTS
from lodging.guests import format_phone, nationality_choices
from lodging.register import StoredGuest

TEXT_FIELDS = ("name", "address", "phone", "nationality", "passport_number")
PASSPORT_INPUT_MAX = 20  # characters the passport number input takes (spaces included)
PHONE_INPUT_MAX = 30


class GuestBlock(Form):
    """One guest (a sub-form: the page's CSRF token covers it)."""

    name = StringField(_l("Full name"))
    address = StringField(_l("Address"))
    phone = TelField(_l("Phone number"))
    lives_abroad = BooleanField(_l("Lives abroad (no address in Japan)"))
    nationality = SelectField(_l("Nationality"), choices=[], validate_choice=False)
    passport_number = StringField(_l("Passport number"))
    passport = FileField(_l("Photo page of the passport"))


class RegisterForm(FlaskForm):
    guests = FieldList(FormField(GuestBlock), min_entries=0, max_entries=MAX_GUESTS)


def guest_data(line: StoredGuest) -> dict[str, Any]:
    """A stored line as the block's fields show it."""
    details = line.details
    return {
        "name": details.name,
        "address": details.address,
        "phone": format_phone(details.phone) if details.phone else "",
        "lives_abroad": details.lives_abroad,
        "nationality": details.nationality,
        "passport_number": details.passport_number,
    }


def register_form(
    guest_count: int,
    locale: str,
    *,
    lines: Sequence[StoredGuest] = (),
    booker_name: str = "",
    posted: bool = False,
) -> RegisterForm:
    """The form with exactly ``guest_count`` blocks: as ``posted`` (the request's fields
    and files), or prefilled from the register's ``lines`` (line 1 from ``booker_name``
    while the register is empty)."""
    if posted:
        form = RegisterForm()
    else:
        data = [guest_data(line) for line in lines[:guest_count]]
        if not data and booker_name:
            data = [{"name": booker_name}]
        form = RegisterForm(formdata=None, data={"guests": data})
    while len(form.guests) > guest_count:
        form.guests.pop_entry()
    while len(form.guests) < guest_count:
        form.guests.append_entry()
    choices = [("", _l("Choose…")), *nationality_choices(locale)]
    for entry in form.guests:
        entry.form.nationality.choices = choices
    return form


def block_upload(block: GuestBlock) -> FileStorage | None:
    upload = block.passport.data
    if isinstance(upload, FileStorage) and upload.filename:
        return upload
    return None


def block_values(block: GuestBlock) -> dict[str, Any]:
    """What the block carries, for ``clean_guest``."""
    values: dict[str, Any] = {name: block[name].data or "" for name in TEXT_FIELDS}
    values["lives_abroad"] = bool(block.lives_abroad.data)
    return values


def block_is_empty(block: GuestBlock) -> bool:
    values = block_values(block)
    return (
        not any(str(values[name]).strip() for name in TEXT_FIELDS)
        and not values["lives_abroad"]
        and block_upload(block) is None
    )


def mark_errors(block: GuestBlock, errors: Mapping[str, LazyString]) -> None:
    for name, message in errors.items():
        block[name].errors = [message]


def has_errors(form: RegisterForm) -> bool:
    return any(
        block.form[name].errors
        for block in form.guests
        for name in (*TEXT_FIELDS, "lives_abroad", "passport")
    )
