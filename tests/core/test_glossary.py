"""One Japanese word per idea: the catalogue follows docs/GLOSSARY.md.

The glossary's **Terms** table names, per concept, the chosen Japanese term and the
synonyms that must not appear. A translation may contain a discouraged word only as
part of a chosen term (受付停止中 contains 停止中; 直前割引 contains 直前割). Besides,
every entry of the catalogue is translated, not fuzzy, and keeps its placeholders.

To fix a failure: use the glossary's term in ``translations/ja/LC_MESSAGES/messages.po``
(or, if the glossary is wrong, change the glossary first and then the catalogue).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from flask import session
from flask_babel import refresh

from core.i18n import format_day, format_month, schedule_label, status_label
from tests.core.test_i18n import (
    JA_PO,
    ensure_compiled,
    key,
    placeholders,
    read_catalog,
    translations_of,
)

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "GLOSSARY.md"
SPLIT = re.compile(r"\s*(?:、|/)\s*")


@dataclass(frozen=True)
class Term:
    concept: str
    japanese: tuple[str, ...]
    english: str
    discouraged: tuple[str, ...]


def words(cell: str) -> tuple[str, ...]:
    return tuple(w for w in SPLIT.split(cell.strip()) if w)


def parse_glossary(text: str) -> list[Term]:
    """The rows of the table under "## Terms": concept | 日本語 | English | discouraged | notes."""
    section = text.split("## Terms", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:4] == ["concept", "日本語", "English", "discouraged (ja)"], header
    terms = []
    for row in rows[2:]:  # after the header and its |---| line
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert len(cells) == 5, f"a glossary row needs 5 cells: {row}"
        concept, japanese, english, discouraged, _notes = cells
        terms.append(Term(concept, words(japanese), english, words(discouraged)))
    return terms


@pytest.fixture(scope="module")
def terms() -> list[Term]:
    return parse_glossary(GLOSSARY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalogue():
    return read_catalog(JA_PO)


def without_chosen_terms(text: str, chosen: list[str], word: str) -> str:
    """``text`` with the chosen terms that contain ``word`` masked (受付停止中 for 停止中)."""
    for term in chosen:
        if word in term and term != word:
            text = text.replace(term, "・")
    return text


def test_the_glossary_is_one_term_per_concept(terms):
    assert len(terms) >= 30, "the glossary table was not found or lost rows"
    concepts = [t.concept for t in terms]
    assert len(concepts) == len(set(concepts)), "a concept is listed twice"
    chosen = {w: t.concept for t in terms for w in t.japanese}
    for term in terms:
        assert term.japanese and term.english, f"{term.concept}: a term in each language"
        for word in term.discouraged:
            # A word cannot be both chosen (for any concept) and discouraged.
            assert word not in chosen, f"{word} is chosen for {chosen.get(word)} and discouraged"


def test_no_discouraged_synonym_in_any_translation(terms, catalogue):
    chosen = sorted({w for t in terms for w in t.japanese}, key=len, reverse=True)
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        for string in translations_of(message):
            for term in terms:
                for word in term.discouraged:
                    if word in without_chosen_terms(string or "", chosen, word):
                        problems.append(
                            f"{key(message)!r}: {word} → {'/'.join(term.japanese)}"
                            f" ({term.concept}) in {string!r}"
                        )
    assert not problems, "discouraged synonyms in the catalogue:\n  " + "\n  ".join(problems)


def test_every_entry_is_translated_and_keeps_its_placeholders(catalogue):
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        strings = translations_of(message)
        if message.fuzzy:
            problems.append(f"fuzzy: {key(message)!r}")
        if not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {key(message)!r}")
            continue
        source = message.id[1] if isinstance(message.id, tuple) else message.id
        for string in strings:
            if placeholders(string) != placeholders(source):
                problems.append(f"placeholders differ: {key(message)!r} → {string!r}")
    assert not problems, "\n  ".join(["catalogue problems:", *problems])


def test_discouraged_words_are_found_and_chosen_terms_are_not(terms):
    """The check itself: a discouraged word is caught, a chosen term containing it is not."""
    chosen = sorted({w for t in terms for w in t.japanese}, key=len, reverse=True)

    def found(word: str, text: str) -> bool:
        return word in without_chosen_terms(text, chosen, word)

    assert found("停止中", "施設は停止中です") and not found("停止中", "受付停止中の部屋")
    assert found("直前割", "直前割あり") and not found("直前割", "直前割引")
    assert found("休業", "休業日") and found("料金の理由", "料金の理由")
    assert found("客室", "受付停止中の客室")


def test_dates_carry_the_year_where_it_could_be_mistaken(app):
    """Today is 2026-12-01 (FIXED_NOW): a short date this year and near stays short."""
    ensure_compiled()
    with app.test_request_context("/"):
        session["lang"] = "ja"
        assert format_day(date(2026, 12, 24), "short") == "12/24(木)"
        assert format_day(date(2027, 1, 5), "short") == "2027/1/5(火)"  # next year
        assert format_day(date(2026, 5, 1), "short") == "2026/5/1(金)"  # seven months ago
        assert format_day(date(2026, 12, 24), "date") == "2026年12月24日"  # documents
        assert format_month("2026-09") == format_day(date(2026, 9, 1), "month") == "2026年9月"
        assert format_month("not-a-month") == "not-a-month"
        session["lang"] = "en"
        refresh()  # Flask-Babel keeps the locale of the request until told
        assert format_month(date(2026, 9, 30)) == "September 2026"
        assert format_day(date(2027, 1, 5), "short") == "Tue 5 Jan 2027"
        assert format_day(date(2026, 12, 24), "short") == "Thu 24 Dec"


def test_status_codes_are_shown_in_words(app):
    ensure_compiled()
    with app.test_request_context("/"):
        session["lang"] = "ja"
        assert status_label("job", "failed") == "失敗"
        assert status_label("invoice", "open") == "支払い待ち"
        assert status_label("subscription", "past_due") == "支払い遅延"
        assert status_label("booking", "cancelled") == "キャンセル済み"
        assert status_label("housekeeping", "dirty") == "要清掃"
        assert status_label("job", "exploded") == "不明（exploded）"  # never a bare code
        assert schedule_label("cron", {"hour": 5, "minute": 10}) == "毎日 5:10"
        assert schedule_label("interval", {"minutes": 15}) == "15分ごと"
        session["lang"] = "en"
        refresh()  # Flask-Babel keeps the locale of the request until told
        assert status_label("invoice", "open") == "Awaiting payment"
