"""The peak-season surge's 10-second smoke run (``benchmarks/surge.py --smoke``).

The whole production topology starts on this machine (PostgreSQL primary and streaming
replica, Redis, two gunicorn web nodes behind nginx, two schedulers), twenty employees
sign in, search, open facilities, book and cancel, one web node is killed with SIGKILL
and then the leading scheduler, and afterwards every check holds: no night claimed
twice, every 201 one booking paid once, every cancellation refunded once, no job run
twice for one fire time, ledgers that add up, the invariants. Latency is never asserted:
the full run's figures are in docs/PERFORMANCE.md.

Skipped without the PostgreSQL server binaries, nginx or redis-server; with ``CI=true``
their absence fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pgcluster

ROOT = Path(__file__).resolve().parents[2]
NGINX = Path("/usr/sbin/nginx")
CHECKS = (
    "no night is claimed twice",
    "every 201 is one booking, paid once",
    "every cancellation refunded once",
    "no job ran twice for one fire time",
    "ledger balances equal the sums of their entries",
)


def _missing() -> list[str]:
    missing = []
    problem = pgcluster.available()
    if problem:
        missing.append(problem)
    if not NGINX.exists():
        missing.append(f"nginx is not installed ({NGINX}; make nginx)")
    if not shutil.which("redis-server"):
        missing.append("redis-server is not installed")
    return missing


@pytest.fixture(scope="module")
def smoke() -> str:
    missing = _missing()
    if missing:
        message = "the surge smoke run needs " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, "benchmarks/surge.py", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    return done.stdout


def _row(out: str, kind: str) -> list[str]:
    """The request table's row of ``kind``: requests, ok, 409, 429, failed, latencies."""
    line = next(x for x in out.splitlines() if re.match(rf"{re.escape(kind)} +\d", x))
    return line[len(kind) :].split()


def test_a_node_and_the_leader_die_under_load_and_nothing_is_lost(smoke):
    out = smoke
    assert re.search(r"SIGKILL web node web-2 \(127\.0\.0\.1:\d+", out), out
    assert "SIGKILL the leading scheduler scheduler-" in out, out
    assert re.search(r"leads: takeover \d+\.\d s after the kill", out), out
    for name in CHECKS:
        assert f"check {name}: ok" in out, out
    assert re.search(r"check flask check invariants \(operations\.invariants\): ok", out), out
    assert "checks: all passed" in out and "CHECK FAILED" not in out, out


def test_the_employees_signed_in_searched_and_booked(smoke):
    out = smoke
    assert "20 of 20 employees signed in" in out, out
    for kind in ("sign-in", "search", "facility", "book", "stay page"):
        requests, ok = (int(n) for n in _row(out, kind)[:2])
        assert requests >= 1 and ok >= 1, (kind, out)
    # Each booking answered 201 is found (the "stay page" right after it, on any node).
    assert int(_row(out, "stay page")[1]) == int(_row(out, "stay page")[0]), out
    # Only requests in flight on the killed node may fail.
    failed = re.search(
        r"failed requests: \d+; \d+ in flight on the killed node .*, (\d+) others", out
    )
    assert failed and failed.group(1) == "0", out
