"""/healthz and /readyz: what a load balancer asks before sending a node traffic."""

from __future__ import annotations

import socket

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event, text

from app import create_app
from core import health
from core.config import PROJECT_ROOT
from core.extensions import db as _db
from tests.conftest import app_config

MIGRATIONS = PROJECT_ROOT / "migrations"
SCRIPT = ScriptDirectory(str(MIGRATIONS))
(HEAD,) = SCRIPT.get_heads()
BEFORE_HEAD = SCRIPT.get_revision(HEAD).down_revision


def closed_port() -> int:
    """A port of 127.0.0.1 nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_database_urls(tmp_path) -> dict[str, str]:
    return {
        "sqlite": f"sqlite:///{tmp_path / 'no-such-dir' / 'engawa.db'}",
        "postgresql": f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test",
    }


@pytest.fixture
def stamped(app, db):
    """The schema as the migrations leave it: ``alembic_version`` at ``HEAD`` (the test
    schema is made from the models). ``stamp(rev)`` moves it."""
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))

    def stamp(revision: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})

    stamp(HEAD)
    yield stamp
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


# --- /healthz -------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_healthz_answers_without_touching_the_database(tmp_path, engine):
    app = create_app(app_config(unreachable_database_urls(tmp_path)[engine]))
    connections = []
    with app.app_context():
        event.listen(_db.engine, "connect", lambda *a: connections.append(a))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert connections == []


def test_healthz_is_get_only(app, client):
    assert client.post("/healthz").status_code == 405


# --- /readyz --------------------------------------------------------------------------


def test_readyz_is_200_with_the_database_up_and_migrated(app, client, stamped):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    database = body["checks"]["database"]
    assert database["ok"] is True
    assert database["migrations"] == {"ok": True, "database": [HEAD], "code": [HEAD]}
    assert body["checks"]["replica"]["configured"] is False
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_while_migrations_are_behind(app, client, stamped):
    stamped(BEFORE_HEAD)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    migrations = body["checks"]["database"]["migrations"]
    assert migrations["ok"] is False
    assert migrations["database"] == [BEFORE_HEAD] and migrations["code"] == [HEAD]
    assert "behind" in migrations["reason"]
    # Migrated again: ready at the next ask (nothing is cached but the code's head).
    stamped(HEAD)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_on_a_database_never_migrated(app, client):
    # The test schema comes from the models: no alembic_version table at all.
    response = client.get("/readyz")
    assert response.status_code == 503
    migrations = response.get_json()["checks"]["database"]["migrations"]
    assert migrations["ok"] is False and "never migrated" in migrations["reason"]


def test_readyz_stays_200_on_a_database_ahead_of_the_code(app, client, stamped):
    # A newer release migrated first (expand, then deploy): the old nodes serve on.
    stamped("9999_from_a_newer_release")
    response = client.get("/readyz")
    assert response.status_code == 200
    migrations = response.get_json()["checks"]["database"]["migrations"]
    assert migrations["ok"] is True and "ahead" in migrations["reason"]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_readyz_is_503_when_the_database_does_not_answer(tmp_path, engine):
    url = unreachable_database_urls(tmp_path)[engine]
    app = create_app(app_config(url))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    database = body["checks"]["database"]
    assert database["ok"] is False
    assert database["reason"].startswith("the database does not answer (")
    # The error class only: neither the address nor the driver's message.
    text_of_body = response.get_data(as_text=True)
    assert "127.0.0.1" not in text_of_body and "no-such-dir" not in text_of_body


def test_a_lagging_replica_is_reported_but_the_node_stays_ready(app, client, stamped, monkeypatch):
    lagging = {"configured": True, "reachable": True, "lag_seconds": 42.0, "in_use": False}
    monkeypatch.setattr(health, "replica_status", lambda: lagging)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    replica = body["checks"]["replica"]
    assert replica["lag_seconds"] == 42.0 and replica["in_use"] is False
    assert "primary" in replica["reason"]


def test_a_replica_down_is_reported_but_the_node_stays_ready(app, client, stamped, monkeypatch):
    down = {"configured": True, "reachable": False, "lag_seconds": None, "in_use": False}
    monkeypatch.setattr(health, "replica_status", lambda: down)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["replica"]["reason"].startswith("the replica does not")


def test_a_replica_in_use_is_ok(app, client, stamped, monkeypatch):
    in_use = {"configured": True, "reachable": True, "lag_seconds": 0.2, "in_use": True}
    monkeypatch.setattr(health, "replica_status", lambda: in_use)
    body = client.get("/readyz").get_json()
    assert body["status"] == "ok" and body["checks"]["replica"] == in_use


def test_the_primary_down_is_503_whatever_the_replica_says(tmp_path, monkeypatch):
    app = create_app(app_config(unreachable_database_urls(tmp_path)["sqlite"]))
    in_use = {"configured": True, "reachable": True, "lag_seconds": 0.0, "in_use": True}
    monkeypatch.setattr(health, "replica_status", lambda: in_use)
    assert app.test_client().get("/readyz").status_code == 503


# --- What every request meets: hosts, sign-in, CSRF ---------------------------------


def test_probes_need_no_sign_in_and_no_csrf_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'engawa.db'}"
    app = create_app(app_config(url, WTF_CSRF_ENABLED=True))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503  # answered (never migrated), not a redirect


def test_an_internal_host_name_is_served_once_listed_in_trusted_hosts(app, client, stamped):
    internal = "engawa-web-1.internal"
    assert client.get("/healthz", headers={"Host": internal}).status_code == 400
    app.config["TRUSTED_HOSTS"] = [*app.config["TRUSTED_HOSTS"], internal]
    assert client.get("/healthz", headers={"Host": internal}).status_code == 200
    assert client.get("/readyz", headers={"Host": internal}).status_code == 200


def test_the_code_head_is_the_migrations_head():
    heads, known = health.code_revisions(str(MIGRATIONS.resolve()))
    assert heads == {HEAD}
    assert {HEAD, BEFORE_HEAD} <= known


def test_a_migration_holding_its_lock_gets_an_answer_not_a_hang(app, db, client, stamped):
    """A lock held on alembic_version (a migration mid-way) makes the check give up
    after its own timeout and answer 503, instead of the probe timing out."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite readers are not blocked by a writer's lock here")
    with db.engine.connect() as migrating:
        migrating.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        response = client.get("/readyz")
        migrating.rollback()
    assert response.status_code == 503
    assert "does not answer" in response.get_json()["checks"]["database"]["reason"]
    assert client.get("/readyz").status_code == 200
