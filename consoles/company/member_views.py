"""The corporate admin's employee pages, and joining by invitation or company e-mail."""

from __future__ import annotations

import math

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
from werkzeug.exceptions import TooManyRequests

from accounts import audit, mail, mail_messages
from accounts import join_domains as domains
from accounts.models import Company, Role
from accounts.services import normalise_email
from accounts.views import fresh_session
from billing import services as billing
from consoles.company.member_forms import EmailDomainForm, InviteForm, JoinForm, JoinRequestForm
from core import ratelimit
from core.db import edge_now
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.ratelimit import Limit
from core.urls import public_url
from identity import members

bp = Blueprint("members", __name__)

# The anonymous joining forms, per client address and, for join-link requests, per
# e-mail domain. The domain is counted only for requests its client's limit let
# through, so one client alone cannot use up a domain's allowance for everybody.
# Fixed one-hour windows, counted in the database every worker shares.
JOIN_REQUESTS_PER_IP = Limit("join-request-ip", 10, 3600)
JOIN_REQUESTS_PER_DOMAIN = Limit("join-request-domain", 30, 3600)
JOIN_ACCEPTS_PER_IP = Limit("join-accept-ip", 20, 3600)


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
    status: int = 200,
):
    company_id = _admin_company_id()
    company = db.session.get(Company, company_id)
    return render_template(
        "accounts/employees.html",
        company=company,
        summary=billing.summary(company_id),
        members=members.members_of(company_id),
        invitations=members.pending_invitations(company_id, edge_now()),
        invite_form=invite_form or InviteForm(formdata=None),
        domain_form=domain_form or EmailDomainForm(formdata=None, domain=company.email_domain),
        button_form=EmptyForm(),
        join_url=public_url("members.join_request"),
    ), status


def _queue_invitation(invitation, secret: str | None, now) -> None:
    """Queue the e-mail with the one-time link (built from ``BASE_URL``, never from the
    request's host). Without a secret (the address has an account elsewhere) the mail
    tells its owner instead, with no link."""
    company = invitation.company.name
    if secret is None:
        subject, body = mail_messages.account_exists_mail(company)
        mail.queue_mail(invitation.email, subject, body, now)
        return
    link = public_url("members.join", token=secret)
    subject, body = mail_messages.invitation_mail(
        company, link, invitation.expires_at, invitation.kind
    )
    mail.queue_mail(invitation.email, subject, body, now, expires_at=invitation.expires_at)


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
    # The same answer whether or not the address has an account elsewhere: the admin
    # learns nothing about other companies' people (the link goes by e-mail only).
    _queue_invitation(invitation, secret, now)
    email = invitation.email
    audit.record(
        "member.invite", now, actor=current_user._get_current_object(),
        object_type="invitation", object_id=invitation.id, company_id=company_id,
    )  # fmt: skip
    db.session.commit()
    flash(
        _(
            "An invitation e-mail with a one-time link is on its way to %(email)s.",
            email=email,
        ),
        "success",
    )
    return redirect(url_for("members.employees"), 303)


@bp.post("/company/employees/domain")
@login_required
def email_domain():
    company_id = _admin_company_id()
    form = EmailDomainForm()
    if not form.validate_on_submit():
        flash(_("Please enter a domain such as example.co.jp."), "error")
        return _employees_page(domain_form=form, status=400)
    try:
        company = domains.set_email_domain(
            company_id, form.domain.data or "", current_user._get_current_object(), edge_now()
        )
    except RuleError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _employees_page(domain_form=form, status=400)
    domain, state = company.email_domain, company.email_domain_state
    audit.record(
        "company.join_domain", edge_now(), actor=current_user._get_current_object(),
        object_type="company", object_id=company_id, company_id=company_id,
        after={"email_domain": domain},
    )  # fmt: skip
    db.session.commit()
    if state == "approved":
        flash(
            _("Staff with an address at @%(domain)s can now join by themselves.", domain=domain),
            "success",
        )
    elif state == "pending":
        flash(
            _(
                "@%(domain)s now waits for approval by the Engawa team."
                " Join links are sent once it is approved.",
                domain=domain,
            ),
            "success",
        )
    elif state == "rejected":
        flash(
            _("The Engawa team did not approve @%(domain)s for joining.", domain=domain),
            "error",
        )
    else:
        flash(_("Joining with a company e-mail address is turned off."), "success")
    return redirect(url_for("members.employees"), 303)


def _button_action(action, audited: tuple[str, str, int] | None = None):
    """Run a member action behind a POST button: 404 for another company's id, a flash
    for a refused rule, one commit otherwise, with the audit entry ``audited`` (action,
    object type, object id) when given."""
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
    if audited is not None:
        action_name, object_type, object_id = audited
        audit.record(
            action_name, edge_now(), actor=current_user._get_current_object(),
            object_type=object_type, object_id=object_id, company_id=current_user.company_id,
        )  # fmt: skip
    db.session.commit()
    return result


@bp.post("/company/employees/<int:user_id>/deactivate")
@login_required
def deactivate(user_id: int):
    _admin_company_id()
    cancelled = _button_action(
        lambda company_id: members.deactivate(
            company_id, user_id, edge_now(), actor_id=current_user.id
        ),
        ("member.deactivate", "user", user_id),
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
    user = _button_action(
        lambda company_id: members.reactivate(company_id, user_id),
        ("member.reactivate", "user", user_id),
    )
    if user is not None:
        flash(_("The employee can sign in again."), "success")
    return redirect(url_for("members.employees"), 303)


@bp.post("/company/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    _admin_company_id()
    invitation = _button_action(
        lambda company_id: members.revoke_invitation(company_id, invitation_id, edge_now()),
        ("member.invitation_revoke", "invitation", invitation_id),
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


def _rate_limited(checks, now) -> TooManyRequests | None:
    """Count the request under ``checks`` (in order, stopping at the first one over its
    limit); the refusal, if any, to answer with."""
    for check in checks:
        try:
            ratelimit.enforce([check], now)
        except TooManyRequests as refused:
            return refused
    return None


def _too_many(template: str, refused: TooManyRequests, **context):
    """The form's own page, saying how long to wait, with status 429 and Retry-After."""
    minutes = max(1, math.ceil(int(refused.retry_after) / 60))
    error = _(
        "Too many requests from your network or for this e-mail domain."
        " Please try again in %(minutes)d minutes.",
        minutes=minutes,
    )
    page = render_template(template, error=error, **context)
    response = make_response(page, 429)
    response.headers["Retry-After"] = str(refused.retry_after)
    return _no_store(response)


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    now = edge_now()
    refused = None
    if request.method == "POST":
        # Each attempt costs a password hash: counted per client before anything else.
        refused = _rate_limited([(JOIN_ACCEPTS_PER_IP, ratelimit.client_ip())], now)
    invitation = members.invitation_for(token, now)
    if invitation is None:
        return _invalid_link()
    if refused is not None:
        form = JoinForm(formdata=None)
        return _too_many("accounts/join.html", refused, invitation=invitation, form=form)
    form = JoinForm()
    status, error = 200, None
    company_id = invitation.company_id
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
            members.record_seats_full(company_id, now)  # the admins hear of it, once a day
            db.session.commit()
            status = 409
            error = _(
                "All seats of %(company)s are in use, so no account was made."
                " Ask your company admin to add seats, then open this link again.",
                company=invitation.company.name,
            )
        except RuleError as exc:
            db.session.rollback()
            # A weak password is the form's fault (400); an account made meanwhile, 409.
            status = 400 if exc.code in ("weak_password", "name") else 409
            error = exc.message
        else:
            db.session.commit()
            fresh_session()  # whoever was signed in on this browser before is not any more
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
    if request.method == "POST":
        now = edge_now()
        domain = members.domain_of(normalise_email(request.form.get("email", "")))
        refused = _rate_limited(
            [
                (JOIN_REQUESTS_PER_IP, ratelimit.client_ip()),
                (JOIN_REQUESTS_PER_DOMAIN, domain),
            ],
            now,
        )
        if refused is not None:
            return _too_many("accounts/join_request.html", refused, form=form)
    if form.validate_on_submit():
        now = edge_now()
        made = members.request_domain_join(form.email.data, now, members.DOMAIN_JOIN_LINK_DAYS)
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
