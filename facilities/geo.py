"""Where facilities are: Japan's bounds, each prefecture's centre, and map pins.

The postal dataset (``facilities.postal``) has no coordinates, so a postal code
centres the map on its prefecture: the prefectural office (都道府県庁) stands in for
the prefecture's centre.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from facilities.models import Facility


class LatLng(NamedTuple):
    lat: float
    lng: float


# Every facility lies within this box: from Okinotorishima (20.4° N) to Benten-jima
# (45.5° N), from Yonaguni (122.9° E) to Minamitorishima (153.98° E).
JAPAN_SOUTH, JAPAN_NORTH = 20.0, 46.0
JAPAN_WEST, JAPAN_EAST = 122.0, 154.0
# Zoom levels (Leaflet/OSM): the whole country, one prefecture, one facility.
ZOOM_JAPAN, ZOOM_PREFECTURE, ZOOM_FACILITY = 5, 9, 15


def in_japan(lat: float, lng: float) -> bool:
    return JAPAN_SOUTH <= lat <= JAPAN_NORTH and JAPAN_WEST <= lng <= JAPAN_EAST


# The prefectural offices, by JIS X 0401 code (GSI, 都道府県庁所在地).
PREFECTURE_CENTRES: dict[int, LatLng] = {
    1: LatLng(43.0642, 141.3469),
    2: LatLng(40.8244, 140.7400),
    3: LatLng(39.7036, 141.1527),
    4: LatLng(38.2688, 140.8721),
    5: LatLng(39.7186, 140.1024),
    6: LatLng(38.2404, 140.3633),
    7: LatLng(37.7503, 140.4676),
    8: LatLng(36.3418, 140.4468),
    9: LatLng(36.5657, 139.8836),
    10: LatLng(36.3907, 139.0604),
    11: LatLng(35.8570, 139.6489),
    12: LatLng(35.6051, 140.1233),
    13: LatLng(35.6895, 139.6917),
    14: LatLng(35.4478, 139.6425),
    15: LatLng(37.9026, 139.0236),
    16: LatLng(36.6953, 137.2113),
    17: LatLng(36.5947, 136.6256),
    18: LatLng(36.0652, 136.2216),
    19: LatLng(35.6642, 138.5684),
    20: LatLng(36.6513, 138.1810),
    21: LatLng(35.3912, 136.7223),
    22: LatLng(34.9769, 138.3831),
    23: LatLng(35.1802, 136.9066),
    24: LatLng(34.7303, 136.5086),
    25: LatLng(35.0045, 135.8686),
    26: LatLng(35.0214, 135.7556),
    27: LatLng(34.6863, 135.5200),
    28: LatLng(34.6913, 135.1830),
    29: LatLng(34.6851, 135.8329),
    30: LatLng(34.2260, 135.1675),
    31: LatLng(35.5036, 134.2383),
    32: LatLng(35.4723, 133.0505),
    33: LatLng(34.6618, 133.9344),
    34: LatLng(34.3966, 132.4596),
    35: LatLng(34.1859, 131.4714),
    36: LatLng(34.0658, 134.5593),
    37: LatLng(34.3401, 134.0434),
    38: LatLng(33.8417, 132.7661),
    39: LatLng(33.5597, 133.5311),
    40: LatLng(33.6064, 130.4181),
    41: LatLng(33.2494, 130.2988),
    42: LatLng(32.7448, 129.8737),
    43: LatLng(32.7898, 130.7417),
    44: LatLng(33.2382, 131.6126),
    45: LatLng(31.9111, 131.4239),
    46: LatLng(31.5602, 130.5581),
    47: LatLng(26.2124, 127.6809),
}


def facility_pins(
    facilities: Iterable[Facility],
    locale: str,
    url_for_facility: Callable[[Facility], str],
    price_text: Callable[[Facility], str] | None = None,
) -> list[dict]:
    """The pins of a map (``templates/_map.html``), one per facility, in their order.

    ``url_for_facility`` builds each pin's link (e.g. with the stay's dates);
    ``price_text``, when given, the price shown in the pin's popup (e.g. "¥33,000（税込）").
    """
    return [
        {
            "id": f.id,
            "lat": round(f.latitude, 6),
            "lng": round(f.longitude, 6),
            "title": f.name_for(locale),
            "place": f"{f.prefecture_name(locale)} {f.municipality}",
            "url": url_for_facility(f),
            "price": price_text(f) if price_text else "",
        }
        for f in facilities
    ]
