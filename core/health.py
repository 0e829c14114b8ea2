"""What a load balancer and Prometheus ask: /healthz, /readyz and /metrics.

- ``GET /healthz``: the process answers (no database). 200 ``{"status": "ok"}``.
- ``GET /readyz``: whether this node should get traffic: the primary database answers
  (``SELECT 1`` on a connection of its own, within ``READY_TIMEOUT_SECONDS``), and its
  schema is the one this code expects (``alembic_version`` against the head of
  ``migrations/``). 503 when either fails. A database *ahead* of the code (a newer
  release migrated first, expand → deploy → contract) is ready: the expanded schema
  still serves the old code. The read replica is reported, never a reason for 503:
  while it lags or is down, read-only pages read the primary.
- ``GET /metrics``: the Prometheus text (``core.metrics.exposition``), for a direct
  loopback connection (no forwarding header: through a proxy on the same host every
  client would look local) or a request bearing ``Authorization: Bearer
  <METRICS_TOKEN>``. Anyone else gets the ordinary 404 page: nothing says it is here.

None needs a sign-in or a CSRF token; TRUSTED_HOSTS applies as to every request, so
a health checker calling by an internal name needs that name listed there.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    request,
)
from sqlalchemy import Engine, NullPool, create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from core import metrics
from core.extensions import csrf
from core.replica import replica_status

bp = Blueprint("health", __name__)

READY_TIMEOUT_SECONDS = 2
_READY_ENGINE = "engawa.health.engine"
# Headers a proxy adds: a request carrying one did not come straight from this host.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf.exempt(bp)  # GET only, and no cookie matters here


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    database = _database_check()
    replica = _replica_check()
    ready = database["ok"] and database["migrations"]["ok"]
    if not ready:
        status = "unavailable"
    elif replica["configured"] and not replica["in_use"]:
        status = "degraded"  # serving, all reads on the primary
    else:
        status = "ok"
    body = {"status": status, "checks": {"database": database, "replica": replica}}
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics", endpoint="metrics")
def prometheus_metrics():
    if not (_has_token() or _direct_from_loopback()):
        abort(404)
    body, content_type = metrics.exposition()
    return body, 200, {"Content-Type": content_type}


# --- /readyz --------------------------------------------------------------------------


def _ready_engine() -> Engine:
    """An engine of its own for the check: a fresh connection with short timeouts each
    time, so a busy pool neither delays the answer nor hides a database gone away."""
    engine = current_app.extensions.get(_READY_ENGINE)
    if engine is None:
        url = current_app.config["SQLALCHEMY_DATABASE_URI"]
        if url.startswith("sqlite"):
            connect_args = {"timeout": READY_TIMEOUT_SECONDS}
        else:
            connect_args = {"connect_timeout": READY_TIMEOUT_SECONDS}
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        current_app.extensions[_READY_ENGINE] = engine
    return engine


@functools.cache
def code_revisions(directory: str) -> tuple[frozenset[str], frozenset[str]]:
    """The heads of ``migrations/`` and every revision it knows (read once per process)."""
    script = ScriptDirectory(directory)
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return frozenset(script.get_heads()), known


def _migrations_dir() -> str:
    return str(Path(current_app.extensions["migrate"].directory).resolve())


def migrations_state(database_revisions: set[str]) -> dict:
    """Whether the database's revisions are this code's heads (ok), older (behind: not
    ready) or unknown to this code (ahead: a newer release migrated; ready)."""
    heads, known = code_revisions(_migrations_dir())
    state = {"database": sorted(database_revisions), "code": sorted(heads)}
    if database_revisions == heads:
        return {"ok": True, **state}
    if not database_revisions:
        return {"ok": False, "reason": "the database was never migrated", **state}
    if database_revisions - known:
        return {
            "ok": True,
            "reason": "the database is ahead of this code (a newer release migrated)",
            **state,
        }
    return {"ok": False, "reason": "migrations are behind: run flask db upgrade", **state}


def _database_check() -> dict:
    try:
        with _ready_engine().connect() as conn:
            if conn.dialect.name == "postgresql":
                # For this transaction only (SET LOCAL: a pooler in front keeps no trace).
                timeout_ms = READY_TIMEOUT_SECONDS * 1000
                conn.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
                conn.execute(text(f"SET LOCAL lock_timeout = {timeout_ms}"))
            conn.execute(text("SELECT 1"))
            revisions: set[str] = set()
            if inspect(conn).has_table("alembic_version"):
                rows = conn.execute(text("SELECT version_num FROM alembic_version"))
                revisions = {row[0] for row in rows}
    except SQLAlchemyError as exc:
        # The error class only: a driver's message can name hosts, users or addresses.
        reason = f"the database does not answer ({type(exc).__name__})"
        return {"ok": False, "reason": reason, "migrations": {"ok": False, "reason": "unknown"}}
    return {"ok": True, "migrations": migrations_state(revisions)}


def _replica_check() -> dict:
    state = replica_status()
    if state["configured"] and not state["in_use"]:
        if not state["reachable"]:
            reason = "the replica does not answer: reads go to the primary"
        else:
            reason = "the replica lags or is not a standby: reads go to the primary"
        return {**state, "reason": reason}
    return state


# --- /metrics -------------------------------------------------------------------------


def _has_token() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _direct_from_loopback() -> bool:
    """The connection itself came from this host, not through a proxy: the address
    before ProxyFix rewrote it is loopback and no forwarding header is present."""
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    address = original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False
