"""Map tiles: ``MAP_TILE_URL`` is validated at start-up, is off by default (the maps then
draw only the outline of Japan), and its origin is the one image source the content
policy adds, only when it is set. The map macros carry the settings and the pins."""

from __future__ import annotations

import json
import re
from html import unescape
from types import SimpleNamespace

import pytest
from flask import render_template_string

from core import config as config_module
from core.config import ConfigError, load_config, map_tile_origin

OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
BASE_CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)


@pytest.fixture(autouse=True)
def instance_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path / "instance")


def test_no_tiles_by_default():
    config = load_config({})
    assert (config["MAP_TILE_URL"], config["MAP_TILE_ATTRIBUTION"]) == ("", "")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        (OSM, "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.jp/{z}/{x}/{y}{r}.png", "https://*.tile.example.jp"),
        ("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
        ("https://Tiles.Example.jp/{z}/{y}/{x}.webp?key=abc123", "https://tiles.example.jp"),
    ],
)
def test_a_tile_url_template_is_accepted_and_gives_its_origin(url, origin):
    config = load_config({"MAP_TILE_URL": url, "MAP_TILE_ATTRIBUTION": "© OpenStreetMap"})

    assert config["MAP_TILE_URL"] == url
    assert config["MAP_TILE_ATTRIBUTION"] == "© OpenStreetMap"
    assert map_tile_origin(url) == origin


@pytest.mark.parametrize(
    "url",
    [
        "tile.openstreetmap.org/{z}/{x}/{y}.png",  # no scheme
        "ftp://tiles.example.jp/{z}/{x}/{y}.png",
        "javascript:alert(1)//{z}/{x}/{y}",
        "https://tile.openstreetmap.org/tiles.png",  # no placeholders
        "https://tile.openstreetmap.org/{z}/{x}.png",  # no {y}
        "https://tile.openstreetmap.org/{z}/{x}/{y}/{apikey}.png",  # unknown placeholder
        "https://user@tiles.example.jp/{z}/{x}/{y}.png",
        "https:///{z}/{x}/{y}.png",
        "https://tiles.example.jp:port/{z}/{x}/{y}.png",
        "https://tiles.example.jp;script-src *; /{z}/{x}/{y}.png",  # would escape the CSP
        "https://tiles.example.jp/{z}/{x}/{y}.png 'unsafe-inline'",
        "https://{z}.example.jp/{z}/{x}/{y}.png",
        "https://tiles.example.jp/{z}/{x}/{y}.png#top",
    ],
)
def test_a_malformed_tile_url_is_refused_by_name(url):
    with pytest.raises(ConfigError, match="MAP_TILE_URL"):
        load_config({"MAP_TILE_URL": url})


def test_production_needs_https_tiles():
    production = {
        "ENGAWA_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://db/engawa",
        "BASE_URL": "https://engawa.example",
        "PROXY_FIX_X_FOR": "1",
        "BILLING_BACKEND": "local",
    }
    with pytest.raises(ConfigError, match="MAP_TILE_URL must be https in production"):
        load_config({**production, "MAP_TILE_URL": "http://tiles.example.jp/{z}/{x}/{y}.png"})
    assert load_config({**production, "MAP_TILE_URL": OSM})["MAP_TILE_URL"] == OSM


def test_the_content_policy_names_the_tile_origin_only_when_tiles_are_set(app, client):
    assert client.get("/login").headers["Content-Security-Policy"] == BASE_CSP

    app.config["MAP_TILE_URL"] = "https://{s}.tile.example.jp/{z}/{x}/{y}.png"
    policy = client.get("/login").headers["Content-Security-Policy"]

    assert policy == (
        "default-src 'self'; img-src 'self' https://*.tile.example.jp; frame-ancestors 'none';"
        " base-uri 'self'; form-action 'self'; object-src 'none'"
    )


MAP = """{% from "_map.html" import map_block, map_toggle %}
{{ map_toggle('results', 'results-map') }}
{{ map_block(pins, 'Map of the results', 'map-tall', id='results-map') }}"""


def _data(page: str, name: str) -> str:
    """A data attribute's value, in single quotes (JSON) or double."""
    match = re.search(rf"""{name}=(?:'([^']*)'|"([^"]*)")""", page)
    return unescape(match.group(1) if match.group(1) is not None else match.group(2))


def test_a_map_carries_its_pins_and_tiles_as_data_and_lists_its_places_without_javascript(app):
    app.config.update(MAP_TILE_URL=OSM, MAP_TILE_ATTRIBUTION="© OpenStreetMap <contributors>")
    pins = [
        {
            "id": 1,
            "lat": 36.1,
            "lng": 138.3,
            "title": 'Inn\'s <b>"best"</b> & more',
            "place": "長野県 茅野市",
            "url": "/facilities/1?check_in=2026-12-20&guests=2",
            "price": "¥33,000（税込）",
        }
    ]
    with app.test_request_context("/"):
        page = render_template_string(MAP, pins=pins, current_user=SimpleNamespace())

    assert "<b>" not in page  # every title is data or text, never markup
    assert json.loads(_data(page, "data-pins")) == pins
    assert _data(page, "data-tile-url") == OSM
    assert _data(page, "data-tile-attribution") == "© OpenStreetMap <contributors>"
    assert _data(page, "data-outline-url") == "/static/vendor/japan/japan.geojson"
    assert 'role="region" aria-label="Map of the results" hidden' in page
    # Without JavaScript: the places as links, and no toggle (it appears with the map).
    assert re.search(r'<noscript>\s*<ul class="map-fallback"', page)
    assert 'href="/facilities/1?check_in=2026-12-20&amp;guests=2">Inn&#39;s &lt;b&gt;' in page
    assert re.search(r'<div class="view-toggle" role="group" [^>]*hidden', page)
    assert 'aria-pressed="true" data-view="list"' in page
