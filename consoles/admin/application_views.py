"""The platform admin reviews sign-up applications: a list by kind and status, every
field the applicant gave, approve (after a page saying what will be created) or reject
with a reason that is mailed to the applicant."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from consoles.admin.application_forms import RejectForm
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from facilities.regions import PREFECTURES_BY_CODE
from identity import application_review as review
from identity import applications
from identity.applications import ApplicationError, ApplicationNotFound
from identity.models import Application, ApplicationKind, ApplicationStatus
from identity.signup_forms import FACILITY_KIND_LABELS, OPERATOR_KIND_LABELS

bp = Blueprint("admin_applications", __name__, url_prefix="/admin/applications")
PAGE_SIZE = 50

KIND_LABELS = {
    ApplicationKind.COMPANY: _l("Company"),
    ApplicationKind.OPERATOR: _l("Operator"),
}
STATUS_LABELS = {
    ApplicationStatus.UNCONFIRMED: _l("E-mail not confirmed"),
    ApplicationStatus.PENDING: _l("Waiting for review"),
    ApplicationStatus.APPROVED: _l("Approved"),
    ApplicationStatus.REJECTED: _l("Rejected"),
    ApplicationStatus.EXPIRED: _l("Expired"),
}
STATUS_TONES = {
    ApplicationStatus.PENDING: "warn",
    ApplicationStatus.APPROVED: "ok",
    ApplicationStatus.REJECTED: "bad",
}
CONFLICTS = {
    "email_taken": _l("The contact's e-mail address already has an Engawa account."),
    "corporate_number_taken": _l("A company with this corporate number already uses Engawa."),
}


@bp.before_request
@login_required
def _platform_admin_only():
    if not current_user.is_platform_admin:
        abort(403)


@bp.context_processor
def _labels():
    return {
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "status_tones": STATUS_TONES,
        "operator_kind_labels": OPERATOR_KIND_LABELS,
        "facility_kind_labels": FACILITY_KIND_LABELS,
        "prefectures": PREFECTURES_BY_CODE,
        "statuses": ApplicationStatus,
    }


def _application(application_id: int) -> Application:
    try:
        return applications.application_for_review(application_id)
    except ApplicationNotFound:
        abort(404)


@bp.get("/")
def applications_list():
    """Applications, waiting ones first by default; filtered by kind and status."""
    kind = request.args.get("kind", "")
    kind = kind if kind in set(ApplicationKind) else ""
    status = request.args.get("status", ApplicationStatus.PENDING)
    status = status if status in set(ApplicationStatus) else ""
    page_number = request.args.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() and len(page_number) < 9 else 1
    page = applications.applications_page(kind, status, page_number, PAGE_SIZE)
    return render_template("admin/applications.html", page=page, kind=kind, status=status)


def _detail(application: Application, form: RejectForm | None = None, status: int = 200):
    page = render_template(
        "admin/applications_detail.html",
        application=application,
        details=application.detail_values,
        conflicts=[CONFLICTS[c] for c in review.conflicts(application)],
        reject_form=form or RejectForm(formdata=None),
    )
    return make_response(page, status)


@bp.get("/<int:application_id>")
def detail(application_id: int):
    return _detail(_application(application_id))


@bp.route("/<int:application_id>/approve", methods=["GET", "POST"])
def approve(application_id: int):
    """GET: what approving creates, and the button; POST: approve."""
    application = _application(application_id)
    form = EmptyForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            application = review.approve(
                application_id, current_user._get_current_object(), edge_now()
            )
        except ApplicationNotFound:
            db.session.rollback()
            abort(404)
        except ApplicationError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return _detail(_application(application_id), status=409)
        name = application.org_name
        db.session.commit()
        flash(
            _(
                "%(org)s has been approved. Its admin has been sent a link to choose a password.",
                org=name,
            ),
            "success",
        )
        return redirect(url_for("admin_applications.detail", application_id=application_id), 303)
    if application.status != ApplicationStatus.PENDING:
        return redirect(url_for("admin_applications.detail", application_id=application_id))
    return render_template(
        "admin/applications_approve.html",
        application=application,
        details=application.detail_values,
        conflicts=[CONFLICTS[c] for c in review.conflicts(application)],
        form=form,
    )


@bp.post("/<int:application_id>/reject")
def reject(application_id: int):
    application = _application(application_id)
    form = RejectForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _detail(application, form, 400)
    try:
        application = review.reject(
            application_id, current_user._get_current_object(), form.reason.data, edge_now()
        )
    except ApplicationNotFound:
        db.session.rollback()
        abort(404)
    except ApplicationError as exc:
        db.session.rollback()
        if exc.code == "reason":
            form.reason.errors = [exc.message]
            return _detail(_application(application_id), form, 400)
        flash(exc.message, "error")
        return _detail(_application(application_id), status=409)
    name = application.org_name
    db.session.commit()
    flash(
        _("%(org)s has been rejected; the reason was sent to the applicant.", org=name), "success"
    )
    return redirect(url_for("admin_applications.detail", application_id=application_id), 303)
