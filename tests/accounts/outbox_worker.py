"""A scheduler process's part in tests/accounts/test_outbox_delivery.py: the app built
against a test database and a test mail server, draining the outbox when told to.

    python -m tests.accounts.outbox_worker DATABASE_URL SMTP_PORT BATCH_SIZE

It prints ``ready`` once the app is built, waits for a line on stdin (so two workers
start together), runs ``deliver_outbox`` until a run finds nothing to send, and prints
each run's summary, then ``done``.
"""

from __future__ import annotations

import sys

from sqlalchemy import text

from accounts import mail
from app import create_app
from core.extensions import db
from tests.conftest import LOOPBACK, NOW, app_config


def main(database_url: str, smtp_port: int, batch_size: int) -> None:
    app = create_app(app_config(database_url, SMTP_HOST=LOOPBACK, SMTP_PORT=smtp_port))
    mail.BATCH_SIZE = batch_size
    with app.app_context():
        # Connected before the start, so both workers' first claims meet.
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        print("ready", flush=True)
        sys.stdin.readline()
        while (result := mail.deliver_outbox(NOW)) != "nothing to send":
            print(result, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
