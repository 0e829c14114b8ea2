"""What every answer passes through: trusted proxies and hosts, security headers."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import map_tile_origin


def init_app(app: Flask) -> None:
    _trust_proxies(app)
    _refuse_unknown_hosts(app)
    app.after_request(_security_headers)
    app.jinja_env.globals["map_tiles"] = map_tiles


def map_tiles() -> dict:
    """What every map (templates/_map.html) draws under its pins: the configured tiles,
    or none (then only the outline of Japan). A template global, so imported macros see it."""
    config = current_app.config
    return {
        "url": config.get("MAP_TILE_URL", ""),
        "attribution": config.get("MAP_TILE_ATTRIBUTION", ""),
    }


def _trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-* only as far as the configured proxies set them.

    With every count 0 (the default) the headers are ignored: the client's address
    and scheme are the connection's. X-Forwarded-Host, when trusted, becomes the
    request's host and then meets TRUSTED_HOSTS like any Host header.
    """
    counts = {
        part: app.config[f"PROXY_FIX_X_{part.upper()}"] for part in ("for", "proto", "host", "port")
    }
    if any(counts.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **{f"x_{k}": v for k, v in counts.items()})


def _refuse_unknown_hosts(app: Flask) -> None:
    """A request for a host not in TRUSTED_HOSTS ends here with a plain 400 page.

    Flask finds the untrusted host while routing and raises it only when the view
    would run; this runs first among the hooks, so no rate limit, CSRF check or
    session work sees the request. The page builds no URL: there is no trusted
    host to build one for.
    """

    def check_host():
        if isinstance(request.routing_exception, SecurityError):
            raise request.routing_exception

    app.before_request_funcs.setdefault(None, []).insert(0, check_host)

    @app.errorhandler(SecurityError)
    def unknown_host(exc: SecurityError):
        if request.path.startswith("/api/"):
            message = "This host is not served here."
            return jsonify(error={"code": "bad_request", "message": message}), 400
        return render_template("bad_host.html", base_url=app.config["BASE_URL"]), 400


# Sources for every page: only Engawa's own scripts, styles and images; no plugins,
# no framing, forms post only here. Checkout and the billing portal are reached by a
# redirect after a form post, which form-action also governs: with Stripe, its hosts.
# With MAP_TILE_URL, the maps' tiles are the one kind of image from elsewhere.
CSP = (
    "default-src 'self'; {images}frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'{stripe}; object-src 'none'"
)
STRIPE_PAGES = " https://checkout.stripe.com https://billing.stripe.com"
HSTS = "max-age=31536000; includeSubDomains"


def _security_headers(response):
    """Headers every answer carries: a content policy, no framing, no MIME sniffing,
    no referrer leaks, HTTPS only where cookies are; and no caching by default.

    ``no-store`` goes on every answer whose view did not choose its own caching.
    Nearly every page is personal (a stay, an invoice, a roster) or carries a CSRF
    token, so storing none is the simple rule that cannot miss one; the answers that
    may be cached say so themselves and hold nothing personal: static files,
    facility photos (``private``) and the iCal feeds (``private, no-cache`` with an
    ETag, so a calendar client still gets its 304s).
    """
    config = current_app.config
    stripe = STRIPE_PAGES if config["BILLING_BACKEND"] == "stripe" else ""
    tiles = map_tile_origin(config.get("MAP_TILE_URL", ""))
    images = f"img-src 'self' {tiles}; " if tiles else ""
    response.headers.setdefault("Content-Security-Policy", CSP.format(stripe=stripe, images=images))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if config["SESSION_COOKIE_SECURE"] or config["ENGAWA_ENV"] == "production":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
