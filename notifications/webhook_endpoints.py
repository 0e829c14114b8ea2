"""An organisation's webhook endpoints: add one, turn it off and on, delete it, send it a
test event, and read its delivery log.

An endpoint belongs to one company or one operator organisation (``Owner``), and is only
ever looked up within it, so another organisation's id is simply not found (the pages
answer 404). Adding, disabling, enabling and deleting are audited in the same
transaction; the entry names only the URL's scheme and host (its path and query may
hold the receiver's own token, as Slack's ``/services/T…/B…/…`` do) and never the secret.

The signing secret (``whsec_…``) is made here, shown once to whoever added the endpoint
and stored encrypted with a key derived from ``SECRET_KEY`` for this purpose: deliveries
must read it back to sign. To get a new one, delete the endpoint and add it again.
A delivery's body (which may name an employee or a guest) is stored encrypted too, under
a key of its own (``seal_body``), and emptied once delivered or given up.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from accounts.audit import record
from accounts.models import User
from core.errors import RuleError
from core.extensions import db
from core.keys import derive_key
from core.paging import Page
from notifications.catalog import COMPANY_WEBHOOK_TYPES, OPERATOR_WEBHOOK_TYPES
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhook_payloads import TEST_TYPE, test_body
from notifications.webhook_transport import MAX_URL_LENGTH, UrlRefused, check_url

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
MAX_ENDPOINTS = 10  # per organisation
MAX_PENDING_TESTS = 5  # test events waiting for one endpoint
LOG_PER_PAGE = 25
MAX_DESCRIPTION = 200

# The reader's words for each event type an endpoint may choose.
TYPE_LABELS = {
    "booking.created": _l("A stay was booked"),
    "booking.cancelled": _l("A stay was cancelled"),
    "booking.changed": _l("A stay was changed"),
    "approval.requested": _l("A stay is waiting for approval"),
    "booking.approved": _l("A stay was approved"),
    "booking.rejected": _l("A stay was rejected"),
    "booking.expired": _l("A stay expired before it was confirmed"),
    "booking.withdrawn": _l("A waiting stay was withdrawn"),
    "calendar.conflict": _l("An imported calendar conflicts with a booking"),
    "feed.failing": _l("A calendar feed has not synced for 6 hours"),
    "invoice.issued": _l("An invoice was issued"),
    "payment.failed": _l("A payment failed"),
    "workspace.booked": _l("A desk, booth or meeting room was booked"),
    "workspace.cancelled": _l("A desk, booth or meeting room booking was cancelled"),
    "workspace.changed": _l("A desk, booth or meeting room booking was changed"),
    "workspace.no_show": _l("A desk, booth or meeting room was released: nobody checked in"),
    TEST_TYPE: _l("Test event"),
}
STATUS_LABELS = {
    "pending": _l("Pending"),
    "delivered": _l("Delivered"),
    "failed": _l("Given up"),
}
ERROR_LABELS = {
    "http_status": _l("The receiver answered with an error"),
    "redirect": _l("The receiver answered with a redirect (not followed)"),
    "timeout": _l("No answer within the time limit"),
    "connection": _l("Could not connect"),
    "tls": _l("The secure connection (TLS) failed"),
    "dns": _l("The host name does not resolve"),
    "refused_address": _l("The host resolves to an address that is not allowed"),
    "bad_url": _l("The URL is not valid"),
    "secret": _l("The signing secret cannot be read: delete the endpoint and add it again"),
    "undecryptable": _l("The stored event can no longer be read, so it was not sent"),
}
URL_REFUSAL_LABELS = {
    "too_long": _l("The URL is too long (at most 2000 characters)."),
    "not_https": _l("The URL must start with https://."),
    "credentials": _l("The URL must not contain a user name or password."),
    "fragment": _l("The URL must not contain a # fragment."),
    "bad_url": _l("This is not a valid URL."),
    "dns": _l("The host name could not be resolved."),
    "private_address": _l(
        "The host resolves to a private, local or reserved address: "
        "webhooks go to the public internet only."
    ),
}


@dataclass(frozen=True)
class Owner:
    """The organisation an endpoint belongs to: a company or an operator, never both."""

    company_id: int | None = None
    operator_id: int | None = None

    def __post_init__(self) -> None:
        if (self.company_id is None) == (self.operator_id is None):
            raise ValueError("an endpoint belongs to one company or one operator")

    @property
    def types(self) -> tuple[str, ...]:
        """The event types this organisation's endpoints may choose."""
        return COMPANY_WEBHOOK_TYPES if self.company_id is not None else OPERATOR_WEBHOOK_TYPES

    def owns(self):
        if self.company_id is not None:
            return WebhookEndpoint.company_id == self.company_id
        return WebhookEndpoint.operator_id == self.operator_id


class WebhookError(RuleError):
    """An endpoint refused; ``field`` names the form field it is about, if one."""

    def __init__(self, message, code: str, field: str | None = None):
        super().__init__(message, code)
        self.field = field


# --- the secret -----------------------------------------------------------------------


def _cipher() -> Fernet:
    key = derive_key(current_app.config["SECRET_KEY"], "webhook secret v1")
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def seal_secret(secret: str) -> str:
    return _cipher().encrypt(secret.encode()).decode("ascii")


def open_secret(stored: str) -> str | None:
    """The secret in clear, or None when it no longer decrypts (``SECRET_KEY`` changed)."""
    try:
        return _cipher().decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None


# --- a delivery's body ----------------------------------------------------------------


def _body_cipher() -> Fernet:
    key = derive_key(current_app.config["SECRET_KEY"], "webhook body v1")
    return Fernet(base64.urlsafe_b64encode(key))


def seal_body(body: str) -> str:
    """The JSON body as stored (``WebhookDelivery.body``): encrypted, since it may carry
    an employee's or a guest's name; opened to the same bytes on every attempt."""
    return _body_cipher().encrypt(body.encode()).decode("ascii")


def open_body(stored: str) -> str | None:
    """The body in clear, or None when it no longer decrypts (``SECRET_KEY`` changed) or
    was never sealed."""
    try:
        return _body_cipher().decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None


# --- reading --------------------------------------------------------------------------


def endpoints_of(owner: Owner) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(select(WebhookEndpoint).where(owner.owns()).order_by(WebhookEndpoint.id))
    )


def endpoint_of(owner: Owner, endpoint_id: int) -> WebhookEndpoint | None:
    """The owner's endpoint of that id; None for another organisation's, as for none."""
    return db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, owner.owns())
    )


def chosen_types(endpoint: WebhookEndpoint) -> list[str]:
    return endpoint.event_types.split()


def deliveries_page(endpoint: WebhookEndpoint, page: int) -> Page:
    """The endpoint's delivery log, newest first, ``LOG_PER_PAGE`` at a time."""
    where = WebhookDelivery.endpoint_id == endpoint.id
    total = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
    page = Page.number(page, total, LOG_PER_PAGE)
    items = db.session.scalars(
        select(WebhookDelivery)
        .where(where)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(LOG_PER_PAGE)
        .offset((page - 1) * LOG_PER_PAGE)
    ).all()
    return Page(list(items), total, page, LOG_PER_PAGE)


# --- changing -------------------------------------------------------------------------


def _audited_url(url: str) -> str:
    """The URL's scheme and host (and port) only, as ``https://hooks.slack.com/…``: its
    path and query may hold the receiver's token (``/services/T…/B…/<token>``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # not a number: such a URL was refused when added
        port = ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{host}{port}{rest}"


def _audit(action: str, endpoint: WebhookEndpoint, actor: User, now: datetime, **values):
    record(
        action,
        now,
        actor=actor,
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        company_id=endpoint.company_id,
        operator_id=endpoint.operator_id,
        **values,
    )


def create_endpoint(
    owner: Owner,
    actor: User,
    url: str,
    description: str,
    event_types: list[str],
    now: datetime,
    *,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint and answer it with its secret in clear (to show once).

    The URL must pass the SSRF rules now (``webhook_transport.check_url``: https, a
    host that resolves to public addresses only), not only at delivery. The event
    types must be among those the organisation may choose. Flushes only.
    """
    url = url.strip()
    if not url:
        raise WebhookError(_l("Enter the endpoint's URL."), "url", "url")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(URL_REFUSAL_LABELS["too_long"], "url", "url")
    chosen = [t for t in owner.types if t in set(event_types)]
    if not chosen or len(chosen) != len(set(event_types)):
        raise WebhookError(_l("Choose at least one event type."), "event_types", "event_types")
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION:
        raise WebhookError(_l("The description is too long."), "description", "description")
    count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint).where(owner.owns()))
    if count >= MAX_ENDPOINTS:
        raise WebhookError(
            _l("You have %(n)d endpoints, the most there can be: delete one first.", n=count),
            "too_many",
        )
    try:
        check_url(url, allow_private)
    except UrlRefused as exc:
        raise WebhookError(URL_REFUSAL_LABELS[exc.code], exc.code, "url") from None
    secret = new_secret()
    endpoint = WebhookEndpoint(
        company_id=owner.company_id,
        operator_id=owner.operator_id,
        url=url,
        description=description,
        event_types=" ".join(chosen),
        secret=seal_secret(secret),
        active=True,
        created_at=now,
        created_by_id=actor.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    _audit(
        "webhook.create",
        endpoint,
        actor,
        now,
        after={"url": _audited_url(url), "event_types": chosen, "description": description},
    )
    return endpoint, secret


def set_active(endpoint: WebhookEndpoint, active: bool, actor: User, now: datetime) -> bool:
    """Turn deliveries to the endpoint off or on; False when it already was so. While
    off, nothing is sent to it and no new event is queued for it; deliveries queued
    before wait and go out when it is turned on again. Flushes only."""
    if endpoint.active == active:
        return False
    endpoint.active = active
    _audit(
        "webhook.enable" if active else "webhook.disable",
        endpoint,
        actor,
        now,
        before={"active": not active},
        after={"active": active},
    )
    db.session.flush()
    return True


def delete_endpoint(endpoint: WebhookEndpoint, actor: User, now: datetime) -> None:
    """Delete the endpoint and its delivery log; nothing more is sent to it (a delivery
    being sent at this moment finds no row to record its result in). Flushes only."""
    # The endpoint's row lock first: a dispatcher queuing for it finishes before its
    # deliveries are deleted, or finds it gone (SQLite: the transaction's write lock).
    db.session.execute(
        select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint.id).with_for_update()
    )
    _audit(
        "webhook.delete",
        endpoint,
        actor,
        now,
        before={"url": _audited_url(endpoint.url), "event_types": chosen_types(endpoint)},
    )
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()


def send_test(endpoint: WebhookEndpoint, now: datetime) -> WebhookDelivery:
    """Queue a test event (type ``webhook.test``) for the endpoint; the delivery job
    sends it like any other, within a minute. Refused while the endpoint is off or
    has ``MAX_PENDING_TESTS`` test events still waiting. Flushes only."""
    if not endpoint.active:
        raise WebhookError(_l("Turn the endpoint on first."), "inactive")
    waiting = db.session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.event_id.is_(None),
            WebhookDelivery.status == "pending",
        )
    )
    if waiting >= MAX_PENDING_TESTS:
        raise WebhookError(
            _l("Several test events are still waiting to be sent: wait for them first."),
            "tests_waiting",
        )
    public_id = f"evt_test_{secrets.token_hex(12)}"
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=None,
        public_id=public_id,
        event_type=TEST_TYPE,
        body=seal_body(test_body(public_id, endpoint.id, now)),
        created_at=now,
        status="pending",
        attempts=0,
        next_attempt_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    return delivery
