"""The bell's notices, mail preferences and the development mailbox.

Every page is the signed-in person's own: a notice or a mail of someone else answers
404 like one that does not exist.
"""

from __future__ import annotations

from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from accounts import mail as outbox
from accounts.models import Role
from core.db import edge_now
from core.extensions import db, login_manager
from core.forms import EmptyForm
from identity.audit_log import page_number
from notifications import mailbox
from notifications import notices as bell
from notifications import preferences as mail_preferences
from notifications.forms import PreferencesForm

bp = Blueprint("notifications", __name__)

# Who has a bell: the roles that receive notices (catalog: operators, company admins,
# the Engawa team). Employees hear of their stays by mail.
BELL_ROLES = (Role.EMPLOYEE, Role.OPERATOR, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN)
# The mail's HTML part is shown in a sandboxed frame: no script, no plugin, no origin of
# Engawa's, only its own inline styles and embedded images; links open in a new tab.
MAIL_HTML_POLICY = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


def header_context() -> dict:
    """For every page's header: ``notices_unread()`` (the bell's count, None for people
    without a bell) and ``dev_mailbox_on()``; each queries only when a page calls it."""

    counted: list[int | None] = []

    def notices_unread() -> int | None:
        if not counted:  # once per page, however often the page asks
            user = current_user
            has_bell = user and user.is_authenticated and user.role in BELL_ROLES
            counted.append(bell.unread_count(user.id) if has_bell else None)
        return counted[0]

    def dev_mailbox_on() -> bool:
        return mailbox.mailbox_on(current_app.config)

    return {"notices_unread": notices_unread, "dev_mailbox_on": dev_mailbox_on}


def _page_arg() -> int:
    """The page asked for: ASCII digits only ("²" is a digit to ``str.isdigit``, not to
    ``int``), clamped; anything else is the first page. The list clamps it to its last."""
    return page_number(request.args.get("page"))


def _require_post_form() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


# --- Notices -------------------------------------------------------------------------------


@bp.get("/notices")
@login_required
def notices():
    return render_template(
        "notifications/notices.html",
        page=bell.notices_page(current_user.id, _page_arg()),
        notice_text=bell.notice_text,
        safe_link=bell.safe_link,
        has_bell=current_user.role in BELL_ROLES,
        button=EmptyForm(),
    )


@bp.post("/notices/<int:notice_id>/read")
@login_required
def read(notice_id: int):
    """Mark one notice read and open its page."""
    _require_post_form()
    notice = bell.own_notice(current_user.id, notice_id)
    if notice is None:
        abort(404)
    bell.mark_read(notice, edge_now())
    db.session.commit()
    return redirect(bell.safe_link(notice.link) or url_for(".notices"), 303)


@bp.post("/notices/read-all")
@login_required
def read_all():
    _require_post_form()
    marked = bell.mark_all_read(current_user.id, edge_now())
    db.session.commit()
    if marked:
        flash(
            ngettext("%(num)d notice marked read.", "%(num)d notices marked read.", marked),
            "success",
        )
    return redirect(url_for(".notices"), 303)


# --- Mail preferences --------------------------------------------------------------------


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    optional, required = mail_preferences.choices_for(current_user.role)
    form = PreferencesForm()
    form.wanted.choices = [(kind.name, kind.label) for kind in optional]
    if form.validate_on_submit():
        mail_preferences.set_preferences(current_user.id, form.wanted.data or [], edge_now())
        db.session.commit()
        flash(_("Your mail preferences are saved."), "success")
        return redirect(url_for(".preferences"), 303)
    status = 200
    if form.is_submitted():
        status = 400  # the CSRF token was missing or stale: nothing saved
    else:
        off = mail_preferences.opted_out(current_user.id)
        form.wanted.data = [kind.name for kind in optional if kind.name not in off]
    return render_template(
        "notifications/preferences.html",
        form=form,
        required=required,
        has_bell=current_user.role in BELL_ROLES,
    ), status


# --- The development mailbox -------------------------------------------------------------


def mailbox_page(view):
    """A page of the development mailbox: 404 unless the mailbox is on (signed in or
    not, so nothing shows it exists), then only for the signed-in."""

    @wraps(view)
    def page(*args, **kwargs):
        if not mailbox.mailbox_on(current_app.config):
            abort(404)
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return page


def _mail_or_404(mail_id: int) -> outbox.OutgoingMail:
    found = mailbox.mail_for(current_user, mail_id)
    if found is None:
        abort(404)
    return found


@bp.get("/dev/mail")
@mailbox_page
def dev_mailbox():
    """The mail queued for the signed-in person (everyone's for the Engawa team)."""
    page = mailbox.mailbox_page(current_user, _page_arg())
    return render_template(
        "notifications/mailbox.html",
        page=page,
        bodies={m.id: outbox.body_of(m) for m in page.items},
        everyone=current_user.is_platform_admin,
    )


@bp.get("/dev/mail/<int:mail_id>")
@mailbox_page
def dev_mail(mail_id: int):
    found = _mail_or_404(mail_id)
    return render_template(
        "notifications/mail.html",
        mail=found,
        body=outbox.body_of(found),
        html=outbox.html_of(found),
        attachment=outbox.attachment_of(found),
    )


@bp.get("/dev/mail/<int:mail_id>/html")
@mailbox_page
def dev_mail_html(mail_id: int):
    """The HTML part alone, for the sandboxed frame of the mail's page."""
    html = outbox.html_of(_mail_or_404(mail_id))
    if not html:
        abort(404)
    response = Response('<base target="_blank">' + html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_HTML_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.get("/dev/mail/<int:mail_id>/attachment/<name>")
@mailbox_page
def dev_mail_attachment(mail_id: int, name: str):
    """The mail's attachment as a download (a stay's .ics); its name ends the address."""
    attachment = outbox.attachment_of(_mail_or_404(mail_id))
    if attachment is None or not attachment[2] or name != attachment[0]:
        abort(404)
    _name, mime_type, content = attachment
    return Response(
        content,
        mimetype=mime_type,
        headers={"Content-Disposition": f'attachment; filename="{_ascii_name(name)}"'},
    )


def _ascii_name(name: str) -> str:
    """A file name safe inside a quoted header value."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else "_" for c in name)
    return cleaned or "attachment"
