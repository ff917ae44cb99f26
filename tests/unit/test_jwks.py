"""JwksCache: key filtering, caching, rotation, rate limit, failures, default fetch."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from portal.auth.jwks import (
    JwksCache,
    KeySetUnavailable,
    TokenError,
    UnknownKeyError,
    fetch_jwks,
)

URI = "http://kc.test/realms/dash/protocol/openid-connect/certs"


def cache_for(realm: Any, clock: Any = None, **options: Any) -> JwksCache:
    if clock is not None:
        options["clock"] = clock
    return JwksCache(jwks_uri=URI, fetch=realm.fetch, **options)


def same_public_key(a: Any, b: Any) -> bool:
    return a.public_numbers() == b.public_numbers()


# --- which keys are kept ------------------------------------------------------------


def test_signing_key_is_returned_as_a_public_key_object(realm):
    key = cache_for(realm).get_key("rsa-1")
    assert isinstance(key, rsa.RSAPublicKey)
    assert same_public_key(key, realm.rsa_key.public_key())


def test_keycloak_rsa_oaep_encryption_key_is_ignored(realm):
    cache = cache_for(realm)
    with pytest.raises(UnknownKeyError):
        cache.get_key("enc-1")
    assert cache.get_key("rsa-1") is not None


@pytest.mark.parametrize(
    "extra",
    [
        {"use": "enc"},
        {"alg": "RSA-OAEP"},
        {"alg": "HS256"},
        {"key_ops": ["encrypt"]},
        {"kty": "oct", "k": "c2VjcmV0"},
    ],
    ids=["use-enc", "alg-rsa-oaep", "alg-hs256", "key-ops-encrypt", "kty-oct"],
)
def test_keys_unfit_for_signatures_are_ignored(realm, make_jwk, extra):
    realm.jwks = {"keys": [make_jwk(realm.rsa_key, "k", **extra)]}
    with pytest.raises(UnknownKeyError):
        cache_for(realm).get_key("k")


def test_key_with_an_algorithm_outside_the_cache_allowlist_is_ignored(realm):
    cache = cache_for(realm, algorithms={"ES256"})
    with pytest.raises(UnknownKeyError):
        cache.get_key("rsa-1")


def test_short_rsa_keys_are_ignored(realm, make_jwk):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    realm.jwks = {"keys": [make_jwk(weak, "weak"), make_jwk(realm.rsa_key, "rsa-1")]}
    cache = cache_for(realm)
    with pytest.raises(UnknownKeyError):
        cache.get_key("weak")


def test_key_without_use_or_alg_is_kept(realm, make_jwk):
    realm.jwks = {"keys": [make_jwk(realm.rsa_key, "bare", use=None, alg=None)]}
    assert same_public_key(cache_for(realm).get_key("bare"), realm.rsa_key.public_key())


def test_private_parts_published_by_mistake_are_dropped(realm):
    jwk = json.loads(RSAAlgorithm.to_jwk(realm.rsa_key))  # includes "d", "p", "q"...
    jwk.pop("key_ops")  # PyJWT marks it "sign"; Keycloak would not
    jwk.update(kid="leaky", use="sig", alg="RS256")
    realm.jwks = {"keys": [jwk]}
    key = cache_for(realm).get_key("leaky")
    assert isinstance(key, rsa.RSAPublicKey)


def test_ec_key_is_kept_and_matched_by_algorithm(realm, make_jwk):
    realm.jwks = {"keys": [make_jwk(realm.ec_key, "ec-1")]}
    cache = cache_for(realm)
    assert isinstance(cache.get_key("ec-1", alg="ES256"), ec.EllipticCurvePublicKey)
    with pytest.raises(UnknownKeyError, match="does not fit"):
        cache.get_key("ec-1", alg="RS256")


def test_rsa_key_published_for_rs256_does_not_verify_ps256(realm):
    with pytest.raises(UnknownKeyError):
        cache_for(realm).get_key("rsa-1", alg="PS256")


def test_garbage_entries_in_the_key_list_are_skipped(realm, make_jwk):
    realm.jwks = {
        "keys": [
            "not-a-dict",
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            make_jwk(realm.rsa_key, "rsa-1"),
        ]
    }
    cache = cache_for(realm)
    assert cache.get_key("rsa-1") is not None
    with pytest.raises(UnknownKeyError):
        cache.get_key("broken")


def test_cache_refuses_symmetric_or_none_algorithms_in_its_allowlist():
    with pytest.raises(ValueError):
        JwksCache(jwks_uri=URI, algorithms={"RS256", "HS256"})
    with pytest.raises(ValueError):
        JwksCache(jwks_uri=URI, algorithms={"none"})


# --- caching, rotation, rate limit --------------------------------------------------


def test_known_kid_is_served_from_cache(realm, clock):
    cache = cache_for(realm, clock)
    for _ in range(50):
        cache.get_key("rsa-1")
    assert realm.fetches == 1


def test_rotation_new_kid_triggers_one_refetch(realm, clock, make_jwk):
    cache = cache_for(realm, clock)
    cache.get_key("rsa-1")
    clock.now += 31
    realm.jwks = {"keys": [make_jwk(realm.other_rsa_key, "rsa-2")]}
    key = cache.get_key("rsa-2")
    assert same_public_key(key, realm.other_rsa_key.public_key())
    assert realm.fetches == 2


def test_unknown_kid_after_refetch_raises_unknown_key(realm, clock):
    cache = cache_for(realm, clock)
    cache.get_key("rsa-1")
    clock.now += 31
    with pytest.raises(UnknownKeyError) as info:
        cache.get_key("nobody")
    assert realm.fetches == 2
    assert isinstance(info.value, TokenError)
    assert "nobody" not in str(info.value)


def test_many_unknown_kids_within_the_interval_cause_at_most_one_fetch(realm, clock):
    cache = cache_for(realm, clock, min_refetch_interval=30)
    cache.get_key("rsa-1")
    clock.now += 31
    for _ in range(200):
        with pytest.raises(UnknownKeyError):
            cache.get_key(uuid.uuid4().hex)
        clock.now += 0.1  # 20 s in all: still within the interval
    assert realm.fetches == 2
    clock.now += 30
    with pytest.raises(UnknownKeyError):
        cache.get_key("yet-another")
    assert realm.fetches == 3


def test_first_unknown_kid_is_rate_limited_right_after_the_initial_fetch(realm, clock):
    cache = cache_for(realm, clock)
    cache.get_key("rsa-1")
    with pytest.raises(UnknownKeyError):
        cache.get_key("new")
    assert realm.fetches == 1


def test_concurrent_unknown_kids_cause_one_fetch(realm):
    cache = cache_for(realm)
    cache.get_key("rsa-1")
    cache._attempted_at = time.monotonic() - 60  # let one refetch through
    slow_fetch = realm.fetch

    def fetch(uri: str) -> dict[str, Any]:
        time.sleep(0.05)
        return slow_fetch(uri)

    cache._fetch = fetch
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            cache.get_key(uuid.uuid4().hex)
        except UnknownKeyError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 20
    assert realm.fetches == 2


def test_old_key_set_is_refetched_after_max_age(realm, clock, make_jwk):
    cache = cache_for(realm, clock, max_age=3600)
    cache.get_key("rsa-1")
    clock.now += 3601
    realm.jwks = {"keys": [make_jwk(realm.other_rsa_key, "rsa-2")]}
    with pytest.raises(UnknownKeyError):
        cache.get_key("rsa-1")  # rotated out: no longer trusted
    assert realm.fetches == 2


# --- failures -------------------------------------------------------------------------


def test_fetch_failure_before_any_keys_raises_key_set_unavailable(realm, clock):
    def down(uri: str) -> dict[str, Any]:
        realm.fetches += 1
        raise KeySetUnavailable("could not reach the key set endpoint")

    cache = JwksCache(jwks_uri=URI, fetch=down, clock=clock)
    with pytest.raises(KeySetUnavailable):
        cache.get_key("rsa-1")
    with pytest.raises(KeySetUnavailable):
        cache.get_key("rsa-1")
    assert realm.fetches == 1  # the retry waits for the interval too


def test_unexpected_fetch_exception_becomes_key_set_unavailable(clock):
    def broken(uri: str) -> dict[str, Any]:
        raise OSError("boom")

    cache = JwksCache(jwks_uri=URI, fetch=broken, clock=clock)
    with pytest.raises(KeySetUnavailable) as info:
        cache.get_key("rsa-1")
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, [], None])
def test_malformed_key_set_raises_key_set_unavailable(clock, document):
    cache = JwksCache(jwks_uri=URI, fetch=lambda uri: document, clock=clock)
    with pytest.raises(KeySetUnavailable):
        cache.get_key("rsa-1")


def test_failed_refetch_keeps_serving_the_cached_keys(realm, clock):
    cache = cache_for(realm, clock, max_age=100)
    cache.get_key("rsa-1")
    clock.now += 101

    def down(uri: str) -> dict[str, Any]:
        realm.fetches += 1
        raise KeySetUnavailable()

    cache._fetch = down
    assert cache.get_key("rsa-1") is not None
    assert realm.fetches == 2


def test_explicit_refresh_reports_failure(realm):
    cache = cache_for(realm)
    cache.refresh()
    assert realm.fetches == 1
    cache._fetch = lambda uri: {"nope": 1}
    with pytest.raises(KeySetUnavailable):
        cache.refresh()


# --- the default fetch, against a real local HTTP server ----------------------------


@pytest.fixture
def jwks_server(realm) -> Iterator[tuple[str, dict[str, Any]]]:
    """A local HTTP server; set ``behaviour["mode"]`` to ok / error / junk."""
    behaviour: dict[str, Any] = {"mode": "ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            mode = behaviour["mode"]
            body = b"<html>oops</html>" if mode == "junk" else json.dumps(realm.jwks)
            body = body if isinstance(body, bytes) else body.encode()
            self.send_response(500 if mode == "error" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs", behaviour
    finally:
        server.shutdown()
        server.server_close()


def test_default_fetch_reads_the_key_set_over_http(jwks_server, realm):
    uri, _ = jwks_server
    cache = JwksCache(jwks_uri=uri)
    assert same_public_key(cache.get_key("rsa-1"), realm.rsa_key.public_key())


@pytest.mark.parametrize("mode", ["error", "junk"])
def test_default_fetch_bad_answers_raise_key_set_unavailable(jwks_server, mode):
    uri, behaviour = jwks_server
    behaviour["mode"] = mode
    with pytest.raises(KeySetUnavailable):
        fetch_jwks(uri)


def test_network_failure_raises_key_set_unavailable():
    with socket.socket() as sock:  # a port that was free a moment ago: refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = JwksCache(jwks_uri=f"http://127.0.0.1:{port}/certs", timeout=2)
    with pytest.raises(KeySetUnavailable):
        cache.get_key("rsa-1")
