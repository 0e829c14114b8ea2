"""What a region offers and what the network brings it (issue 20): programmes employees
join during their stays, local coupons (地域クーポン) welfare money funds and local shops
redeem, and the company–region matching. Stays are known by id only; ``booking`` passes
a stay's facts in. See ``models.py`` for the tables."""

from __future__ import annotations

from flask import Flask

from regions import (
    models,  # noqa: F401  (programmes, coupons, shops, matching)
    shop_views,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(shop_views.bp)  # /shop: local shops register and redeem coupons
