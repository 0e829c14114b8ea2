"""The licence a facility lodges guests under (旅館業法, 住宅宿泊事業法, 国家戦略特区法).

A facility that offers stays must carry one of the lodging licences and its number
before it is listed; a satellite office (no lodging) carries ``none``. The type
decides the law's other rules: a 住宅宿泊事業 house may be rented at most 180 nights
a year (``availability.night_cap``).
"""

from __future__ import annotations

import re
from enum import StrEnum

from flask_babel import lazy_gettext as _l


class LicenceType(StrEnum):
    HOTEL = "hotel"  # 旅館・ホテル営業（旅館業法）
    SIMPLE = "simple"  # 簡易宿所営業（旅館業法）
    MINPAKU = "minpaku"  # 住宅宿泊事業 届出（住宅宿泊事業法）
    SPECIAL_ZONE = "special_zone"  # 国家戦略特区 外国人滞在施設経営事業
    NONE = "none"  # no lodging: a satellite office only


LODGING_LICENCES = (
    LicenceType.HOTEL,
    LicenceType.SIMPLE,
    LicenceType.MINPAKU,
    LicenceType.SPECIAL_ZONE,
)

LICENCE_LABELS = {
    LicenceType.HOTEL: _l("Hotel or ryokan business licence"),
    LicenceType.SIMPLE: _l("Simple lodging business licence"),
    LicenceType.MINPAKU: _l("Private lodging business notification"),
    LicenceType.SPECIAL_ZONE: _l("National strategic special zone lodging licence"),
    LicenceType.NONE: _l("No lodging (satellite office only)"),
}

# What a licence or notification number may look like: the authorities' own forms
# vary (第M310012345号, 京都市指令保医セ第123号, 2019-0123), so letters, digits, kana,
# kanji and the usual separators, 2–60 characters.
_NUMBER = re.compile(
    r"[0-9A-Za-z\u3040-\u30ff\u3400-\u9fff\uff10-\uff5a第号・ー\-–/()（）\s]{2,60}"
)


class LicenceError(ValueError):
    """A licence that cannot be stored; the message is for people."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def check_licence(kind: str, licence_type: str, licence_number: str) -> None:
    """Refuse a licence that does not fit the facility.

    A facility offering stays (``stay`` or ``both``) may leave the licence empty (it is
    then not listed, and the platform admin sees it among the missing) but may not
    claim ``none``; an office only may carry ``none`` and no number.
    """
    if licence_type == "":
        if licence_number.strip():
            raise LicenceError(_l("Choose the type of the licence this number belongs to."))
        return
    if licence_type not in set(LicenceType):
        raise LicenceError(_l("Choose a licence type from the list."))
    if licence_type == LicenceType.NONE:
        if kind != "office":
            raise LicenceError(
                _l("A facility that offers stays needs a lodging licence or notification.")
            )
        if licence_number.strip():
            raise LicenceError(_l("A facility without lodging has no licence number."))
        return
    number = licence_number.strip()
    if not number:
        raise LicenceError(_l("Enter the licence or notification number."))
    if not _NUMBER.fullmatch(number):
        raise LicenceError(
            _l("A licence number has 2–60 letters, digits and the usual separators.")
        )


def offers_lodging(kind: str) -> bool:
    return kind in ("stay", "both")


def is_licensed(kind: str, licence_type: str, licence_number: str) -> bool:
    """The facility may be listed as far as the lodging law goes."""
    if not offers_lodging(kind):
        return True
    return licence_type in LODGING_LICENCES and bool(licence_number.strip())
