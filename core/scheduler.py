"""The scheduler processes: one APScheduler (3.x) holding every recurring job.

`flask --app wsgi scheduler run` starts one; web workers never do. Any number may
run, on any hosts: the one holding the lease (``core.leader``) runs the jobs, the
others stand by and take over within the lease time when it dies. A job is a plain
function ``job(now) -> JobSummary`` that commits its own work, so tests call it
directly (the summary is English text that /admin/jobs shows translated:
``core.job_summary``). ``run_job`` records every run (``JobRun``): start, end, outcome,
the summary, the scheduled time it is for and the process that ran it. A run is unique
per job and scheduled time, so a job never runs twice for one time, even while two
processes briefly believe they lead.

Each package registers its jobs, as callables, in its ``init_app`` (``register_jobs``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from traceback import format_exception

import prometheus_client
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask_babel import LazyString
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from core import leader, metrics
from core.db import TOKYO, edge_now, utcnow
from core.extensions import db
from core.job_summary import N_, JobSummary, joined, summary
from core.models import JobRun

__all__ = ["N_", "JobSpec", "JobSummary", "joined", "register_jobs", "run_job", "summary"]

log = logging.getLogger(__name__)

# Interval jobs count from this instant, so every scheduler process, started whenever,
# computes the same fire times (and the run record's uniqueness can tell a repeat).
INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=TOKYO)


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[datetime], JobSummary | str]
    trigger: str  # "interval" or "cron"
    # Trigger arguments; a callable gets the app config (for configurable intervals).
    trigger_args: Callable[[dict], dict] = field(default=lambda config: {})
    description: str | LazyString = ""
    # Also once when a scheduler starts leading, if a fire time passed with no good run
    # since (a fresh deployment, or nobody led then): see ``missed_runs``.
    run_at_start: bool = False
    # For frequent polling jobs: when this says there is nothing to do, the run
    # is skipped and not recorded (a record every few seconds would bury the rest).
    has_work: Callable[[], bool] | None = None


def prune_older_than(column, config_key: str, now: datetime, removed: str) -> JobSummary:
    """Delete the rows whose ``column`` is older than the ``config_key`` days.

    ``removed`` is the summary's message id, counting with ``%(n)d``.
    """
    cutoff = now - timedelta(days=current_app.config[config_key])
    result = db.session.execute(delete(column.class_).where(column < cutoff))
    db.session.commit()
    return summary(removed, n=result.rowcount)


def prune_job_runs(now: datetime) -> JobSummary:
    """Forget job runs older than JOB_RUN_KEEP_DAYS."""
    return prune_older_than(
        JobRun.started_at, "JOB_RUN_KEEP_DAYS", now, N_("%(n)d old runs removed")
    )


JOBS_KEY = "engawa.jobs"


def register_jobs(app: Flask, *specs: JobSpec) -> None:
    """Add recurring jobs to the app's registry (each package's ``init_app`` adds its own)."""
    registry = app.extensions.setdefault(JOBS_KEY, {})
    for spec in specs:
        if spec.name in registry:
            raise ValueError(f"job {spec.name!r} is registered twice")
        registry[spec.name] = spec


def registered_jobs(app: Flask) -> dict[str, JobSpec]:
    """Every job the app's packages registered, by name, in registration order."""
    return app.extensions.get(JOBS_KEY, {})


def run_job(
    app: Flask,
    name: str,
    now: datetime | None = None,
    *,
    fire_time: datetime | None = None,
    runner: str | None = None,
) -> JobRun | None:
    """Run one job in its own app context and record the run, whatever happens.

    ``fire_time`` is the scheduled time the run is for (None: by hand). None is
    returned when a polling job has nothing to do, and when the job already ran for
    ``fire_time`` (another scheduler did it).
    """
    spec = registered_jobs(app)[name]
    with app.app_context():
        if spec.has_work is not None:
            try:
                idle = not spec.has_work()
            finally:
                db.session.rollback()  # end the read; the run opens its own transactions
            if idle:
                return None
        return run_recorded(name, spec.func, now or edge_now(), fire_time=fire_time, runner=runner)


def run_recorded(
    name: str,
    func: Callable[[datetime], JobSummary | str],
    now: datetime,
    *,
    fire_time: datetime | None = None,
    runner: str | None = None,
) -> JobRun | None:
    """Call ``func(now)`` in the current app context, recorded as a run of ``name``.

    Used by the scheduler and by the commands that run a job by hand. A failure
    is recorded (by exception class only: messages can carry secret URLs or
    personal data) and not raised. A run for a ``fire_time`` already recorded is not
    made (None): the database refuses the second record of one job and fire time.

    The summary is stored as JSON to be shown in the reader's language
    (``core.job_summary``); ``run.summary`` reads back as its English text.
    """
    fields = {"job": name, "fire_time": fire_time.isoformat() if fire_time else None}
    run = JobRun(
        job=name,
        started_at=utcnow(),
        outcome="running",
        fire_time=fire_time,
        runner=runner or leader.this_process(),
    )
    db.session.add(run)
    # No transaction stays open while the job runs: a job may work through sessions
    # of its own (the local billing backend), and on SQLite an open one holds the lock.
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        log.info("job %s: already run for %s, skipped", name, fire_time, extra=fields)
        return None
    run_id = run.id  # read before the commit expires it (reading it would begin anew)
    db.session.commit()
    started = time.monotonic()
    try:
        result = func(now)
        outcome = "ok"
    except Exception as exc:
        db.session.rollback()
        result = summary(N_("failed: %(error)s"), error=type(exc).__name__)
        outcome = "failed"
    seconds = time.monotonic() - started
    run = db.session.get(JobRun, run_id)
    run.finished_at = utcnow()
    run.outcome = outcome
    run.summary = result or ""
    db.session.commit()
    metrics.JOB_RUNS.labels(job=name, outcome=outcome).inc()
    metrics.JOB_SECONDS.labels(job=name).observe(seconds)
    log.log(
        logging.INFO if outcome == "ok" else logging.ERROR,
        "job %s: %s (%s)",
        name,
        outcome,
        run.summary,
        extra={**fields, "outcome": outcome, "duration_ms": round(seconds * 1000)},
    )
    db.session.expunge(run)
    return run


def close_interrupted_runs(now: datetime, keep_runner: str | None = None) -> int:
    """Runs still 'running' when a scheduler starts leading were cut off (killed, power
    loss): the process that ran them no longer leads. ``keep_runner``'s own are not, nor
    runs by hand."""
    # Runs by hand (no fire time) are not the scheduler's: their command may still run.
    query = update(JobRun).where(JobRun.outcome == "running", JobRun.fire_time.is_not(None))
    if keep_runner is not None:
        query = query.where(JobRun.runner != keep_runner)
    result = db.session.execute(
        query.values(
            outcome="failed",
            finished_at=now,
            summary=summary(N_("interrupted: the process stopped")),
        )
    )
    db.session.commit()
    return result.rowcount


def trigger_of(spec: JobSpec, config: dict) -> IntervalTrigger | CronTrigger:
    """The job's trigger in Asia/Tokyo; intervals count from ``INTERVAL_ANCHOR``."""
    args = spec.trigger_args(config)
    if spec.trigger == "interval":
        return IntervalTrigger(**{"start_date": INTERVAL_ANCHOR, **args}, timezone=TOKYO)
    if spec.trigger == "cron":
        return CronTrigger(**args, timezone=TOKYO)
    raise ValueError(f"job {spec.name!r}: unknown trigger {spec.trigger!r}")


class FireTimeExecutor(BaseExecutor):
    """APScheduler's thread pool, telling each run the scheduled time it is for.

    APScheduler 3 calls a job without its fire time; the run record needs it (unique
    per job and fire time), so this executor passes the latest one due (runs coalesce)
    as ``fire_time=``. Failures are logged by exception class only.
    """

    def __init__(self, max_workers: int = 4):
        super().__init__()
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="engawa-job")
        self._running: set[Future] = set()
        self._running_lock = threading.Lock()

    def _do_submit_job(self, job, run_times):
        future = self._pool.submit(self._run, job, run_times)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(partial(self._done, job.id))

    def _done(self, job_id: str, future: Future) -> None:
        with self._running_lock:
            self._running.discard(future)
        exc = future.exception()
        if exc is not None:
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, future.result())

    def _run(self, job, run_times: list[datetime]) -> list[JobExecutionEvent]:
        fire_time = run_times[-1]
        event = partial(JobExecutionEvent, job_id=job.id, jobstore=job._jobstore_alias)
        late = datetime.now(UTC) - fire_time
        if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
            self._logger.warning("job %s: run of %s missed by %s", job.id, fire_time, late)
            return [event(EVENT_JOB_MISSED, scheduled_run_time=fire_time)]
        try:
            retval = job.func(*job.args, fire_time=fire_time, **job.kwargs)
        except Exception as exc:
            self._logger.error("job %s raised %s", job.id, type(exc).__name__)
            return [
                event(
                    EVENT_JOB_ERROR,
                    scheduled_run_time=fire_time,
                    exception=exc,
                    traceback="".join(format_exception(exc)),
                )
            ]
        return [event(EVENT_JOB_EXECUTED, scheduled_run_time=fire_time, retval=retval)]

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the running jobs; True when none runs."""
        with self._running_lock:
            running = list(self._running)
        return not wait(running, timeout=timeout).not_done

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


def build_scheduler(
    app: Flask, executor: FireTimeExecutor | None = None, since: datetime | None = None
):
    """A BackgroundScheduler with every job; runs never overlap and missed runs coalesce.

    ``since``: the first fire times are counted from then, not from now, so a run due
    while no process led (the handover after a leader died) still happens, once; one
    the earlier leader already made is refused by the run record (one per fire time).
    """
    scheduler = BackgroundScheduler(
        timezone=TOKYO,
        executors={"default": executor or FireTimeExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
    )
    now = datetime.now(TOKYO)
    with app.app_context():
        missed = missed_runs(app, now)
    for spec in registered_jobs(app).values():
        trigger = trigger_of(spec, app.config)
        if spec.name in missed:
            extra = {"next_run_time": now}
        elif since is not None:
            extra = {"next_run_time": trigger.get_next_fire_time(None, since.astimezone(TOKYO))}
        else:
            extra = {}
        scheduler.add_job(
            run_job,
            trigger,
            args=(app, spec.name),
            id=spec.name,
            name=str(spec.description) or spec.name,
            **extra,
        )
    return scheduler


def missed_runs(app: Flask, now: datetime) -> set[str]:
    """The ``run_at_start`` jobs to run as soon as a scheduler starts leading: those
    never run well, and those whose last good run is older than a fire time gone by
    (nobody led then). One run since its latest fire time is enough: a new leader does
    not run the year's re-pricing again because the last one died an hour after it."""
    at_start = [spec for spec in registered_jobs(app).values() if spec.run_at_start]
    if not at_start:
        return set()
    last_ok = dict(
        db.session.execute(
            select(JobRun.job, func.max(JobRun.started_at))
            .where(JobRun.job.in_([spec.name for spec in at_start]), JobRun.outcome == "ok")
            .group_by(JobRun.job)
        ).all()
    )
    db.session.rollback()  # end the read: on SQLite it would hold the file
    missed = set()
    for spec in at_start:
        started = last_ok.get(spec.name)
        if started is None:
            missed.add(spec.name)
            continue
        since = started.replace(tzinfo=UTC) if started.tzinfo is None else started
        due = trigger_of(spec, app.config).get_next_fire_time(None, since.astimezone(TOKYO))
        if due is None or due <= now:
            missed.add(spec.name)
    return missed


@dataclass(frozen=True)
class JobState:
    """One job for ``flask scheduler status``: when it runs next, how it last ended."""

    name: str
    next_run: datetime | None
    last_outcome: str | None
    last_started: datetime | None


def job_states(app: Flask, now: datetime) -> list[JobState]:
    """Every job's next fire time after ``now`` (in Asia/Tokyo) and its latest run."""
    newest = (
        select(JobRun.job, func.max(JobRun.started_at).label("started_at"))
        .group_by(JobRun.job)
        .subquery()
    )
    latest = {
        job: (outcome, started)
        for job, outcome, started in db.session.execute(
            select(JobRun.job, JobRun.outcome, JobRun.started_at).join(
                newest,
                (JobRun.job == newest.c.job) & (JobRun.started_at == newest.c.started_at),
            )
        )
    }
    states = []
    for spec in registered_jobs(app).values():
        upcoming = trigger_of(spec, app.config).get_next_fire_time(None, now.astimezone(TOKYO))
        outcome, started = latest.get(spec.name, (None, None))
        states.append(JobState(spec.name, upcoming, outcome, started))
    return states


class Leadership:
    """One scheduler process's life: stand by, lead while the lease is ours, step down.

    ``step()`` is called every ``SCHEDULER_RENEW_SECONDS``: a standby asks for the
    lease; the leader renews it. Losing it (taken by another, or not renewed in time
    because the database is unreachable) stops the scheduler before the lease can run
    out under us. The deadline counts from the moment before the last good renewal
    began, and is kept whatever the database does: a call that hangs is waited for only
    until then (``_call``). ``finish()`` lets the running jobs end, then releases the lease.
    """

    def __init__(self, app: Flask, me: leader.Candidate | None = None):
        self.app = app
        self.me = me or leader.Candidate()
        self.lease_seconds: int = app.config["SCHEDULER_LEASE_SECONDS"]
        self.renew_seconds: int = app.config["SCHEDULER_RENEW_SECONDS"]
        with app.app_context():
            self.engine: Engine = db.engine
        self.scheduler: BackgroundScheduler | None = None
        self.executor: FireTimeExecutor | None = None
        self._renewed = 0.0  # monotonic time just before the last good renewal began
        self._where = {"host": self.me.host, "pid": self.me.pid}

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def step(self) -> None:
        started = time.monotonic()  # the lease runs from no earlier than this
        try:
            if self.leading:
                self._renew(started)
            elif self._call(leader.acquire, started + self._deadline()):
                self._renewed = started
                self._lead()
        except (SQLAlchemyError, TimeoutError) as exc:  # the database is away or stuck
            log.warning("scheduler: lease check failed: %s", type(exc).__name__, extra=self._where)
        if self.leading and self.time_left() <= 0:
            self._step_down("lease not renewed in time")

    def _deadline(self) -> float:
        # Step down a renewal early, before the lease can expire in the database.
        return self.lease_seconds - self.renew_seconds

    def time_left(self) -> float:
        """Seconds until this leader must have stepped down unless it renews."""
        return self._renewed + self._deadline() - time.monotonic()

    def _call(self, func: Callable[..., bool], until: float) -> bool:
        """``func(engine, me, lease_seconds)``, waited for until monotonic ``until``.

        It runs on a daemon thread of its own: one stuck in the network (a half-open
        connection) is left behind, and TimeoutError raised, when ``until`` passes.
        """
        result: Future = Future()

        def call():
            try:
                args = (self.engine, self.me, self.lease_seconds)
                result.set_result(func(*args, timeout=self.renew_seconds))
            except BaseException as exc:
                result.set_exception(exc)

        threading.Thread(target=call, name="engawa-lease", daemon=True).start()
        return result.result(timeout=max(0.0, until - time.monotonic()))

    def _lead(self) -> None:
        lead_from = utcnow()
        with self.app.app_context():
            interrupted = close_interrupted_runs(utcnow(), keep_runner=self.me.runner)
        log.info("scheduler: leading on %s (pid %d)", self.me.host, self.me.pid, extra=self._where)
        if interrupted:
            log.warning("scheduler: %d runs of an earlier leader marked interrupted", interrupted)
        self.executor = FireTimeExecutor()
        # Fire times since the old leader's lease could have ended are still made (once).
        since = lead_from - timedelta(seconds=self.lease_seconds + self.renew_seconds)
        self.scheduler = build_scheduler(self.app, self.executor, since=since)
        self.scheduler.start()
        metrics.SCHEDULER_LEADER.set(1)
        for job in self.scheduler.get_jobs():
            log.info("scheduler: %s (%s)", job.id, job.trigger)

    def _renew(self, started: float) -> None:
        if self.time_left() <= 0:
            return  # too late to renew: step() steps down
        if self._call(leader.renew, self._renewed + self._deadline()):
            self._renewed = started
        else:
            self._step_down("lease taken by another process")

    def _step_down(self, why: str) -> None:
        """Stop scheduling at once; a running job ends on its own (its record is unique)."""
        log.warning(
            "scheduler: %s; standing by on %s (pid %d)",
            why,
            self.me.host,
            self.me.pid,
            extra=self._where,
        )
        metrics.SCHEDULER_LEADER.set(0)
        scheduler, self.scheduler, self.executor = self.scheduler, None, None
        scheduler.shutdown(wait=False)

    def finish(self) -> None:
        """Stop scheduling, let the running jobs end (renewing meanwhile), release."""
        if not self.leading:
            return
        scheduler, executor = self.scheduler, self.executor
        scheduler.shutdown(wait=False)
        ours = True
        while not executor.wait_idle(self.renew_seconds):
            try:
                ours = ours and leader.renew(
                    self.engine, self.me, self.lease_seconds, timeout=self.renew_seconds
                )
            except SQLAlchemyError as exc:
                log.warning("scheduler: lease renewal failed: %s", type(exc).__name__)
        self.scheduler = self.executor = None
        metrics.SCHEDULER_LEADER.set(0)
        try:
            ours = ours and leader.release(self.engine, self.me, timeout=self.renew_seconds)
        except SQLAlchemyError as exc:
            log.warning("scheduler: lease not released: %s", type(exc).__name__)
            return
        if ours:
            where = (self.me.host, self.me.pid)
            log.info("scheduler: lease released on %s (pid %d)", *where, extra=self._where)

    def run_until(self, stop: threading.Event) -> None:
        log.info(
            "scheduler: standing by on %s (pid %d)", self.me.host, self.me.pid, extra=self._where
        )
        metrics.SCHEDULER_LEADER.set(0)
        try:
            while not stop.is_set():
                self.step()
                # Wake for the deadline too when it comes before the next renewal.
                wait = self.renew_seconds
                if self.leading:
                    wait = max(0.0, min(wait, self.time_left()))
                stop.wait(wait)
        finally:
            self.finish()


def serve(app: Flask) -> None:  # pragma: no cover - runs until a signal; see tests/core
    """Stand by or lead until SIGTERM or SIGINT; then finish the running job, release."""
    stop = threading.Event()

    def on_signal(signum, _frame):
        if stop.is_set():  # a second Ctrl-C: do not wait for the running job
            log.warning("scheduler: stopping now; the running job is cut off")
            os._exit(1)
        stop.set()
        log.info("scheduler: signal %s, stopping after the running job (again to force)", signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = app.config["SCHEDULER_METRICS_PORT"]
    if port:
        prometheus_client.start_http_server(port, addr="127.0.0.1")
    Leadership(app).run_until(stop)
