"""Outbound webhooks: each event an organisation's endpoint chose becomes one delivery,
sent signed by the scheduler, retried with backoff until delivered or given up.

Queuing (``queue_deliveries``) happens in the dispatcher's transaction, so a delivery
exists exactly when the event was dispatched; its body is built then, once, stored
encrypted (it may name an employee or a guest: ``webhook_endpoints.seal_body``) and sent
as the same bytes on every attempt. Delivering (``deliver_webhooks``) claims due
deliveries in a short transaction of its own (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite's transactions take the write lock when they begin, core.db), so two
runs never send the same one; it sends outside any transaction and records each result
in another. A run that dies between sending and recording leaves a claim that lapses
(after as long as its batch could take, and a minute) and the delivery is sent again:
delivery is at least once, and a receiver deduplicates on the event id
(``Engawa-Event-Id``, the body's ``id``).

Each request carries ``Engawa-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 under the endpoint's secret of ``"<t>.<body>"``, like Stripe's scheme
(docs/WEBHOOKS.md has a receiver's check). A 2xx answer is delivered; anything else
(an error status, a redirect, a timeout, a refused address, no connection) is retried
after ``BACKOFF`` and given up after ``MAX_ATTEMPTS`` attempts. Only the kind of failure
is kept, never the receiver's answer, and nothing logged names the URL. A body that no
longer decrypts (``SECRET_KEY`` changed) is given up at once ("undecryptable"). A
delivery delivered or given up keeps no body, and the daily ``prune_webhook_deliveries``
job deletes those older than ``KEEP_DAYS``, so an endpoint's log goes back 30 days.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, or_, select, update

from accounts.events import Event
from core.db import edge_now
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary
from notifications.catalog import COMPANY_WEBHOOK_TYPES, OPERATOR_WEBHOOK_TYPES
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhook_endpoints import open_body, open_secret, seal_body
from notifications.webhook_payloads import COMPANY, OPERATOR, event_body, public_id
from notifications.webhook_transport import DEFAULT_TIMEOUT_SECONDS, Outcome, post

log = logging.getLogger(__name__)

USER_AGENT = "Engawa-Webhooks/1"
# The wait after each failed attempt: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h; the 7th
# failure gives up, about 21 hours after the first attempt.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
BATCH_SIZE = 20
# A run claims a batch at a time and starts no new batch after this long (the job runs
# every minute); a batch's claim lasts as long as its sends could take, and a minute.
RUN_SECONDS = 50
# Failures that say the endpoint cannot be reached at all (rather than this message
# refused): one is enough for the run.
UNREACHABLE = frozenset({"timeout", "connection", "tls", "dns", "refused_address", "bad_url"})
# A stored body that no longer decrypts never will: given up at the first attempt.
UNDECRYPTABLE = "undecryptable"
# Deliveries delivered or given up are deleted after this many days (pending ones never).
KEEP_DAYS = 30


# --- queuing --------------------------------------------------------------------------


def _listening(event: Event) -> list[tuple[WebhookEndpoint, str]]:
    """The active endpoints that chose ``event``'s type, each with its audience."""
    found: list[tuple[WebhookEndpoint, str]] = []
    owners = (
        (WebhookEndpoint.company_id, event.company_id, COMPANY_WEBHOOK_TYPES, COMPANY),
        (WebhookEndpoint.operator_id, event.operator_id, OPERATOR_WEBHOOK_TYPES, OPERATOR),
    )
    for column, owner_id, types, audience in owners:
        if owner_id is None or event.type not in types:
            continue
        endpoints = db.session.scalars(
            select(WebhookEndpoint)
            .where(column == owner_id, WebhookEndpoint.active.is_(True))
            .order_by(WebhookEndpoint.id)
        )
        found += [(e, audience) for e in endpoints if event.type in e.event_types.split()]
    return found


def queue_deliveries(event: Event, now: datetime) -> int:
    """Queue one delivery of ``event`` for each active endpoint of its company or
    operator that chose its type (and may: ``catalog.*_WEBHOOK_TYPES``); an endpoint
    that has it already is skipped. Called by the dispatcher in its transaction:
    flushes only. Answers how many were queued."""
    listening = _listening(event)
    if not listening:
        return 0
    queued_for = set(
        db.session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
        )
    )
    bodies: dict[str, str | None] = {}
    count = 0
    for endpoint, audience in listening:
        if endpoint.id in queued_for:
            continue
        if audience not in bodies:
            bodies[audience] = event_body(event, audience)
        body = bodies[audience]
        if body is None:  # about another organisation's row: nothing to tell
            continue
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                public_id=public_id(event),
                event_type=event.type,
                body=seal_body(body),
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
        count += 1
    db.session.flush()
    return count


# --- signing --------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: str) -> str:
    """The ``Engawa-Signature`` header: ``t=<timestamp>,v1=<hex HMAC-SHA256>`` of
    ``"<timestamp>.<body>"`` (UTF-8) under the secret (the whole ``whsec_…`` string)."""
    signed = f"{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- delivering -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    """A claimed delivery, read before its claim committed (sent outside the session)."""

    id: int
    token: str
    endpoint_id: int
    attempts: int
    public_id: str
    body: str  # encrypted, as stored
    url: str
    secret: str  # encrypted, as stored


class _Clock:
    """The job's ``now``, moved on by the time the run has taken (a run can last a
    while: each send may wait for its timeout)."""

    def __init__(self, now: datetime):
        self._now = now
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def now(self) -> datetime:
        return self._now + timedelta(seconds=self.elapsed())


def _due(now: datetime):
    return (
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until <= now),
        WebhookEndpoint.active.is_(True),
    )


def _claim(now: datetime, claim_for: timedelta) -> list[_Claimed]:
    """Claim up to ``BATCH_SIZE`` due deliveries of active endpoints, and commit."""
    query = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*_due(now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(BATCH_SIZE)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    ids = list(db.session.scalars(query))
    if not ids:
        db.session.commit()
        return []
    token = secrets.token_hex(16)
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(claim_token=token, claimed_until=now + claim_for)
    )
    rows = db.session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.attempts,
            WebhookDelivery.public_id,
            WebhookDelivery.body,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.claim_token == token)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    ).all()
    db.session.commit()
    return [
        _Claimed(r.id, token, r.endpoint_id, r.attempts, r.public_id, r.body, r.url, r.secret)
        for r in rows
    ]


def _send(claimed: _Claimed, clock: _Clock, allow_private: bool, timeout: float) -> Outcome:
    body = open_body(claimed.body)
    if body is None:
        return Outcome(False, error=UNDECRYPTABLE)
    secret = open_secret(claimed.secret)
    if secret is None:
        return Outcome(False, error="secret")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Engawa-Event-Id": claimed.public_id,
        "Engawa-Signature": signature(secret, int(clock.now().timestamp()), body),
    }
    return post(
        claimed.url,
        body.encode(),
        headers,
        allow_private=allow_private,
        timeout=timeout,
    )


def _record(claimed: _Claimed, outcome: Outcome, now: datetime) -> str:
    """Store one attempt's result (if the delivery is still ours) and commit; answers
    the delivery's status now."""
    attempts = claimed.attempts + 1
    values: dict = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status": outcome.status,
        "claim_token": None,
        "claimed_until": None,
    }
    # Delivered or given up, a delivery keeps no body (it may name people).
    if outcome.delivered:
        status = "delivered"
        values.update(delivered_at=now, last_error=None, next_attempt_at=None, body="")
    elif attempts >= MAX_ATTEMPTS or outcome.error == UNDECRYPTABLE:
        status = "failed"
        values.update(last_error=outcome.error, next_attempt_at=None, body="")
    else:
        status = "pending"
        values.update(last_error=outcome.error, next_attempt_at=now + BACKOFF[attempts - 1])
    values["status"] = status
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == claimed.id, WebhookDelivery.claim_token == claimed.token)
        .values(**values)
    )
    db.session.commit()
    if not outcome.delivered:
        # The kind and the delivery's id only: the URL may hold the receiver's token.
        log.info(
            "webhook delivery %d attempt %d failed: %s%s",
            claimed.id,
            attempts,
            outcome.error,
            f" {outcome.status}" if outcome.status else "",
        )
    return status


def deliver_webhooks(now: datetime) -> JobSummary:
    """Send the deliveries that are due (the ``webhook_deliveries`` job)."""
    allow_private = bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE_HOSTS", False))
    timeout = float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    claim_for = timedelta(seconds=BATCH_SIZE * timeout + 60)
    clock = _Clock(now)
    counts = {"delivered": 0, "pending": 0, "failed": 0}
    # An endpoint that could not be reached in this run is not waited for again: its
    # other deliveries of the run fail the same way (counted, and backed off).
    unreachable: dict[int, Outcome] = {}
    while clock.elapsed() < RUN_SECONDS:
        batch = _claim(clock.now(), claim_for)
        if not batch:
            break
        for claimed in batch:
            outcome = unreachable.get(claimed.endpoint_id)
            if outcome is None:
                outcome = _send(claimed, clock, allow_private, timeout)
                if outcome.error in UNREACHABLE:
                    unreachable[claimed.endpoint_id] = outcome
            counts[_record(claimed, outcome, clock.now())] += 1
    if not any(counts.values()):
        return NOTHING
    return summary(
        N_("webhooks: %(delivered)d delivered, %(retrying)d to retry, %(failed)d given up"),
        delivered=counts["delivered"],
        retrying=counts["pending"],
        failed=counts["failed"],
    )


def prune_deliveries(now: datetime) -> JobSummary:
    """Daily (``prune_webhook_deliveries``): delete deliveries delivered or given up more
    than ``KEEP_DAYS`` days ago (by when they were queued); pending ones are kept."""
    removed = db.session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status.in_(("delivered", "failed")),
            WebhookDelivery.created_at < now - timedelta(days=KEEP_DAYS),
        )
    )
    db.session.commit()
    if not removed.rowcount:
        return NOTHING
    return summary(N_("%(n)d old webhook deliveries removed"), n=removed.rowcount)


def webhooks_pending() -> bool:
    """Whether a delivery is due now (the job's ``has_work``)."""
    now = edge_now()
    query = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*_due(now))
    )
    return bool(db.session.scalar(select(exists(query))))
