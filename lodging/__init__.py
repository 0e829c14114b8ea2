"""The Japanese lodging law's rules and records: municipal accommodation tax rates and
what a night owes (``tax.py``), the guest register (宿泊者名簿) sealed at rest with its
passport images, its access log and purge (``register.py``, ``guests.py``,
``passport.py``). It knows bookings only by id: ``booking`` decides who may see a stay
and calls these with the stay's id and guest count."""

from __future__ import annotations

from flask import Flask

from lodging import models  # noqa: F401  (tax rules, the register, its access log)
from lodging.cli import tax_cli
from lodging.guests import format_phone


def init_app(app: Flask) -> None:
    app.cli.add_command(tax_cli)
    # A register's phone number as people write it (stored as E.164).
    app.add_template_filter(format_phone, "phone")
