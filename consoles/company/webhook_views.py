"""The company admin's webhook endpoints at /company/webhooks: the company's systems
hear of its employees' stays, its invoices and failed payments (the pages themselves are
``notifications.webhook_views``, shared with the operator console).

For signed-in company admins of their own company only (no company id is read from the
URL or a form); another company's endpoint answers 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app
from flask_login import current_user, login_required

from accounts.models import Role
from notifications import webhook_views
from notifications.webhook_endpoints import Owner

bp = Blueprint("company_webhooks", __name__, url_prefix="/company/webhooks")


@bp.before_request
@login_required
def _company_admins_only():
    if current_user.role != Role.COMPANY_ADMIN or current_user.company_id is None:
        abort(403)


def _owner() -> Owner:
    return Owner(company_id=current_user.company_id)


def _layout_context() -> dict:
    return {"test_mode": current_app.config["BILLING_BACKEND"] == "local"}


webhook_views.register(
    bp,
    webhook_views.Console(
        path="",
        prefix="",
        layout="billing/_base.html",
        owner=_owner,
        context=_layout_context,
    ),
)
