"""One guest's line of the register, checked (旅館業法 §6, 施行規則 §4の2).

Every guest gives a name, an address and a phone number. A foreign national without
an address in Japan also gives a nationality, a passport number and an image of the
passport's photo page (``lodging.passport`` judges the image).

The rules of a line (``clean_guest``), each refusal named by its field:

- a name in Japanese (kanji, kana, the full-width space) or Latin letters (accents,
  hyphens, apostrophes, periods, spaces), 1–100 characters, no digits;
- a postal address of 5–300 characters (Japanese or foreign), no control characters;
  its spaces and line breaks are folded into single spaces;
- a phone number in a Japanese (03-1234-5678, 090-1234-5678, full-width digits) or
  international (+1 415 555 2671) format, read by ``phonenumbers`` and stored as E.164;
- a guest who lives abroad names a nationality (ISO 3166-1 alpha-2); a foreign one also
  gives a passport number: 6–9 letters and digits (ICAO 9303), upper-cased, spaces
  removed. A guest who needs no passport keeps none: what the law does not ask for
  is not stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from babel import Locale, UnknownLocaleError
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

MAX_NAME = 100
MIN_ADDRESS, MAX_ADDRESS = 5, 300
MAX_PHONE_INPUT = 30  # characters as typed, before reading the number
MAX_RAW = 1000  # anything longer is refused before it is looked at closely
JAPAN = "JP"
FIELDS = ("name", "address", "phone", "nationality", "passport_number", "lives_abroad")

# Letters a name may be written in: Latin (with accents, also decomposed), kana, kanji
# (with the iteration marks 々 〆), the katakana middle dot and prolonged sound mark.
_NAME_LETTERS = (
    "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
    "\u3041-\u3096\u309d-\u309f\u30a1-\u30ff\u3005\u3006"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
)
_NAME_MARKS = "\u0300-\u036f\u3099\u309a"  # combining accents and (han)dakuten
_NAME_SEPARATORS = " \u3000\\-\u2010'\u2019."
_NAME = re.compile(f"[{_NAME_LETTERS}{_NAME_MARKS}{_NAME_SEPARATORS}]+")
_HAS_LETTER = re.compile(f"[{_NAME_LETTERS}]")
_SPACES = re.compile("[ \u3000]{2,}")
# Full-width ASCII and half-width katakana, read as what they stand for.
_WIDTH_VARIANTS = re.compile("[\uff01-\uff5e\uff61-\uff9f]+")
# Dashes people type between the groups of a phone number (the IME's ー too).
_DASHES = re.compile("[\u2010-\u2015\u2212\u30fc\uff70\u301c\uff5e]")
_PASSPORT = re.compile("[A-Z0-9]{6,9}")
# CLDR's territories that are not ISO 3166-1 countries (continents aside, which are
# numeric): reserved or exceptional codes, groupings and "unknown".
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
)
_TRUE = frozenset({"y", "yes", "on", "true", "1"})


@dataclass(frozen=True)
class GuestDetails:
    name: str
    address: str
    phone: str  # E.164 (+81312345678)
    nationality: str = ""  # ISO 3166-1 alpha-2; "" or "JP": Japanese
    passport_number: str = ""
    lives_abroad: bool = False  # no address in Japan

    @property
    def needs_passport(self) -> bool:
        """A foreign national without an address in Japan."""
        return self.nationality not in ("", JAPAN) and self.lives_abroad

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "phone": self.phone,
            "nationality": self.nationality,
            "passport_number": self.passport_number,
            "lives_abroad": self.lives_abroad,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GuestDetails:
        """The details as ``as_json`` wrote them (stored lines, never input)."""
        return cls(
            name=str(data.get("name", "")),
            address=str(data.get("address", "")),
            phone=str(data.get("phone", "")),
            nationality=str(data.get("nationality", "")),
            passport_number=str(data.get("passport_number", "")),
            lives_abroad=bool(data.get("lives_abroad", False)),
        )


# --- the fields --------------------------------------------------------------------------


class _Refused(ValueError):
    def __init__(self, message: LazyString):
        super().__init__(str(message))
        self.message = message


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Refused(_l("Enter this as text."))
    if len(value) > MAX_RAW:
        raise _Refused(_l("This is far too long."))
    return value.strip()


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


def _plain_width(value: str) -> str:
    """Full-width letters and digits as ASCII, half-width kana as full-width."""
    return _WIDTH_VARIANTS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), value)


def clean_name(value: str) -> str:
    name = _SPACES.sub(lambda m: m.group()[0], _plain_width(value).strip())
    if not name:
        raise _Refused(_l("Enter the guest's name."))
    if len(name) > MAX_NAME:
        raise _Refused(_l("A name is at most %(max)d characters.", max=MAX_NAME))
    if any(unicodedata.category(c) == "Nd" for c in name):
        raise _Refused(_l("A name cannot contain digits."))
    if _has_control(name) or not _NAME.fullmatch(name) or not _HAS_LETTER.search(name):
        raise _Refused(
            _l(
                "Write the name in Japanese (kanji or kana) or in Latin letters; spaces,"
                " hyphens, apostrophes and periods are allowed."
            )
        )
    return unicodedata.normalize("NFC", name)


def clean_address(value: str) -> str:
    if _has_control(value.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
        raise _Refused(_l("The address contains characters that are not allowed."))
    address = " ".join(value.split())  # line breaks and full-width spaces too
    if not address:
        raise _Refused(_l("Enter the guest's address."))
    if len(address) > MAX_ADDRESS:
        raise _Refused(_l("An address is at most %(max)d characters.", max=MAX_ADDRESS))
    if len(address) < MIN_ADDRESS or not any(c.isalpha() for c in address):
        raise _Refused(_l("Enter the full postal address."))
    return address


def clean_phone(value: str) -> str:
    if not value:
        raise _Refused(_l("Enter a phone number."))
    typed = _DASHES.sub("-", unicodedata.normalize("NFKC", value))
    example = _l("Enter a phone number such as 03-1234-5678 or +1 415 555 2671.")
    if len(typed) > MAX_PHONE_INPUT or _has_control(typed):
        raise _Refused(example)
    try:
        number = phonenumbers.parse(typed, JAPAN)
    except phonenumbers.NumberParseException:
        raise _Refused(example) from None
    if not phonenumbers.is_valid_number(number):
        raise _Refused(example)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_nationality(value: str, lives_abroad: bool) -> str:
    code = value.strip().upper()
    if not code:
        if lives_abroad:
            raise _Refused(_l("Choose the nationality of a guest who lives abroad."))
        return ""
    if code not in country_codes():
        raise _Refused(_l("Choose a nationality from the list."))
    return code


def clean_passport_number(value: str) -> str:
    number = "".join(unicodedata.normalize("NFKC", value).upper().split())
    if not number:
        raise _Refused(_l("Enter the passport number."))
    if not _PASSPORT.fullmatch(number):
        raise _Refused(
            _l("A passport number has 6 to 9 letters and digits (for example TR1234567).")
        )
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    raise _Refused(_l("Answer yes or no."))


def clean_guest(raw: Mapping[str, Any]) -> tuple[GuestDetails | None, dict[str, LazyString]]:
    """The guest from a form's or the API's fields, or the errors by field name.

    ``raw`` holds ``name``, ``address``, ``phone``, ``nationality``,
    ``passport_number`` (text or missing) and ``lives_abroad`` (a bool, or a form's
    "y"/"on"). A passport number is kept only for a guest who needs one."""
    errors: dict[str, LazyString] = {}
    values: dict[str, Any] = {}

    def check(field: str, clean) -> None:
        try:
            values[field] = clean()
        except _Refused as refused:
            errors[field] = refused.message

    check("lives_abroad", lambda: _flag(raw.get("lives_abroad")))
    check("name", lambda: clean_name(_text(raw, "name")))
    check("address", lambda: clean_address(_text(raw, "address")))
    check("phone", lambda: clean_phone(_text(raw, "phone")))
    abroad = values.get("lives_abroad", False)
    check("nationality", lambda: clean_nationality(_text(raw, "nationality"), abroad))
    nationality = values.get("nationality", "")
    if abroad and nationality not in ("", JAPAN):
        check("passport_number", lambda: clean_passport_number(_text(raw, "passport_number")))
    if errors:
        return None, errors
    return GuestDetails(
        name=values["name"],
        address=values["address"],
        phone=values["phone"],
        nationality=values["nationality"],
        passport_number=values.get("passport_number", ""),
        lives_abroad=values["lives_abroad"],
    ), {}


# --- for pages ---------------------------------------------------------------------------


def format_phone(e164: str) -> str:
    """A stored number as people read it: a Japanese one in the national format
    (03-1234-5678), any other in the international one (+1 415-555-2671)."""
    try:
        number = phonenumbers.parse(e164, JAPAN)
    except phonenumbers.NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(number) == JAPAN
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """The ISO 3166-1 alpha-2 codes a nationality may be."""
    return frozenset(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


@lru_cache(maxsize=8)
def _names(locale: str) -> dict[str, str]:
    try:
        territories = Locale.parse(locale.replace("-", "_")).territories
    except (UnknownLocaleError, ValueError):
        territories = Locale("en").territories
    english = Locale("en").territories
    return {code: territories.get(code) or english[code] for code in country_codes()}


def nationality_name(code: str, locale: str) -> str:
    """The country's name in ``locale`` ("" for none, the code itself if unknown)."""
    return _names(locale).get(code, code) if code else ""


def sort_key(name: str) -> str:
    """A name as a list sorts it: accents and (han)dakuten aside (Åland with the A's)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def nationality_choices(locale: str) -> list[tuple[str, str]]:
    """(ISO code, country name in ``locale``), Japan first, then by name."""
    names = _names(locale)
    rest = sorted((c for c in names if c != JAPAN), key=lambda c: (sort_key(names[c]), c))
    return [(JAPAN, names[JAPAN])] + [(code, names[code]) for code in rest]
