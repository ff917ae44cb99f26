"""Verification of the tokens Keycloak issues: access, ID and back-channel logout.

Nothing a token says is trusted before its signature checks out against the realm's
JWKS. The unverified header only picks the key (``kid``) and must name an algorithm
from a fixed asymmetric allowlist *before* anything is verified: that shuts out
``alg: none`` and HS256 keyed with the RSA public key. PyJWT then checks signature,
issuer, audience and times; this module adds Keycloak's ``typ`` claim (an ID token is
no bearer token), ``azp``, ``nonce`` and the Back-Channel Logout 1.0 rules with a
``jti`` replay check. Every failure is a :class:`TokenError`, its message safe to show.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import jwt
from jwt import exceptions as jwt_errors

from portal.auth import token_errors as errors
from portal.auth.jwks import (
    SIGNING_ALGORITHMS,
    JwksCache,
    KeySetUnavailable,
    TokenError,
    UnknownKeyError,
)

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "JtiStore",
    "KeySetUnavailable",
    "MemoryJtiStore",
    "TokenError",
    "TokenVerifier",
    "UnknownKeyError",
]

#: The member of ``events`` that makes a JWT a logout token (OIDC Back-Channel Logout
#: 1.0 §2.4). It is a claim *name* defined by the spec, never fetched.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

#: Tokens longer than this are refused before any parsing (Keycloak's are a few KiB).
MAX_TOKEN_LENGTH = 64 * 1024


@runtime_checkable
class JtiStore(Protocol):
    """Remembers token ids until they expire, to refuse replays.

    ``add_if_new`` must be atomic: True if ``jti`` was not seen (and is now recorded
    until ``expires_at``, a Unix time), False if it was.
    """

    def add_if_new(self, jti: str, expires_at: float) -> bool: ...


class MemoryJtiStore:
    """In-process :class:`JtiStore`: thread-safe, forgets entries once expired.

    Good for tests and a single process; several workers need a shared store.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, purge_every: float = 60.0
    ) -> None:
        self._clock = clock
        self._purge_every = purge_every
        self._entries: dict[str, float] = {}
        self._next_purge = 0.0
        self._lock = threading.Lock()

    def add_if_new(self, jti: str, expires_at: float) -> bool:
        with self._lock:
            now = self._clock()
            if now >= self._next_purge:
                self._entries = {k: v for k, v in self._entries.items() if v > now}
                self._next_purge = now + self._purge_every
            seen = self._entries.get(jti)
            if seen is not None and seen > now:
                return False
            self._entries[jti] = expires_at
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


#: PyJWT's exceptions, most specific first, as ours with fixed, safe messages.
_TRANSLATIONS: tuple[tuple[type[jwt_errors.PyJWTError], Callable[[Any], TokenError]], ...] = (
    (jwt_errors.ExpiredSignatureError, lambda e: errors.TokenExpired()),
    (jwt_errors.ImmatureSignatureError, lambda e: errors.TokenNotYetValid()),
    (jwt_errors.InvalidAudienceError, lambda e: errors.InvalidAudience()),
    (jwt_errors.InvalidIssuerError, lambda e: errors.InvalidIssuer()),
    (jwt_errors.MissingRequiredClaimError, lambda e: errors.MissingClaim(e.claim)),
    (jwt_errors.InvalidSignatureError, lambda e: errors.InvalidSignature()),
    (jwt_errors.InvalidAlgorithmError, lambda e: errors.DisallowedAlgorithm()),
    (jwt_errors.InvalidIssuedAtError, lambda e: errors.InvalidClaim("iat")),
    (jwt_errors.InvalidSubjectError, lambda e: errors.InvalidClaim("sub")),
    (jwt_errors.InvalidJTIError, lambda e: errors.InvalidClaim("jti")),
    (jwt_errors.InvalidKeyError, lambda e: errors.InvalidSignature("signing key unusable")),
)


def _translate(exc: jwt.PyJWTError) -> TokenError:
    """PyJWT's exception as ours (PyJWT's messages may echo token contents)."""
    for pyjwt_class, make in _TRANSLATIONS:
        if isinstance(exc, pyjwt_class):
            return make(exc)
    return errors.MalformedToken()


def _require_str(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise errors.MissingClaim(name)
    if not isinstance(value, str) or not value:
        raise errors.InvalidClaim(name)
    return value


class TokenVerifier:
    """Verifies Keycloak's tokens for one realm (``issuer``) and one API ``audience``.

    ``algorithms`` is the allowlist of asymmetric algorithms (RS256 is Keycloak's
    default); ``leeway`` is the clock skew in seconds tolerated on exp/iat/nbf.
    ``jti_store`` remembers logout-token ids; it defaults to a fresh
    :class:`MemoryJtiStore`. A logout token without ``exp`` is accepted for
    ``logout_token_max_age`` seconds after its ``iat``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: JwksCache,
        algorithms: Sequence[str] = ("RS256",),
        leeway: int = 30,
        jti_store: JtiStore | None = None,
        logout_token_max_age: int = 300,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer is required")
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience is required")
        if isinstance(algorithms, str) or not algorithms:
            raise ValueError("algorithms must be a non-empty sequence of names")
        refused = [a for a in algorithms if a not in SIGNING_ALGORITHMS]
        if refused:
            raise ValueError(f"algorithms not allowed (asymmetric only): {refused}")
        if leeway < 0 or logout_token_max_age <= 0:
            raise ValueError("leeway must be >= 0 and logout_token_max_age > 0")
        self.issuer = issuer
        self.audience = audience
        self._keys = keys
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway
        self._jti_store: JtiStore = jti_store if jti_store is not None else MemoryJtiStore()
        self._logout_max_age = logout_token_max_age

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Claims of a bearer access token for ``audience``; raises TokenError."""
        header, claims = self._decode(token, audience=self.audience, require=("exp", "iat", "sub"))
        _refuse_logout_header(header)
        _check_typ(claims, ("Bearer",))
        _require_str(claims, "sub")
        return claims

    def verify_id_token(self, token: str, *, nonce: str, client_id: str) -> dict[str, Any]:
        """Claims of the ID token from the code flow, bound to this sign-in's ``nonce``."""
        if not isinstance(nonce, str) or not nonce:
            raise errors.InvalidNonce("no nonce was expected for this sign-in")
        header, claims = self._decode(token, audience=client_id, require=("exp", "iat", "sub"))
        _refuse_logout_header(header)
        _check_typ(claims, ("ID",))
        aud = claims["aud"]
        azp = claims.get("azp")
        if azp is None and not isinstance(aud, str) and len(aud) > 1:
            raise errors.InvalidAuthorizedParty("token has several audiences but no azp")
        if azp is not None and azp != client_id:
            raise errors.InvalidAuthorizedParty()
        got = claims.get("nonce")
        if not isinstance(got, str) or not got:
            raise errors.InvalidNonce("token has no nonce")
        if not hmac.compare_digest(got.encode(), nonce.encode()):
            raise errors.InvalidNonce()
        _require_str(claims, "sub")
        return claims

    def verify_logout_token(self, token: str, *, client_id: str) -> dict[str, Any]:
        """Claims of a Back-Channel Logout token (OIDC BCL 1.0 §2.6); each used once."""
        _header, claims = self._decode(token, audience=client_id, require=("iat", "jti"))
        _check_typ(claims, ("Logout", "logout+jwt"))
        if "nonce" in claims:
            raise errors.InvalidLogoutToken("logout token must not carry a nonce")
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
            raise errors.InvalidLogoutToken("logout token lacks the back-channel logout event")
        if not isinstance(events[BACKCHANNEL_LOGOUT_EVENT], dict):
            raise errors.InvalidLogoutToken("back-channel logout event is not an object")
        if claims.get("sub") is None and claims.get("sid") is None:
            raise errors.InvalidLogoutToken("logout token names neither sub nor sid")
        for name in ("sub", "sid"):
            if name in claims:
                _require_str(claims, name)
        jti = _require_str(claims, "jti")
        if "exp" in claims:
            expires_at = float(claims["exp"])
        else:
            expires_at = float(claims["iat"]) + self._logout_max_age
            if expires_at + self._leeway <= time.time():
                raise errors.TokenExpired()
        if not self._jti_store.add_if_new(jti, expires_at + self._leeway):
            raise errors.ReplayedToken()
        return claims

    def _decode(
        self, token: str, *, audience: str, require: Iterable[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Verify signature, alg, iss, aud and times; return (header, claims)."""
        if not isinstance(audience, str) or not audience:
            raise ValueError("an audience (client id) is required")
        if not isinstance(token, str) or not token:
            raise errors.MalformedToken("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise errors.MalformedToken("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise errors.MalformedToken() from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise errors.DisallowedAlgorithm()
        if "crit" in header:
            raise errors.MalformedToken("token has unsupported critical header parameters")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise errors.MalformedToken("token has no key id")
        key = self._keys.get_key(kid, alg=alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                leeway=self._leeway,
                # Every PyJWT check is on by default; these add to them.
                options={
                    "require": ["iss", "aud", *require],
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise _translate(exc) from exc
        if claims.get("iss") != self.issuer:  # PyJWT checks it too; be explicit
            raise errors.InvalidIssuer()
        for name in ("exp", "iat", "nbf"):  # NumericDate: PyJWT also takes "123"
            if name in claims and type(claims[name]) not in (int, float):
                raise errors.InvalidClaim(name)
        return header, claims


def _check_typ(claims: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Keycloak's ``typ`` claim (Bearer, ID, Refresh, Logout), checked when present."""
    if "typ" in claims and claims["typ"] not in allowed:
        raise errors.InvalidTokenType()


def _refuse_logout_header(header: dict[str, Any]) -> None:
    """A ``logout+jwt`` typed JWT is never an access or ID token (BCL 1.0 §2.4)."""
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in ("logout+jwt", "application/logout+jwt"):
        raise errors.InvalidTokenType()
