"""The Japanese catalogue: complete, placeholders intact, and actually used by the pages.

Source strings are English; Japanese is the default language, so a msgid without a
Japanese translation shows up in English on a Japanese page. To fix a failure here:
run ``make extract-messages``, translate the new entries in
``translations/ja/LC_MESSAGES/messages.po`` (and clear any ``#, fuzzy`` flags).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.conftest import days

ROOT = Path(__file__).resolve().parents[2]
JA_PO = ROOT / "translations" / "ja" / "LC_MESSAGES" / "messages.po"
JA_MO = JA_PO.with_suffix(".mo")
# The same extraction as `make extract-messages`.
IGNORE_DIRS = ".venv tests benchmarks migrations instance"
FIX_HINT = "Run `make extract-messages`, then translate the new entries in " + str(
    JA_PO.relative_to(ROOT)
)
# %(name)d, %(amount)s, %(price).2f ... and a bare %s or %d.
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def ensure_compiled() -> None:
    """Compile ja/messages.po to the .mo Flask-Babel reads, unless it is up to date."""
    if JA_MO.exists() and JA_MO.stat().st_mtime >= JA_PO.stat().st_mtime:
        return
    catalog = read_catalog(JA_PO)
    fd, tmp = tempfile.mkstemp(dir=JA_MO.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write_mo(f, catalog)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the app may run as another user
        os.replace(tmp, JA_MO)  # atomic: a concurrent reader never sees half a file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def extract_template(tmp_path: Path) -> Catalog:
    pot = tmp_path / "messages.pot"
    status = CommandLineInterface().run(
        [
            "pybabel",
            "--quiet",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            f"--ignore-dirs={IGNORE_DIRS}",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    assert not status, f"pybabel extract failed with status {status}"
    return read_catalog(pot)


def key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def translations_of(message: Message) -> list[str]:
    if isinstance(message.string, tuple | list):
        return list(message.string)
    return [message.string]


def placeholders(text: str) -> set[str]:
    return {p for p in PLACEHOLDER.findall(text) if p != "%%"}


def test_every_source_string_has_a_japanese_translation(tmp_path):
    template = extract_template(tmp_path)
    ja = read_catalog(JA_PO)
    assert len([m for m in template if m.id]) > 100, "extraction found almost nothing"

    problems = []
    for message in template:
        if not message.id:
            continue
        entry = ja.get(message.id)
        if entry is None:
            problems.append(f"missing: {key(message)!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {key(message)!r}")
        elif not all(s and s.strip() for s in translations_of(entry)):
            problems.append(f"untranslated: {key(message)!r}")
    assert not problems, (
        f"{len(problems)} message(s) lack a Japanese translation:\n  "
        + "\n  ".join(problems)
        + f"\n{FIX_HINT}"
    )


def test_catalogue_header_and_flags():
    ja = read_catalog(JA_PO)
    assert str(ja.locale) == "ja"
    assert ja.num_plurals == 1 and ja.plural_expr == "0"
    assert not ja.fuzzy, "the catalogue header is marked fuzzy"


def test_translations_keep_the_placeholders_of_their_source():
    ja = read_catalog(JA_PO)
    problems = []
    for message in ja:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            # One Japanese form stands for singular and plural: it needs the plural's fields.
            expected = placeholders(message.id[1])
        else:
            expected = placeholders(message.id)
        for string in translations_of(message):
            if string and placeholders(string) != expected:
                problems.append(
                    f"{key(message)!r}: expected {sorted(expected)}, "
                    f"got {sorted(placeholders(string))} in {string!r}"
                )
    assert not problems, "placeholders differ:\n  " + "\n  ".join(problems)


def test_quote_page_in_japanese_then_english(client, login, make_employee, make_unit):
    ensure_compiled()
    login(make_employee())
    unit = make_unit(base_price=11000)
    stay = {
        "unit_id": unit.id,
        "check_in": days(20).isoformat(),
        "check_out": days(21).isoformat(),
        "guests": 1,
    }

    response = client.get("/book", query_string=stay)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "¥11,000（税込）" in page
    assert "2026年12月21日(月)" in page
    assert "予約内容の確認" in page and "予約を確定する" in page
    assert "tax incl." not in page and "Confirm booking" not in page

    assert client.get("/lang/en").status_code == 302
    response = client.get("/book", query_string=stay)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "¥11,000 (tax incl.)" in page
    assert "Mon 21 Dec 2026" in page
    assert "Confirm booking" in page and "税込" not in page


def test_the_catalogue_passes_the_compilers_checks():
    """What ``pybabel compile`` (``make translations``) refuses, found here with its
    message: e.g. a named field in a translation that its singular source lacks."""
    problems = [
        f"{key(message)!r}: {'; '.join(str(e) for e in errors)}"
        for message, errors in read_catalog(JA_PO).check()
    ]
    assert not problems, "pybabel compile would refuse:\n  " + "\n  ".join(problems)
