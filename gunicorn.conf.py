"""gunicorn's settings for an Engawa web node: `gunicorn -c gunicorn.conf.py wsgi:app`.

Read by the gunicorn master once at start (and again on SIGHUP). Every value can be
overridden for one run with GUNICORN_CMD_ARGS or a command-line flag, which take
precedence over this file. docs/OPERATIONS.md explains each choice.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

# Loaded by exec, not imported: names starting with "_" are ours, the rest gunicorn's.
_MAX_DEFAULT_WORKERS = 12


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _bind() -> str:
    """GUNICORN_BIND (``host:port``, ``unix:/path``), else 127.0.0.1:$PORT, else
    127.0.0.1:8000. Loopback unless told otherwise: a node that a load balancer on
    another machine reaches sets GUNICORN_BIND to its private address."""
    bind = os.environ.get("GUNICORN_BIND", "").strip()
    if bind:
        return bind
    return f"127.0.0.1:{_positive_int('PORT', 8000)}"


def _default_workers() -> int:
    # gunicorn's rule of thumb, (2 × cores) + 1: a sync worker spends part of each
    # request waiting on PostgreSQL over the network. On a machine that also runs
    # PostgreSQL, fewer are faster (2 on 2 cores, docs/PERFORMANCE.md): set
    # WEB_CONCURRENCY there, as `make prod` does.
    return min(2 * (os.cpu_count() or 1) + 1, _MAX_DEFAULT_WORKERS)


bind = [_bind()]
workers = _positive_int("WEB_CONCURRENCY", _default_workers())
# Sync workers (one request at a time per process) unless GUNICORN_THREADS > 1, which
# makes gunicorn use gthread. Measured on 2 cores, 2 sync workers served more bookings
# per second than 2 gthread workers × 4 threads: the threads share one GIL and the app
# is CPU-bound between its short queries (docs/PERFORMANCE.md). Keep threads at or
# under DB_POOL_SIZE + DB_MAX_OVERFLOW, or requests queue for a connection.
threads = _positive_int("GUNICORN_THREADS", 1)

# A request running longer than this is cut off and its worker replaced (the database
# rolls its transaction back). Nothing a visitor does should take near this long.
timeout = 30
# SIGTERM: stop accepting, let each worker finish what it is serving for up to this
# long, then stop. systemd's TimeoutStopSec must be longer (deploy/engawa-web.service).
graceful_timeout = 30
# Idle keep-alive connections (gthread only; a sync worker closes after each answer).
keepalive = 5
# Replace each worker after about this many requests, staggered so they never all
# restart at once: whatever memory a long-lived process gathers is given back.
max_requests = 2000
max_requests_jitter = 200
# Each worker imports the app itself after the fork (the default; stated because it
# matters): SIGHUP then starts workers on the code now on disk (a deploy without
# dropping a request), no database connection or lock made at import is shared
# between processes, and each worker's metrics go to a file of its own pid.
preload_app = False

# No access log from gunicorn: the app writes one JSON line per request (core.logs),
# with its request id, endpoint and user id. gunicorn's own messages go to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"

# The X-Forwarded-* headers are read by the app alone (werkzeug ProxyFix, set by
# PROXY_FIX_X_FOR / PROXY_FIX_X_PROTO): gunicorn trusts them from no address, so
# the number of proxies is stated in one place.
forwarded_allow_ips = ""

# No control socket: its default path ($XDG_RUNTIME_DIR or ~/.gunicorn) would be shared
# by every master of one user on the machine. Signals do the same (docs/OPERATIONS.md).
control_socket_disable = True

# The workers' heartbeat files: in memory where /dev/shm exists (a container's /tmp
# may be a slow overlay, and a stalled heartbeat gets a healthy worker killed).
if Path("/dev/shm").is_dir():  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108


# -- SIGTERM: refuse new connections at once, finish the requests in flight ----------
#
# On SIGTERM the master closes its copy of the listening socket, but every worker holds
# one too until it exits: meanwhile the kernel keeps accepting connections that no one
# will serve, and a proxy that already sent a POST there cannot retry it elsewhere. So
# each sync worker, on SIGTERM, swaps its copy for an idle socket of its own (same fd
# number, nothing ever connects) before finishing its request: once every process has
# let go, the port refuses connections and the proxy sends them to another node.


def _stop_listening(worker) -> None:
    if getattr(worker, "_engawa_stopped_listening", False):
        return  # a second SIGTERM (honcho and systemd signal the whole process group)
    worker._engawa_stopped_listening = True
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        idle.bind(f"\0engawa-draining-{os.getpid()}")  # abstract: no file, never reached
        idle.listen(1)
        idle.setblocking(False)  # the worker's accept() finds nothing and moves on
        for listener in worker.sockets:
            os.dup2(idle.fileno(), listener.fileno())
    finally:
        idle.close()


def post_worker_init(worker) -> None:
    if type(worker).__name__ != "SyncWorker":
        return  # gthread: its poller watches these sockets; it stops accepting by itself
    finish = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        try:
            _stop_listening(worker)
        except OSError as exc:  # never stand in the way of a graceful stop
            worker.log.warning("could not stop listening early: %s", exc)
        finish(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn sets it: requests go on


# -- Prometheus: one /metrics for all workers ---------------------------------------
#
# prometheus_client adds up the workers' values from files in PROMETHEUS_MULTIPROC_DIR
# (core/metrics.py). One directory per gunicorn master: it is emptied at start, so two
# masters must never share one, and the scheduler (its own /metrics port) uses none.
# Left unset, each master makes a private temporary one and removes it at exit.

_MADE_METRICS_DIR = "_ENGAWA_GUNICORN_MADE_METRICS_DIR"


def on_starting(server) -> None:
    """In the master, before any worker exists: an empty metrics directory."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not path:
        path = tempfile.mkdtemp(prefix="engawa-prometheus-")
        # Workers are forked from the master and inherit its environment.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        os.environ[_MADE_METRICS_DIR] = path
        server.log.info("metrics: PROMETHEUS_MULTIPROC_DIR not set, using %s", path)
        return
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # values of an earlier run's workers
        stale.unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    """In the master, when a worker has exited: its live gauges stop counting."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    # Imported here, never at the top of this file: prometheus_client decides at import
    # whether values go to files (PROMETHEUS_MULTIPROC_DIR), and workers inherit the
    # master's imported modules, so the master must not import it before on_starting.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    made = os.environ.get(_MADE_METRICS_DIR)
    if made:
        shutil.rmtree(made, ignore_errors=True)
