"""The scheduler process and the record of every job run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.models import Role
from core import scheduler
from core.models import JobRun
from tests.conftest import NOW

PROJECT = Path(__file__).resolve().parents[2]


def test_every_run_is_recorded(app, db):
    run = scheduler.run_job(app, "calendar_sync", now=NOW)
    assert run.outcome == "ok"
    assert run.summary.startswith("0 feeds")
    stored = db.session.scalar(select(JobRun))
    assert (stored.job, stored.outcome) == ("calendar_sync", "ok")
    assert stored.finished_at >= stored.started_at


def test_a_failing_job_is_recorded_as_failed(app, db, monkeypatch):
    def explode(now):
        raise RuntimeError("https://calendar.example/secret-token")

    monkeypatch.setitem(
        scheduler.registered_jobs(app),
        "calendar_sync",
        scheduler.JobSpec("calendar_sync", explode, "interval"),
    )
    run = scheduler.run_job(app, "calendar_sync", now=NOW)
    assert run.outcome == "failed"
    assert run.summary == "failed: RuntimeError"  # never the message: it may hold secrets
    assert db.session.scalar(select(JobRun.outcome)) == "failed"


def test_the_scheduler_holds_every_job_with_configured_intervals(app):
    app.config["CALENDAR_SYNC_MINUTES"] = 7
    sched = scheduler.build_scheduler(app)
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == set(scheduler.registered_jobs(app))
    assert jobs["calendar_sync"].trigger.interval.total_seconds() == 7 * 60


def test_web_app_runs_no_scheduler(app, client):
    client.get("/login")
    assert not any("APScheduler" in t.name for t in threading.enumerate())


def test_platform_admin_sees_job_runs(app, db, make_user, client, login):
    scheduler.run_job(app, "calendar_sync", now=NOW)
    login(make_user(Role.PLATFORM_ADMIN))
    page = client.get("/admin/jobs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "calendar_sync" in text and "外部カレンダー 0 件" in text  # the summary, in Japanese


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR])
def test_others_cannot_see_job_runs(make_user, client, login, role):
    login(make_user(role))
    assert client.get("/admin/jobs").status_code == 403
    assert client.get("/admin/calendars").status_code == 403


def test_scheduler_process_starts_runs_and_stops_on_ctrl_c(tmp_path):
    """`flask --app wsgi scheduler run` runs the calendar sync at start and exits on SIGINT."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sched.db'}",
        "SECRET_KEY": "x" * 32,
        "PYTHONUNBUFFERED": "1",
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run(  # noqa: S603  (our own interpreter and arguments)
        [*flask, "db", "upgrade"], cwd=PROJECT, env=env, check=True, capture_output=True
    )
    proc = subprocess.Popen(  # noqa: S603
        [*flask, "scheduler", "run"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = ""
        deadline = time.monotonic() + 30
        while "job calendar_sync: ok" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output += line
        assert "job calendar_sync: ok" in output, output
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, output + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_pruning_jobs_forget_old_records_and_keep_recent_ones(app, db, make_unit):
    from datetime import timedelta

    from pricing.models import PriceChange

    unit = make_unit()
    old, recent = NOW - timedelta(days=500), NOW - timedelta(days=10)
    for when in (old, recent):
        db.session.add(JobRun(job="x", started_at=when, finished_at=when, outcome="ok"))
        db.session.add(
            PriceChange(
                unit_id=unit.id,
                night=NOW.date(),
                old_price=1000,
                new_price=900,
                cause="nightly",
                changed_at=when,
            )
        )
    db.session.commit()

    prices = scheduler.run_job(app, "prune_price_history", now=NOW)
    runs = scheduler.run_job(app, "prune_job_runs", now=NOW)

    assert prices.summary == "1 old price changes removed"
    assert runs.summary == "1 old runs removed"
    assert [c.changed_at for c in db.session.scalars(select(PriceChange))] == [recent]
    assert {r.started_at for r in db.session.scalars(select(JobRun).where(JobRun.job == "x"))} == {
        recent
    }
