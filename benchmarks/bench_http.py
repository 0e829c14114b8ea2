"""Booking throughput through the JSON API: gunicorn serving the app, clients on threads."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench_network import NOW

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"


@dataclass(frozen=True)
class WorkerConfig:
    worker_class: str  # "sync" or "gthread"
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, spec: str) -> WorkerConfig:
        """``sync:4`` or ``gthread:2x4`` (workers x threads)."""
        kind, _sep, size = spec.partition(":")
        workers, _x, threads = size.partition("x")
        if (
            kind not in ("sync", "gthread")
            or not workers.isdigit()
            or not (threads.isdigit() or not threads)
        ):
            raise argparse.ArgumentTypeError(f"expected sync:N or gthread:NxT, got {spec!r}")
        return cls(kind, int(workers), int(threads or (1 if kind == "sync" else 4)))

    def __str__(self) -> str:
        if self.worker_class == "sync":
            return f"{self.workers} sync workers"
        return f"{self.workers} gthread workers x {self.threads} threads"

    @property
    def slug(self) -> str:
        return f"{self.worker_class}:{self.workers}x{self.threads}"


@dataclass
class BookingFigures:
    config: WorkerConfig
    seconds: float
    confirmed: int  # 201s that started and ended inside the measured window
    conflicts: int  # 409 "taken" inside the window
    latencies_ms: list[float]  # of those 201s
    answered_201: int  # all 201s, warm-up and the requests at the window's edges included
    errors: list[str]  # anything but 201 or 409 "taken", at any time
    cpu: CpuUse | None  # where the processor time of the window went

    @property
    def per_second(self) -> float:
        return self.confirmed / self.seconds


@dataclass
class CpuUse:
    """CPU seconds spent during the measured window, by whom (Linux /proc)."""

    seconds: float
    machine: float  # every process on the machine, all cores
    app: float  # gunicorn master and workers
    database: float  # PostgreSQL backends of the benchmark database (SQLite runs in the app)
    clients: float  # this process: the client threads

    def line(self, answered: int) -> str:
        per = 1000 / max(answered, 1)
        cores = os.cpu_count() or 1
        other = self.machine - self.app - self.database - self.clients
        return (
            f"CPU per answered request: app {self.app * per:.1f} ms, database"
            f" {self.database * per:.1f} ms, clients {self.clients * per:.1f} ms;"
            f" machine {self.machine / (self.seconds * cores):.0%} busy"
            f" ({other / self.seconds:.2f} cores on other work)"
        )


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _machine_cpu() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(f) for f in fields) - int(fields[3]) - int(fields[4])  # minus idle, iowait
    return busy / _TICK


class CpuSampler:
    """Samples CPU time at the start and end of the window; None where /proc is missing."""

    def __init__(self, server_pid: int, database_pids: Callable[[], list[int]]):
        self.server_pid = server_pid
        self.database_pids = database_pids
        self.available = Path("/proc/stat").exists()

    def sample(self) -> dict[str, float]:
        app = [self.server_pid, *_children(self.server_pid)]
        return {
            "at": time.perf_counter(),
            "machine": _machine_cpu(),
            "app": sum(_process_cpu(pid) for pid in app),
            "database": sum(_process_cpu(pid) for pid in self.database_pids()),
            "clients": _process_cpu(os.getpid()),
        }

    @staticmethod
    def difference(start: dict[str, float], end: dict[str, float]) -> CpuUse:
        return CpuUse(*(end[k] - start[k] for k in ("at", "machine", "app", "database", "clients")))


class Gunicorn:
    """The app served by gunicorn on a free port of 127.0.0.1, as a child process.

    Configured from the environment as in production (``ENGAWA_ENV=production``), with
    the benchmark's clock pinned by ``benchmarks/bench_wsgi.py``.
    """

    def __init__(self, database_url: str, secret_key: str, config: WorkerConfig, log_path: Path):
        self.port = _free_port()
        self.log_path = log_path
        command = [
            sys.executable, "-m", "gunicorn",
            # The project root only: benchmarks/pricing.py would shadow the pricing package.
            "--chdir", str(ROOT), "--pythonpath", str(ROOT),
            "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", config.worker_class,
            "--workers", str(config.workers), "--threads", str(config.threads),
            "--log-level", "warning", "--timeout", "60",
            "benchmarks.bench_wsgi:app",
        ]  # fmt: skip
        env = {
            **os.environ,
            "ENGAWA_ENV": "production",
            "PROXY_FIX_X_FOR": "0",  # the load generator connects directly
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key,
            # Throughput, not the limits: a few clients book as fast as they can.
            "RATELIMIT_ENABLED": "false",
            # Production requires the public address (https); requests use 127.0.0.1.
            "BASE_URL": f"https://127.0.0.1:{self.port}",
            "ENGAWA_BENCH_FIXED_NOW": NOW.isoformat(),
            # Bookings spend credit the benchmark granted; no payment provider is asked.
            "BILLING_BACKEND": "local",
        }
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/api/v1/bookings")  # no token: 401, without the database
                if conn.getresponse().status == 401:
                    return
            except OSError:
                time.sleep(0.2)
            finally:
                conn.close()
        raise RuntimeError(f"gunicorn did not answer within {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # graceful: workers finish the request in hand
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


Record = tuple[float, float, int, str | None]  # started, ended, status, problem


def client_loop(
    port: int,
    token: str,
    candidates: list[tuple[int, date, int]],
    seed: int,
    stop_at: float,
    records: list[Record],
) -> None:
    """Book random free-looking stays over one keep-alive connection until ``stop_at``.

    All clients draw from the same candidates, so now and then two want the same
    nights: the loser gets 409 "taken", as in a real race. Each request carries an
    ``Idempotency-Key``, as a company system retrying safely would send.
    """
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while time.perf_counter() < stop_at:
        unit_id, check_in, nights = rng.choice(candidates)
        body = json.dumps(
            {
                "unit_id": unit_id,
                "check_in": check_in.isoformat(),
                "check_out": (check_in + timedelta(days=nights)).isoformat(),
                "guests": 1,
            }
        )
        started = time.perf_counter()
        try:
            conn.request(
                "POST",
                "/api/v1/bookings",
                body=body,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            records.append((started, time.perf_counter(), 0, f"{type(exc).__name__}: {exc}"))
            continue
        ended = time.perf_counter()
        status, problem = response.status, None
        if status == 409 and json.loads(payload)["error"]["code"] != "taken":
            status = -409  # a conflict, but not the "just taken" one: an error here
        if status not in (201, 409):
            problem = payload.decode(errors="replace")[:300]
        records.append((started, ended, status, problem))
    conn.close()


def run_booking_load(
    server: Gunicorn,
    tokens: list[str],
    candidates: list[tuple[int, date, int]],
    warmup_seconds: float,
    seconds: float,
    seed: int,
    sampler: CpuSampler,
) -> tuple[list[Record], float, float, CpuUse | None]:
    """One client thread per token; the records, the measured window and its CPU use."""
    records: list[Record] = []
    window_start = time.perf_counter() + warmup_seconds
    stop_at = window_start + seconds
    threads = [
        threading.Thread(
            target=client_loop,
            args=(server.port, token, candidates, seed * 100 + i, stop_at, records),
        )
        for i, token in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    cpu = None
    if sampler.available:
        time.sleep(max(0.0, window_start - time.perf_counter()))
        start = sampler.sample()
        time.sleep(max(0.0, stop_at - time.perf_counter()))
        cpu = CpuSampler.difference(start, sampler.sample())
    for thread in threads:
        thread.join()
    return records, window_start, stop_at, cpu


def measure_bookings(
    database_url: str,
    secret_key: str,
    config: WorkerConfig,
    tokens: list[str],
    candidates: list[tuple[int, date, int]],
    warmup_seconds: float,
    seconds: float,
    seed: int,
    log_path: Path,
    database_pids: Callable[[], list[int]],
) -> BookingFigures:
    server = Gunicorn(database_url, secret_key, config, log_path)
    try:
        server.wait_ready()
        records, window_start, stop_at, cpu = run_booking_load(
            server, tokens, candidates, warmup_seconds, seconds, seed,
            CpuSampler(server.process.pid, database_pids),
        )  # fmt: skip
    finally:
        server.stop()
    window = [r for r in records if r[0] >= window_start and r[1] <= stop_at]
    return BookingFigures(
        config=config,
        seconds=seconds,
        confirmed=sum(1 for r in window if r[2] == 201),
        conflicts=sum(1 for r in window if r[2] == 409),
        latencies_ms=[(r[1] - r[0]) * 1000 for r in window if r[2] == 201],
        answered_201=sum(1 for r in records if r[2] == 201),
        errors=[f"status {r[2]}: {r[3]}" for r in records if r[2] not in (201, 409)],
        cpu=cpu,
    )
