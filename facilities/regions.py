"""Prefectures by JIS X 0401 code and the eight regions (地方) used in search."""

from __future__ import annotations

from typing import NamedTuple


class Prefecture(NamedTuple):
    code: int
    name_ja: str
    name_en: str
    region: str


class Region(NamedTuple):
    slug: str
    name_ja: str
    name_en: str


REGIONS: tuple[Region, ...] = (
    Region("hokkaido", "北海道", "Hokkaido"),
    Region("tohoku", "東北", "Tohoku"),
    Region("kanto", "関東", "Kanto"),
    Region("chubu", "中部", "Chubu"),
    Region("kinki", "近畿", "Kinki"),
    Region("chugoku", "中国", "Chugoku"),
    Region("shikoku", "四国", "Shikoku"),
    Region("kyushu-okinawa", "九州・沖縄", "Kyushu-Okinawa"),
)
REGIONS_BY_SLUG = {r.slug: r for r in REGIONS}

_P = Prefecture
PREFECTURES: tuple[Prefecture, ...] = (
    _P(1, "北海道", "Hokkaido", "hokkaido"),
    _P(2, "青森県", "Aomori", "tohoku"),
    _P(3, "岩手県", "Iwate", "tohoku"),
    _P(4, "宮城県", "Miyagi", "tohoku"),
    _P(5, "秋田県", "Akita", "tohoku"),
    _P(6, "山形県", "Yamagata", "tohoku"),
    _P(7, "福島県", "Fukushima", "tohoku"),
    _P(8, "茨城県", "Ibaraki", "kanto"),
    _P(9, "栃木県", "Tochigi", "kanto"),
    _P(10, "群馬県", "Gunma", "kanto"),
    _P(11, "埼玉県", "Saitama", "kanto"),
    _P(12, "千葉県", "Chiba", "kanto"),
    _P(13, "東京都", "Tokyo", "kanto"),
    _P(14, "神奈川県", "Kanagawa", "kanto"),
    _P(15, "新潟県", "Niigata", "chubu"),
    _P(16, "富山県", "Toyama", "chubu"),
    _P(17, "石川県", "Ishikawa", "chubu"),
    _P(18, "福井県", "Fukui", "chubu"),
    _P(19, "山梨県", "Yamanashi", "chubu"),
    _P(20, "長野県", "Nagano", "chubu"),
    _P(21, "岐阜県", "Gifu", "chubu"),
    _P(22, "静岡県", "Shizuoka", "chubu"),
    _P(23, "愛知県", "Aichi", "chubu"),
    _P(24, "三重県", "Mie", "kinki"),
    _P(25, "滋賀県", "Shiga", "kinki"),
    _P(26, "京都府", "Kyoto", "kinki"),
    _P(27, "大阪府", "Osaka", "kinki"),
    _P(28, "兵庫県", "Hyogo", "kinki"),
    _P(29, "奈良県", "Nara", "kinki"),
    _P(30, "和歌山県", "Wakayama", "kinki"),
    _P(31, "鳥取県", "Tottori", "chugoku"),
    _P(32, "島根県", "Shimane", "chugoku"),
    _P(33, "岡山県", "Okayama", "chugoku"),
    _P(34, "広島県", "Hiroshima", "chugoku"),
    _P(35, "山口県", "Yamaguchi", "chugoku"),
    _P(36, "徳島県", "Tokushima", "shikoku"),
    _P(37, "香川県", "Kagawa", "shikoku"),
    _P(38, "愛媛県", "Ehime", "shikoku"),
    _P(39, "高知県", "Kochi", "shikoku"),
    _P(40, "福岡県", "Fukuoka", "kyushu-okinawa"),
    _P(41, "佐賀県", "Saga", "kyushu-okinawa"),
    _P(42, "長崎県", "Nagasaki", "kyushu-okinawa"),
    _P(43, "熊本県", "Kumamoto", "kyushu-okinawa"),
    _P(44, "大分県", "Oita", "kyushu-okinawa"),
    _P(45, "宮崎県", "Miyazaki", "kyushu-okinawa"),
    _P(46, "鹿児島県", "Kagoshima", "kyushu-okinawa"),
    _P(47, "沖縄県", "Okinawa", "kyushu-okinawa"),
)
PREFECTURES_BY_CODE = {p.code: p for p in PREFECTURES}


def prefecture_codes_in(region_slug: str) -> list[int]:
    return [p.code for p in PREFECTURES if p.region == region_slug]
