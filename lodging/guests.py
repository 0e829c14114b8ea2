"""One guest's line of the register, checked (旅館業法 §6, 施行規則 §4の2).

Every guest gives a name, an address and a phone number. A foreign national without
an address in Japan also gives a nationality, a passport number and an image of the
passport's photo page. (SKELETON: the lead's signatures; the register helper fills in.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString


@dataclass(frozen=True)
class GuestDetails:
    name: str
    address: str
    phone: str  # as entered, normalised (E.164 for international numbers)
    nationality: str = ""  # ISO 3166-1 alpha-2; "" or "JP": Japanese
    passport_number: str = ""
    lives_abroad: bool = False  # no address in Japan

    @property
    def needs_passport(self) -> bool:
        """A foreign national without an address in Japan."""
        return self.nationality not in ("", "JP") and self.lives_abroad

    def as_json(self) -> dict[str, Any]:
        raise NotImplementedError


def clean_guest(raw: Mapping[str, Any]) -> tuple[GuestDetails | None, dict[str, LazyString]]:
    """The guest from a form's or the API's fields, or the errors by field name."""
    raise NotImplementedError


def nationality_choices(locale: str) -> list[tuple[str, str]]:
    """(ISO code, country name in ``locale``), Japan first, then by name."""
    raise NotImplementedError
