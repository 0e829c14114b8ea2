"""`flask backup create` and `flask backup restore`, on a SQLite file and on PostgreSQL.

The drill: employees keep booking and cancelling in real threads (each with its own
app context and session) while the backup runs; the backup is restored into a fresh
database, where every stay committed before the backup began is found, nothing that
was never committed is, and the invariants hold. Then what a restore refuses: a
damaged file, a missing manifest, another engine's backup, a database that is not
empty; and what it tells the operator about the schema revision.
"""

from __future__ import annotations

import hashlib
import json
import random
import stat
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, make_url, select, text

from accounts.models import Role, User
from app import create_app
from availability import blocks
from booking import cancellation, services
from booking.models import Booking, BookingStatus
from core.errors import RuleError
from core.extensions import db
from facilities.models import Facility
from lodging.rates import seed_rules
from operations import backup, invariants
from operations.cli import engawa_version
from tests.conftest import NOW, TODAY, app_config, days
from tests.operations.conftest import app_on, code_head

BOOKERS = 3
WAIT = 60  # seconds at most for the bookers to reach a count (never reached when healthy)
KYOTO = {"prefecture": 26, "municipality": "京都市東山区"}  # a city that taxes stays


@dataclass
class Load:
    """What the booking threads committed, in commit order, and what went wrong."""

    committed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    stop: threading.Event = field(default_factory=threading.Event)

    def done(self, booking_id: int, *, cancelled: bool = False) -> None:
        with self.changed:
            (self.cancelled if cancelled else self.committed).append(booking_id)
            self.changed.notify_all()

    def failed(self, error: str) -> None:
        with self.changed:
            self.errors.append(error)
            self.changed.notify_all()

    def wait_for(self, booked: int, cancelled: int = 0) -> None:
        def enough() -> bool:
            return len(self.committed) >= booked and len(self.cancelled) >= cancelled

        with self.changed:
            self.changed.wait_for(lambda: enough() or self.errors, WAIT)
            assert not self.errors, self.errors
            assert enough(), "the bookers stopped booking"

    def snapshot(self) -> tuple[set[int], set[int]]:
        with self.changed:
            return set(self.committed), set(self.cancelled)


def seed(make_company, make_employee, make_facility, make_unit, make_user) -> dict:
    """Two facilities (one in Kyoto, which taxes stays), six rooms, a closing, and two
    employees of their own company for each booker."""
    seed_rules(NOW)
    db.session.commit()
    kyoto, karuizawa = make_facility(**KYOTO), make_facility()
    units = [make_unit(facility=f, capacity=2) for f in (kyoto, karuizawa) for _ in range(3)]
    operator = make_user(Role.OPERATOR, operator=karuizawa.operator)
    blocks.close_dates(operator, [units[3]], days(20), days(24), "maintenance", "", NOW)
    db.session.commit()
    bookers = []
    for _ in range(BOOKERS):
        company = make_company(max_nights_per_month=31)
        bookers.append([make_employee(company=company).id for _ in range(2)])
    return {"units": [u.id for u in units], "bookers": bookers}


def keep_booking(app, load: Load, employee_ids: list[int], unit_ids: list[int], seed_: int):
    """Book (and now and then cancel one's own stay) until told to stop; each commit is
    recorded after it returned. A rule's refusal ("just taken", a cap) is part of the load."""
    rng = random.Random(seed_)
    mine: list[int] = []
    with app.app_context():
        try:
            while not load.stop.is_set():
                try:
                    if len(mine) > 2 and rng.random() < 0.25:
                        booking_id = mine.pop(rng.randrange(len(mine)))
                        owner = db.session.get(Booking, booking_id).user
                        cancellation.cancel_booking(owner, booking_id, NOW)
                        db.session.commit()
                        load.done(booking_id, cancelled=True)
                        continue
                    actor = db.session.get(User, rng.choice(employee_ids))
                    check_in = days(rng.randint(1, 120))
                    stay = services.StayRequest(
                        rng.choice(unit_ids), check_in, check_in + timedelta(rng.randint(1, 3)), 1
                    )
                    booking_id = services.book_stay(actor, stay, NOW).id
                    db.session.commit()
                except RuleError:
                    db.session.rollback()
                    continue
                mine.append(booking_id)
                load.done(booking_id)
        except Exception as exc:  # anything but a rule's refusal fails the drill
            db.session.rollback()
            load.failed(repr(exc))
        finally:
            db.session.remove()


def invoke(app, *args: str):
    """A command of ``app`` (its context must be the current one)."""
    return app.test_cli_runner().invoke(args=list(args))


def backup_of(app, directory: Path) -> Path:
    result = invoke(app, "backup", "create", str(directory))
    assert result.exit_code == 0, result.output
    return Path(result.output.strip())


def test_restore_drill_under_booking_load(
    app, scratch, tmp_path, make_company, make_employee, make_facility, make_unit, make_user
):
    with app_on(scratch("source")) as source:
        ids = seed(make_company, make_employee, make_facility, make_unit, make_user)
        load = Load()
        db.session.remove()  # the main thread holds no transaction (nor SQLite's lock)
        threads = [
            threading.Thread(
                target=keep_booking, args=(source, load, ids["bookers"][i], ids["units"], i)
            )
            for i in range(BOOKERS)
        ]
        for thread in threads:
            thread.start()
        try:
            load.wait_for(booked=6, cancelled=1)
            booked_before, cancelled_before = load.snapshot()
            made = backup_of(source, tmp_path / "backups")
            load.wait_for(booked=len(load.snapshot()[0]) + 3)  # still booking after it
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(WAIT)
        assert not [t for t in threads if t.is_alive()]
        assert not load.errors, load.errors
        committed, _cancelled = load.snapshot()
        assert invariants.check(db.session, TODAY) == []  # the load itself kept the books
        status_at_end = {b: s for b, s in db.session.execute(select(Booking.id, Booking.status))}
        db.session.remove()

    with app_on(scratch("restored"), schema=False) as restored:
        result = invoke(restored, "backup", "restore", str(made))
        assert result.exit_code == 0, result.output
        assert f"Schema revision {code_head(restored)}, this code's own" in result.output
        assert invariants.check(db.session, TODAY) == []
        found = {b: s for b, s in db.session.execute(select(Booking.id, Booking.status))}
        # Every stay committed before the backup began, and none that never was; not those
        # booked after it ended.
        assert booked_before <= set(found) <= committed
        assert len(found) < len(committed)
        # A cancellation committed before the backup is in it; a cancelled stay in the
        # backup was cancelled for good.
        cancelled = {b for b, status in found.items() if status == BookingStatus.CANCELLED}
        assert cancelled_before <= cancelled
        assert all(status_at_end[b] == BookingStatus.CANCELLED for b in cancelled)
        assert invoke(restored, "check", "invariants").exit_code == 0


def test_manifest_and_what_a_restore_refuses(app, scratch, tmp_path, make_facility):
    """One backup (of a schema one migration behind the code), then: its manifest; a
    second backup in the same second; a damaged or truncated file, a missing manifest or
    file, another engine's backup, a database that is not empty, all refused with the
    reason, changing nothing; and at last the restore, which says to upgrade."""
    with app_on(scratch("source"), revision="0010") as source:
        make_facility()
        made = backup_of(source, tmp_path / "new" / "dir")
        again = backup_of(source, made.parent)
        refused = invoke(source, "backup", "restore", str(made))
        assert refused.exit_code == 1
        assert "restored only into" in refused.output
    engine = make_url(source.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    manifest = json.loads(backup.manifest_path(made).read_text())
    assert made.name.startswith("engawa-")
    assert made.suffix == {"sqlite": ".sqlite3", "postgresql": ".dump"}[engine]
    assert manifest == {
        "engine": engine,
        "file": made.name,
        "sha256": hashlib.sha256(made.read_bytes()).hexdigest(),
        "size": made.stat().st_size,
        "revision": "0010",
        "created_at": manifest["created_at"],
        "engawa_version": engawa_version(),
        "format": 1,
    }
    created = datetime.fromisoformat(manifest["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert made.name == f"engawa-{created:%Y%m%dT%H%M%SZ}{made.suffix}"
    # A second backup in the same second gets a name of its own.
    assert again != made and again.exists()
    # Personal data: readable by the owner only; no half-written file left behind.
    for path in (made, backup.manifest_path(made)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(list(made.parent.iterdir())) == 4

    original = made.read_bytes()
    manifest_text = backup.manifest_path(made).read_text()
    with app_on(scratch("target"), schema=False) as target:
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0xFF  # same size, one byte changed
        for content, reason in (
            (bytes(damaged), "SHA-256 does not match its manifest"),
            (original[:-10], "incomplete or damaged"),
        ):
            made.write_bytes(content)
            result = invoke(target, "backup", "restore", str(made))
            assert (result.exit_code, reason in result.output) == (1, True), result.output
        made.write_bytes(original)
        other = {"sqlite": "postgresql", "postgresql": "sqlite"}[engine]
        backup.manifest_path(made).write_text(json.dumps(manifest | {"engine": other}))
        result = invoke(target, "backup", "restore", str(made))
        assert result.exit_code == 1
        assert f"This is a backup of a {other} database" in result.output
        backup.manifest_path(made).unlink()
        result = invoke(target, "backup", "restore", str(made))
        assert result.exit_code == 1
        assert "No manifest beside the backup" in result.output
        result = invoke(target, "backup", "restore", str(tmp_path / "nothing.dump"))
        assert result.exit_code == 1
        assert "No backup file at" in result.output
        assert not inspect(db.engine).get_table_names()  # nothing reached the target

        backup.manifest_path(made).write_text(manifest_text)
        result = invoke(target, "backup", "restore", str(made))
        assert result.exit_code == 0, result.output
        assert "Schema revision 0010; this code is at" in result.output
        assert "flask --app wsgi db upgrade" in result.output
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0010"
        assert db.session.scalar(select(func.count()).select_from(Facility)) == 1


def test_schema_status_names_each_case(tmp_path):
    plain = create_app(app_config(f"sqlite:///{tmp_path / 'unused.db'}"))
    with plain.app_context():
        script = ScriptDirectory.from_config(plain.extensions["migrate"].migrate.get_config())
        head = code_head(plain)
    assert backup.schema_status(script, head) == ("head", head)
    assert backup.schema_status(script, "0001") == ("behind", head)
    assert backup.schema_status(script, "ffff9999") == ("unknown", head)
    assert backup.schema_status(script, None) == ("unmanaged", head)


def test_backup_failures_exit_non_zero_with_the_reason(backend, tmp_path):
    if backend == "sqlite":
        url, reason = f"sqlite:///{tmp_path / 'absent.db'}", "There is no SQLite database at"
    else:
        url, reason = "postgresql+psycopg://nobody@127.0.0.1:1/none", "Cannot connect to PostgreSQL"
    with app_on(url, schema=False) as broken:
        result = invoke(broken, "backup", "create", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert reason in result.output
    assert not list(tmp_path.glob("out/engawa-*"))
    assert not (tmp_path / "absent.db").exists()  # the backup never makes a database


def test_the_password_goes_through_the_environment_not_the_command_line(
    backend, scratch, tmp_path, monkeypatch
):
    if backend != "postgresql":
        pytest.skip("pg_dump is PostgreSQL's")
    url = make_url(scratch("empty")).set(password="s3cret-pw")  # the test server trusts
    seen = []
    real_run = backup.subprocess.run

    def spy(command, **kw):
        seen.append((command, kw["env"]))
        return real_run(command, **kw)

    monkeypatch.setattr(backup.subprocess, "run", spy)
    made = backup.create_backup(
        url.render_as_string(hide_password=False), tmp_path, NOW, version="test"
    )
    assert made.exists()
    ((command, env),) = seen
    assert not [arg for arg in command if "s3cret" in arg]
    assert env["PGPASSWORD"] == "s3cret-pw"
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == (
        url.host,
        str(url.port),
        url.database,
    )
    assert command[0].endswith("pg_dump") and "--format=custom" in command


def test_the_server_versions_tools_come_first(tmp_path, monkeypatch):
    monkeypatch.setattr(backup, "PG_BIN", str(tmp_path / "{major}"))
    (tmp_path / "15").mkdir()
    tool = tmp_path / "15" / "pg_dump"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert backup._pg_tool("pg_dump", 15) == str(tool)
    monkeypatch.setenv("PATH", str(tmp_path / "15"))
    assert backup._pg_tool("pg_dump", 16) == str(tool)  # none for 16: the one on PATH
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(backup.BackupError, match="postgresql-client-16"):
        backup._pg_tool("pg_dump", 16)


def test_a_url_becomes_libpq_variables():
    url = make_url("postgresql+psycopg://app:p%40ss@db.internal:6432/engawa?sslmode=require")
    env = backup.pg_environment(url, base={"PATH": "/bin", "PGPASSWORD": "old"})
    assert env == {
        "PATH": "/bin",
        "PGHOST": "db.internal",
        "PGPORT": "6432",
        "PGUSER": "app",
        "PGPASSWORD": "p@ss",
        "PGDATABASE": "engawa",
        "PGSSLMODE": "require",
    }
    socket = make_url("postgresql+psycopg:///engawa?host=/run/postgresql")
    assert backup.pg_environment(socket, base={})["PGHOST"] == "/run/postgresql"
