"""Job summaries: stored as message ids and numbers, shown in the reader's language."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from accounts.models import Role
from core import scheduler
from core.job_summary import MAX_STORED, N_, joined, render_summary, summary
from core.models import JobRun
from tests.conftest import NOW
from tests.core.test_i18n import ensure_compiled


@pytest.fixture(autouse=True)
def _compiled():
    ensure_compiled()


def stored_column(db, run_id: int) -> str:
    """What the database holds, past the column type that reads it back."""
    table = JobRun.__table__.name
    return db.session.execute(
        text(f"SELECT summary FROM {table} WHERE id = :id"),  # noqa: S608  (our table's name)
        {"id": run_id},
    ).scalar_one()


def jobs_page(client, lang: str) -> str:
    with client.session_transaction() as session:
        session["lang"] = lang
    page = client.get("/admin/jobs")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def add_old_run(db, job: str, summary_text: str, minutes_ago: int = 60) -> None:
    when = NOW - timedelta(minutes=minutes_ago)
    db.session.add(
        JobRun(job=job, started_at=when, finished_at=when, outcome="ok", summary=summary_text)
    )
    db.session.commit()


def test_a_summary_reads_as_english_text_and_keeps_its_parts():
    sent = summary(N_("%(sent)d sent, %(failed)d failed"), sent=3, failed=1)
    both = joined(sent, None, summary(N_("%(n)d undecryptable (discarded)"), n=2))
    assert both == "3 sent, 1 failed; 2 undecryptable (discarded)"
    assert [msgid for msgid, _ in both.parts] == [
        "%(sent)d sent, %(failed)d failed",
        "%(n)d undecryptable (discarded)",
    ]
    assert joined() == "" and not joined(None)


def test_a_run_is_stored_as_message_ids_and_numbers(app, db):
    run = scheduler.run_job(app, "calendar_sync", now=NOW)
    assert run.summary == "0 feeds: 0 changed, 0 unchanged, 0 failed; 0 open conflicts"
    stored = json.loads(stored_column(db, run.id))
    assert stored["parts"][0] == {
        "m": "%(feeds)d feeds: %(changed)d changed, %(unchanged)d unchanged, %(failed)d failed",
        "p": {"feeds": 0, "changed": 0, "unchanged": 0, "failed": 0},
    }
    # Read back, it is the English text again (logs, the command line).
    assert db.session.scalar(select(JobRun.summary)) == run.summary


def test_the_jobs_page_shows_each_run_in_the_readers_language(
    app, db, make_user, client, login, monkeypatch
):
    add_old_run(db, "x", "", minutes_ago=60 * 24 * 500)  # for prune_job_runs to remove
    scheduler.run_job(app, "prune_job_runs", now=NOW)
    scheduler.run_job(app, "calendar_sync", now=NOW)

    def explode(now):
        raise RuntimeError("https://calendar.example/secret-token")

    monkeypatch.setitem(
        scheduler.registered_jobs(app),
        "mail_outbox",
        scheduler.JobSpec("mail_outbox", explode, "interval"),
    )
    scheduler.run_job(app, "mail_outbox", now=NOW)

    login(make_user(Role.PLATFORM_ADMIN))
    page = jobs_page(client, "ja")
    assert "古い実行記録 1 件を削除" in page
    assert "外部カレンダー 0 件：変更あり 0 件、変更なし 0 件、失敗 0 件／未解決の重複 0 件" in page
    # The error's class is a code: shown as it is, marked not to be translated.
    assert '失敗：<span translate="no">RuntimeError</span>' in page
    assert "old runs removed" not in page and "secret-token" not in page

    page = jobs_page(client, "en")
    assert "1 old runs removed" in page
    assert "0 feeds: 0 changed, 0 unchanged, 0 failed; 0 open conflicts" in page
    assert 'failed: <span translate="no">RuntimeError</span>' in page


def test_runs_recorded_before_are_shown_as_they_were(app, db, make_user, client, login):
    add_old_run(db, "calendar_sync", "3 feeds: 3 changed, 0 unchanged, 0 failed", 5)
    add_old_run(db, "mail_outbox", "{not json, <b>but text</b>", 10)
    add_old_run(db, "billing_overage", '{"parts": [{"m": 3}]}', 15)  # not our shape

    login(make_user(Role.PLATFORM_ADMIN))
    page = jobs_page(client, "ja")
    assert '<span lang="en">3 feeds: 3 changed, 0 unchanged, 0 failed</span>' in page
    assert "{not json, &lt;b&gt;but text&lt;/b&gt;" in page
    assert "{&#34;parts&#34;: [{&#34;m&#34;: 3}]}" in page


def test_an_interrupted_run_reads_in_the_readers_language(app, db, make_user, client, login):
    db.session.add(JobRun(job="calendar_sync", started_at=NOW, outcome="running", fire_time=NOW))
    db.session.commit()
    assert scheduler.close_interrupted_runs(NOW) == 1
    assert db.session.scalar(select(JobRun.summary)) == "interrupted: the process stopped"
    login(make_user(Role.PLATFORM_ADMIN))
    assert "中断：プロセスが停止しました" in jobs_page(client, "ja")


def test_parameters_are_escaped(app):
    shown = render_summary(summary(N_("failed: %(error)s"), error="<script>x</script>"))
    assert "<script>" not in shown and "&lt;script&gt;" in shown


def test_the_stored_json_never_exceeds_the_column(app, db):
    many = joined(*(summary(N_("%(n)d open conflicts"), n=10**12 + i) for i in range(40)))
    assert len(str(many)) > MAX_STORED
    assert len(many.stored()) <= MAX_STORED
    assert not many.stored().startswith("{")  # too long as JSON: its English text, cut

    run = scheduler.run_recorded("calendar_sync", lambda now: many, NOW)
    assert len(stored_column(db, run.id)) <= MAX_STORED
    assert run.summary == str(many)[:MAX_STORED]

    # A summary of every job stays JSON, translatable, well under the column.
    longest = summary(
        N_("by hand: %(summary)s"),
        summary=joined(
            summary(
                N_(
                    "%(feeds)d feeds: %(changed)d changed, %(unchanged)d unchanged,"
                    " %(failed)d failed"
                ),
                feeds=10**6,
                changed=10**6,
                unchanged=10**6,
                failed=10**6,
            ),
            summary(N_("%(n)d open conflicts"), n=10**6),
            summary(N_("%(n)d backing off after failures"), n=10**6),
        ),
    )
    assert longest.stored().startswith("{") and len(longest.stored()) <= MAX_STORED


def test_a_plain_string_job_result_is_still_recorded(app, db):
    run = scheduler.run_recorded("calendar_sync", lambda now: "x" * 600, NOW)
    assert run.summary == "x" * MAX_STORED
    assert isinstance(scheduler.run_recorded("calendar_sync", lambda now: "", NOW).summary, str)
