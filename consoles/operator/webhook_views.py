"""The operator organisation's webhook endpoints at /operator/webhooks: its systems
hear of bookings, changes and cancellations at its facilities, calendar conflicts and
feeds that stopped syncing (the pages themselves are ``notifications.webhook_views``,
shared with the company console).

On ``views.bp`` (operators only), and only ever of the operator's own organisation
(``current_user.operator_id``); another organisation's endpoint answers 404.
"""

from __future__ import annotations

from flask_login import current_user

from consoles.operator.views import bp
from notifications import webhook_views
from notifications.webhook_endpoints import Owner


def _owner() -> Owner:
    return Owner(operator_id=current_user.operator_id)


webhook_views.register(
    bp,
    webhook_views.Console(
        path="/webhooks",
        prefix="webhooks_",
        layout="operator/_base.html",
        owner=_owner,
    ),
)
