"""The production topology of ``benchmarks/surge.py`` on this machine, all on 127.0.0.1.

PostgreSQL primary and streaming replica (``tests/pgcluster.py``), Redis for the shared
rate limits, web nodes (gunicorn with ``gunicorn.conf.py``, each its own master and
workers), nginx in front of them, and scheduler processes. Every process is a child in
a session of its own, so one signal reaches a node's master and workers together (the
SIGKILL of the test, and the teardown). ``Stack.close()`` stops everything and removes
the temporary folder; it runs on exceptions and Ctrl-C too (``with Stack(...)``).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests import pgcluster

ROOT = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"
LOOPBACK = "127.0.0.1"
# The header through which the load generator tells nginx which address each simulated
# employee connects from (nginx's realip module, trusted from 127.0.0.1 only): a
# national company's employees reach the service from their own networks.
CLIENT_HEADER = "X-Surge-Client"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def missing_tools() -> list[str]:
    """What this machine lacks to build the stack (empty: everything is here)."""
    missing = []
    problem = pgcluster.available()
    if problem:
        missing.append(f"PostgreSQL cluster ({problem})")
    if not Path(NGINX).exists():
        missing.append(f"nginx ({NGINX})")
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    return missing


class Child:
    """One process (and, being a session leader, every process it forks)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - fixed commands of this script
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid
        self.terminated = False  # SIGTERM sent (a second one means "now" to a scheduler)

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the process and all it forked, at once."""
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        if self.alive() and not self.terminated:
            self.terminated = True
            self.signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            self.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)  # workers a dead master left behind, too
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._log.close()

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def http_status(port: int, path: str, timeout: float = 3) -> int:
    """The status of GET ``path`` on 127.0.0.1:``port`` (0: no answer)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def wait_until(what: str, ready: Callable[[], bool], timeout: float, child: Child | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if child is not None and not child.alive():
            raise RuntimeError(f"{what} exited while starting:\n{child.tail()}")
        time.sleep(0.1)
    tail = f"\n{child.tail()}" if child is not None else ""
    raise RuntimeError(f"{what} was not ready within {timeout:g} s{tail}")


@dataclass
class WebNode:
    name: str
    port: int
    child: Child
    metrics_dir: Path

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def ready(self) -> bool:
        # /readyz once core.health exists (the database reachable, migrations at head);
        # before that, the sign-in page, which any worker serves.
        status = http_status(self.port, "/readyz")
        if status == 200:
            return True
        return status == 404 and http_status(self.port, "/login") == 200


@dataclass
class Stack:
    """Everything the surge runs on; start the parts in order, ``close()`` at the end."""

    keep_logs: bool = False
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="engawa-surge-")))
    children: list[Child] = field(default_factory=list)
    clusters: list = field(default_factory=list)
    nodes: list[WebNode] = field(default_factory=list)
    schedulers: list[Child] = field(default_factory=list)
    redis_port: int = 0
    nginx_port: int = 0
    absent: list[str] = field(default_factory=list)  # parts of the topology not built yet

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- PostgreSQL -------------------------------------------------------------------

    def start_databases(self, name: str, fsync: bool) -> tuple[str, str]:
        """A primary with database ``name`` and a streaming replica; their app URLs.

        ``fsync``: commits wait for the disk, as in production (off: a throwaway's speed).
        """
        # Each web worker and scheduler keeps a pool (DB_POOL_SIZE + DB_MAX_OVERFLOW).
        primary = pgcluster.PgCluster.primary(max_connections=200, fsync=fsync)
        self.clusters.append(primary)
        replica = primary.replica()
        self.clusters.append(replica)
        primary.create_database(name)
        self.primary, self.replica = primary, replica
        return primary.url(name), replica.url(name)

    def database_pids(self) -> list[int]:
        """The postmasters of both clusters (their backends are their children)."""
        return [pid for c in self.clusters if (pid := c.postmaster_pid())]

    # -- Redis ------------------------------------------------------------------------

    def start_redis(self) -> str:
        self.redis_port = free_port()
        redis = self._spawn(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.redis_port), "--bind", LOOPBACK,
                "--save", "", "--appendonly", "no", "--dir", str(self.tmp),
                "--protected-mode", "yes", "--loglevel", "warning",
            ],
            dict(os.environ),
        )  # fmt: skip

        def pong() -> bool:
            try:
                with socket.create_connection((LOOPBACK, self.redis_port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_until("redis-server", pong, 15, redis)
        return f"redis://{LOOPBACK}:{self.redis_port}/0"

    # -- Web nodes --------------------------------------------------------------------

    def start_web_node(self, name: str, env: dict[str, str], workers: int) -> WebNode:
        port = free_port()
        metrics = self.tmp / f"prometheus-{name}"
        metrics.mkdir()
        argv = [sys.executable, "-m", "gunicorn"]
        if (ROOT / "gunicorn.conf.py").exists():
            argv += ["-c", str(ROOT / "gunicorn.conf.py")]
        else:
            self._absent("gunicorn.conf.py (web nodes started with command-line options)")
            argv += ["--timeout", "30", "--graceful-timeout", "30", "--worker-class", "sync"]
        argv += [
            # The project root only: benchmarks/pricing.py would shadow the pricing package.
            "--chdir", str(ROOT), "--pythonpath", str(ROOT),
            "--bind", f"{LOOPBACK}:{port}", "--workers", str(workers),
            "--name", f"engawa-surge-{name}",
            "wsgi:app",
        ]  # fmt: skip
        node_env = {
            **env,
            "GUNICORN_BIND": f"{LOOPBACK}:{port}",
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }
        node = WebNode(name, port, self._spawn(name, argv, node_env), metrics)
        self.nodes.append(node)
        return node

    def wait_web_nodes(self, timeout: float = 90) -> None:
        for node in self.nodes:
            wait_until(f"web node {node.name}", node.ready, timeout, node.child)

    # -- Schedulers -------------------------------------------------------------------

    def start_scheduler(self, name: str, env: dict[str, str], nice: int = 0) -> Child:
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"]
        if nice:  # nice execs the scheduler: the pid stays the one the lease names
            argv = ["nice", "-n", str(nice), *argv]
        child = self._spawn(name, argv, env)
        self.schedulers.append(child)
        return child

    # -- nginx ------------------------------------------------------------------------

    def reserve_port(self) -> int:
        """nginx's port, known before the nodes start (their BASE_URL names it)."""
        self.nginx_port = self.nginx_port or free_port()
        return self.nginx_port

    def start_nginx(self) -> int:
        self.reserve_port()
        prefix = self.tmp / "nginx"
        for sub in ("logs", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(prefix, self.nginx_port, [n.address for n in self.nodes]))
        child = self._spawn(
            "nginx", [NGINX, "-p", str(prefix), "-c", str(conf), "-e", "stderr"], dict(os.environ)
        )
        wait_until("nginx", lambda: http_status(self.nginx_port, "/login") in (200, 302), 15, child)
        return self.nginx_port

    # -- All of it --------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.tmp / f"{name}.log")
        self.children.append(child)
        return child

    def _absent(self, part: str) -> None:
        if part not in self.absent:
            self.absent.append(part)

    def close(self) -> None:
        """Stop every process (SIGTERM to all at once, then SIGKILL to what is left),
        destroy the clusters and remove the folder."""
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop(timeout=max(0.1, deadline - time.monotonic()))
        # Both clusters at once (each waits for its postmaster to exit).
        stoppers = [threading.Thread(target=_destroy, args=(c,)) for c in self.clusters]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        self.children.clear()
        self.clusters.clear()
        if self.keep_logs:
            print(f"logs kept in {self.tmp}", flush=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _destroy(cluster) -> None:
    with contextlib.suppress(Exception):
        cluster.destroy()


def nginx_config(prefix: Path, port: int, upstreams: list[str]) -> str:
    """nginx as the load balancer: both nodes upstream, a dead one skipped.

    ``proxy_next_upstream error timeout``: a request that could not be sent to a node
    (connection refused: the node is dead) goes to the next one; one already sent is
    retried only when idempotent (nginx never resends a POST), so a POST in flight on a
    killed node is answered 502. ``X-Upstream`` says which node(s) served an answer.
    """
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in upstreams)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    upstream engawa {{
{servers}
    }}
    server {{
        listen {LOOPBACK}:{port};
        set_real_ip_from {LOOPBACK};
        real_ip_header {CLIENT_HEADER};
        location / {{
            proxy_pass http://engawa;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            proxy_set_header Host $http_host;
            proxy_set_header X-Request-ID $request_id;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header {CLIENT_HEADER} "";
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


# -- CPU: where the machine's two cores went --------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _machine_busy() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (sum(int(f) for f in fields) - int(fields[3]) - int(fields[4])) / _TICK


class CpuMeter:
    """CPU seconds of each part of the stack over the load, sampled every second.

    Processes come and go (a killed node, a worker replaced, a database backend per
    connection), so each process's time is kept from its first to its last sample and
    the parts add up what their processes used.
    """

    def __init__(self, parts: Callable[[], dict[str, list[int]]], alone: dict[str, int]) -> None:
        self.parts = parts  # part -> root pids (each with all its descendants)
        self.alone = alone  # part -> one pid, without its children (this process)
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.part_of: dict[int, str] = {}
        self.started = self.machine_start = 0.0
        self.seconds = self.machine = 0.0

    def sample(self) -> None:
        tree: dict[int, list[int]] = {}
        times: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat:
                    tree.setdefault(stat[0], []).append(int(entry.name))
                    times[int(entry.name)] = stat[1]
        for part, roots in self.parts().items():
            todo = list(roots)
            while todo:
                pid = todo.pop()
                if pid in times:
                    self.first.setdefault(pid, times[pid])
                    self.last[pid] = times[pid]
                    self.part_of[pid] = part
                todo.extend(tree.get(pid, []))
        for part, pid in self.alone.items():
            if pid in times:
                self.first.setdefault(pid, times[pid])
                self.last[pid] = times[pid]
                self.part_of[pid] = part

    def start(self) -> None:
        self.started, self.machine_start = time.monotonic(), _machine_busy()
        self.sample()

    def stop(self) -> None:
        self.sample()
        self.seconds = time.monotonic() - self.started
        self.machine = _machine_busy() - self.machine_start

    def by_part(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for pid, part in self.part_of.items():
            used[part] = used.get(part, 0.0) + self.last[pid] - self.first[pid]
        return used
