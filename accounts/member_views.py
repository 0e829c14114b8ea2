"""The corporate admin's employee pages, joining by invitation or company e-mail, and the
development outbox."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user

from accounts import mail, members
from accounts.forms import EmptyForm
from accounts.member_forms import EmailDomainForm, InviteForm, JoinForm, JoinRequestForm
from accounts.models import Company, Role
from accounts.views import _fresh_session
from billing import services as billing
from core.db import edge_now
from core.errors import RuleError
from core.extensions import db, login_manager

bp = Blueprint("members", __name__)


@dataclass(frozen=True)
class NewInvitation:
    """Shown once, in the response that made it: the link is never stored in clear."""

    email: str
    link: str
    mailto: str


def _invitation_days() -> int:
    return current_app.config["INVITATION_DAYS"]


def _admin_company_id() -> int:
    """Only a company admin manages people, and only their own company's."""
    if current_user.role != Role.COMPANY_ADMIN:
        abort(403)
    return current_user.company_id


def _employees_page(
    *,
    invite_form: InviteForm | None = None,
    domain_form: EmailDomainForm | None = None,
    new_invitation: NewInvitation | None = None,
    status: int = 200,
):
    company_id = _admin_company_id()
    company = db.session.get(Company, company_id)
    page = render_template(
        "accounts/employees.html",
        company=company,
        summary=billing.summary(company_id),
        members=members.members_of(company_id),
        invitations=members.pending_invitations(company_id, edge_now()),
        invite_form=invite_form or InviteForm(formdata=None),
        domain_form=domain_form or EmailDomainForm(formdata=None, domain=company.email_domain),
        button_form=EmptyForm(),
        new_invitation=new_invitation,
    )
    response = make_response(page, status)
    if new_invitation:
        response.headers["Cache-Control"] = "no-store"
    return response


def _queue_invitation(invitation, secret: str, now) -> tuple[str, str, str]:
    """Queue the e-mail with the one-time link; returns the link, subject and body."""
    link = url_for("members.join", token=secret, _external=True)
    subject, body = mail.invitation_mail(
        invitation.company.name, link, invitation.expires_at, invitation.kind
    )
    mail.queue_mail(invitation.email, subject, body, now)
    return link, subject, body


@bp.get("/company/employees")
@login_required
def employees():
    return _employees_page()


@bp.post("/company/employees/invite")
@login_required
def invite():
    company_id = _admin_company_id()
    form = InviteForm()
    if not form.validate_on_submit():
        flash(_("Please enter a valid e-mail address."), "error")
        return _employees_page(invite_form=form, status=400)
    now = edge_now()
    try:
        invitation, secret = members.invite(
            company_id,
            form.email.data,
            current_user._get_current_object(),
            now,
            _invitation_days(),
        )
    except RuleError as exc:  # a member rule, or every seat taken
        db.session.rollback()
        flash(exc.message, "error")
        return _employees_page(invite_form=form, status=400)
    link, subject, body = _queue_invitation(invitation, secret, now)
    email = invitation.email
    db.session.commit()
    flash(
        _(
            "Invitation e-mail queued for %(email)s. You can also send the link yourself:"
            " it is shown only now.",
            email=email,
        ),
        "success",
    )
    mailto = f"mailto:{quote(email, safe='@')}?subject={quote(subject)}&body={quote(body)}"
    return _employees_page(new_invitation=NewInvitation(email, link, mailto))


@bp.post("/company/employees/domain")
@login_required
def email_domain():
    company_id = _admin_company_id()
    form = EmailDomainForm()
    if not form.validate_on_submit():
        flash(_("Please enter a domain such as example.co.jp."), "error")
        return _employees_page(domain_form=form, status=400)
    try:
        company = members.set_email_domain(
            company_id, form.domain.data or "", current_user._get_current_object(), edge_now()
        )
    except RuleError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _employees_page(domain_form=form, status=400)
    domain = company.email_domain
    db.session.commit()
    if domain:
        flash(
            _("Staff with an address at @%(domain)s can now join by themselves.", domain=domain),
            "success",
        )
    else:
        flash(_("Joining with a company e-mail address is turned off."), "success")
    return redirect(url_for("members.employees"), 303)


def _button_action(action) -> None:
    """Run a member action behind a POST button: 404 for another company's id, a flash
    for a refused rule, one commit otherwise."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = action(_admin_company_id())
    except members.MemberNotFound:
        db.session.rollback()
        abort(404)
    except RuleError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return None
    db.session.commit()
    return result


@bp.post("/company/employees/<int:user_id>/deactivate")
@login_required
def deactivate(user_id: int):
    _admin_company_id()
    cancelled = _button_action(
        lambda company_id: members.deactivate(
            company_id, user_id, edge_now(), actor_id=current_user.id
        )
    )
    if cancelled is not None:
        flash(_("The employee has been deactivated and signed out everywhere."), "success")
        if cancelled:
            flash(
                ngettext(
                    "%(num)d upcoming stay was cancelled and its credit refunded.",
                    "%(num)d upcoming stays were cancelled and their credit refunded.",
                    cancelled,
                ),
                "info",
            )
    return redirect(url_for("members.employees"), 303)


@bp.post("/company/employees/<int:user_id>/reactivate")
@login_required
def reactivate(user_id: int):
    _admin_company_id()
    user = _button_action(lambda company_id: members.reactivate(company_id, user_id))
    if user is not None:
        flash(_("The employee can sign in again."), "success")
    return redirect(url_for("members.employees"), 303)


@bp.post("/company/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    _admin_company_id()
    invitation = _button_action(
        lambda company_id: members.revoke_invitation(company_id, invitation_id, edge_now())
    )
    if invitation is not None:
        flash(_("The invitation has been revoked; its link no longer works."), "success")
    return redirect(url_for("members.employees"), 303)


# --- Joining (public) ---------------------------------------------------------------------


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"  # the page's URL holds the secret
    return response


def _invalid_link():
    return _no_store(make_response(render_template("accounts/join.html", invitation=None), 404))


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    now = edge_now()
    invitation = members.invitation_for(token, now)
    if invitation is None:
        return _invalid_link()
    form = JoinForm()
    status, error = 200, None
    if form.validate_on_submit():
        try:
            user = members.accept(
                token,
                form.name.data,
                form.password.data,
                now,
                current_app.config["PASSWORD_HASH_METHOD"],
            )
        except members.InvitationInvalid:
            db.session.rollback()
            return _invalid_link()
        except billing.BillingError:
            db.session.rollback()
            status = 409
            error = _(
                "All seats of %(company)s are in use, so no account was made."
                " Ask your company admin to add seats, then open this link again.",
                company=invitation.company.name,
            )
        except RuleError as exc:
            db.session.rollback()
            status, error = 409, exc.message
        else:
            db.session.commit()
            _fresh_session()  # whoever was signed in on this browser before is not any more
            login_user(user)
            flash(
                _(
                    "Welcome to Engawa, %(name)s! You can now book stays for %(company)s.",
                    name=user.name,
                    company=user.company.name,
                ),
                "success",
            )
            return redirect(url_for("booking.home"), 303)
    elif request.method == "POST":
        status = 400
    page = render_template("accounts/join.html", invitation=invitation, form=form, error=error)
    return _no_store(make_response(page, status))


@bp.route("/join", methods=["GET", "POST"])
def join_request():
    """Ask for a join link at a company e-mail address. The answer is the same whether or
    not a company uses the domain or the address has an account."""
    form = JoinRequestForm()
    if form.validate_on_submit():
        now = edge_now()
        made = members.request_domain_join(form.email.data, now, _invitation_days())
        if made is not None:
            _queue_invitation(*made, now)
        db.session.commit()
        flash(
            _(
                "If your company has enabled joining with this domain,"
                " we sent a link to that address."
            ),
            "info",
        )
        return redirect(url_for("members.join_request"), 303)
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/join_request.html", form=form), status


# --- Development ----------------------------------------------------------------------------


@bp.get("/dev/mail")
def dev_mail():
    """The outbox, so a developer without a mail server can open invitation links."""
    if current_app.config.get("ENGAWA_ENV") != "development":
        abort(404)
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_platform_admin:
        abort(403)
    return render_template("accounts/dev_mail.html", mails=mail.recent_mail())
