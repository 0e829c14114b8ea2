"""Throwaway PostgreSQL servers for the tests and benchmarks that need a whole cluster:
a primary of their own to restart or kill, and a real streaming replica of it.

Built from the PostgreSQL binaries on this machine (``initdb``, ``pg_ctl``,
``pg_basebackup``) in a temporary directory, each on its own port of 127.0.0.1 with
trust authentication. PostgreSQL refuses to run as root, so as root every command runs
as the ``postgres`` user (``runuser``). ``available()`` tells whether this machine can.

    with PgCluster.primary() as primary, primary.replica() as replica:
        primary.url("postgres"), replica.url("postgres"), replica.wait_caught_up()
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

LOOPBACK = "127.0.0.1"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_root() -> bool:
    return os.geteuid() == 0


def available() -> str | None:
    """None when clusters can be made here, else why not."""
    binaries = bin_dir()
    if binaries is None or not (binaries / "initdb").exists():
        return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if not (binaries / "pg_basebackup").exists():
        return "pg_basebackup is not installed"
    if _as_root() and not shutil.which("runuser"):
        return "running as root without runuser to become the postgres user"
    if _as_root():
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [str(a) for a in args]
    if _as_root():
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(  # noqa: S603 - our own fixed commands
        command, check=check, capture_output=True, text=True, timeout=timeout
    )


def _make_dir(parent: Path | None, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if _as_root():
        shutil.chown(path, "postgres", "postgres")
    return path


class PgCluster:
    """One PostgreSQL server in a directory of its own, on its own loopback port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.log = root / "server.log"

    # -- making ---------------------------------------------------------------

    @classmethod
    def primary(cls, *, max_connections: int = 100, fsync: bool = False) -> PgCluster:
        """A new primary, initialised and started, that replicas may stream from."""
        binaries = bin_dir()
        cluster = cls(_make_dir(None, "engawa-pg-"), free_port())
        _run(
            binaries / "initdb",
            "-D",
            cluster.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        )
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "unix_socket_directories": f"'{cluster.root}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "max_connections": str(max_connections),
            "shared_buffers": "'64MB'",
            "fsync": "on" if fsync else "off",  # a throwaway server: speed over durability
            "synchronous_commit": "on",
            "full_page_writes": "on",
        }
        with open(cluster.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        with open(cluster.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {LOOPBACK}/32 trust\n")
            hba.write(f"host replication all {LOOPBACK}/32 trust\n")
        cluster.start()
        return cluster

    def replica(self) -> PgCluster:
        """A streaming replica of this (running) primary, started and connected."""
        binaries = bin_dir()
        replica = PgCluster(_make_dir(None, "engawa-pg-replica-"), free_port())
        _run(
            binaries / "pg_basebackup",
            "-h",
            LOOPBACK,
            "-p",
            self.port,
            "-U",
            "postgres",
            "-D",
            replica.data,
            "-R",  # standby.signal and primary_conninfo
            "-X",
            "stream",
            "-c",
            "fast",
        )
        with open(replica.data / "postgresql.conf", "a") as conf:
            conf.write(f"unix_socket_directories = '{replica.root}'\n")
        replica.start()
        return replica

    # -- running --------------------------------------------------------------

    def start(self) -> None:
        _run(
            bin_dir() / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.log,
            "-o",
            f"-p {self.port}",
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions and disconnect)."""
        _run(bin_dir() / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host={LOOPBACK} port={self.port} user=postgres dbname={database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_caught_up(self, primary: PgCluster | None = None, timeout: float = 30) -> None:
        """Wait until this replica has replayed everything ``primary`` has written."""
        deadline = time.monotonic() + timeout
        target = primary.execute("SELECT pg_current_wal_lsn()")[0][0] if primary else None
        while time.monotonic() < deadline:
            row = self.execute(
                "SELECT pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn() IS NOT NULL"
            )[0]
            if row[1] and (target is None or self._lsn_at_least(row[0], target)):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the replica on port {self.port} did not catch up in {timeout} s")

    def _lsn_at_least(self, lsn: str, target: str) -> bool:
        return bool(self.execute(f"SELECT '{lsn}'::pg_lsn >= '{target}'::pg_lsn")[0][0])

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self.destroy()
