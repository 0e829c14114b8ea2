"""The company's audit log: what was changed in the company, by its admins, its
directory (SCIM) or the Engawa team, newest first, a page at a time.

For company admins only, and only ever of their own company
(``current_user.company_id``): no company id is read from the URL.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from accounts.models import Role
from identity import audit_log

bp = Blueprint("company_audit", __name__, url_prefix="/company/audit")


@bp.before_request
@login_required
def _company_admins_only():
    if current_user.role != Role.COMPANY_ADMIN or current_user.company_id is None:
        abort(403)


@bp.get("")
def audit():
    company_id = current_user.company_id
    narrowed = replace(audit_log.narrowed(request.args, organisation=False), company_id=company_id)
    page = audit_log.entries_page(
        narrowed.as_filter(), audit_log.page_number(request.args.get("page"))
    )
    return render_template(
        "company/audit.html",
        page=page,
        narrowed=narrowed,
        actions=audit_log.actions(company_id=company_id),
        object_types=audit_log.object_types(company_id=company_id),
        labels=audit_log,
        active="audit",
        test_mode=current_app.config["BILLING_BACKEND"] == "local",
    )
