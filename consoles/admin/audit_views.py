"""The audit log for the Engawa team: every entry of the network, narrowed by action,
object type, organisation and dates, a page at a time, with what each change was
before and after. On the ``admin`` blueprint (platform admins only)."""

from __future__ import annotations

from flask import render_template, request

from accounts.models import Company, OperatorOrg
from consoles.admin.views import bp
from core.db import get_by_id
from identity import audit_log


@bp.get("/audit")
def audit():
    narrowed = audit_log.narrowed(request.args, organisation=True)
    page = audit_log.entries_page(
        narrowed.as_filter(), audit_log.page_number(request.args.get("page"))
    )
    return render_template(
        "admin/audit.html",
        page=page,
        narrowed=narrowed,
        actions=audit_log.actions(),
        object_types=audit_log.object_types(),
        labels=audit_log,
        company=get_by_id(Company, narrowed.company_id) if narrowed.company_id else None,
        operator=get_by_id(OperatorOrg, narrowed.operator_id) if narrowed.operator_id else None,
    )
