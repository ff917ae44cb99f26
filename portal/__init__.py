"""The portal: a Flask server that signs people in through Keycloak and runs the platform.

``create_app(settings)`` builds it (Flask's application-factory pattern): settings
from the environment, the platform database, the identity layer, the portal pages and
API, the deployment API and the front door's access decision. Apps are never imported
here: each runs as its own processes behind the front door (docs/hosting.md).
"""

from __future__ import annotations

import logging
import socket

from flask import Flask, jsonify

from portal.services import Services
from portal.settings import Settings

__all__ = ["create_app"]


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the portal from ``settings`` (default: read from the environment)."""
    from portal import (
        auth,
        deploys,
        errors,
        frontdoor_auth,
        keycloak_admin,
        registry,
        security_headers,
        thumbnails,
    )
    from portal.api import app_events as app_events_api
    from portal.api import apps as apps_api
    from portal.api import deployments as deployments_api
    from portal.api import me as me_api
    from portal.api import operations as operations_api
    from portal.datafiles import private_data_dir, private_sqlite_file
    from portal.deploys.startup import cli as platform_cli
    from portal.extensions import db, migrate
    from portal.pages import admin, home, manager, operate

    _configure_logging()
    settings = (settings or Settings.from_env()).resolved()
    private_data_dir(settings.data_dir)
    private_sqlite_file(settings.database_url)

    app = Flask(__name__)
    Services(settings).init_app(app)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(registry.MIGRATIONS_DIR))
    errors.init_app(app)
    security_headers.init_app(app)
    registry.init_app(app)
    auth.init_app(app)
    keycloak_admin.init_app(app)
    deploys.init_app(app)

    app.register_blueprint(me_api.bp)
    app.register_blueprint(apps_api.bp)
    app.register_blueprint(deployments_api.bp)
    app.register_blueprint(operations_api.bp)
    app.register_blueprint(app_events_api.bp)
    app.register_blueprint(frontdoor_auth.bp)
    app.register_blueprint(thumbnails.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(manager.bp, url_prefix="/manager")
    app.register_blueprint(operate.bp, url_prefix="/manager")
    app.register_blueprint(admin.bp, url_prefix="/admin")

    replica = settings.replica or socket.gethostname()

    @app.get("/healthz")
    def healthz():
        # Which portal process answered: behind the front door, replicas take turns.
        return jsonify({"status": "ok", "replica": replica})

    app.cli.add_command(platform_cli)
    return app
