"""The one CSV writer (core.csv): Excel in Japan opens it as UTF-8 and never runs a cell."""

from __future__ import annotations

import pytest

from core.csv import csv_safe, write_csv


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+81 3", "'+81 3"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("山田 花子", "山田 花子"),
        ("a=b", "a=b"),
        (11000, 11000),  # numbers stay numbers, a negative amount too
        (-500, -500),
        ("11000", "11000"),
        (None, ""),
    ],
)
def test_csv_cells_never_start_like_a_formula(value, shown):
    assert csv_safe(value) == shown


def test_write_csv_has_a_bom_and_crlf_lines():
    text = write_csv(["名前", "金額"], [["=1+1", 11000], ["佐藤, 次郎", 0]])
    assert text.startswith("\ufeff名前,金額\r\n")
    assert text.endswith('\'=1+1,11000\r\n"佐藤, 次郎",0\r\n')


def test_negative_amounts_are_written_as_numbers():
    assert write_csv(["金額"], [[-500]]) == "\ufeff金額\r\n-500\r\n"
