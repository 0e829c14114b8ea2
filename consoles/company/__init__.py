"""/company: the corporate admin's console (members and invitations, subscription,
policy, usage, invoices) and the employees' join pages."""

from __future__ import annotations

from flask import Flask

from consoles.company import (  # noqa: F401  (policy_views: pages on hr_views.bp)
    audit_views,
    coupon_views,
    hr_views,
    matching_views,
    member_views,
    policy_views,
    report_api,
    report_views,
    scim_views,
    sso_views,
    views,
    webhook_views,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(member_views.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(sso_views.bp)
    app.register_blueprint(scim_views.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(webhook_views.bp)
    app.register_blueprint(hr_views.bp)
    app.register_blueprint(report_views.bp)
    app.register_blueprint(report_api.bp)
