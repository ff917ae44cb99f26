"""Sign-in routes: /login, /auth/callback, POST /logout, POST /auth/backchannel-logout."""

from __future__ import annotations

import hmac
import logging
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    after_this_request,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from portal.auth import pending as pending_sign_in
from portal.auth import revocation
from portal.auth.provider import ProviderUnavailable, SignInError
from portal.auth.redirects import safe_next
from portal.auth.sessions import (
    begin_session,
    end_current_session,
    end_sessions,
)
from portal.auth.tokens import TokenError
from portal.errors import ApiError
from portal.identity import current_user
from portal.services import services

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

#: What the sign-in page says for each error code Keycloak may send back (RFC 6749
#: 4.1.2.1, OpenID Connect Core 3.1.2.6). Never the ``error_description`` itself: anyone
#: can send a link to /auth/callback with a description of their own.
_SIGN_IN_ERRORS = {
    "access_denied": "Sign-in was cancelled or refused.",
    "login_required": "Please sign in.",
    "interaction_required": "Please sign in.",
    "consent_required": "Sign-in needs your consent at the identity provider.",
    "account_selection_required": "Please choose an account to sign in with.",
    "temporarily_unavailable": "The identity provider is busy. Please try again in a minute.",
    "server_error": "The identity provider had an error. Please try again.",
}
_SIGN_IN_ERROR_OTHER = "The identity provider refused the sign-in request."


def _unavailable(error: Exception) -> Response:
    log.warning("identity provider unreachable: %s", error)
    body = render_template(
        "login_unavailable.html",
        message="The identity provider (Keycloak) is unreachable, so nobody can sign in "
        "right now. People already signed in keep working. Try again in a minute.",
    )
    return Response(body, status=503, mimetype="text/html")


def _public_url(endpoint: str, **values: str) -> str:
    """An absolute URL of the portal, from the configured public URL.

    Never from the request's ``Host`` (or an ``X-Forwarded-*`` header, which the portal
    does not read): a client must not choose where Keycloak sends the code.
    """
    return services().settings.public_url.rstrip("/") + url_for(endpoint, **values)


def _on_public_host() -> bool:
    public = urlsplit(services().settings.public_url)
    default_port = {"http": ":80", "https": ":443"}.get(public.scheme, "")
    hosts = (request.host.lower(), public.netloc.lower())
    return len({h.removesuffix(default_port) if default_port else h for h in hosts}) == 1


@bp.get("/login")
def login() -> Response:
    """Start the authorization code flow with PKCE S256, state and nonce.

    Stores nothing: the secrets go to the browser in a sealed cookie (auth.pending).
    """
    target = safe_next(request.args.get("next"))
    if not _on_public_host():
        # The sign-in returns to the public URL: start it there, where its cookie will be
        # (http://localhost:8050 and http://127.0.0.1:8050 are different sites). Once
        # only: a proxy that rewrites Host would otherwise send the browser round forever.
        if not request.args.get("moved"):
            return redirect(_public_url("auth.login", next=target, moved="1"), code=302)
        log.warning(
            "PORTAL_PUBLIC_URL is %s but requests arrive for host %r: does a proxy rewrite Host?",
            services().settings.public_url,
            request.host,
        )
    redirect_uri = _public_url("auth.callback")
    try:
        auth_request = services().provider.authorization_request(
            redirect_uri=redirect_uri, reauthenticate=request.args.get("prompt") == "login"
        )
    except ProviderUnavailable as error:
        return _unavailable(error)
    response = redirect(auth_request.url, code=302)
    pending_sign_in.remember(
        response,
        {
            "reauthenticate": request.args.get("prompt") == "login",
            "state": auth_request.state,
            "code_verifier": auth_request.code_verifier,
            "nonce": auth_request.nonce,
            "redirect_uri": redirect_uri,
            "next": target,
            "started": time.time(),
        },
    )
    return response


@bp.get("/auth/callback")
def callback() -> Response:
    """Finish the code flow: check state, exchange the code, verify, start a session."""
    pending = pending_sign_in.recall(request)
    after_this_request(pending_sign_in.forget)  # used once, whatever the outcome
    if request.args.get("error"):
        code = request.args["error"]
        log.info("sign-in returned error %r: %r", code, request.args.get("error_description"))
        message = _SIGN_IN_ERRORS.get(code, _SIGN_IN_ERROR_OTHER)
        raise ApiError(400, f"Sign-in was not completed. {message}")
    state = request.args.get("state", "")
    code = request.args.get("code", "")
    if not pending or not state or not code:
        raise ApiError(
            400,
            "Sign-in could not be completed: no sign-in was in progress (or it was started "
            f"more than {pending_sign_in.MAX_AGE // 60} minutes ago). Please start again.",
        )
    if not hmac.compare_digest(str(pending["state"]), state):
        raise ApiError(400, "Sign-in could not be completed: the state did not match.")
    try:
        tokens = services().provider.exchange_code(
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
    home = _public_url("home.portal")
    try:
        return redirect(
            services().provider.end_session_url(id_token=id_token, post_logout_redirect_uri=home),
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
    client_id = services().settings.client_id
    try:
        claims = services().provider.verifier.verify_logout_token(token, client_id=client_id)
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
