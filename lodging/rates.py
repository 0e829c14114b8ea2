"""The accommodation tax rules Engawa starts with (docs/TAXES.md cites each ordinance).

Migration 0010 inserted a frozen copy of these into every database; the demo and the
tests insert them from here with ``seed_rules``. Later changes are the platform
admin's, at /admin/taxes, each one audited.
"""

from __future__ import annotations

from datetime import date, datetime

from core.extensions import db
from lodging.models import AccommodationTaxRule

TOKYO, KYOTO, OSAKA, ISHIKAWA, FUKUOKA = 13, 26, 27, 17, 40
KYOTO_CHANGE = date(2026, 3, 1)

# (prefecture, municipality, first night, last night, [[from price, tax], …], source, note)
SEEDED_RULES = (
    (
        TOKYO,
        "",
        date(2002, 10, 1),
        None,
        [[0, 0], [10000, 100], [15000, 200]],
        "https://www.tax.metro.tokyo.lg.jp/kazei/work/shukuhaku",
        "東京都 宿泊税",
    ),
    (
        OSAKA,
        "",
        date(2025, 9, 1),
        None,
        [[0, 0], [5000, 200], [15000, 400], [20000, 500]],
        "https://www.pref.osaka.lg.jp/o070070/zei/alacarte/shukuhakuzei.html",
        "大阪府 宿泊税",
    ),
    (
        KYOTO,
        "京都市",
        date(2018, 10, 1),
        date(2026, 2, 28),
        [[0, 200], [20000, 500], [50000, 1000]],
        "https://www.city.kyoto.lg.jp/gyozai/page/0000236942.html",
        "京都市 宿泊税",
    ),
    (
        KYOTO,
        "京都市",
        KYOTO_CHANGE,
        None,
        [[0, 200], [6000, 400], [20000, 1000], [50000, 4000], [100000, 10000]],
        "https://www.city.kyoto.lg.jp/gyozai/page/0000236942.html",
        "京都市 宿泊税（2026年3月1日改正）",
    ),
    (
        FUKUOKA,
        "福岡市",
        date(2020, 4, 1),
        None,
        [[0, 200], [20000, 500]],
        "https://www.city.fukuoka.lg.jp/zaisei/zeisei/life/syukuhakuzei.html",
        "福岡市 宿泊税（県税を含む）",
    ),
    (
        ISHIKAWA,
        "金沢市",
        date(2019, 4, 1),
        None,
        [[0, 200], [20000, 500]],
        "https://www4.city.kanazawa.lg.jp/soshikikarasagasu/zeimuka/gyomuannai/5/2/1/index.html",
        "金沢市 宿泊税",
    ),
)


def seed_rules(now: datetime) -> list[AccommodationTaxRule]:
    """Add the seeded rules (to an empty table: the demo, the tests)."""
    rules = [
        AccommodationTaxRule(
            prefecture=prefecture,
            municipality=municipality,
            effective_from=first,
            effective_until=last,
            brackets=brackets,
            source_url=source,
            note=note,
            created_at=now,
            updated_at=now,
        )
        for prefecture, municipality, first, last, brackets, source, note in SEEDED_RULES
    ]
    db.session.add_all(rules)
    db.session.flush()
    return rules
