"""The scheduler process: one APScheduler (3.x) holding every recurring job.

`flask --app wsgi scheduler run` starts it; web workers never do. A job is a
plain function ``job(now) -> JobSummary`` that commits its own work, so tests
call it directly (the summary is English text that /admin/jobs shows translated:
``core.job_summary``). ``run_job`` records every run (``JobRun``): start, end,
outcome and the summary, visible to the platform admin.

Each package registers its jobs, as callables, in its ``init_app`` (``register_jobs``).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask_babel import LazyString
from sqlalchemy import delete, update

from core.db import TOKYO, edge_now, utcnow
from core.extensions import db
from core.job_summary import N_, JobSummary, joined, summary
from core.models import JobRun

__all__ = ["N_", "JobSpec", "JobSummary", "joined", "register_jobs", "run_job", "summary"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[datetime], JobSummary | str]
    trigger: str  # "interval" or "cron"
    # Trigger arguments; a callable gets the app config (for configurable intervals).
    trigger_args: Callable[[dict], dict] = field(default=lambda config: {})
    description: str | LazyString = ""
    run_at_start: bool = False  # also once when the scheduler starts
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


def run_job(app: Flask, name: str, now: datetime | None = None) -> JobRun | None:
    """Run one job in its own app context and record the run, whatever happens.

    A polling job with nothing to do is skipped (None).
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
        return run_recorded(name, spec.func, now or edge_now())


def run_recorded(name: str, func: Callable[[datetime], JobSummary | str], now: datetime) -> JobRun:
    """Call ``func(now)`` in the current app context, recorded as a run of ``name``.

    Used by the scheduler and by the commands that run a job by hand. A failure
    is recorded (by exception class only: messages can carry secret URLs or
    personal data) and not raised.

    The summary is stored as JSON to be shown in the reader's language
    (``core.job_summary``); ``run.summary`` reads back as its English text.
    """
    run = JobRun(job=name, started_at=utcnow(), outcome="running")
    db.session.add(run)
    db.session.flush()
    run_id = run.id
    # No transaction stays open while the job runs: a job may work through sessions
    # of its own (the local billing backend), and on SQLite an open one holds the lock.
    db.session.commit()
    try:
        result = func(now)
        outcome = "ok"
    except Exception as exc:
        db.session.rollback()
        log.error("job %s failed: %s", name, type(exc).__name__)
        result = summary(N_("failed: %(error)s"), error=type(exc).__name__)
        outcome = "failed"
    run = db.session.get(JobRun, run_id)
    run.finished_at = utcnow()
    run.outcome = outcome
    run.summary = result or ""
    db.session.commit()
    log.info("job %s: %s (%s)", name, outcome, run.summary)
    db.session.expunge(run)
    return run


def close_interrupted_runs(now: datetime) -> int:
    """Runs still 'running' when a scheduler starts were cut off (killed, power loss)."""
    result = db.session.execute(
        update(JobRun)
        .where(JobRun.outcome == "running")
        .values(
            outcome="failed",
            finished_at=now,
            summary=summary(N_("interrupted: the process stopped")),
        )
    )
    db.session.commit()
    return result.rowcount


def build_scheduler(app: Flask):
    """A BlockingScheduler with every job; runs never overlap and missed runs coalesce."""
    scheduler = BlockingScheduler(
        timezone=TOKYO,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
    )
    for spec in registered_jobs(app).values():
        extra = {"next_run_time": datetime.now(TOKYO)} if spec.run_at_start else {}
        scheduler.add_job(
            run_job,
            spec.trigger,
            args=(app, spec.name),
            id=spec.name,
            name=str(spec.description) or spec.name,
            **spec.trigger_args(app.config),
            **extra,
        )
    return scheduler


def serve(app: Flask) -> None:  # pragma: no cover - runs until a signal; see tests/core
    with app.app_context():
        interrupted = close_interrupted_runs(utcnow())
    if interrupted:
        log.warning("scheduler: %d runs from an earlier process marked interrupted", interrupted)
    scheduler = build_scheduler(app)
    stopping = []

    def stop(signum, _frame):
        if stopping:  # a second Ctrl-C: do not wait for the running job
            log.warning("scheduler: stopping now; the running job is cut off")
            os._exit(1)
        stopping.append(signum)
        log.info("scheduler: signal %s, stopping after the running job (again to force)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for job in scheduler.get_jobs():
        log.info("scheduler: %s (%s)", job.id, job.trigger)
    scheduler.start()
