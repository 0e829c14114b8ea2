"""Scratch databases for the backup tests: a source to back up and empty targets to
restore into, of the engine under test (SQLite files, or PostgreSQL databases on the
test server, dropped afterwards), each with an app of its own."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import make_url, text

from app import create_app
from core.extensions import db
from tests.conftest import app_config, pg_url

_names = itertools.count(1)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _database_url(database: str) -> str:
    return make_url(pg_url()).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _pg_databases() -> Iterator[tuple[list[str], list[str]]]:
    """PostgreSQL scratch databases made in this run, free for the next test; dropped at
    the end (dropping a database forces a checkpoint: slow, so once per run)."""
    made: list[str] = []
    free: list[str] = []
    yield made, free
    if made:
        with psycopg.connect(_plain(pg_url()), autocommit=True) as conn:
            for database in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def scratch(backend, tmp_path, _pg_databases) -> Iterator[Callable[[str], str]]:
    """``scratch(name)``: the URL of a new, empty database of the engine under test."""
    taken: list[str] = []

    def make(name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'{name}.db'}"
        made, free = _pg_databases
        if free:
            database = free.pop()
            with psycopg.connect(_plain(_database_url(database)), autocommit=True) as conn:
                conn.execute("SET lock_timeout = '10s'")  # a connection left open fails, not hangs
                conn.execute("DROP SCHEMA public CASCADE")
                conn.execute("CREATE SCHEMA public")
        else:
            database = f"engawa_ops_{os.getpid()}_{next(_names)}"
            with psycopg.connect(_plain(pg_url()), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{database}"')
            made.append(database)
        taken.append(database)
        return _database_url(database)

    yield make
    _pg_databases[1].extend(taken)


def code_head(app: Flask) -> str:
    config = app.extensions["migrate"].migrate.get_config()
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return head


def stamp(revision: str) -> None:
    """Record ``revision`` as Alembic does (the schema here is built from the models)."""
    db.session.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,"
            " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    db.session.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    db.session.commit()


@contextmanager
def app_on(url: str, *, schema: bool = True, revision: str | None = "head") -> Iterator[Flask]:
    """An app on ``url`` with its context pushed; with ``schema`` the tables are made and
    stamped at ``revision`` (``"head"``: the code's; None: no Alembic table)."""
    app = create_app(app_config(url))
    with app.app_context():
        if schema:
            db.create_all()
            if revision is not None:
                stamp(code_head(app) if revision == "head" else revision)
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()
