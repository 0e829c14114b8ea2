"""The operator organisation's audit log: what was changed in the organisation and
its facilities, by its operators or the Engawa team (a facility reviewed, the
organisation suspended…), newest first, a page at a time.

On ``views.bp`` (operators only), and only ever of the operator's own organisation
(``current_user.operator_id``): no organisation id is read from the URL.
"""

from __future__ import annotations

from dataclasses import replace

from flask import render_template, request
from flask_login import current_user

from consoles.operator.views import bp
from identity import audit_log


@bp.get("/audit")
def audit():
    operator_id = current_user.operator_id
    narrowed = replace(
        audit_log.narrowed(request.args, organisation=False), operator_id=operator_id
    )
    page = audit_log.entries_page(
        narrowed.as_filter(), audit_log.page_number(request.args.get("page"))
    )
    return render_template(
        "operator/audit.html",
        page=page,
        narrowed=narrowed,
        actions=audit_log.actions(operator_id=operator_id),
        object_types=audit_log.object_types(operator_id=operator_id),
        labels=audit_log,
        active="audit",
    )
