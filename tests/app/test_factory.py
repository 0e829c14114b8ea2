"""The factory wires every package: the same URL map as before the layering move,
every registered job importable and runnable (the layers contract is `make lint`'s)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import app as factory
from core import scheduler
from core.models import JobRun
from tests.conftest import NOW

URL_MAP = Path(__file__).with_name("url_map.txt")

# Jobs each package must register; a rename or a dropped registration fails here,
# not in a production scheduler.
EXPECTED_JOBS = {
    "prune_rate_limits",
    "prune_job_runs",
    "mail_outbox",
    "prune_sign_ins",
    "pricing_recompute",
    "pricing_refresh",
    "prune_price_history",
    "billing_reconcile",
    "billing_expire_credit",
    "billing_overage",
    "stay_card_refunds",
    "expire_holds",
    "workspace_no_shows",
    "workspace_calendar_sync",
    "local_billing_cycle",
    "local_billing_events",
    "prune_webhook_events",
    "calendar_sync",
    "expire_applications",
    "webhook_deliveries",
    "prune_webhook_deliveries",
    "stay_notices",
    "operator_digest",
    "feed_watch",
    "register_purge",
    "issue_coupons",
    "expire_coupons",
    "programme_purge",
}


def url_rows(app) -> list[str]:
    return sorted(
        f"{rule.rule} {rule.endpoint} {','.join(sorted(rule.methods - {'HEAD', 'OPTIONS'}))}"
        for rule in app.url_map.iter_rules()
    )


def test_the_url_map_is_the_one_committed(app):
    """Every route, as reviewed: a new, renamed or dropped route shows in the diff."""
    assert url_rows(app) == URL_MAP.read_text().split("\n")[:-1]


def test_every_package_registers_itself_bottom_layer_first():
    names = [package.__name__ for package in factory.PACKAGES]
    assert names == [
        "core",
        "accounts",
        "facilities",
        "availability",
        "pricing",
        "billing",
        "lodging",
        "hr",
        "regions",
        "booking",
        "calendars",
        "identity",
        "notifications",
        "operations",
        "consoles",
        "demo",
    ]
    for package in factory.PACKAGES:
        assert inspect.isfunction(package.init_app), package.__name__


def test_jobs_are_registered_as_callables(app):
    jobs = scheduler.registered_jobs(app)
    assert set(jobs) == EXPECTED_JOBS
    for name, spec in jobs.items():
        assert spec.name == name
        assert callable(spec.func) and not isinstance(spec.func, str), name
        assert spec.has_work is None or callable(spec.has_work), name
        assert isinstance(spec.trigger_args(app.config), dict), name


def test_a_job_registered_twice_is_refused(app):
    spec = scheduler.registered_jobs(app)["calendar_sync"]
    with pytest.raises(ValueError, match="registered twice"):
        scheduler.register_jobs(app, spec)


@pytest.mark.parametrize("name", sorted(EXPECTED_JOBS))
def test_every_job_runs_once_on_an_empty_database(app, db, name):
    jobs = scheduler.registered_jobs(app)
    spec = jobs[name]
    if spec.has_work is not None:
        assert spec.has_work() is False  # nothing queued on an empty database
    run = scheduler.run_recorded(name, spec.func, NOW)
    assert run.outcome == "ok", run.summary
    assert db.session.get(JobRun, run.id).outcome == "ok"
