"""What a region offers and what the network brings it (issue 20): programmes employees
join during their stays, local coupons (地域クーポン) welfare money funds and local shops
redeem, and the company–region matching. Stays are known by id only; ``booking`` passes
a stay's facts in. See ``models.py`` for the tables; participants' personal data goes
after the retention period (``retention.py``, the daily ``programme_purge`` job)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.scheduler import JobSpec, register_jobs
from regions import (
    models,  # noqa: F401  (programmes, coupons, shops, matching)
    retention,
    shop_views,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(shop_views.bp)  # /shop: local shops register and redeem coupons
    register_jobs(
        app,
        JobSpec(
            "programme_purge",
            retention.purge_job,
            "cron",
            lambda config: {"hour": 3, "minute": 40},
            _l(
                "Remove who took part in regional programmes 3 years after each session"
                " (the figures stay)"
            ),
        ),
    )
