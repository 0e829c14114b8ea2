"""The one CSV writer: what Excel in Japan opens as UTF-8 and never runs as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str | int:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading '.

    Integers stay numbers (a negative amount is a number, not a formula).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(header: Iterable, rows: Iterable[Iterable]) -> str:
    """CSV text with a UTF-8 byte-order mark, so Excel in Japan reads it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in header])
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return out.getvalue()


def csv_download(body: str, filename: str) -> Response:
    """``body`` as a CSV file to save, never cached (it holds a tenant's data)."""
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
