"""The scheduler processes and the record of every job run; several processes on one
database, one leading (the lease itself: tests/core/test_leader.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, make_url, select

from accounts.models import Role
from app import create_app
from core import leader, scheduler
from core.extensions import db as _db
from core.models import JobRun
from pricing.models import PriceChange
from tests.conftest import NOW, _pg_reachable, _plain, app_config, pg_url

PROJECT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


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
    """`flask --app wsgi scheduler run` leads, runs the calendar sync at start, and on
    SIGINT releases its lease and exits."""
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
        assert "scheduler: leading on" in output  # alone on its database, it leads
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, output + rest
        assert "scheduler: lease released" in rest  # a standby could take over at once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_pruning_jobs_forget_old_records_and_keep_recent_ones(app, db, make_unit):
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


# -- real scheduler processes --------------------------------------------------------------


def tick(now):
    """A job due every second, for the processes below."""
    return ""


def scheduler_app():
    """The app the scheduler processes below run: every job, and ``tick`` every second."""
    app = create_app()
    scheduler.register_jobs(
        app, scheduler.JobSpec("tick", tick, "interval", lambda config: {"seconds": 1})
    )
    return app


def wait_for(check, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what or check}")


class Schedulers:
    """`flask scheduler run` processes on one database, their logs in files."""

    def __init__(self, tmp_path: Path, url: str):
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "x" * 32,
            "PYTHONUNBUFFERED": "1",
            "LOG_FORMAT": "text",
            "SCHEDULER_LEASE_SECONDS": "3",
            "SCHEDULER_RENEW_SECONDS": "1",
        }
        self.procs: list[subprocess.Popen] = []
        self.reader = create_app(app_config(url))

    def start(self) -> subprocess.Popen:
        log = (self.tmp_path / f"scheduler-{len(self.procs)}.log").open("w")
        proc = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            [
                sys.executable,
                *("-m", "flask", "--app", "tests.core.test_scheduler:scheduler_app()"),
                *("scheduler", "run"),
            ],
            cwd=PROJECT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        proc.log = log.name
        self.procs.append(proc)
        return proc

    def output(self, proc) -> str:
        return Path(proc.log).read_text()

    def leading_pid(self) -> int | None:
        """The pid of a live lease's holder, if one of ours holds it."""
        with self.reader.app_context():
            lease = leader.status(_db.engine)
        alive = {p.pid for p in self.procs if p.poll() is None}
        return lease.pid if lease and not lease.expired and lease.pid in alive else None

    def ticks(self, pid: int, after: datetime | None = None) -> list[datetime]:
        with self.reader.app_context():
            query = select(JobRun.fire_time).where(
                JobRun.job == "tick", JobRun.runner == f"{HOST}:{pid}", JobRun.outcome == "ok"
            )
            if after is not None:
                query = query.where(JobRun.fire_time > after)
            fire_times = _db.session.scalars(query).all()
            _db.session.rollback()
        return fire_times

    def repeated_fire_times(self) -> list:
        with self.reader.app_context():
            repeated = _db.session.execute(
                select(JobRun.job, JobRun.fire_time)
                .where(JobRun.fire_time.is_not(None))
                .group_by(JobRun.job, JobRun.fire_time)
                .having(func.count() > 1)
            ).all()
            _db.session.rollback()
        return repeated

    def still_running(self, pid: int) -> int:
        with self.reader.app_context():
            count = _db.session.scalar(
                select(func.count())
                .select_from(JobRun)
                .where(JobRun.runner == f"{HOST}:{pid}", JobRun.outcome == "running")
            )
            _db.session.rollback()
        return count

    def leaders_in_logs(self, procs) -> list[int]:
        return [p.pid for p in procs if "scheduler: leading on" in self.output(p)]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with self.reader.app_context():
            _db.engine.dispose()


def _create_schema(url: str) -> None:
    app = create_app(app_config(url))
    with app.app_context():
        _db.create_all()
        _db.engine.dispose()


@pytest.fixture
def scratch_postgres():
    """A database of its own on the local PostgreSQL server, dropped afterwards."""
    server = pg_url()
    problem = _pg_reachable(server)
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {server} is not reachable: {problem} (CI requires it)")
        pytest.skip(f"PostgreSQL at {server} is not reachable: {problem}")
    name = f"engawa_schedulers_{os.getpid()}"
    admin = _plain(server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    _create_schema(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_schedulers_on_postgresql_one_leads_and_a_standby_takes_over(tmp_path, scratch_postgres):
    group = Schedulers(tmp_path, scratch_postgres)
    try:
        pair = [group.start(), group.start()]
        first = wait_for(group.leading_pid, what="a leader")
        wait_for(lambda: len(group.ticks(first)) >= 2, what="the leader's runs")
        third = group.start()
        wait_for(lambda: "standing by on" in group.output(third), what="the third standing by")
        assert group.leading_pid() == first
        assert group.leaders_in_logs([*pair, third]) == [first]  # exactly one ever led

        killed_at = datetime.now(UTC)
        dying = next(p for p in group.procs if p.pid == first)
        dying.kill()  # SIGKILL: no release, no clean-up
        dying.wait()
        # The lease (3 s) runs out and a standby asks within 1 s; the issue allows 30 s.
        second = wait_for(group.leading_pid, timeout=30, what="a standby taking over")
        assert second != first

        wait_for(lambda: len(group.ticks(second, after=killed_at)) >= 2, what="runs again")
        survivors = [p for p in group.procs if p.pid != first]
        assert group.leaders_in_logs(survivors) == [second]
        assert group.repeated_fire_times() == []
        assert group.still_running(first) == 0  # the dead leader's cut-off run is closed
    finally:
        group.stop()
    survivors = [p for p in group.procs if p.pid != first]
    for proc in survivors:
        assert proc.returncode == 0, group.output(proc)
    assert "lease released" in group.output(next(p for p in survivors if p.pid == second))


def test_a_second_scheduler_on_one_sqlite_file_stands_by_until_the_first_dies(tmp_path):
    url = f"sqlite:///{tmp_path / 'schedulers.db'}"
    _create_schema(url)
    group = Schedulers(tmp_path, url)
    try:
        first = group.start()
        wait_for(lambda: group.leading_pid() == first.pid, what="the first leading")
        standby = group.start()
        wait_for(lambda: "standing by on" in group.output(standby), what="the standby")
        count = len(group.ticks(first.pid))
        wait_for(lambda: len(group.ticks(first.pid)) >= count + 2, what="runs going on")
        assert group.leading_pid() == first.pid
        assert "scheduler: leading on" not in group.output(standby)
        assert group.ticks(standby.pid) == []

        killed_at = datetime.now(UTC)
        first.kill()
        first.wait()
        wait_for(lambda: group.leading_pid() == standby.pid, what="the standby taking over")
        wait_for(lambda: len(group.ticks(standby.pid, after=killed_at)) >= 2, what="its runs")
        assert group.repeated_fire_times() == []
    finally:
        group.stop()
    assert standby.returncode == 0, group.output(standby)


def _ok_run(job: str, started: datetime) -> JobRun:
    return JobRun(job=job, started_at=started, finished_at=started, outcome="ok", runner="t:1")


def test_a_new_leader_runs_at_start_only_the_runs_nobody_made(app, db):
    """``pricing_recompute`` (03:00 daily) and ``calendar_sync`` run when a scheduler
    starts leading only if no good run of theirs came after a fire time gone by."""
    now = datetime(2026, 12, 6, 10, 7, tzinfo=scheduler.TOKYO)  # off every interval's grid
    at_start = {n for n, s in scheduler.registered_jobs(app).items() if s.run_at_start}
    assert {"pricing_recompute", "calendar_sync"} <= at_start
    # Never run: all of them, as on a fresh deployment.
    assert scheduler.missed_runs(app, now) == at_start
    three_today = datetime(2026, 12, 6, 3, 0, 2, tzinfo=scheduler.TOKYO).astimezone(UTC)
    db.session.add(_ok_run("pricing_recompute", three_today))
    # The sync ran a minute ago: its next run is still to come.
    db.session.add(_ok_run("calendar_sync", now.astimezone(UTC) - timedelta(minutes=1)))
    db.session.commit()
    missed = scheduler.missed_runs(app, now)
    assert "pricing_recompute" not in missed and "calendar_sync" not in missed


def test_a_failed_or_old_run_is_made_again_at_start(app, db):
    now = datetime(2026, 12, 6, 10, 0, tzinfo=scheduler.TOKYO)
    yesterday = datetime(2026, 12, 5, 3, 0, 2, tzinfo=scheduler.TOKYO).astimezone(UTC)
    db.session.add(_ok_run("pricing_recompute", yesterday))  # today's 03:00 was missed
    failed = _ok_run("calendar_sync", now.astimezone(UTC) - timedelta(minutes=1))
    failed.outcome = "failed"
    db.session.add(failed)
    db.session.commit()
    missed = scheduler.missed_runs(app, now)
    assert {"pricing_recompute", "calendar_sync"} <= missed
