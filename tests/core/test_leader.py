"""Schedulers in any number: exactly one leads (the lease), a standby takes over when the
leader dies, and no job runs twice for one scheduled time. The same with real processes:
tests/core/test_scheduler.py."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from accounts.models import Role
from core import leader, scheduler
from core.extensions import db as _db
from core.models import JobRun, SchedulerLease
from tests.conftest import NOW
from tests.core.test_scheduler import wait_for

T = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
LEASE = 15
HOST = socket.gethostname()


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


# -- the lease -----------------------------------------------------------------------


def test_the_first_candidate_takes_the_lease_and_the_others_wait(app, db):
    first, second, third = leader.Candidate(), leader.Candidate(), leader.Candidate()
    assert leader.status(db.engine, now=T) is None  # no scheduler has led here yet

    assert leader.acquire(db.engine, first, LEASE, now=T)
    assert not leader.acquire(db.engine, second, LEASE, now=at(1))
    assert not leader.acquire(db.engine, third, LEASE, now=at(14))

    lease = leader.status(db.engine, now=at(14))
    assert (lease.holder, lease.host, lease.pid) == (first.holder, HOST, os.getpid())
    assert (lease.since, lease.renewed_at, lease.expires_at) == (T, T, at(LEASE))
    assert not lease.expired
    assert db.session.scalar(select(func.count()).select_from(SchedulerLease)) == 1


def test_a_renewed_lease_holds_and_an_expired_one_is_taken_over(app, db):
    leading, standby = leader.Candidate(), leader.Candidate()
    assert leader.acquire(db.engine, leading, LEASE, now=T)
    assert leader.renew(db.engine, leading, LEASE, now=at(10))
    # Past the first expiry, but renewed: still held.
    assert not leader.acquire(db.engine, standby, LEASE, now=at(20))
    lease = leader.status(db.engine, now=at(20))
    assert (lease.since, lease.renewed_at, lease.expires_at) == (T, at(10), at(25))

    # The leader stops renewing (it died): once the lease ran out, the standby takes it.
    assert leader.status(db.engine, now=at(25)).expired
    assert leader.acquire(db.engine, standby, LEASE, now=at(26))
    lease = leader.status(db.engine, now=at(26))
    assert (lease.holder, lease.since, lease.expires_at) == (standby.holder, at(26), at(41))
    # The old leader wakes up: its renewal fails, so it knows it no longer leads.
    assert not leader.renew(db.engine, leading, LEASE, now=at(27))
    assert leader.status(db.engine, now=at(27)).holder == standby.holder


def test_a_released_lease_is_taken_at_once(app, db):
    leading, standby = leader.Candidate(), leader.Candidate()
    assert leader.acquire(db.engine, leading, LEASE, now=T)
    assert not leader.release(db.engine, standby, now=at(1))  # not the standby's to release
    assert not leader.acquire(db.engine, standby, LEASE, now=at(1))

    assert leader.release(db.engine, leading, now=at(2))
    assert leader.status(db.engine, now=at(2)).expired
    assert leader.acquire(db.engine, standby, LEASE, now=at(2))  # not 15 s later
    assert not leader.release(db.engine, leading, now=at(3))  # no longer its own
    assert not leader.status(db.engine, now=at(3)).expired


def test_the_database_clock_decides_when_no_time_is_given(app, db):
    leading, standby = leader.Candidate(), leader.Candidate()
    assert leader.acquire(db.engine, leading, LEASE)
    assert not leader.acquire(db.engine, standby, LEASE)
    lease = leader.status(db.engine)
    assert lease.holder == leading.holder and not lease.expired
    assert lease.expires_at - lease.renewed_at == timedelta(seconds=LEASE)
    assert leader.renew(db.engine, leading, LEASE)
    assert leader.release(db.engine, leading)
    assert leader.acquire(db.engine, standby, LEASE)


# -- one run per job and scheduled time -----------------------------------------------


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0


def test_a_job_runs_once_for_one_fire_time(app, db):
    counted = {"job": "calendar_sync", "outcome": "ok"}
    runs_before = sample("engawa_job_runs_total", **counted)
    timed_before = sample("engawa_job_duration_seconds_count", job="calendar_sync")
    fire = datetime(2026, 12, 1, 12, 15, tzinfo=scheduler.TOKYO)
    first = scheduler.run_job(app, "calendar_sync", now=NOW, fire_time=fire)
    second = scheduler.run_job(app, "calendar_sync", now=NOW, fire_time=fire)
    later = scheduler.run_job(app, "calendar_sync", now=NOW, fire_time=fire + timedelta(minutes=15))

    assert first.outcome == "ok" and first.fire_time == fire
    assert first.runner == f"{HOST}:{os.getpid()}"
    assert second is None  # another scheduler already ran it: skipped, not a failure
    assert later.outcome == "ok"
    # Runs by hand have no fire time, and may repeat.
    assert scheduler.run_job(app, "calendar_sync", now=NOW).fire_time is None
    assert scheduler.run_job(app, "calendar_sync", now=NOW).outcome == "ok"
    runs = db.session.execute(select(JobRun.fire_time, JobRun.outcome).order_by(JobRun.id)).all()
    assert runs == [(fire, "ok"), (fire + timedelta(minutes=15), "ok"), (None, "ok"), (None, "ok")]
    # Four runs counted and timed in the metrics; the skipped one is not a run.
    assert sample("engawa_job_runs_total", **counted) == runs_before + 4
    assert sample("engawa_job_duration_seconds_count", job="calendar_sync") == timed_before + 4


def test_two_schedulers_racing_for_one_fire_time_run_it_once(app, db, monkeypatch):
    calls = []
    monkeypatch.setitem(
        scheduler.registered_jobs(app),
        "calendar_sync",
        scheduler.JobSpec("calendar_sync", lambda now: calls.append(now) or "", "interval"),
    )
    fire = datetime(2026, 12, 1, 12, 15, tzinfo=scheduler.TOKYO)
    start = threading.Barrier(2)
    results = [None, None]

    def race(i):
        start.wait()
        results[i] = scheduler.run_job(app, "calendar_sync", fire_time=fire, runner=f"host{i}:1")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1
    assert sorted(r is None for r in results) == [False, True]
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 1


def test_every_scheduler_computes_the_same_fire_times():
    spec = scheduler.JobSpec("x", lambda now: "", "interval", lambda c: {"minutes": c["m"]})
    # Three processes started at any moments, each with a trigger of its own.
    started = [NOW + timedelta(seconds=s) for s in (0, 95, 203, 3600 * 30 + 7)]
    first, *others = [
        scheduler.trigger_of(spec, {"m": 7}).get_next_fire_time(None, moment) for moment in started
    ]
    for fire in others:  # on one grid: the same scheduled times, whoever computes them
        assert (fire - first) % timedelta(minutes=7) == timedelta(0)
    assert (first - scheduler.INTERVAL_ANCHOR) % timedelta(minutes=7) == timedelta(0)
    assert NOW <= first < NOW + timedelta(minutes=7)
    with pytest.raises(ValueError, match="unknown trigger 'date'"):
        scheduler.trigger_of(scheduler.JobSpec("x", lambda now: "", "date"), {})


def test_the_scheduler_passes_the_fire_time_into_the_run_record(app, db, monkeypatch):
    spec = scheduler.registered_jobs(app)["calendar_sync"]
    at_start = dataclasses.replace(spec, run_at_start=True)
    monkeypatch.setitem(app.extensions, scheduler.JOBS_KEY, {"calendar_sync": at_start})
    db.session.commit()
    sched = scheduler.build_scheduler(app)
    (job,) = sched.get_jobs()
    due = job.next_run_time
    sched.start()
    try:
        finished = select(JobRun.fire_time, JobRun.runner, JobRun.outcome).where(
            JobRun.outcome != "running"
        )
        run = wait_for(lambda: _read(finished))
    finally:
        sched.shutdown(wait=True)
    assert run == (due, f"{HOST}:{os.getpid()}", "ok")


def _read(query):
    """The first row, ending the read at once (on SQLite it holds the write lock)."""
    try:
        return _db.session.execute(query).first()
    finally:
        _db.session.rollback()


# Shutting the scheduler down right after its one date-triggered job ran can race
# APScheduler's own thread (it is finishing that job's removal); what is tested is the
# executor's log line.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_job_under_the_executor_is_logged_by_class_only(caplog):
    executor = scheduler.FireTimeExecutor(max_workers=1)
    sched = BackgroundScheduler(executors={"default": executor}, timezone=scheduler.TOKYO)
    seen = []

    def job(fire_time=None):
        seen.append(fire_time)
        raise RuntimeError("https://calendar.example/secret-token")

    sched.add_job(job, "date", run_date=datetime.now(UTC))
    sched.start()
    try:
        wait_for(lambda: seen)
        assert executor.wait_idle(30)
        wait_for(lambda: "raised RuntimeError" in caplog.text)
    finally:
        sched.shutdown(wait=True)
    assert "secret-token" not in caplog.text


def test_a_new_leader_closes_the_runs_its_predecessor_left_running(app, db):
    def running(job, runner, fire_time=NOW):
        return JobRun(
            job=job, started_at=NOW, outcome="running", runner=runner, fire_time=fire_time
        )

    db.session.add_all(
        [
            running("calendar_sync", "old:1"),
            running("mail_outbox", "new:2"),
            # Started by hand (`flask jobs run`) elsewhere: its command may still be working.
            running("prune_job_runs", "ops:3", fire_time=None),
        ]
    )
    db.session.commit()
    assert scheduler.close_interrupted_runs(NOW, keep_runner="new:2") == 1
    outcomes = dict(db.session.execute(select(JobRun.runner, JobRun.outcome)).all())
    assert outcomes == {"old:1": "failed", "new:2": "running", "ops:3": "running"}


# -- leadership within one process -----------------------------------------------------


@pytest.fixture
def quiet_jobs(app, monkeypatch):
    """One job, due in an hour: the schedulers start and stop without running anything."""
    spec = scheduler.JobSpec("quiet", lambda now: "", "interval", lambda config: {"hours": 1})
    monkeypatch.setitem(app.extensions, scheduler.JOBS_KEY, {"quiet": spec})
    app.config.update(SCHEDULER_LEASE_SECONDS=LEASE, SCHEDULER_RENEW_SECONDS=5)


def test_one_process_leads_and_hands_over_when_it_stops(app, db, quiet_jobs):
    db.session.commit()
    first, second = scheduler.Leadership(app), scheduler.Leadership(app)
    try:
        first.step()
        second.step()
        assert (first.leading, second.leading) == (True, False)
        assert sample("engawa_scheduler_leader") == 1
        first.step()  # renews
        assert first.leading and leader.status(db.engine).holder == first.me.holder

        first.finish()  # SIGTERM: the lease is released
        assert not first.leading and leader.status(db.engine).expired
        second.step()
        assert second.leading
    finally:
        first.finish()
        second.finish()
    assert sample("engawa_scheduler_leader") == 0


def test_a_leader_that_lost_its_lease_stops_its_scheduler(app, db, quiet_jobs):
    db.session.commit()
    stalled, standby = scheduler.Leadership(app), scheduler.Leadership(app)
    try:
        stalled.step()
        # The leader stalled past its lease; the standby took over.
        db.session.execute(text("UPDATE scheduler_lease SET expires_at = renewed_at"))
        db.session.commit()
        standby.step()
        assert standby.leading
        stalled.step()
        assert not stalled.leading  # stands by; the standby's lease is untouched
        assert leader.status(db.engine).holder == standby.me.holder
    finally:
        stalled.finish()
        standby.finish()


def test_a_leader_cut_off_from_the_database_steps_down_before_its_lease_ends(
    app, db, quiet_jobs, monkeypatch
):
    db.session.commit()
    cut_off = scheduler.Leadership(app)
    try:
        cut_off.step()

        def unreachable(*args, **kwargs):
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

        monkeypatch.setattr(leader, "renew", unreachable)
        cut_off.step()
        assert cut_off.leading  # one failed renewal: the lease still has time
        cut_off._renewed -= LEASE  # no renewal for a whole lease
        cut_off.step()
        assert not cut_off.leading
    finally:
        cut_off.finish()


def test_a_new_leader_makes_the_run_that_fell_due_during_the_handover_once(app, db, monkeypatch):
    app.config.update(SCHEDULER_LEASE_SECONDS=LEASE, SCHEDULER_RENEW_SECONDS=5)
    # Daily jobs (like the 03:00 ones); two were due 3 s ago, while the leader had died and
    # its lease not yet run out; one an hour ago, long before.
    now = datetime.now(scheduler.TOKYO).replace(microsecond=0)
    due, long_ago = now - timedelta(seconds=3), now - timedelta(hours=1)
    calls = []

    def daily(name, at):
        at_time = {"hour": at.hour, "minute": at.minute, "second": at.second}
        return scheduler.JobSpec(
            name, lambda now: calls.append(name) or "", "cron", lambda c: at_time
        )

    specs = {"missed": daily("missed", due), "made": daily("made", due)}
    specs["earlier"] = daily("earlier", long_ago)
    monkeypatch.setitem(app.extensions, scheduler.JOBS_KEY, specs)
    # The old leader made one of the two before it died.
    db.session.add(JobRun(job="made", started_at=NOW, outcome="ok", fire_time=due, runner="old:1"))
    db.session.commit()

    takeover = scheduler.Leadership(app)
    try:
        takeover.step()
        assert takeover.leading
        jobs = {job.id: job for job in takeover.scheduler.get_jobs()}
        assert jobs["earlier"].next_run_time == long_ago + timedelta(days=1)
        # Both due runs handed to the executor (each job then waits for tomorrow).
        wait_for(lambda: all(job.next_run_time > now for job in takeover.scheduler.get_jobs()))
        assert takeover.executor.wait_idle(10)
    finally:
        takeover.finish()
    assert calls == ["missed"]
    runs = db.session.execute(select(JobRun.job, JobRun.fire_time, JobRun.outcome)).all()
    assert sorted(runs) == [("made", due, "ok"), ("missed", due, "ok")]


def test_a_leader_whose_renewal_hangs_stops_scheduling_before_its_lease_ends(
    app, db, quiet_jobs, monkeypatch
):
    db.session.commit()
    stuck = scheduler.Leadership(app)
    released = threading.Event()
    try:
        stuck.step()
        sched = stuck.scheduler
        renewed = stuck._renewed

        def hangs(*args, **kwargs):  # a half-open connection: no answer, no error
            released.wait(60)
            return True

        monkeypatch.setattr(leader, "renew", hangs)
        # The last good renewal began so long ago that its step-down deadline is near.
        stuck._renewed = renewed = renewed - (LEASE - 5) + 0.5
        stuck.step()
        returned = time.monotonic()
        assert not released.is_set()  # the renewal still hangs
        assert not stuck.leading and not sched.running  # no more jobs from this process
        assert returned < renewed + LEASE  # before a standby could take the lease
        # The database still names it: it stepped down on its own clock.
        assert leader.status(db.engine).holder == stuck.me.holder
        assert sample("engawa_scheduler_leader") == 0
    finally:
        released.set()
        stuck.finish()


def test_the_renewal_counts_from_before_the_database_call(app, db, quiet_jobs, monkeypatch):
    db.session.commit()
    slow = scheduler.Leadership(app)
    try:
        slow.step()
        real_renew = leader.renew
        began = []

        def renew(*args, **kwargs):
            began.append(time.monotonic())
            return real_renew(*args, **kwargs)

        monkeypatch.setattr(leader, "renew", renew)
        slow.step()
        assert slow.leading and slow._renewed <= began[0]
    finally:
        slow.finish()


# -- flask scheduler status ----------------------------------------------------------------


def test_status_prints_the_leader_and_each_jobs_next_run(app, db):
    cli = app.test_cli_runner()
    out = cli.invoke(args=["scheduler", "status"]).output
    assert "Leader: none (no scheduler has led on this database)" in out

    scheduler.run_job(app, "calendar_sync", now=NOW)
    leading = leader.Candidate(host="sched-2.example", pid=4242)
    assert leader.acquire(_db.engine, leading, LEASE)
    out = cli.invoke(args=["scheduler", "status"]).output
    assert "Leader: sched-2.example (pid 4242), since 20" in out and "last renewed 20" in out
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    # NOW is 2026-12-01 12:00 in Tokyo; the nightly prune runs at 04:30.
    assert lines["prune_job_runs"].split()[1:4] == ["2026-12-02", "04:30:00", "never"]
    assert lines["calendar_sync"].split()[1:5] == ["2026-12-01", "12:00:00", "ok", "at"]
    assert set(lines) == {"job", *scheduler.registered_jobs(app)}

    assert leader.release(_db.engine, leading)
    out = cli.invoke(args=["scheduler", "status"]).output
    assert "Leader: none (lease expired at 20" in out
    assert "last held by sched-2.example (pid 4242)" in out


def test_the_platform_admin_sees_which_scheduler_leads(app, db, make_user, client, login):
    login(make_user(Role.PLATFORM_ADMIN))

    def shown(lang: str = "en") -> str:
        with client.session_transaction() as session:
            session["lang"] = lang
        page = client.get("/admin/jobs").get_data(as_text=True)
        return re.search(r'data-testid="scheduler-leader">(.*?)</p>', page, re.S)[1]

    assert "No scheduler has run yet." in shown()
    assert "スケジューラーはまだ一度も動いていません。" in shown("ja")
    leading = leader.Candidate(host="sched-2.example", pid=4242)
    assert leader.acquire(_db.engine, leading, LEASE)
    assert "sched-2.example, process 4242, since" in shown()
    assert "主担当のスケジューラー：sched-2.example のプロセス 4242" in shown("ja")
    assert leader.release(_db.engine, leading)
    assert "No scheduler is leading: the lease of sched-2.example, process 4242" in shown()
