"""Backups of the database to a file, and their restore into an empty database.

Rules it enforces:

- A backup is one file and its manifest beside it (``<file>.manifest.json``): the
  engine, the file's name, size and SHA-256, the schema (Alembic) revision it holds,
  when it was made and by which Engawa version. The file is written under a temporary
  name and renamed when complete, and the manifest last: a file without a manifest is
  no backup. Both are readable by their owner only (they hold personal data).
- PostgreSQL: ``pg_dump --format=custom`` of the server's major version (from
  ``/usr/lib/postgresql/<N>/bin`` when installed there, else ``PATH``), one consistent
  snapshot however the app writes. SQLite: the online backup API, which copies one
  consistent snapshot while the app goes on writing (WAL).
- The connection reaches ``pg_dump``/``pg_restore`` through the ``PG*`` environment
  variables, never the command line, where ``ps`` would show a password.
- A restore verifies the size and checksum first, goes only into the engine the
  backup came from and only into an empty database (no table at all), and then
  checks that the restored schema revision is the manifest's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
EXTENSIONS = {"postgresql": "dump", "sqlite": "sqlite3"}
PG_BIN = "/usr/lib/postgresql/{major}/bin"
SQLITE_TIMEOUT = 30  # seconds to wait for a writer's lock
# Connection settings a database URL may carry in its query, as libpq's variables.
LIBPQ_QUERY = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class BackupError(Exception):
    """A backup or restore that cannot be done, and why (for the operator)."""


@dataclass(frozen=True)
class Manifest:
    engine: str  # postgresql | sqlite
    file: str  # the backup's file name, beside the manifest
    sha256: str
    size: int  # bytes
    revision: str | None  # the Alembic revision (heads joined by ","), None if unmanaged
    created_at: str  # ISO 8601, UTC
    engawa_version: str
    format: int = MANIFEST_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    revision: str | None  # read back from the restored database
    database: str  # where it went, without a password


def engine_of(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    if backend not in EXTENSIONS:
        raise BackupError(f"Backups support PostgreSQL and SQLite databases, not {backend}.")
    return backend


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- create --------------------------------------------------------------------------


def create_backup(database_url: str, directory: Path, now: datetime, *, version: str) -> Path:
    """Back the database up into ``directory`` (made if missing); the backup's path.

    ``now``: when, in UTC, naming the file ``engawa-<YYYYMMDDTHHMMSSZ>.<dump|sqlite3>``
    (``-2``, ``-3``… when that name is taken)."""
    engine = engine_of(database_url)
    directory = Path(directory)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot make the backup directory {directory}: {exc.strerror}") from exc
    target = _free_name(directory, f"engawa-{now:%Y%m%dT%H%M%SZ}", EXTENSIONS[engine])
    partial = target.with_name(target.name + ".partial")
    try:
        # Made owner-only before a byte is written; pg_dump and SQLite keep the mode.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        if engine == "postgresql":
            revision = _dump_postgresql(database_url, partial)
        else:
            revision = _copy_sqlite(_sqlite_path(database_url, must_exist=True), partial)
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"Cannot write the backup {target}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    manifest = Manifest(
        engine=engine,
        file=target.name,
        sha256=sha256_of(target),
        size=target.stat().st_size,
        revision=revision,
        created_at=now.isoformat(),
        engawa_version=version,
    )
    written = manifest_path(target)
    partial_manifest = written.with_name(written.name + ".partial")
    try:
        partial_manifest.write_text(manifest.to_json(), encoding="utf-8")
        os.chmod(partial_manifest, 0o600)
        os.replace(partial_manifest, written)
    except OSError as exc:
        raise BackupError(f"Cannot write the manifest {written}: {exc.strerror or exc}") from exc
    finally:
        partial_manifest.unlink(missing_ok=True)
    return target


def _free_name(directory: Path, stem: str, extension: str) -> Path:
    n = 1
    while True:
        candidate = directory / (f"{stem}.{extension}" if n == 1 else f"{stem}-{n}.{extension}")
        if not candidate.exists() and not manifest_path(candidate).exists():
            return candidate
        n += 1


def _dump_postgresql(database_url: str, partial: Path) -> str | None:
    """``pg_dump`` into ``partial``; the schema revision (refused if it moved meanwhile)."""
    url = make_url(database_url)
    engine = _pg_engine(url)
    try:
        major, before = _server_major(engine), _revision(engine)
        _run(
            [
                _pg_tool("pg_dump", major),
                "--format=custom",
                "--no-password",
                f"--file={partial}",
            ],
            url,
        )
        after = _revision(engine)
    finally:
        engine.dispose()
    if after != before:
        raise BackupError(
            f"The schema moved from revision {before} to {after} during the backup"
            " (a migration ran): back up again."
        )
    return before


def _copy_sqlite(source: Path, partial: Path) -> str | None:
    """One consistent snapshot of ``source`` into ``partial`` (the online backup API); the
    schema revision it holds. The copy is a plain file (rollback journal, not WAL)."""
    try:
        src = sqlite3.connect(source, timeout=SQLITE_TIMEOUT)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # all pages in one step: one read transaction, one snapshot
                dst.execute("PRAGMA journal_mode = DELETE")
                return _sqlite_revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite backup of {source} failed: {exc}") from exc


# --- restore ---------------------------------------------------------------------------


def read_manifest(backup: Path) -> Manifest:
    """The backup's manifest, checked against the file (its name, size and SHA-256)."""
    backup = Path(backup)
    if not backup.is_file():
        raise BackupError(f"No backup file at {backup}.")
    path = manifest_path(backup)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except FileNotFoundError as exc:
        raise BackupError(f"No manifest beside the backup (expected {path.name}).") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"The manifest {path.name} cannot be read: {exc}") from exc
    if manifest.format != MANIFEST_FORMAT or manifest.engine not in EXTENSIONS:
        raise BackupError(f"The manifest {path.name} is of an unknown format.")
    if manifest.file != backup.name:
        raise BackupError(f"The manifest {path.name} describes {manifest.file}, not {backup.name}.")
    size = backup.stat().st_size
    if size != manifest.size:
        raise BackupError(
            f"The backup is {size} bytes but its manifest says {manifest.size}:"
            " it is incomplete or damaged. Nothing was restored."
        )
    if sha256_of(backup) != manifest.sha256:
        raise BackupError(
            "The backup's SHA-256 does not match its manifest: the file is damaged or"
            " was changed. Nothing was restored."
        )
    return manifest


def restore_backup(backup: Path, database_url: str) -> Restored:
    """Restore ``backup`` into the empty database of ``database_url`` (see the module)."""
    backup = Path(backup)
    manifest = read_manifest(backup)
    engine = engine_of(database_url)
    if manifest.engine != engine:
        raise BackupError(
            f"This is a backup of a {manifest.engine} database; DATABASE_URL is {engine}."
            " Restore it into the engine it came from."
        )
    if engine == "postgresql":
        revision, where = _restore_postgresql(backup, make_url(database_url))
    else:
        revision, where = _restore_sqlite(backup, _sqlite_path(database_url, must_exist=False))
    if revision != manifest.revision:
        raise BackupError(
            f"The restored database is at schema revision {revision}, but the manifest says"
            f" {manifest.revision}: do not use it; restore again into an empty database."
        )
    return Restored(manifest, revision, where)


def _restore_postgresql(backup: Path, url: URL) -> tuple[str | None, str]:
    where = url.set(drivername="postgresql").render_as_string(hide_password=True)
    if not url.database:
        raise BackupError("DATABASE_URL names no database to restore into.")
    engine = _pg_engine(url)
    try:
        major = _server_major(engine)
        with engine.connect() as conn:
            tables = conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema"
                    " NOT IN ('pg_catalog', 'information_schema')"
                )
            )
        if tables:
            raise BackupError(
                f"The database {url.database} already has {tables} tables: a backup is"
                " restored only into an empty database (createdb a new one, point"
                " DATABASE_URL at it, and restore again)."
            )
        # A conninfo naming only the database: the rest comes from the PG* variables.
        dbname = url.database.replace("\\", "\\\\").replace("'", "\\'")
        _run(
            [
                _pg_tool("pg_restore", major),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--no-password",
                f"--dbname=dbname='{dbname}'",
                str(backup),
            ],
            url,
        )
        return _revision(engine), where
    finally:
        engine.dispose()


def _restore_sqlite(backup: Path, target: Path) -> tuple[str | None, str]:
    try:
        if target.exists() and _sqlite_has_tables(target):
            raise BackupError(
                f"{target} already holds a database: a backup is restored only into a new"
                " file (point DATABASE_URL at a path that does not exist yet)."
            )
        src = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target, timeout=SQLITE_TIMEOUT)
            try:
                src.backup(dst)
                return _sqlite_revision(dst), str(target)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite restore into {target} failed: {exc}") from exc


def _sqlite_has_tables(path: Path) -> bool:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
        return row[0] > 0
    finally:
        conn.close()


# --- the schema revision --------------------------------------------------------------


def schema_status(script: ScriptDirectory, revision: str | None) -> tuple[str, str]:
    """Where ``revision`` stands against the code's migrations: ``("head", head)``,
    ``("behind", head)`` (``flask db upgrade`` brings it to the code), ``("unknown",
    head)`` (newer than the code, or another branch) or ``("unmanaged", head)``."""
    head = ",".join(sorted(script.get_heads()))
    if revision is None:
        return "unmanaged", head
    if revision == head:
        return "head", head
    try:
        for rev in revision.split(","):
            if script.get_revision(rev) is None:
                return "unknown", head
    except CommandError:
        return "unknown", head
    return "behind", head


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        revisions = conn.scalars(text("SELECT version_num FROM alembic_version")).all()
    return ",".join(sorted(revisions)) or None


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    present = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if present is None:
        return None
    revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    return ",".join(sorted(revisions)) or None


# --- engines and tools ------------------------------------------------------------------


def _sqlite_path(database_url: str, *, must_exist: bool) -> Path:
    name = make_url(database_url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("DATABASE_URL must name a SQLite file for a backup or a restore.")
    path = Path(name)
    if must_exist and not path.is_file():
        raise BackupError(f"There is no SQLite database at {path}.")
    return path


def _pg_engine(url: URL) -> Engine:
    return create_engine(url, poolclass=NullPool)


def _server_major(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return conn.dialect.server_version_info[0]
    except Exception as exc:  # the driver's own errors, whichever
        raise BackupError(
            f"Cannot connect to PostgreSQL: {str(exc).splitlines()[0].strip()}"
        ) from exc


def _pg_tool(name: str, major: int) -> str:
    """The server version's ``name`` (``pg_dump``, ``pg_restore``), else the one on PATH."""
    matching = Path(PG_BIN.format(major=major)) / name
    if os.access(matching, os.X_OK):
        return str(matching)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found: install the PostgreSQL {major} client"
            f" (postgresql-client-{major})."
        )
    return found


def pg_environment(url: URL, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a libpq tool connecting as ``url`` does: ``base`` (the
    process's) with ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``
    and the URL's libpq query settings set from the URL."""
    env = dict(os.environ if base is None else base)
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for key, variable in LIBPQ_QUERY.items():
        value = url.query.get(key)
        if isinstance(value, tuple):
            value = value[-1] if value else None
        if value:
            values[variable] = value
    env.update({k: str(v) for k, v in values.items() if v})
    return env


def _run(command: list[str], url: URL) -> None:
    tool = Path(command[0]).name
    try:
        done = subprocess.run(  # noqa: S603 (our own arguments, no shell)
            command, env=pg_environment(url), capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BackupError(f"{tool} could not be started: {exc.strerror}") from exc
    if done.returncode != 0:
        said = done.stderr.strip() or f"exit status {done.returncode}"
        raise BackupError(f"{tool} failed: {said}")
