"""Server-side sessions: who is signed in, with their tokens kept on the server.

The cookie holds only a signed, opaque session id (Flask-Session); the tokens, the
verified user and the CSRF token live in the store (the platform database, or Redis).
The tokens are sealed (:mod:`portal.sealing`) before they reach the store: a copy of the
database or of Redis alone holds none that Keycloak would accept.
Each request loads the identity from there, refreshing the access token shortly
before it expires so that role and group changes made in Keycloak arrive without a
new sign-in. Back-channel logout ends sessions by Keycloak session id or subject.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from flask import Request, current_app, session
from flask.ctx import _AppCtxGlobals
from sqlalchemy import delete, select

from portal.auth import revocation
from portal.auth.models import LoginRecord
from portal.auth.provider import ProviderUnavailable, SignInError, TokenSet
from portal.auth.tokens import TokenError
from portal.errors import ApiError
from portal.extensions import db
from portal.identity import User
from portal.sealing import SESSION_TOKENS, seal, unseal
from portal.services import services

__all__ = [
    "begin_session",
    "end_current_session",
    "end_sessions",
    "load_identity",
]

log = logging.getLogger(__name__)

AUTH_KEY = "auth"
#: After a failed refresh because Keycloak is unreachable, wait before trying again.
RETRY_AFTER_UNREACHABLE = 30.0


def _store_id(sid: str) -> str:
    return current_app.session_interface.key_prefix + sid


def _sealed(token: str | None) -> str | None:
    return seal(SESSION_TOKENS, token) if token else None


def _token(auth: dict[str, Any], name: str) -> str | None:
    """A token the session keeps, unsealed; None if absent or unreadable (another secret)."""
    sealed = auth.get(name)
    return unseal(SESSION_TOKENS, sealed) if sealed else None


def _save_tokens(tokens: TokenSet) -> None:
    session[AUTH_KEY] = {
        "user": tokens.user.to_dict(),
        "access_token": _sealed(tokens.access_token),
        "refresh_token": _sealed(tokens.refresh_token),
        "id_token": _sealed(tokens.id_token),
        "expires_at": tokens.expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
        "keycloak_sid": tokens.keycloak_sid,
        "retry_after": 0.0,
    }


def begin_session(tokens: TokenSet) -> None:
    """Start a signed-in session with a new id (no fixation), remembering its origin."""
    session.clear()
    session.permanent = True
    _save_tokens(tokens)
    # After the tokens are in: Flask-Session only regenerates a non-empty session.
    # (Expired rows are purged on a schedule: portal.auth.purge.)
    current_app.session_interface.regenerate(session)
    db.session.add(
        LoginRecord(
            session_id=session.sid,
            keycloak_sid=tokens.keycloak_sid,
            sub=tokens.user.sub,
            username=tokens.user.username,
        )
    )
    db.session.commit()


def end_current_session() -> str | None:
    """End this browser's session; returns its ID token for Keycloak's end-session."""
    auth = session.get(AUTH_KEY) or {}
    sid = getattr(session, "sid", None)
    session.clear()
    if sid:
        db.session.execute(delete(LoginRecord).where(LoginRecord.session_id == sid))
        db.session.commit()
    return _token(auth, "id_token")


def end_sessions(
    *,
    keycloak_sid: str | None = None,
    sub: str | None = None,
    keep_keycloak_sids: frozenset[str] | None = None,
) -> int:
    """End every portal session of a Keycloak session (or, without sid, of a user).

    With ``keep_keycloak_sids``, end the user's sessions except those whose Keycloak
    session is among them.
    """
    if keycloak_sid:
        where = LoginRecord.keycloak_sid == keycloak_sid
    elif sub and keep_keycloak_sids is not None:
        where = (LoginRecord.sub == sub) & (
            LoginRecord.keycloak_sid.is_(None) | LoginRecord.keycloak_sid.not_in(keep_keycloak_sids)
        )
    elif sub:
        where = LoginRecord.sub == sub
    else:
        return 0
    records = db.session.scalars(select(LoginRecord).where(where)).all()
    interface = current_app.session_interface
    for record in records:
        # Flask-Session offers no public "delete by id"; this is its own deletion hook.
        interface._delete_session(_store_id(record.session_id))
    db.session.execute(delete(LoginRecord).where(where))
    db.session.commit()
    return len(records)


def _refresh(auth: dict[str, Any]) -> User | None:
    """Refresh the tokens; None when Keycloak says the session is over."""
    now = time.time()
    refresh_token = _token(auth, "refresh_token")
    refresh_expires_at = auth.get("refresh_expires_at")
    if not refresh_token or (refresh_expires_at and refresh_expires_at <= now):
        return None
    try:
        tokens = services().provider.refresh(
            refresh_token=refresh_token, id_token=_token(auth, "id_token")
        )
    except ProviderUnavailable:
        # Keycloak is down: the user keeps working on the identity verified earlier.
        log.warning("token refresh deferred: Keycloak unreachable")
        auth["retry_after"] = now + RETRY_AFTER_UNREACHABLE
        session[AUTH_KEY] = auth
        return _stored_user(auth["user"])
    except SignInError as error:
        log.info("session ended: refresh refused (%s)", error)
        return None
    _save_tokens(tokens)
    return tokens.user


def _stored_user(data: dict[str, Any]) -> User:
    """The :class:`User` a session stored (its verified claims, saved at sign-in or refresh)."""
    return _user(
        data["sub"],
        data["username"],
        data.get("email"),
        data.get("name"),
        tuple(data.get("roles", ())),
        tuple(data.get("groups", ())),
    )


# Every request of a session rebuilds its user from the stored fields; a User is
# immutable and a pure function of them, so each worker builds each one once.
@functools.lru_cache(maxsize=4096)
def _user(
    sub: str,
    username: str,
    email: str | None,
    name: str | None,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
) -> User:
    return User(
        sub=sub,
        username=username,
        email=email,
        name=name,
        roles=frozenset(roles),
        groups=frozenset(groups),
    )


def _session_identity(auth: dict[str, Any] | None, leeway: float) -> User | None:
    if not auth:
        return None
    now = time.time()
    if auth["expires_at"] - leeway > now or auth.get("retry_after", 0) > now:
        return _stored_user(auth["user"])
    user = _refresh(auth)
    if user is None:
        end_current_session()
    return user


def _bearer_identity(header: str) -> User:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Authorization header must be 'Bearer <access token>'.")
    try:
        return services().provider.verify_bearer(token.strip(), not_before=revocation.not_before)
    except TokenError as error:
        raise ApiError(401, f"Bearer token refused: {error}") from error
    except ValueError as error:  # claims that cannot describe a user
        raise ApiError(401, f"Bearer token refused: {error}") from error


def load_identity(req: Request, ctx_g: _AppCtxGlobals) -> None:
    """Set ``g.user`` and ``g.auth_via`` from a bearer token (API) or the session."""
    ctx_g.user = ctx_g.auth_via = None
    # From the environ: Headers.get on a missing header raises and catches a KeyError.
    header = req.environ.get("HTTP_AUTHORIZATION")
    if header and req.path.startswith("/api/"):
        ctx_g.user = _bearer_identity(header)
        ctx_g.auth_via = "bearer"
        return
    settings = services().settings
    auth = session.get(AUTH_KEY)
    user = _session_identity(auth, settings.refresh_leeway_seconds)
    if user is not None:
        ctx_g.user = user
        ctx_g.auth_via = "session"
