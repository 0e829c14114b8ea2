"""The industries a company may say it is in: the divisions (大分類) of the Japan
Standard Industrial Classification (日本標準産業分類), one letter each.

Regions read the companies that sent them visitors by these, never by name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

INDUSTRIES = {
    "A": _l("Agriculture and forestry"),
    "B": _l("Fisheries"),
    "C": _l("Mining and quarrying"),
    "D": _l("Construction"),
    "E": _l("Manufacturing"),
    "F": _l("Electricity, gas, heat supply and water"),
    "G": _l("Information and communications"),
    "H": _l("Transport and postal activities"),
    "I": _l("Wholesale and retail trade"),
    "J": _l("Finance and insurance"),
    "K": _l("Real estate and goods rental and leasing"),
    "L": _l("Scientific research, professional and technical services"),
    "M": _l("Accommodations, eating and drinking services"),
    "N": _l("Living-related and personal services and amusement services"),
    "O": _l("Education, learning support"),
    "P": _l("Medical, health care and welfare"),
    "Q": _l("Compound services"),
    "R": _l("Services, not elsewhere classified"),
    "S": _l("Government"),
    "T": _l("Industries unable to classify"),
}


def industry_label(code: str | None):
    """The industry's name in the reader's language; "Not stated" for none."""
    if code in INDUSTRIES:
        return INDUSTRIES[code]
    return _l("Not stated")


def industry_choices() -> list[tuple[str, object]]:
    return list(INDUSTRIES.items())
