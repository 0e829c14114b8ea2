"""The platform admin's changes to the accommodation tax table (/admin/taxes).

Rules it enforces:

- A rule is a place (a prefecture, or one municipality of it), a period of nights
  (the first, and the last or open-ended) and brackets ``[[from_price, tax], …]``:
  the first from ¥0, prices strictly ascending, every amount a whole, non-negative
  number of yen. Its source is the ordinance's page (https).
- The rules of one place never overlap in time (``lodging.tax`` relies on it). A new
  rule may close the open-ended rule in force before it (its last night becomes the
  night before the new one's first) when the admin asks for it; otherwise an overlap
  is refused with the rule it collides with.
- Every change is one audit entry (``accommodation_tax_rule.create`` / ``.update`` /
  ``.end``) in the same transaction, with the values before and after.
- A change applies to stays booked after it: booked nights keep the tax frozen on them.

Services take plain values and flush; the views commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts.models import User
from core.errors import RuleError
from core.extensions import db
from core.i18n import format_day
from facilities.regions import PREFECTURES_BY_CODE
from lodging.models import AccommodationTaxRule
from lodging.tax import BracketError, parse_brackets

OBJECT_TYPE = "accommodation_tax_rule"
MAX_BRACKETS = 20
MAX_FROM_PRICE = 100_000_000  # yen per guest and night; anything above is a typo
MAX_TAX = 1_000_000
MUNICIPALITY_ENDINGS = ("市", "区", "町", "村")


class TaxRuleError(RuleError):
    """A tax rule change refused; ``field`` names the form field it is about."""

    def __init__(self, message, field: str | None = None, code: str | None = None):
        super().__init__(message, code)
        self.field = field


class TaxRuleNotFound(TaxRuleError):
    code = "not_found"


@dataclass(frozen=True)
class RuleValues:
    """A rule as the admin entered it (plain values)."""

    prefecture: int
    municipality: str
    effective_from: date
    effective_until: date | None
    brackets: Sequence[Sequence[int]]
    source_url: str
    note: str = ""


@dataclass(frozen=True)
class Band:
    """One bracket as a band of charges: ``from_price`` to ``to_price`` (inclusive; None
    for "and over"), ``tax`` yen per guest and night."""

    from_price: int
    to_price: int | None
    tax: int


def bands(brackets: Sequence[Sequence[int]]) -> list[Band]:
    """The brackets as readable bands: below ¥10,000, ¥10,000–¥14,999, ¥15,000 and over."""
    pairs = [(int(a), int(b)) for a, b in brackets]
    return [
        Band(start, pairs[i + 1][0] - 1 if i + 1 < len(pairs) else None, tax)
        for i, (start, tax) in enumerate(pairs)
    ]


def place_name(prefecture: int, municipality: str, locale: str) -> str:
    pref = PREFECTURES_BY_CODE[prefecture]
    return (pref.name_en if locale == "en" else pref.name_ja) + (
        f" {municipality}" if municipality else ""
    )


def rules_by_place() -> list[tuple[tuple[int, str], list[AccommodationTaxRule]]]:
    """Every rule, grouped by place (prefecture code, then municipality; the whole
    prefecture first), each place's rules by their first night."""
    rows = db.session.scalars(
        select(AccommodationTaxRule).order_by(
            AccommodationTaxRule.prefecture,
            AccommodationTaxRule.municipality,
            AccommodationTaxRule.effective_from,
        )
    ).all()
    groups: dict[tuple[int, str], list[AccommodationTaxRule]] = {}
    for rule in rows:
        groups.setdefault((rule.prefecture, rule.municipality), []).append(rule)
    return list(groups.items())


def get_rule(rule_id: int) -> AccommodationTaxRule | None:
    return db.session.get(AccommodationTaxRule, rule_id)


def rule_values(rule: AccommodationTaxRule) -> dict[str, Any]:
    """A rule's settings as the audit log records them."""
    return {
        "prefecture": rule.prefecture,
        "municipality": rule.municipality,
        "effective_from": rule.effective_from.isoformat(),
        "effective_until": rule.effective_until.isoformat() if rule.effective_until else None,
        "brackets": [list(pair) for pair in rule.brackets],
        "source_url": rule.source_url,
        "note": rule.note,
    }


# --- checks ---------------------------------------------------------------------------------


def check_brackets(raw: Sequence[Sequence[Any]]) -> list[list[int]]:
    """``[[from_price, tax], …]`` as a rule stores them, or ``TaxRuleError`` on ``brackets``."""
    pairs = [list(pair) for pair in raw]
    if not pairs:
        raise TaxRuleError(_l("Enter at least one bracket, starting at ¥0."), "brackets")
    if len(pairs) > MAX_BRACKETS:
        raise TaxRuleError(_l("A rule has at most %(n)d brackets.", n=MAX_BRACKETS), "brackets")
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            raise TaxRuleError(
                _l("Each bracket is a price and a tax per guest, in whole yen."), "brackets"
            )
        if pair[0] < 0 or pair[1] < 0:
            raise TaxRuleError(_l("Prices and taxes cannot be negative."), "brackets")
        if pair[0] > MAX_FROM_PRICE or pair[1] > MAX_TAX:
            raise TaxRuleError(_l("That amount is too large for a tax bracket."), "brackets")
    if pairs[0][0] != 0:
        raise TaxRuleError(
            _l("The first bracket starts at ¥0 (a tax of 0 there means: below the next, none)."),
            "brackets",
        )
    for before, after in zip(pairs, pairs[1:], strict=False):
        if after[0] <= before[0]:
            raise TaxRuleError(
                _l(
                    "Brackets go up in price: %(price)s comes after %(before)s.",
                    price=f"¥{after[0]:,}",
                    before=f"¥{before[0]:,}",
                ),
                "brackets",
            )
    try:
        parse_brackets(pairs)  # the rule lodging.tax reads them by, as a last guard
    except BracketError as exc:  # pragma: no cover - the checks above come first
        raise TaxRuleError(str(exc), "brackets") from None
    return pairs


def _check_place(prefecture: int, municipality: str) -> str:
    if prefecture not in PREFECTURES_BY_CODE:
        raise TaxRuleError(_l("Choose a prefecture from the list."), "prefecture")
    municipality = municipality.strip()
    if len(municipality) > 100:
        raise TaxRuleError(_l("A municipality has at most 100 characters."), "municipality")
    if municipality:
        if municipality.startswith(PREFECTURES_BY_CODE[prefecture].name_ja):
            raise TaxRuleError(
                _l("Leave the prefecture out of the municipality: 京都市, not 京都府京都市."),
                "municipality",
            )
        if not municipality.endswith(MUNICIPALITY_ENDINGS):
            raise TaxRuleError(
                _l(
                    "Write the municipality as facilities spell it, ending in 市, 区, 町 or 村"
                    " (京都市 covers 京都市東山区). Leave it empty for the whole prefecture."
                ),
                "municipality",
            )
    return municipality


def _check_source(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if not url or parts.scheme != "https" or not parts.hostname:
        raise TaxRuleError(_l("Give the ordinance's page as an https:// address."), "source_url")
    if len(url) > 500 or any(c.isspace() for c in url):
        raise TaxRuleError(_l("That address is not a web page's address."), "source_url")
    return url


def _checked(values: RuleValues) -> RuleValues:
    municipality = _check_place(values.prefecture, values.municipality)
    if values.effective_until is not None and values.effective_until < values.effective_from:
        raise TaxRuleError(
            _l("The last night cannot be before the first night."), "effective_until"
        )
    note = values.note.strip()
    if len(note) > 300:
        raise TaxRuleError(_l("A note has at most 300 characters."), "note")
    return RuleValues(
        prefecture=values.prefecture,
        municipality=municipality,
        effective_from=values.effective_from,
        effective_until=values.effective_until,
        brackets=check_brackets(values.brackets),
        source_url=_check_source(values.source_url),
        note=note,
    )


def _overlaps(rule: AccommodationTaxRule, first: date, last: date | None) -> bool:
    rule_last = rule.effective_until or date.max
    return rule.effective_from <= (last or date.max) and first <= rule_last


def _place_rules(prefecture: int, municipality: str) -> list[AccommodationTaxRule]:
    """The place's rules, locked: two admins adding to one place decide one after the other."""
    return list(
        db.session.scalars(
            select(AccommodationTaxRule)
            .where(
                AccommodationTaxRule.prefecture == prefecture,
                AccommodationTaxRule.municipality == municipality,
            )
            .order_by(AccommodationTaxRule.effective_from)
            .with_for_update()
        )
    )


def _period(rule: AccommodationTaxRule) -> LazyString:
    first = LazyString(format_day, rule.effective_from, "date")
    if rule.effective_until is None:
        return _l("from %(first)s, open-ended", first=first)
    return _l(
        "%(first)s to %(last)s",
        first=first,
        last=LazyString(format_day, rule.effective_until, "date"),
    )


def _refuse_overlap(rule: AccommodationTaxRule, *, can_close: bool) -> None:
    if can_close:
        message = _l(
            "This place already has a rule %(period)s. End it the night before the new rule"
            " (tick the box below) or choose other nights.",
            period=_period(rule),
        )
    else:
        message = _l(
            "This place already has a rule %(period)s: the rules of one place cannot"
            " overlap. Choose other nights, or change that rule first.",
            period=_period(rule),
        )
    raise TaxRuleError(message, "effective_from", "overlap")


# --- changes --------------------------------------------------------------------------------


def _record(action: str, rule: AccommodationTaxRule, now: datetime, actor: User, before, after):
    audit.record(
        action, now, actor=actor, object_type=OBJECT_TYPE, object_id=rule.id,
        before=before, after=after,
    )  # fmt: skip


def add_rule(
    values: RuleValues, *, actor: User, now: datetime, end_previous: bool = False
) -> AccommodationTaxRule:
    """A new rule for a place. With ``end_previous``, the place's open-ended rule that
    starts earlier ends the night before this one's first (both changes audited);
    any other overlap is refused."""
    values = _checked(values)
    existing = _place_rules(values.prefecture, values.municipality)
    clashing = [r for r in existing if _overlaps(r, values.effective_from, values.effective_until)]
    closable = [
        r
        for r in clashing
        if r.effective_until is None and r.effective_from < values.effective_from
    ]
    blocking = [r for r in clashing if r not in closable]
    if blocking:
        _refuse_overlap(blocking[0], can_close=False)
    if closable and not end_previous:
        _refuse_overlap(closable[0], can_close=True)
    for previous in closable if end_previous else ():
        before = rule_values(previous)
        previous.effective_until = values.effective_from - timedelta(days=1)
        previous.updated_at = now
        changed_from, changed_to = audit.diff(before, rule_values(previous))
        _record(f"{OBJECT_TYPE}.end", previous, now, actor, changed_from, changed_to)
    rule = AccommodationTaxRule(
        prefecture=values.prefecture,
        municipality=values.municipality,
        effective_from=values.effective_from,
        effective_until=values.effective_until,
        brackets=[list(pair) for pair in values.brackets],
        source_url=values.source_url,
        note=values.note,
        created_at=now,
        updated_at=now,
    )
    db.session.add(rule)
    db.session.flush()
    _record(f"{OBJECT_TYPE}.create", rule, now, actor, None, rule_values(rule))
    return rule


def _locked(rule_id: int) -> AccommodationTaxRule:
    rule = db.session.scalar(
        select(AccommodationTaxRule).where(AccommodationTaxRule.id == rule_id).with_for_update()
    )
    if rule is None:
        raise TaxRuleNotFound(_l("There is no such tax rule."))
    return rule


def update_rule(
    rule_id: int, values: RuleValues, *, actor: User, now: datetime
) -> AccommodationTaxRule:
    """Change a rule (place, period, brackets, source, note); refused if it would
    overlap another rule of its (new) place. Audited with what changed."""
    rule = _locked(rule_id)
    values = _checked(values)
    others = [
        r
        for r in _place_rules(values.prefecture, values.municipality)
        if r.id != rule.id and _overlaps(r, values.effective_from, values.effective_until)
    ]
    if others:
        _refuse_overlap(others[0], can_close=False)
    before = rule_values(rule)
    rule.prefecture = values.prefecture
    rule.municipality = values.municipality
    rule.effective_from = values.effective_from
    rule.effective_until = values.effective_until
    rule.brackets = [list(pair) for pair in values.brackets]
    rule.source_url = values.source_url
    rule.note = values.note
    changed_from, changed_to = audit.diff(before, rule_values(rule))
    if changed_to:
        rule.updated_at = now
        _record(f"{OBJECT_TYPE}.update", rule, now, actor, changed_from, changed_to)
    db.session.flush()
    return rule


def end_rule(rule_id: int, last_night: date, *, actor: User, now: datetime) -> AccommodationTaxRule:
    """Set the rule's last night (from then on, the place has no tax unless another rule
    follows). Refused before its first night, or where it would overlap a later rule."""
    rule = _locked(rule_id)
    if last_night < rule.effective_from:
        raise TaxRuleError(
            _l(
                "The last night cannot be before the rule's first night (%(first)s).",
                first=LazyString(format_day, rule.effective_from, "date"),
            ),
            "last_night",
        )
    others = [
        r
        for r in _place_rules(rule.prefecture, rule.municipality)
        if r.id != rule.id and _overlaps(r, rule.effective_from, last_night)
    ]
    if others:
        _refuse_overlap(others[0], can_close=False)
    before = rule_values(rule)
    rule.effective_until = last_night
    changed_from, changed_to = audit.diff(before, rule_values(rule))
    if changed_to:
        rule.updated_at = now
        _record(f"{OBJECT_TYPE}.end", rule, now, actor, changed_from, changed_to)
    db.session.flush()
    return rule
