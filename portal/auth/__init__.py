"""The identity layer as a Flask extension: sessions, the OIDC client, CSRF, sign-in routes.

``init_app`` wires it into an app: server-side sessions (Flask-Session on the platform
database, or Redis), the Keycloak provider, a ``before_request`` that sets ``g.user``
from the session or a bearer token and checks CSRF, the sign-in blueprint, and the
schedule that purges expired sessions (started by each process's first request), and the
watcher of Keycloak's admin events that revokes disabled or signed-out users.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Flask, g, request

from portal.auth.csrf import check_csrf, csrf_token
from portal.auth.provider import Provider
from portal.auth.purge import PurgeSchedule
from portal.auth.revocation import AdminEventWatcher
from portal.auth.session_store import SESSION_COOKIE_NAME, init_sessions
from portal.auth.sessions import load_identity
from portal.auth.views import bp
from portal.services import services

__all__ = ["SESSION_COOKIE_NAME", "authenticate_request", "init_app"]


def authenticate_request() -> None:
    """Who is asking (``g.user``), then CSRF for the writes that ride on the session."""
    load_identity(request, g)
    check_csrf(request, g)


def init_app(app: Flask) -> None:
    platform = services(app)
    settings = platform.settings
    init_sessions(app, settings)
    # Each app its own registry: Authlib keeps a registered client (and the discovery
    # document it loaded) for the registry's lifetime, so a shared one would hand every
    # later app the first app's Keycloak.
    oauth = OAuth(app)
    platform.provider = Provider.from_settings(settings, oauth=oauth)
    platform.purge = PurgeSchedule(app, settings.purge_interval_seconds)
    app.before_request(platform.purge.ensure_running)
    if settings.revocation_poll_seconds > 0:
        watcher = AdminEventWatcher(app, interval=settings.revocation_poll_seconds)
        platform.revocation_watcher = watcher
        app.before_request(watcher.ensure_running)
    app.before_request(authenticate_request)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.register_blueprint(bp)
