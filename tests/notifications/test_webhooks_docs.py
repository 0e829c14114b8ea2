"""docs/WEBHOOKS.md's verification snippet, run as a receiver would run it, against
real deliveries: a message signed by Engawa passes, a changed, stale or foreign one
does not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accounts.models import Role
from notifications import webhook_endpoints as endpoints
from notifications import webhooks
from notifications.webhook_endpoints import Owner
from tests.conftest import NOW
from tests.notifications.webhook_receiver import start_receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "WEBHOOKS.md"


def snippet():
    """The documented ``verify_engawa_webhook``, from the page's first Python block."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    assert "def verify_engawa_webhook" in code
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_engawa_webhook"]


@pytest.fixture
def delivered(app, db, make_user):
    """(secret, request) of one test event delivered to a receiver on 127.0.0.1."""
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = True
    receiver = start_receiver()
    try:
        admin = make_user(Role.COMPANY_ADMIN)
        endpoint, secret = endpoints.create_endpoint(
            Owner(company_id=admin.company_id),
            admin,
            receiver.url(),
            "",
            ["invoice.issued"],
            NOW,
            allow_private=True,
        )
        endpoints.send_test(endpoint, NOW)
        db.session.commit()
        webhooks.deliver_webhooks(NOW)
        (request,) = receiver.received
        yield secret, request
    finally:
        receiver.server.stop()


def test_the_documented_check_accepts_what_engawa_signs(delivered):
    verify = snippet()
    secret, request = delivered
    header = request.headers["Engawa-Signature"]
    sent_at = int(re.search(r"t=(\d+)", header).group(1))

    event = verify(secret, header, request.body, now=sent_at + 60)

    assert event["id"] == request.headers["Engawa-Event-Id"]
    assert event["type"] == "webhook.test"


def test_the_documented_check_refuses_what_was_changed_replayed_or_signed_by_another(
    delivered,
):
    verify = snippet()
    secret, request = delivered
    header = request.headers["Engawa-Signature"]
    sent_at = int(re.search(r"t=(\d+)", header).group(1))
    changed = request.body.replace(b"webhook.test", b"booking.created")

    for args in (
        (secret, header, changed, sent_at),
        (secret, header, request.body, sent_at + 5 * 60 + 1),  # replayed later
        (endpoints.new_secret(), header, request.body, sent_at),
        (secret, header.replace(f"t={sent_at}", f"t={sent_at + 1}"), request.body, sent_at),
        (secret, "v1=abc", request.body, sent_at),
        (secret, "", request.body, sent_at),
    ):
        with pytest.raises(ValueError):
            verify(*args[:3], now=args[3])
