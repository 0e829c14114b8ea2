"""The webhook pages both consoles show: an organisation's endpoints, adding one (its
secret shown once, on the answer to the form), one endpoint with its delivery log, the
test event button, off and on, and deleting with a confirmation.

The consoles do not import each other, so each registers these pages on its own
blueprint (``register``) with who the signed-in person's organisation is and the layout
to show them in; the blueprint's own check (company admins, operators) covers them.
Every endpoint is looked up within that organisation: another's id answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
from flask_login import current_user

from core.db import edge_now, in_id_range
from core.extensions import db
from core.forms import EmptyForm
from notifications import webhook_endpoints as endpoints
from notifications.models import WebhookEndpoint
from notifications.webhook_endpoints import Owner, WebhookError
from notifications.webhook_forms import EndpointForm
from notifications.webhooks import MAX_ATTEMPTS

MAX_PAGE = 100_000


@dataclass(frozen=True)
class Console:
    """Where the pages hang: the path under the blueprint's prefix ("" or "/webhooks"),
    the endpoint name prefix on the blueprint ("" or "webhooks_"), the layout template,
    the signed-in person's organisation, and any more values the layout needs."""

    path: str
    prefix: str
    layout: str
    owner: Callable[[], Owner]
    context: Callable[[], dict[str, Any]] = field(default=lambda: {})


def register(bp: Blueprint, console: Console) -> None:
    """Add the webhook pages to ``bp`` at ``console.path`` (the list is the endpoint
    ``bp.name + "." + console.prefix + "index"``)."""
    pages = _Pages(bp.name + "." + console.prefix, console)
    rules = (
        ("", "index", pages.index, ["GET"]),
        ("/new", "new", pages.new, ["GET", "POST"]),
        ("/<int:endpoint_id>", "detail", pages.detail, ["GET"]),
        ("/<int:endpoint_id>/test", "test", pages.test, ["POST"]),
        ("/<int:endpoint_id>/disable", "disable", pages.disable, ["POST"]),
        ("/<int:endpoint_id>/enable", "enable", pages.enable, ["POST"]),
        ("/<int:endpoint_id>/delete", "delete", pages.delete, ["GET", "POST"]),
    )
    for rule, name, view, methods in rules:
        bp.add_url_rule(console.path + rule, console.prefix + name, view, methods=methods)


def _page_number(raw: str | None) -> int:
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return 1
    return min(max(int(raw), 1), MAX_PAGE)


class _Pages:
    def __init__(self, endpoint_prefix: str, console: Console):
        self.ep = endpoint_prefix
        self.console = console

    # --- helpers ----------------------------------------------------------------------

    def _render(self, template: str, status: int = 200, **context):
        response = make_response(
            render_template(
                f"webhooks/{template}",
                layout=self.console.layout,
                ep=self.ep,
                active="webhooks",
                labels=endpoints,
                **self.console.context(),
                **context,
            ),
            status,
        )
        return response

    def _endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        endpoint = (
            endpoints.endpoint_of(self.console.owner(), endpoint_id)
            if in_id_range(endpoint_id)
            else None
        )
        if endpoint is None:
            abort(404)
        return endpoint

    def _to_detail(self, endpoint_id: int):
        return redirect(url_for(self.ep + "detail", endpoint_id=endpoint_id), 303)

    @staticmethod
    def _checked_button() -> None:
        if not EmptyForm().validate_on_submit():
            abort(400)

    # --- pages ------------------------------------------------------------------------

    def index(self):
        owner = self.console.owner()
        return self._render(
            "index.html",
            endpoints=endpoints.endpoints_of(owner),
            limit=endpoints.MAX_ENDPOINTS,
        )

    def new(self):
        owner = self.console.owner()
        allow_private = bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE_HOSTS"))
        form = EndpointForm(owner.types, allow_private=allow_private)
        error = None
        if form.validate_on_submit():
            try:
                endpoint, secret = endpoints.create_endpoint(
                    owner,
                    current_user._get_current_object(),
                    form.url.data or "",
                    form.description.data or "",
                    list(form.event_types.data or []),
                    edge_now(),
                    allow_private=allow_private,
                )
            except WebhookError as exc:
                db.session.rollback()
                if exc.field is not None:
                    getattr(form, exc.field).errors = [exc.message]
                else:
                    error = exc.message
            else:
                db.session.commit()
                flash(
                    _("Endpoint added. Copy its signing secret now: it is shown only once."),
                    "success",
                )
                response = self._render("created.html", hook=endpoint, secret=secret)
                response.headers["Cache-Control"] = "no-store"  # the secret, once, never cached
                return response
        status = 422 if form.is_submitted() else 200
        return self._render("new.html", status, form=form, error=error)

    def detail(self, endpoint_id: int):
        endpoint = self._endpoint(endpoint_id)
        page = endpoints.deliveries_page(endpoint, _page_number(request.args.get("page")))
        return self._render(
            "detail.html",
            hook=endpoint,
            page=page,
            button_form=EmptyForm(),
            max_attempts=MAX_ATTEMPTS,
        )

    def test(self, endpoint_id: int):
        endpoint = self._endpoint(endpoint_id)
        self._checked_button()
        try:
            endpoints.send_test(endpoint, edge_now())
        except WebhookError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(
                _("Test event queued: it arrives within a minute, and the log below shows it."),
                "success",
            )
        return self._to_detail(endpoint_id)

    def _set_active(self, endpoint_id: int, active: bool):
        endpoint = self._endpoint(endpoint_id)
        self._checked_button()
        endpoints.set_active(endpoint, active, current_user._get_current_object(), edge_now())
        db.session.commit()
        if active:
            flash(_("Endpoint turned on: events are sent to it again."), "success")
        else:
            flash(_("Endpoint turned off: nothing is sent to it until you turn it on."), "success")
        return self._to_detail(endpoint_id)

    def disable(self, endpoint_id: int):
        return self._set_active(endpoint_id, False)

    def enable(self, endpoint_id: int):
        return self._set_active(endpoint_id, True)

    def delete(self, endpoint_id: int):
        endpoint = self._endpoint(endpoint_id)
        form = EmptyForm()
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            endpoints.delete_endpoint(endpoint, current_user._get_current_object(), edge_now())
            db.session.commit()
            flash(_("Endpoint deleted: nothing more is sent to it."), "success")
            return redirect(url_for(self.ep + "index"), 303)
        return self._render("delete.html", hook=endpoint, button_form=form)
