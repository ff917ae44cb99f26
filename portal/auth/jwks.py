"""The realm's signing keys (JWKS), fetched once and cached.

Every token Keycloak issues is verified against a public key from the realm's JWKS.
:class:`JwksCache` keeps those keys in memory so the hot path never touches the
network; it refetches only when the set is older than ``max_age`` or a token names a
key id we do not know (Keycloak rotated its keys), and never more often than once per
``min_refetch_interval``, so a stream of tokens with random key ids cannot make us
hammer Keycloak. Only asymmetric signing keys are kept: Keycloak also publishes an
RSA-OAEP encryption key, and that must never verify a signature.

No Flask here: the module is usable from any process (workers, CLI, tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "SIGNING_ALGORITHMS",
    "JwksCache",
    "KeySetUnavailable",
    "TokenError",
    "UnknownKeyError",
    "fetch_jwks",
]

log = logging.getLogger(__name__)

#: Asymmetric JWS algorithms we are willing to verify, with the key each one needs.
#: HS* (shared secret) and ``none`` are absent on purpose.
_ALGORITHM_KEYS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
SIGNING_ALGORITHMS: frozenset[str] = frozenset(_ALGORITHM_KEYS)

_MIN_RSA_BITS = 2048
_DEFAULT_TIMEOUT = 5.0


class TokenError(Exception):
    """A token was refused. The message is safe to show: it never quotes the token."""

    default_message = "invalid token"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class UnknownKeyError(TokenError):
    """The token names a key id the realm does not publish (even after a refetch)."""

    default_message = "signing key not found"


class KeySetUnavailable(TokenError):
    """The realm's key set could not be fetched or read (Keycloak down or misbehaving).

    It is a :class:`TokenError` so a catch-all refuses the token (fail closed); callers
    that want to answer 503 instead of 401 can catch it first.
    """

    default_message = "signing keys are unavailable"


@dataclass(frozen=True, slots=True)
class _Key:
    kty: str
    crv: str | None
    alg: str | None
    key: Any  # a cryptography public key object


@dataclass(frozen=True, slots=True)
class _KeySet:
    keys: Mapping[str, tuple[_Key, ...]]
    fetched_at: float


def _key_fits(kty: str, crv: str | None, key_alg: str | None, alg: str) -> bool:
    """Whether a key of this type/curve (published for ``key_alg``) may verify ``alg``."""
    wanted = _ALGORITHM_KEYS.get(alg)
    if wanted is None or (key_alg is not None and key_alg != alg):
        return False
    wanted_kty, wanted_crv = wanted
    return kty == wanted_kty and (wanted_crv is None or crv == wanted_crv)


def fetch_jwks(jwks_uri: str, *, timeout: float = _DEFAULT_TIMEOUT) -> dict[str, Any]:
    """GET the JWKS document; any network, HTTP or JSON failure is KeySetUnavailable."""
    import requests  # imported here so the module loads without it (tests inject fetch)

    try:
        response = requests.get(jwks_uri, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise KeySetUnavailable("could not reach the key set endpoint") from exc
    if response.status_code != 200:
        raise KeySetUnavailable(f"key set endpoint answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError as exc:
        raise KeySetUnavailable("key set endpoint did not return JSON") from exc
    if not isinstance(document, dict):
        raise KeySetUnavailable("key set is not a JSON object")
    return document


def _parse_key(jwk: Any, algorithms: Collection[str]) -> tuple[str, _Key] | None:
    """One usable signing key from a JWK dict, or None if it must be ignored."""
    if not isinstance(jwk, dict):
        return None
    kid, kty, use, alg = jwk.get("kid"), jwk.get("kty"), jwk.get("use"), jwk.get("alg")
    crv = jwk.get("crv")
    key_ops = jwk.get("key_ops")
    if not isinstance(kid, str) or not kid or kty not in ("RSA", "EC"):
        return None
    if use is not None and use != "sig":  # e.g. Keycloak's RSA-OAEP "enc" key
        return None
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if alg is not None and alg not in algorithms:
        return None
    if crv is not None and not isinstance(crv, str):
        return None
    if not any(_key_fits(kty, crv, alg, a) for a in algorithms):
        return None
    try:
        key = jwt.PyJWK(jwk).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        log.warning("ignoring a JWKS key that could not be parsed")
        return None
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        key = key.public_key()  # a JWKS must not hold private parts; never keep them
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        log.warning("ignoring a JWKS RSA key shorter than %d bits", _MIN_RSA_BITS)
        return None
    return kid, _Key(kty=kty, crv=crv, alg=alg, key=key)


def _parse_jwks(document: Any, algorithms: Collection[str]) -> dict[str, tuple[_Key, ...]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetUnavailable("key set is malformed")
    keys: dict[str, tuple[_Key, ...]] = {}
    for jwk in document["keys"]:
        parsed = _parse_key(jwk, algorithms)
        if parsed is not None:
            kid, key = parsed
            keys[kid] = (*keys.get(kid, ()), key)
    if not keys:
        log.warning("the key set holds no usable signing key")
    return keys


class JwksCache:
    """Thread-safe cache of a realm's public signing keys, keyed by ``kid``.

    ``fetch(jwks_uri)`` returns the JWKS document (default: :func:`fetch_jwks`);
    inject one in tests. ``clock`` must be monotonic. When a refetch fails but keys
    were fetched before, the old keys keep serving (Keycloak blips must not log
    everyone out) and the refetch is retried after ``min_refetch_interval``.
    """

    def __init__(
        self,
        *,
        jwks_uri: str,
        fetch: Callable[[str], dict[str, Any]] | None = None,
        min_refetch_interval: float = 30.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        algorithms: Collection[str] = SIGNING_ALGORITHMS,
        timeout: float = _DEFAULT_TIMEOUT,
    ) -> None:
        if not jwks_uri:
            raise ValueError("jwks_uri is required")
        unsupported = set(algorithms) - SIGNING_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(f"unsupported signing algorithms: {sorted(unsupported)}")
        if min_refetch_interval < 0 or max_age <= 0:
            raise ValueError("min_refetch_interval must be >= 0 and max_age > 0")
        self.jwks_uri = jwks_uri
        self._fetch = fetch or (lambda uri: fetch_jwks(uri, timeout=timeout))
        self._min_refetch_interval = float(min_refetch_interval)
        self._max_age = float(max_age)
        self._clock = clock
        self._algorithms = frozenset(algorithms)
        self._lock = threading.Lock()
        self._state: _KeySet | None = None
        self._attempted_at: float | None = None

    def get_key(self, kid: str, *, alg: str | None = None) -> Any:
        """The public key for ``kid`` (fit for ``alg`` when given).

        Raises :class:`UnknownKeyError` if the realm does not publish it, and
        :class:`KeySetUnavailable` if no key set could ever be fetched.
        """
        if not isinstance(kid, str) or not kid:
            raise UnknownKeyError("token has no key id")
        state = self._state  # one atomic read: the hot path takes no lock
        if state is not None:
            if not self._is_stale(state):
                entries = state.keys.get(kid)
                if entries is not None:
                    return _pick(entries, alg)
            elif kid in state.keys:
                # Known key, stale set: refresh if nobody else is, never wait for it.
                if self._lock.acquire(blocking=False):
                    try:
                        if self._state is state and self._may_fetch():
                            self._refetch_locked()
                    finally:
                        self._lock.release()
                return _pick(self._lookup(self._state, kid), alg)
        with self._lock:
            current = self._state
            if current is not state and current is not None and kid in current.keys:
                return _pick(current.keys[kid], alg)  # another thread just refetched
            if self._may_fetch():
                current = self._refetch_locked()
            elif current is None:
                raise KeySetUnavailable()
        return _pick(self._lookup(current, kid), alg)

    def refresh(self) -> None:
        """Fetch the key set now (e.g. at start-up), ignoring the rate limit."""
        with self._lock:
            self._refetch_locked(keep_stale=False)

    def _is_stale(self, state: _KeySet) -> bool:
        return self._clock() - state.fetched_at > self._max_age

    def _may_fetch(self) -> bool:
        last = self._attempted_at
        return last is None or self._clock() - last >= self._min_refetch_interval

    def _refetch_locked(self, *, keep_stale: bool = True) -> _KeySet:
        self._attempted_at = self._clock()
        try:
            keys = _parse_jwks(self._fetch(self.jwks_uri), self._algorithms)
        except Exception as exc:
            if keep_stale and self._state is not None:
                log.warning("JWKS refetch failed; keeping the cached keys: %s", exc)
                return self._state
            if isinstance(exc, KeySetUnavailable):
                raise
            raise KeySetUnavailable("could not fetch the key set") from exc
        self._state = _KeySet(keys=keys, fetched_at=self._clock())
        log.info("fetched %d signing key(s) from the realm's JWKS", len(keys))
        return self._state

    @staticmethod
    def _lookup(state: _KeySet | None, kid: str) -> tuple[_Key, ...]:
        entries = state.keys.get(kid) if state is not None else None
        if not entries:
            raise UnknownKeyError()
        return entries


def _pick(entries: tuple[_Key, ...], alg: str | None) -> Any:
    for entry in entries:
        if alg is None or _key_fits(entry.kty, entry.crv, entry.alg, alg):
            return entry.key
    raise UnknownKeyError("signing key does not fit the token's algorithm")
