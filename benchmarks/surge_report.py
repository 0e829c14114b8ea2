"""What ``benchmarks/surge.py`` prints: the requests by kind, the moments of the run,
where the time and the CPU went, and the targets."""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from surge_load import KINDS, NO_ANSWER, Outcome, Record
from surge_stack import CpuMeter, Stack

TARGET_SEARCH_P95_MS = 300
TARGET_BOOK_P95_MS = 500
TARGET_TAKEOVER_S = 30
OK_STATUSES = {
    "sign-in page": {200},
    "sign-in": {302, 303},
    "search": {200},
    "facility": {200},
    "book": {201},
    "stay page": {200},
    "cancel": {204},
}
APART = {409, 429}  # "taken" and the like, and rate limits: answers, not failures


def say(message: str = "") -> None:
    print(message, flush=True)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; ``p`` in (0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Timeline:
    load_start: float = 0.0  # time.monotonic()
    load_start_wall: datetime | None = None
    node_killed_at: float | None = None
    node_killed: str = ""  # its address, as nginx names it
    leader_killed_at: float | None = None
    leader_killed: str = ""
    takeover_seconds: float | None = None
    new_leader: str = ""
    lease_absent: bool = False
    replica_lag_max: float = 0.0

    def at(self, moment: float) -> str:
        return f"t={moment - self.load_start:6.1f} s"


# --- The report ------------------------------------------------------------------------


def is_failure(record: Record) -> bool:
    return record.status not in OK_STATUSES[record.kind] and record.status not in APART


def in_flight_on_killed_node(record: Record, timeline: Timeline) -> bool:
    """A failure of a request that was being served by the node when it was killed."""
    killed = timeline.node_killed_at
    return (
        killed is not None
        and record.started <= killed + 0.05 <= record.ended + 0.05
        and record.status in (NO_ANSWER, 502, 504)
        and (not record.upstream or timeline.node_killed in record.upstream)
    )


def report(outcome: Outcome, timeline: Timeline, meter: CpuMeter, args, stack: Stack) -> dict:
    records = outcome.records
    say("\n=== Requests through nginx ===")
    header = (f"{'kind':<13} {'requests':>8} {'ok':>6} {'409':>5} {'429':>5} {'failed':>6}"
              f" {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")  # fmt: skip
    say(header)
    p95 = {}
    for kind in KINDS:
        mine = [r for r in records if r.kind == kind]
        if not mine:
            continue
        answered = [r.seconds * 1000 for r in mine if not is_failure(r) and r.status != 429]
        p95[kind] = percentile(answered, 95)
        say(
            f"{kind:<13} {len(mine):>8} {sum(r.status in OK_STATUSES[kind] for r in mine):>6}"
            f" {sum(r.status == 409 for r in mine):>5} {sum(r.status == 429 for r in mine):>5}"
            f" {sum(is_failure(r) for r in mine):>6} {percentile(answered, 50):>7.0f}"
            f" {p95[kind]:>7.0f} {percentile(answered, 99):>7.0f}"
            f" {max(answered, default=math.nan):>7.0f}"
        )
    _by_phase(records, timeline)
    _by_window(records, timeline, args.duration)
    seconds = args.duration
    answered = [r for r in records if r.status != NO_ANSWER]
    say(
        f"throughput: {len(answered) / seconds:.1f} requests/s answered ({len(answered):,} in"
        f" {seconds:g} s); {outcome.answered_201 / seconds:.2f} bookings/s"
        f" ({outcome.answered_201} answered 201), {len(outcome.cancelled)} cancelled;"
        f" {outcome.signed_in} of {args.users} employees signed in"
    )
    conflicts = Counter(r.detail or str(r.status) for r in records if r.status == 409)
    if conflicts:
        say("409 answers: " + ", ".join(f"{n} {code}" for code, n in conflicts.most_common()))
    limited = Counter(r.kind for r in records if r.status == 429)
    say("429 answers: " + (", ".join(f"{n} {k}" for k, n in limited.items()) or "none"))
    failures = [r for r in records if is_failure(r)]
    attributed = [r for r in failures if in_flight_on_killed_node(r, timeline)]
    others = [r for r in failures if r not in attributed]
    rerouted = [
        r for r in records
        if timeline.node_killed and "," in r.upstream and timeline.node_killed in r.upstream
    ]  # fmt: skip
    say(
        f"failed requests: {len(failures)}; {len(attributed)} in flight on the killed node"
        f" ({_kinds(attributed)}), {len(others)} others"
    )
    if rerouted:
        resent = [r for r in rerouted if r.started <= (timeline.node_killed_at or 0)]
        say(
            f"  answered by the other node after nginx found the killed one gone:"
            f" {_kinds(rerouted)}; of these, in flight on it when it died (idempotent,"
            f" so nginx sent them again): {len(resent)}"
        )
    for r in others[:10]:
        say(
            f"  failed: {r.kind} {r.status or 'no answer'} {r.detail} at"
            f" {timeline.at(r.started)} ({r.seconds * 1000:.0f} ms) via {r.upstream or '-'}"
        )
    server_times(stack)
    _cpu(meter)
    return {"p95": p95, "unattributed": len(others), "attributed": len(attributed)}


def _by_phase(records: list[Record], timeline: Timeline) -> None:
    """p95 of the targets' kinds before the node's kill (two nodes) and after (one)."""
    killed = timeline.node_killed_at
    if killed is None:
        return
    parts = []
    for kind in ("search", "book"):
        for label, mine in (
            ("2 nodes", [r for r in records if r.kind == kind and r.started < killed]),
            ("1 node", [r for r in records if r.kind == kind and r.started >= killed]),
        ):
            times = [r.seconds * 1000 for r in mine if not is_failure(r) and r.status != 429]
            parts.append(f"{kind} p95 with {label} {percentile(times, 95):.0f} ms")
    done = [r for r in records if r.status != NO_ANSWER]
    before = sum(r.ended < killed for r in done) / max(killed - timeline.load_start, 1e-9)
    after_end = max((r.ended for r in done), default=killed)
    after = sum(r.ended >= killed for r in done) / max(after_end - killed, 1e-9)
    say("; ".join(parts) + f"; answered {before:.1f} requests/s with 2 nodes, {after:.1f}/s with 1")


def _by_window(records: list[Record], timeline: Timeline, duration: float) -> None:
    """Answers per second and p95 of every kind, per tenth of the run (by start time)."""
    width = duration / 10
    cells = []
    for i in range(10):
        low, high = timeline.load_start + i * width, timeline.load_start + (i + 1) * width
        mine = [r for r in records if low <= r.started < high and r.status != NO_ANSWER]
        times = [r.seconds * 1000 for r in mine if not is_failure(r) and r.status != 429]
        cells.append(f"{len(mine) / width:.0f}/s {percentile(times, 95):.0f}")
    say(f"per {width:g} s (requests/s, p95 ms of all kinds): " + " | ".join(cells))


ENDPOINT_KINDS = {
    "accounts.login": "sign-in page/sign-in",
    "booking.home": "search",
    "booking.facility": "facility",
    "api.create_booking": "book",
    "booking.stay": "stay page",
    "api.cancel_booking": "cancel",
}


def server_times(stack: Stack) -> None:
    """The time the app itself took per kind (the nodes' JSON request lines): the rest
    of a request's latency was spent queueing for a worker."""
    durations: dict[str, list[float]] = {}
    for node in stack.nodes:
        try:
            lines = node.child.log_path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            kind = ENDPOINT_KINDS.get(entry.get("endpoint"))
            if kind and isinstance(entry.get("duration_ms"), int | float):
                durations.setdefault(kind, []).append(float(entry["duration_ms"]))
    if durations:
        say(
            "in the app (its request log, without the wait for a worker): "
            + ", ".join(
                f"{kind} p50 {percentile(values, 50):.0f} ms, p95 {percentile(values, 95):.0f} ms"
                for kind, values in durations.items()
            )
        )


def long_jobs(dsn: str, timeline: Timeline) -> None:
    """The scheduler's runs of a second or more during the load: they share the cores
    with the web nodes, and the latency per tenth of the run shows them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT job, started_at, EXTRACT(EPOCH FROM finished_at - started_at) FROM job_run"
            " WHERE started_at >= %s AND finished_at - started_at >= interval '1 second'"
            " ORDER BY started_at",
            [timeline.load_start_wall],
        ).fetchall()
    start = timeline.load_start_wall
    say(
        "scheduler runs of 1 s or more: "
        + (
            ", ".join(
                f"{job} at t={(at - start).total_seconds():.0f} s ({float(took):.1f} s)"
                for job, at, took in rows
            )
            or "none"
        )
    )


def write_records(path: Path, records: list[Record], timeline: Timeline) -> None:
    """Every request: kind, employee, start and end (seconds into the load), status,
    node(s), error code; and the two kills as rows of their own."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["kind", "employee", "started_s", "ended_s", "status", "upstream", "detail"]
        )
        for r in sorted(records, key=lambda r: r.started):
            writer.writerow([
                r.kind, r.employee, f"{r.started - timeline.load_start:.3f}",
                f"{r.ended - timeline.load_start:.3f}", r.status, r.upstream, r.detail,
            ])  # fmt: skip
        for event, moment in (("node killed", timeline.node_killed_at),
                              ("leader killed", timeline.leader_killed_at)):  # fmt: skip
            if moment is not None:
                writer.writerow([event, "", f"{moment - timeline.load_start:.3f}", "", "", "", ""])
    say(f"requests written to {path}")


def _kinds(records: list[Record]) -> str:
    counts = Counter(r.kind for r in records)
    return ", ".join(f"{n} {kind}" for kind, n in counts.most_common()) or "none"


def _cpu(meter: CpuMeter) -> None:
    cores = os.cpu_count() or 1
    used = meter.by_part()
    # What the machine did besides the stack: other work sharing it skews every figure.
    used["other processes"] = max(0.0, meter.machine - sum(used.values()))
    total = meter.seconds * cores
    parts = ", ".join(
        f"{part} {value:.0f} s ({value / total:.0%})"
        for part, value in sorted(used.items(), key=lambda kv: -kv[1])
    )
    say(
        f"CPU over the load ({cores} cores x {meter.seconds:.0f} s = {total:.0f} core-seconds):"
        f" {parts}; machine {meter.machine / total:.0%} busy"
    )


def targets(figures: dict, timeline: Timeline) -> None:
    say("\n=== Targets ===")
    takeover = timeline.takeover_seconds
    takeover_text = (
        "not measured (no lease)" if takeover is None
        else "none within the wait" if math.isinf(takeover) else f"{takeover:.1f} s"
    )  # fmt: skip
    rows = [
        ("failed requests but those in flight on the killed node", str(figures["unattributed"]),
         "0", figures["unattributed"] == 0),
        ("scheduler takeover after SIGKILL of the leader", takeover_text,
         f"<= {TARGET_TAKEOVER_S} s", takeover is not None and takeover <= TARGET_TAKEOVER_S),
        ("search p95", f"{figures['p95'].get('search', math.nan):.0f} ms",
         f"<= {TARGET_SEARCH_P95_MS} ms",
         figures["p95"].get("search", math.inf) <= TARGET_SEARCH_P95_MS),
        ("booking p95", f"{figures['p95'].get('book', math.nan):.0f} ms",
         f"<= {TARGET_BOOK_P95_MS} ms", figures["p95"].get("book", math.inf) <= TARGET_BOOK_P95_MS),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        say(f"target {name:<{width}}  {value:>24}  {target:>9}  {'PASS' if ok else 'MISS'}")
