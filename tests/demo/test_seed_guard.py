"""`flask seed-demo` never runs on a production deployment: its accounts share a
published password."""

from __future__ import annotations

from sqlalchemy import func, select

from accounts.models import User
from app import create_app
from core.extensions import db
from tests.conftest import FAST_HASH


def test_seed_demo_refuses_in_production(tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.db'}",
            "SECRET_KEY": "s" * 40,
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "ENGAWA_ENV": "production",
            "PROXY_FIX_X_FOR": "0",
        }
    )
    with app.app_context():
        db.create_all()

    result = app.test_cli_runner().invoke(args=["seed-demo"])

    assert result.exit_code == 1
    assert "refuses to run in production" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
        db.engine.dispose()
