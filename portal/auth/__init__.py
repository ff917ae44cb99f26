"""The identity layer as a Flask extension: sessions, the OIDC client, CSRF, sign-in routes.

``init_app`` wires it into an app: server-side sessions (Flask-Session on the platform
database, or Redis), the Keycloak provider, a ``before_request`` that sets ``g.user``
from the session or a bearer token and checks CSRF, and the sign-in blueprint.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from flask import Flask
from sqlalchemy.exc import SAWarning

from portal.auth.csrf import check_csrf, csrf_token
from portal.auth.provider import Provider
from portal.auth.sessions import load_identity
from portal.auth.views import bp
from portal.extensions import db, oauth, server_sessions
from portal.settings import Settings

__all__ = ["init_app"]

SESSION_COOKIE_NAME = "dash_portal_session"


def _configure_sessions(app: Flask, settings: Settings) -> None:
    config = app.config
    config.update(
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_seconds),
        # Save only when changed: a callback must not rewrite the session it reads.
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_USE_SIGNER=True,
        SESSION_KEY_PREFIX="session:",
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_CLEANUP_N_REQUESTS=1000,
    )
    if settings.session_backend == "redis":
        import redis

        config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.from_url(settings.redis_url))
    elif settings.session_backend == "sqlalchemy":
        # Flask-Session declares its table on the shared metadata at every init; drop an
        # earlier declaration so a second app in one process (tests, tools) can be built.
        if "sessions" in db.metadata.tables:
            db.metadata.remove(db.metadata.tables["sessions"])
        config.update(
            SESSION_TYPE="sqlalchemy", SESSION_SQLALCHEMY=db, SESSION_SQLALCHEMY_TABLE="sessions"
        )
    else:
        raise ValueError(f"unknown PORTAL_SESSION_BACKEND {settings.session_backend!r}")
    with warnings.catch_warnings():
        # Flask-Session deprecates signing the (already random) id; we keep the signature
        # so a tampered cookie is refused before the store is even asked.
        warnings.simplefilter("ignore", DeprecationWarning)
        # ...and it re-declares its model class when a second app is built in a process.
        warnings.simplefilter("ignore", SAWarning)
        with app.app_context():
            server_sessions.init_app(app)


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["portal_settings"]
    _configure_sessions(app, settings)
    oauth.init_app(app)
    app.extensions["portal_provider"] = Provider.from_settings(settings, oauth=oauth)
    app.before_request(load_identity)
    app.before_request(check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.register_blueprint(bp)
