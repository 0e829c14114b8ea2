"""Where a facility is: the postal code look-up behind the facility form's button.

It hangs on the console's blueprint, so only signed-in operators reach it (others:
a sign-in redirect or 403). It reads Japan Post's data shipped with the app and
nothing of any tenant's, so it needs no facility id.
"""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _

from consoles.operator.views import bp as operator_bp
from core.i18n import current_locale
from facilities import postal
from facilities.geo import ZOOM_PREFECTURE
from facilities.regions import PREFECTURES_BY_CODE


@operator_bp.get("/postal-codes/<code>")
def postal_code(code: str):
    """``{"postal_code", "prefecture", "prefecture_name", "municipality", "town", "towns",
    "centre": {"lat", "lng", "zoom"}}``; 400 for a malformed code, 404 for an unknown one."""
    try:
        place = postal.lookup(code)
    except postal.PostalCodeError as exc:
        return _error(400, "invalid_postal_code", str(exc.message))
    if place is None:
        return _error(404, "unknown_postal_code", _("No address has this postal code."))
    prefecture = PREFECTURES_BY_CODE[place.prefecture]
    centre = place.centre
    return jsonify(
        postal_code=place.postal_code,
        display_code=place.display_code,
        prefecture=place.prefecture,
        prefecture_name=prefecture.name_en if current_locale() == "en" else prefecture.name_ja,
        municipality=place.municipality,
        town=place.town,
        towns=list(place.towns),
        municipality_kana=place.municipality_kana,
        town_kana=place.town_kana,
        # The dataset has no coordinates: the prefecture's centre, at a prefecture's zoom.
        centre={"lat": centre.lat, "lng": centre.lng, "zoom": ZOOM_PREFECTURE},
    )


def _error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status
