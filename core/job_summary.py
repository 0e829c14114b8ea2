"""What a scheduled job did, in words every reader's language can show.

A job returns a ``JobSummary``: its English text (a ``str``, so logs, the command line
and tests read it as before) that also keeps each part's message id and numbers. Stored
in ``JobRun.summary`` as JSON (``{"parts": [{"m": msgid, "p": {...}}]}``), it is shown on
/admin/jobs in the reader's language (``render_summary``); a plain stored string (rows
from before, or one too long for the column) is shown as it is.

Message ids are marked with ``N_`` so ``make extract-messages`` finds them; they are
translated when shown, never when the job runs (the scheduler has no reader). A
parameter is a number, a code shown untranslated (an exception's class name: a ``str``),
or another summary (``summary(N_("by hand: %(summary)s"), summary=inner)``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from flask_babel import gettext
from markupsafe import Markup, escape

# The JobRun.summary column's length (core/models.py): the stored JSON stays under it.
MAX_STORED = 500

Param = int | str  # or a JobSummary, nested
Part = tuple[str, Mapping[str, object]]


def N_(msgid: str) -> str:  # noqa: N802  (the name pybabel extracts by default)
    """Marks a message id for extraction; translated later, where it is shown."""
    return msgid


class JobSummary(str):
    """English text of what a job did, with the parts it is translated from."""

    parts: tuple[Part, ...]

    def __new__(cls, parts: tuple[Part, ...] = ()) -> JobSummary:
        text = "; ".join(msgid % params if params else msgid for msgid, params in parts)
        self = super().__new__(cls, text)
        self.parts = parts
        return self

    def to_json(self) -> dict:
        return {
            "parts": [
                {"m": m, "p": {k: _param_json(v) for k, v in p.items()}} for m, p in self.parts
            ]
        }

    def stored(self) -> str:
        """The column value: the JSON, or the English text when the JSON would not fit."""
        if not self.parts:
            return str(self)
        data = json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)
        return data if len(data) <= MAX_STORED else str(self)[:MAX_STORED]


def summary(msgid: str, **params: Param | JobSummary) -> JobSummary:
    """One sentence: ``summary(N_("%(sent)d sent, %(failed)d failed"), sent=1, failed=0)``."""
    return JobSummary(((msgid, params),))


def joined(*summaries: JobSummary | None) -> JobSummary:
    """The non-empty summaries, one after the other ("; " in English)."""
    return JobSummary(tuple(part for s in summaries if s for part in s.parts))


NOTHING = JobSummary()  # a run with nothing to tell: the empty string


def _param_json(value):
    return value.to_json() if isinstance(value, JobSummary) else value


def _from_json(data) -> JobSummary | None:
    """A summary from its stored JSON; None for anything not in that shape."""
    if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
        return None
    parts = []
    for part in data["parts"]:
        if not isinstance(part, dict) or not isinstance(part.get("m"), str):
            return None
        params = {}
        for name, value in (part.get("p") or {}).items():
            if isinstance(value, dict):
                value = _from_json(value)
                if value is None:
                    return None
            elif not isinstance(value, int | str) or isinstance(value, bool):
                return None
            params[name] = value
        parts.append((part["m"], params))
    return JobSummary(tuple(parts))


def load(stored: str | None) -> JobSummary | str:
    """A stored column value: a JobSummary from JSON, else the plain text as it is."""
    if isinstance(stored, JobSummary) or not stored:
        return stored or ""
    if stored.startswith("{"):
        try:
            loaded = _from_json(json.loads(stored))
        except ValueError:
            loaded = None
        if loaded is not None:
            return loaded
    return stored


def _render_part(msgid: str, params: Mapping[str, object]) -> Markup:
    values = {}
    for name, value in params.items():
        if isinstance(value, JobSummary):
            values[name] = render_summary(value)
        elif isinstance(value, str):  # a code (an error class): the same in every language
            values[name] = Markup('<span translate="no">%s</span>') % value
        else:
            values[name] = value
    try:
        return escape(gettext(msgid)) % values
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
        return escape(msgid) % values


def render_summary(stored: str | None) -> Markup:
    """A stored summary as HTML in the reader's language; plain text shown as it is."""
    loaded = load(stored)
    if not isinstance(loaded, JobSummary):  # recorded before summaries were translated
        return Markup('<span lang="en">%s</span>') % loaded if loaded else Markup("")
    text = Markup("")
    for msgid, params in loaded.parts:
        part = _render_part(msgid, params)
        text = (
            part
            if not text
            else escape(gettext("%(summary)s; %(more)s")) % {"summary": text, "more": part}
        )
    return text
