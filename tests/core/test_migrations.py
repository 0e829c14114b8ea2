"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from core.extensions import db
from tests.conftest import app_config, database_url, mark_schema_dirty


def _fresh_app(backend, tmp_path):
    app = create_app(app_config(database_url(backend, tmp_path)))
    if backend == "postgresql":
        mark_schema_dirty()  # the next test rebuilds the schema from the models
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    return app


def test_upgrade_to_head_matches_the_models(backend, tmp_path):
    app = _fresh_app(backend, tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []


def test_downgrade_to_base_removes_every_table(backend, tmp_path):
    app = _fresh_app(backend, tmp_path)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert tables == set()
