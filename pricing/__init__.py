"""Demand pricing: seasons, rules, the engine that prices every unsold night, and the
operator's policy, bounds and overrides. Prices are read through ``pricing.prices``."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.scheduler import JobSpec, register_jobs
from pricing import cli, jobs, refresh, services
from pricing.rules import guest_reason_label, reason_label


def init_app(app: Flask) -> None:
    app.cli.add_command(cli.pricing)
    app.jinja_env.globals["reason_label"] = reason_label
    app.jinja_env.globals["guest_reason_label"] = guest_reason_label
    register_jobs(
        app,
        JobSpec(
            "pricing_recompute",
            jobs.recompute_job,
            "cron",
            lambda config: {"hour": 3, "minute": 0},
            _l("Re-price every unsold night of the next year"),
            run_at_start=True,
        ),
        JobSpec(
            "pricing_refresh",
            jobs.refresh_job,
            "interval",
            lambda config: {"seconds": config["PRICING_REFRESH_SECONDS"]},
            _l("Re-price the nights around new bookings and cancellations"),
            has_work=refresh.refresh_pending,
        ),
        JobSpec(
            "prune_price_history",
            services.prune_history,
            "cron",
            lambda config: {"hour": 4, "minute": 40},
            _l("Remove old price history"),
        ),
    )
