"""The pages of each audience, on top of the domain: the operator's, the company
admin's and the platform admin's consoles."""

from __future__ import annotations

from flask import Flask

from consoles import admin, company, operator


def init_app(app: Flask) -> None:
    operator.init_app(app)
    company.init_app(app)
    admin.init_app(app)
