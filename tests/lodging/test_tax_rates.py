"""The accommodation tax table (宿泊税): every seeded municipality's brackets one yen
below and at each threshold, Kyoto's change of 2026-03-01, the most specific rule,
the charge per guest before consumption tax, and `flask tax rate` for scripts.

The expected yen are written out from the ordinances (docs/TAXES.md), not read from
``lodging.rates``: a seed that drifts from the law fails here.
"""

from __future__ import annotations

from datetime import date

import pytest

from lodging.models import AccommodationTaxRule
from lodging.tax import (
    Bracket,
    BracketError,
    Rule,
    TaxTable,
    charge_per_guest,
    parse_brackets,
)
from tests.conftest import NOW

KYOTO_CHANGE = date(2026, 3, 1)
LAST_OLD_KYOTO_NIGHT = date(2026, 2, 28)
A_NIGHT = date(2026, 12, 10)

# (prefecture, a facility's municipality, night, [(threshold, tax below, tax at)…],
#  tax at ¥0 per guest)
BRACKETS = {
    "tokyo": (13, "新宿区", A_NIGHT, [(10_000, 0, 100), (15_000, 100, 200)], 0),
    "osaka": (
        27,
        "大阪市北区",
        A_NIGHT,
        [(5_000, 0, 200), (15_000, 200, 400), (20_000, 400, 500)],
        0,
    ),
    "kyoto until 2026-02-28": (
        26,
        "京都市東山区",
        LAST_OLD_KYOTO_NIGHT,
        [(20_000, 200, 500), (50_000, 500, 1_000)],
        200,
    ),
    "kyoto from 2026-03-01": (
        26,
        "京都市東山区",
        KYOTO_CHANGE,
        [
            (6_000, 200, 400),
            (20_000, 400, 1_000),
            (50_000, 1_000, 4_000),
            (100_000, 4_000, 10_000),
        ],
        200,
    ),
    "fukuoka": (40, "福岡市博多区", A_NIGHT, [(20_000, 200, 500)], 200),
    "kanazawa": (17, "金沢市", A_NIGHT, [(20_000, 200, 500)], 200),
}


@pytest.mark.parametrize("place", list(BRACKETS))
def test_each_seeded_bracket_one_yen_below_and_at_its_threshold(tax_rules, place):
    prefecture, municipality, night, thresholds, at_zero = BRACKETS[place]
    table = TaxTable.load()
    assert table.rate(prefecture, municipality, night, 0) == at_zero
    for threshold, below, at in thresholds:
        assert table.rate(prefecture, municipality, night, threshold - 1) == below, threshold
        assert table.rate(prefecture, municipality, night, threshold) == at, threshold
    # The top bracket is open-ended.
    top = thresholds[-1]
    assert table.rate(prefecture, municipality, night, top[0] * 10) == top[2]


def test_kyoto_changes_its_rates_on_the_night_of_march_1_2026(tax_rules):
    table = TaxTable.load()

    def kyoto(night: date, charge: int) -> int:
        return table.rate(26, "京都市東山区", night, charge)

    # ¥8,000 a guest: ¥200 on the last night of the old rule, ¥400 from the change.
    assert [kyoto(LAST_OLD_KYOTO_NIGHT, 8_000), kyoto(KYOTO_CHANGE, 8_000)] == [200, 400]
    assert [kyoto(LAST_OLD_KYOTO_NIGHT, 60_000), kyoto(KYOTO_CHANGE, 60_000)] == [1_000, 4_000]
    assert [kyoto(LAST_OLD_KYOTO_NIGHT, 5_000), kyoto(KYOTO_CHANGE, 5_000)] == [200, 200]
    # Kyoto's tax began on 2018-10-01: nothing before.
    assert kyoto(date(2018, 9, 30), 8_000) == 0
    assert kyoto(date(2018, 10, 1), 8_000) == 200


def test_osaka_taxes_from_september_2025_only(tax_rules):
    table = TaxTable.load()
    assert table.rate(27, "大阪市北区", date(2025, 8, 31), 8_000) == 0
    assert table.rate(27, "大阪市北区", date(2025, 9, 1), 8_000) == 200


def test_places_without_a_rule_pay_nothing(tax_rules):
    table = TaxTable.load()
    assert table.rate(20, "北佐久郡軽井沢町", A_NIGHT, 50_000) == 0  # Nagano
    # The same prefecture as Kyoto city, another municipality: the city's rule is its own.
    assert table.rate(26, "宇治市", A_NIGHT, 50_000) == 0
    assert not table.levied_at(26, "宇治市")
    assert table.levied_at(26, "京都市左京区")
    assert table.levied_at(13, "千代田区")  # the whole of Tokyo


def test_the_most_specific_rule_wins(tax_rules, db):
    # A whole-prefecture rule for Kyoto: Kyoto city keeps its own, the rest pays it.
    db.session.add(
        AccommodationTaxRule(
            prefecture=26,
            municipality="",
            effective_from=date(2026, 4, 1),
            effective_until=None,
            brackets=[[0, 50]],
            created_at=NOW,
            updated_at=NOW,
        )
    )
    db.session.commit()
    table = TaxTable.load()
    assert table.rate(26, "京都市東山区", A_NIGHT, 8_000) == 400
    assert table.rate(26, "宇治市", A_NIGHT, 8_000) == 50
    # Before the prefecture's rule begins, Uji pays nothing; Kyoto city its own rate.
    assert table.rate(26, "宇治市", date(2026, 3, 31), 8_000) == 0
    assert table.rate(26, "京都市東山区", date(2026, 3, 31), 8_000) == 400


def test_the_most_specific_rule_wins_whatever_order_the_rules_come_in():
    prefecture_wide = Rule(1, 26, "", date(2020, 1, 1), None, (Bracket(0, 50),))
    city = Rule(2, 26, "京都市", date(2020, 1, 1), None, (Bracket(0, 300),))
    ward = Rule(3, 26, "京都市東山区", date(2020, 1, 1), None, (Bracket(0, 700),))
    for rules in ([prefecture_wide, city, ward], [ward, prefecture_wide, city]):
        table = TaxTable(rules)
        assert table.rate(26, "京都市東山区", A_NIGHT, 1) == 700
        assert table.rate(26, "京都市北区", A_NIGHT, 1) == 300
        assert table.rate(26, "宇治市", A_NIGHT, 1) == 50


@pytest.mark.parametrize(
    ("price", "guests", "charge"),
    [
        (11_000, 1, 10_000),  # ¥11,000 with 10% consumption tax is ¥10,000 before it
        (10_999, 1, 9_999),  # ¥9,999.09…: rounded down
        (11_001, 1, 10_000),
        (22_000, 2, 10_000),
        (22_000, 3, 6_666),
        (22_000, 4, 5_000),
        (10_000, 3, 3_030),
        (0, 2, 0),
        (1, 1, 0),
    ],
)
def test_the_charge_per_guest_is_before_consumption_tax_rounded_down(price, guests, charge):
    assert charge_per_guest(price, guests) == charge


def test_a_night_has_at_least_one_guest():
    with pytest.raises(ValueError, match="at least one guest"):
        charge_per_guest(11_000, 0)


def test_a_nights_tax_is_the_rate_of_the_charge_per_guest_times_the_guests(tax_rules):
    table = TaxTable.load()
    # Tokyo: ¥11,000 is ¥10,000 before consumption tax: ¥100; ¥10,999 is under it.
    assert table.night_tax(13, "新宿区", A_NIGHT, 11_000, 1) == 100
    assert table.night_tax(13, "新宿区", A_NIGHT, 10_999, 1) == 0
    # Two guests share the room's price: ¥10,000 each, ¥100 each.
    assert table.night_tax(13, "新宿区", A_NIGHT, 22_000, 2) == 200
    assert table.night_tax(13, "新宿区", A_NIGHT, 22_000, 3) == 0
    # Kyoto taxes every stay, even a free night.
    assert table.night_tax(26, "京都市東山区", A_NIGHT, 0, 3) == 600
    assert table.night_taxes(
        26, "京都市東山区", [(LAST_OLD_KYOTO_NIGHT, 22_000), (KYOTO_CHANGE, 22_000)], 1
    ) == [500, 1_000]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "starts at ¥0"),
        ([[100, 200]], "starts at ¥0"),
        ([[0, 200], [0, 300]], "go up in price"),
        ([[0, 200], [5000, 300], [4000, 400]], "go up in price"),
        ([[0, -1]], "not negative"),
        ([[0, 200, 1]], "whole yen"),
        ([[0, 2.5]], "whole yen"),
        ([[0, True]], "whole yen"),
        ([["0", 200]], "whole yen"),
    ],
)
def test_brackets_that_cannot_be_a_rule_are_refused(raw, message):
    with pytest.raises(BracketError, match=message):
        parse_brackets(raw)


# --- flask tax rate ----------------------------------------------------------------


def tax_rate(app, *args: str):
    return app.test_cli_runner().invoke(args=["tax", "rate", *args])


def test_the_cli_prints_the_yen_per_guest_of_a_night(app, tax_rules):
    result = tax_rate(
        app,
        "--prefecture",
        "26",
        "--municipality",
        "京都市",
        "--night",
        "2026-03-01",
        "--price-per-person",
        "8000",
    )
    assert result.exit_code == 0, result.output
    assert result.output == "400\n"


@pytest.mark.parametrize(
    ("args", "printed"),
    [
        (["--prefecture", "26", "--municipality", "京都市", "--night", "2026-02-28"], "200"),
        (
            ["--prefecture", "26", "--municipality", " 京都市東山区 ", "--night", "2026-03-01"],
            "400",
        ),
        (["--prefecture", "13", "--night", "2026-12-10"], "0"),  # under ¥10,000 in Tokyo
        (["--prefecture", "20", "--municipality", "軽井沢町", "--night", "2026-12-10"], "0"),
    ],
)
def test_the_cli_answers_for_any_place_and_night(app, tax_rules, args, printed):
    result = tax_rate(app, *args, "--price-per-person", "8000")
    assert (result.exit_code, result.output) == (0, printed + "\n")


@pytest.mark.parametrize(
    "args",
    [
        ["--prefecture", "48", "--night", "2026-03-01", "--price-per-person", "8000"],
        ["--prefecture", "0", "--night", "2026-03-01", "--price-per-person", "8000"],
        ["--prefecture", "26", "--night", "2026-02-30", "--price-per-person", "8000"],
        ["--prefecture", "26", "--night", "1 March", "--price-per-person", "8000"],
        ["--prefecture", "26", "--night", "2026-03-01", "--price-per-person", "-1"],
        ["--prefecture", "26", "--night", "2026-03-01", "--price-per-person", "8000.5"],
        ["--prefecture", "26", "--night", "2026-03-01"],
        ["--night", "2026-03-01", "--price-per-person", "8000"],
    ],
)
def test_the_cli_refuses_bad_input_with_a_usage_error(app, tax_rules, args):
    result = tax_rate(app, *args)
    assert result.exit_code == 2, result.output
