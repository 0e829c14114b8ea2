"""The benchmarks still run (small sizes): they check their own results.

Only that they finish and what they assert about correctness; their timings are
never checked here (tests do not depend on the machine's speed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import make_url

from tests.conftest import pg_url

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own scripts, fixed arguments
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_pricing_benchmark_runs_and_its_reruns_write_nothing():
    out = run("benchmarks/pricing.py", "--quick", "--sqlite")
    assert "(100 unchanged), 0 nights priced: 0 prices changed" in out
    assert "incremental re-price after one booking (20 bookings)" in out


def test_offseason_simulation_prints_its_table_and_draws_its_chart(tmp_path):
    chart = tmp_path / "shift.png"
    out = run("benchmarks/offseason_shift.py", "--quick", "--chart", str(chart))
    assert "off-season facilities" in out
    for month in ("Jan", "Jun", "Dec", "year"):
        assert f"\n{month}" in out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_search_and_book_benchmark_runs_on_both_engines():
    """A tiny network through the whole script: search, gunicorn booking, verification."""
    out = run(
        "benchmarks/search_and_book.py",
        "--facilities", "20", "--units-per-facility", "3", "--searches", "5",
        "--booking-seconds", "2", "--warmup-seconds", "1", "--insert-seconds", "1",
        "--clients", "2", "--workers", "sync:2",
    )  # fmt: skip
    verified = "verification: every 201 is one confirmed booking claiming its nights, paid once"
    assert out.count(verified) == 2
    assert " 0 errors" in out


def test_journey_pages_benchmark_runs():
    """The journey's page work on a tiny network: every kind is timed and printed."""
    out = run("benchmarks/journey_pages.py", "--facilities", "20", "--calls", "3")
    for kind in (
        "whole-country results page",
        "its covers and map pins",
        "no results + suggestions (party of 20)",
        "no results + suggestions (filters)",
        "facility: room totals + calendar",
    ):
        assert kind in out and "(3 calls)" in out.split(kind)[1].split("\n")[0]


def test_identity_scale_benchmark_runs():
    """SCIM and the platform console on two tiny companies: every kind is timed and printed."""
    out = run("benchmarks/identity_scale.py", "--employees", "50", "--calls", "3")
    for kind in (
        'SCIM GET /Users?filter=userName eq "…"',
        "SCIM GET /Users?startIndex=k&count=100",
        "SCIM POST /Users (inside the seats)",
        "SCIM PATCH active: false (no stays)",
        "/admin/users?q=<one person's address>",
        "/admin/users?q=<a company's domain>",
        "/admin/companies",
        "/admin/ (overview)",
        "/admin/audit (first page)",
        "/admin/audit (company + action + dates)",
        "/company/audit (its admin, first page)",
    ):
        assert kind in out and "(3 calls," in out.split(kind)[1].split("\n")[0]


def test_notifications_surge_benchmark_runs():
    """A small surge through every stage: each figure is printed and each check holds
    (every mail and webhook received once, none twice with two drainers)."""
    out = run(
        "benchmarks/notifications_surge.py",
        "--bookings", "40", "--history", "200", "--calls", "3",
    )  # fmt: skip
    for stage in (
        "book_stay, one commit each",
        "dispatch_events",
        "deliver_outbox, one process",
        "deliver_outbox, 2 processes at once",
        "deliver_webhooks",
    ):
        line = out.split(stage)[1].split("\n")[0]
        assert stage in out and "/s" in line, out
    assert out.count("received: 0 duplicates, 0 missing") == 3
    assert "120 mails, 80 notices, 80 webhook deliveries queued" in out
    for kind in ("bell: unread count", "/notices, first page"):
        assert kind in out and "(3 calls," in out.split(kind)[1].split("\n")[0]
    assert "CHECK FAILED" not in out


def test_operator_console_benchmark_runs_on_both_engines():
    """A tiny front desk and chain: the tape chart's month and the dashboard are timed on
    each engine, and the dashboard's figures match the rows the script built."""
    out = run(
        "benchmarks/operator_console.py",
        "--rooms", "6", "--facilities", "8", "--rooms-per-facility", "2", "--calls", "3",
    )  # fmt: skip
    assert out.count("check: the dashboard's figures match the data built") == 2, out
    for page in ("tape chart month (6 rooms, 2026-12)", "dashboard (8 facilities)"):
        assert out.count(page) == 2, out
        assert "(3 calls," in out.split(page)[1].split("\n")[0]
    assert "CHECK FAILED" not in out


def test_lodging_law_benchmark_runs(backend):
    """A tiny operator through every lodging-law path on each engine: search under the
    180-night cap, booking a minpaku house up to it, the tax report matching the nights
    built, the register's pages listing every stay of the month."""
    args = [
        "benchmarks/lodging_law.py",
        "--facilities", "4", "--minpaku", "1", "--minpaku-rooms", "3", "--rooms", "1",
        "--big-rooms", "4", "--calls", "3",
    ]  # fmt: skip
    if backend == "postgresql":  # a scratch database of its own, dropped by the script
        scratch = make_url(pg_url()).set(database=f"bench_lodging_test_{os.getpid()}")
        args += ["--database-url", scratch.render_as_string(hide_password=False)]
    out = run(*args)
    assert "checks: all passed" in out and "CHECK FAILED" not in out, out
    assert "every minpaku room now at 180 nights" in out
    for kind in (
        "search, Kyoto, with the minpaku rooms",
        "quote_stay, a minpaku room near the cap",
        "book_stay at the cap (refused, rolled back)",
        "tax_report(), 12 months",
        "GET /operator/taxes (12 months)",
        "GET register print view",
        "GET register.csv",
        "PUT /api/v1/bookings/<id>/guests (2 guests)",
    ):
        assert kind in out and "(3 calls," in out.split(kind)[1].split("\n")[0], out


def test_workspace_benchmark_runs_on_both_engines():
    """A tiny office and network: the day view, the country search and both booking
    races are measured on each engine, and every check of the script holds."""
    out = run(
        "benchmarks/workspace.py",
        "--units", "12", "--facilities", "10", "--units-per-facility", "2", "--calls", "3",
        "--seconds", "1",
    )  # fmt: skip
    assert out.count("checks: all passed") == 2 and "CHECK FAILED" not in out, out
    for kind in ("day_view() (12 units)", "search_workspace() (the whole country)"):
        assert out.count(kind) == 2 and "(3 calls," in out.split(kind)[1].split("\n")[0], out
    for race in ("book_workspace, distinct times", "book_workspace, all racing for one time"):
        assert out.count(race) == 2 and "bookings/s" in out.split(race)[1].split("\n")[0], out
