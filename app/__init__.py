"""The application factory: the one place that knows every package.

It configures and wires; it never migrates, seeds or calls the network. Each
package registers its own blueprints, commands, jobs and template globals in
its ``init_app``; they are called bottom layer first.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask

import accounts
import availability
import billing
import booking
import calendars
import consoles
import core
import demo
import facilities
import hr
import identity
import lodging
import notifications
import operations
import pricing
import regions
from core.config import INSTANCE_DIR, load_config

# The layers, bottom first (docs/ARCHITECTURE.md): each may import those before it.
PACKAGES = (
    core,
    accounts,
    facilities,
    availability,
    pricing,
    billing,
    lodging,
    hr,
    regions,
    booking,
    calendars,
    identity,
    notifications,
    operations,
    consoles,
    demo,
)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        "engawa",
        root_path=str(INSTANCE_DIR.parent),
        instance_path=str(INSTANCE_DIR),
        template_folder="templates",
        static_folder="static",
    )
    env = os.environ
    if test_config and not env.get("SECRET_KEY"):
        # A test app brings its own key (or gets a throwaway one): tests never
        # write the development key into the project's instance/ folder.
        env = {**env, "SECRET_KEY": test_config.get("SECRET_KEY") or secrets.token_hex(32)}
    app.config.update(load_config(env))
    if test_config:
        app.config.update(test_config)
    for package in PACKAGES:
        package.init_app(app)
    return app
