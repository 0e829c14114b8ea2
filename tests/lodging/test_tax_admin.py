"""The platform admin's changes to the accommodation tax table (lodging.tax_admin):
checked, never overlapping within a place, each one audited, read by the tax table."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Role
from lodging import tax_admin
from lodging.models import AccommodationTaxRule
from lodging.rates import KYOTO, KYOTO_CHANGE, TOKYO
from lodging.tax import TaxTable
from tests.conftest import NOW

NAGANO = 20
SOURCE = "https://www.pref.nagano.lg.jp/zeimu/shukuhakuzei.html"


def english(message) -> str:
    """A rule's message as its English text (the default locale is Japanese)."""
    with force_locale("en"):
        return str(message)


@pytest.fixture
def root(make_user):
    return make_user(Role.PLATFORM_ADMIN)


def values(**kw) -> tax_admin.RuleValues:
    base = {
        "prefecture": NAGANO,
        "municipality": "",
        "effective_from": date(2027, 6, 1),
        "effective_until": None,
        "brackets": [[0, 0], [6000, 300]],
        "source_url": SOURCE,
        "note": "長野県 宿泊税",
    }
    return tax_admin.RuleValues(**{**base, **kw})


def entries(db) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_rule_is_added_audited_and_taxes_its_nights(db, root):
    rule = tax_admin.add_rule(values(), actor=root, now=NOW)
    db.session.commit()

    [entry] = entries(db)
    assert (entry.action, entry.object_type, entry.object_id) == (
        "accommodation_tax_rule.create",
        "accommodation_tax_rule",
        rule.id,
    )
    assert entry.actor_id == root.id and entry.before is None
    assert json.loads(entry.after) == {
        "prefecture": NAGANO,
        "municipality": "",
        "effective_from": "2027-06-01",
        "effective_until": None,
        "brackets": [[0, 0], [6000, 300]],
        "source_url": SOURCE,
        "note": "長野県 宿泊税",
    }
    table = TaxTable.load()
    assert table.rate(NAGANO, "北佐久郡軽井沢町", date(2027, 5, 31), 9000) == 0
    assert table.rate(NAGANO, "北佐久郡軽井沢町", date(2027, 6, 1), 5999) == 0
    assert table.rate(NAGANO, "北佐久郡軽井沢町", date(2027, 6, 1), 6000) == 300


def test_an_edit_records_only_what_changed(db, root):
    rule = tax_admin.add_rule(values(), actor=root, now=NOW)
    later = NOW + timedelta(hours=1)
    tax_admin.update_rule(
        rule.id, values(brackets=[[0, 0], [6000, 300], [100000, 500]]), actor=root, now=later
    )
    db.session.commit()

    edit = entries(db)[-1]
    assert edit.action == "accommodation_tax_rule.update"
    assert json.loads(edit.before) == {"brackets": [[0, 0], [6000, 300]]}
    assert json.loads(edit.after) == {"brackets": [[0, 0], [6000, 300], [100000, 500]]}
    assert db.session.get(AccommodationTaxRule, rule.id).updated_at == later

    # Saving the same values again changes nothing and records nothing.
    tax_admin.update_rule(
        rule.id, values(brackets=[[0, 0], [6000, 300], [100000, 500]]), actor=root, now=later
    )
    db.session.commit()
    assert len(entries(db)) == 2


def test_ending_a_rule_sets_its_last_night(db, root):
    rule = tax_admin.add_rule(values(), actor=root, now=NOW)
    tax_admin.end_rule(rule.id, date(2027, 12, 31), actor=root, now=NOW)
    db.session.commit()

    end = entries(db)[-1]
    assert end.action == "accommodation_tax_rule.end"
    assert json.loads(end.before) == {"effective_until": None}
    assert json.loads(end.after) == {"effective_until": "2027-12-31"}
    table = TaxTable.load()
    assert table.rate(NAGANO, "松本市", date(2027, 12, 31), 9000) == 300
    assert table.rate(NAGANO, "松本市", date(2028, 1, 1), 9000) == 0

    with pytest.raises(tax_admin.TaxRuleError) as refused:
        tax_admin.end_rule(rule.id, date(2027, 5, 31), actor=root, now=NOW)
    assert refused.value.field == "last_night"


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2027, 7, 1), None),  # inside an open-ended rule
        (date(2027, 1, 1), date(2027, 6, 1)),  # ends on its first night
        (date(2027, 1, 1), None),  # open-ended from before it
    ],
)
def test_rules_of_one_place_never_overlap(db, root, first, last):
    tax_admin.add_rule(values(), actor=root, now=NOW)
    db.session.commit()

    with pytest.raises(tax_admin.TaxRuleError) as refused:
        tax_admin.add_rule(values(effective_from=first, effective_until=last), actor=root, now=NOW)
    db.session.rollback()
    assert refused.value.code == "overlap" and refused.value.field == "effective_from"
    assert "cannot overlap" in english(refused.value.message) or "night before" in english(
        refused.value.message
    )
    assert db.session.query(AccommodationTaxRule).count() == 1
    assert len(entries(db)) == 1


def test_other_places_and_back_to_back_rules_do_not_overlap(db, root):
    tax_admin.add_rule(values(effective_until=date(2027, 12, 31)), actor=root, now=NOW)
    tax_admin.add_rule(values(effective_from=date(2028, 1, 1)), actor=root, now=NOW)
    tax_admin.add_rule(values(municipality="松本市"), actor=root, now=NOW)  # its own place
    tax_admin.add_rule(values(prefecture=19), actor=root, now=NOW)
    db.session.commit()
    assert db.session.query(AccommodationTaxRule).count() == 4


def test_a_new_rule_may_end_the_open_ended_one_the_night_before(db, root, tax_rules):
    """Kyoto's 2026 change as the admin would enter it: the old rule was open-ended."""
    old = next(r for r in tax_rules if r.prefecture == KYOTO and r.effective_until is not None)
    new = next(r for r in tax_rules if r.prefecture == KYOTO and r.effective_until is None)
    old_id = old.id
    db.session.delete(new)
    old.effective_until = None
    db.session.commit()
    kyoto = values(
        prefecture=KYOTO,
        municipality="京都市",
        effective_from=KYOTO_CHANGE,
        brackets=[[0, 200], [6000, 400], [20000, 1000], [50000, 4000], [100000, 10000]],
        source_url="https://www.city.kyoto.lg.jp/gyozai/page/0000236942.html",
    )

    with pytest.raises(tax_admin.TaxRuleError) as refused:
        tax_admin.add_rule(kyoto, actor=root, now=NOW)
    db.session.rollback()
    assert "tick the box" in english(refused.value.message)

    rule = tax_admin.add_rule(kyoto, actor=root, now=NOW, end_previous=True)
    db.session.commit()

    assert db.session.get(AccommodationTaxRule, old_id).effective_until == date(2026, 2, 28)
    ended, created = entries(db)[-2:]
    assert (ended.action, ended.object_id) == ("accommodation_tax_rule.end", old_id)
    assert json.loads(ended.after) == {"effective_until": "2026-02-28"}
    assert (created.action, created.object_id) == ("accommodation_tax_rule.create", rule.id)
    table = TaxTable.load()
    assert table.rate(KYOTO, "京都市東山区", date(2026, 2, 28), 8000) == 200
    assert table.rate(KYOTO, "京都市東山区", date(2026, 3, 1), 8000) == 400


def test_ending_the_previous_rule_never_moves_a_rule_that_starts_later(db, root):
    tax_admin.add_rule(values(), actor=root, now=NOW)
    with pytest.raises(tax_admin.TaxRuleError) as refused:
        tax_admin.add_rule(
            values(effective_from=date(2027, 1, 1)), actor=root, now=NOW, end_previous=True
        )
    assert refused.value.code == "overlap"


@pytest.mark.parametrize(
    ("brackets", "says"),
    [
        ([], "at least one bracket"),
        ([[100, 0], [10000, 100]], "starts at ¥0"),
        ([[0, 0], [15000, 200], [10000, 100]], "go up in price"),
        ([[0, 0], [10000, 100], [10000, 200]], "go up in price"),
        ([[0, 0], [10000, -100]], "cannot be negative"),
        ([[0, 0], [-5, 100]], "cannot be negative"),
        ([[0, 0], ["10000", 100]], "whole yen"),
        ([[0, 0], [10000.5, 100]], "whole yen"),
        ([[0, 0, 1]], "whole yen"),
        ([[0, True]], "whole yen"),
        ([[0, 0], [10**12, 100]], "too large"),
    ],
)
def test_bad_brackets_are_refused_with_the_reason(db, root, brackets, says):
    with pytest.raises(tax_admin.TaxRuleError) as refused:
        tax_admin.add_rule(values(brackets=brackets), actor=root, now=NOW)
    assert refused.value.field == "brackets"
    assert says in english(refused.value.message)
    db.session.rollback()
    assert db.session.query(AccommodationTaxRule).count() == 0
    assert entries(db) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prefecture": 48}, "prefecture"),
        ({"municipality": "長野県松本市"}, "municipality"),
        ({"municipality": "Matsumoto"}, "municipality"),
        ({"municipality": "松本市" * 40}, "municipality"),
        ({"effective_until": date(2027, 5, 31)}, "effective_until"),
        ({"source_url": "http://www.pref.nagano.lg.jp/"}, "source_url"),
        ({"source_url": "javascript:alert(1)"}, "source_url"),
        ({"source_url": ""}, "source_url"),
        ({"source_url": "https://"}, "source_url"),
        ({"note": "x" * 301}, "note"),
    ],
)
def test_bad_places_periods_and_sources_are_refused(db, root, change, field):
    with pytest.raises(tax_admin.TaxRuleError) as refused:
        tax_admin.add_rule(values(**change), actor=root, now=NOW)
    assert refused.value.field == field


def test_unknown_rules_are_not_found(db, root):
    with pytest.raises(tax_admin.TaxRuleNotFound):
        tax_admin.update_rule(999, values(), actor=root, now=NOW)
    with pytest.raises(tax_admin.TaxRuleNotFound):
        tax_admin.end_rule(999, date(2027, 1, 1), actor=root, now=NOW)


def test_bands_read_as_people_say_them():
    assert tax_admin.bands([[0, 0], [10000, 100], [15000, 200]]) == [
        tax_admin.Band(0, 9999, 0),
        tax_admin.Band(10000, 14999, 100),
        tax_admin.Band(15000, None, 200),
    ]
    assert tax_admin.bands([[0, 200]]) == [tax_admin.Band(0, None, 200)]


def test_rules_are_grouped_by_place(db, tax_rules):
    places = tax_admin.rules_by_place()
    assert [place for place, _rules in places] == [
        (TOKYO, ""),
        (17, "金沢市"),
        (KYOTO, "京都市"),
        (27, ""),
        (40, "福岡市"),
    ]
    kyoto = dict(places)[(KYOTO, "京都市")]
    assert [r.effective_from for r in kyoto] == [date(2018, 10, 1), KYOTO_CHANGE]
