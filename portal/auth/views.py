"""Sign-in routes: /login, /auth/callback, POST /logout, POST /auth/backchannel-logout."""

from __future__ import annotations

import hmac
import logging
import time

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from portal.auth import revocation
from portal.auth.provider import Provider, ProviderUnavailable, SignInError
from portal.auth.redirects import safe_next
from portal.auth.sessions import begin_session, end_current_session, end_sessions
from portal.auth.tokens import TokenError
from portal.errors import ApiError
from portal.identity import current_user

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

_PENDING_KEY = "pending_login"
#: A sign-in must come back within this many seconds of starting.
_PENDING_MAX_AGE = 600


def _provider() -> Provider:
    return current_app.extensions["portal_provider"]


def _unavailable(error: Exception) -> Response:
    log.warning("identity provider unreachable: %s", error)
    body = render_template(
        "login_unavailable.html",
        message="The identity provider (Keycloak) is unreachable, so nobody can sign in "
        "right now. People already signed in keep working. Try again in a minute.",
    )
    return Response(body, status=503, mimetype="text/html")


@bp.get("/login")
def login() -> Response:
    """Start the authorization code flow with PKCE S256, state and nonce."""
    target = safe_next(request.args.get("next"))
    redirect_uri = url_for("auth.callback", _external=True)
    try:
        auth_request = _provider().authorization_request(
            redirect_uri=redirect_uri, reauthenticate=request.args.get("prompt") == "login"
        )
    except ProviderUnavailable as error:
        return _unavailable(error)
    session[_PENDING_KEY] = {
        "reauthenticate": request.args.get("prompt") == "login",
        "state": auth_request.state,
        "code_verifier": auth_request.code_verifier,
        "nonce": auth_request.nonce,
        "redirect_uri": redirect_uri,
        "next": target,
        "started": time.time(),
    }
    return redirect(auth_request.url, code=302)


@bp.get("/auth/callback")
def callback() -> Response:
    """Finish the code flow: check state, exchange the code, verify, start a session."""
    pending = session.pop(_PENDING_KEY, None)
    if request.args.get("error"):
        message = request.args.get("error_description") or request.args["error"]
        raise ApiError(400, f"Sign-in was not completed: {message}")
    state = request.args.get("state", "")
    code = request.args.get("code", "")
    if not pending or not state or not code:
        raise ApiError(400, "Sign-in could not be completed: no sign-in was in progress.")
    if not hmac.compare_digest(str(pending["state"]), state):
        raise ApiError(400, "Sign-in could not be completed: the state did not match.")
    if time.time() - pending["started"] > _PENDING_MAX_AGE:
        raise ApiError(400, "Sign-in took too long. Please start again.")
    try:
        tokens = _provider().exchange_code(
            code=code,
            redirect_uri=pending["redirect_uri"],
            code_verifier=pending["code_verifier"],
            nonce=pending["nonce"],
        )
    except ProviderUnavailable as error:
        return _unavailable(error)
    except SignInError as error:
        log.warning("sign-in refused: %s", error)
        raise ApiError(400, f"Sign-in could not be completed: {error}") from error
    revoked = revocation.not_before(tokens.user.sub)
    # A password entered after this sign-in started (prompt=login) is a new sign-in,
    # even within the second of the revocation (auth_time has whole seconds).
    fresh = pending.get("reauthenticate") and tokens.authenticated_at >= int(pending["started"])
    if revoked is not None and tokens.authenticated_at < revoked and not fresh:
        # Keycloak signed the browser in from a sign-in the platform revoked since.
        log.info("sign-in of %s predates its revocation: asking again", tokens.user.username)
        return redirect(url_for("auth.login", next=pending["next"], prompt="login"), code=302)
    begin_session(tokens)
    log.info("signed in: %s (keycloak session %s)", tokens.user.username, tokens.keycloak_sid)
    return redirect(pending["next"], code=302)


@bp.get("/logout")
def confirm_logout() -> Response | str:
    """The page an app's "Sign out" link opens: a form that POSTs /logout with its token."""
    if current_user() is None:
        return redirect(url_for("home.portal"), code=303)
    return render_template("logout.html")


@bp.post("/logout")
def logout() -> Response:
    """End the portal session and the Keycloak session (CSRF-checked before this runs)."""
    id_token = end_current_session()
    home = url_for("home.portal", _external=True)
    try:
        return redirect(
            _provider().end_session_url(id_token=id_token, post_logout_redirect_uri=home),
            code=303,
        )
    except ProviderUnavailable:
        return redirect(home, code=303)


@bp.post("/auth/backchannel-logout")
def backchannel_logout() -> Response:
    """Keycloak says a session ended: verify the logout token, end matching sessions."""
    token = request.form.get("logout_token")
    if not token:
        raise ApiError(400, "logout_token is required")
    client_id = current_app.extensions["portal_settings"].client_id
    try:
        claims = _provider().verifier.verify_logout_token(token, client_id=client_id)
    except TokenError as error:
        log.warning("back-channel logout token refused: %s", error)
        raise ApiError(400, f"logout token refused: {error}") from error
    ended = end_sessions(keycloak_sid=claims.get("sid"), sub=claims.get("sub"))
    if claims.get("sid") and claims.get("sub"):
        revocation.end_sessions_gone_from_keycloak(
            current_app._get_current_object(),  # Flask's documented way to hand on the app
            str(claims["sub"]),
            delay=revocation.GONE_SESSIONS_DELAY,
        )
    log.info(
        "back-channel logout of keycloak session %s: ended %d portal session(s)",
        claims.get("sid"),
        ended,
    )
    response = jsonify({"ended": ended})
    response.headers["Cache-Control"] = "no-store"
    return response
