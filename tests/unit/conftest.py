"""Fixtures of the unit tests: the portal app and its client, and the keys and token
builders of the token-verifier tests (all made here, no network)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from portal.change_notify import stop_listeners
from tests.unit.conftest_registry import make_app

ISSUER = "http://kc.test/realms/dash"
AUDIENCE = "dash-api"
CLIENT_ID = "dash"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def public_jwk(private_key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    """The public JWK of a generated key, as Keycloak would publish it."""
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        jwk.update(alg="RS256")
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        jwk.update(alg="ES256")
    jwk.update(kid=kid, use="sig")
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


@dataclass
class Realm:
    """A fake realm: its keys, its JWKS (mutable, to rotate) and a counting fetch."""

    rsa_key: rsa.RSAPrivateKey
    other_rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    kid: str = "rsa-1"
    jwks: dict[str, Any] = field(default_factory=dict)
    fetches: int = 0

    def fetch(self, uri: str) -> dict[str, Any]:
        self.fetches += 1
        return json.loads(json.dumps(self.jwks))  # a fresh copy, as from the wire

    def access_claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": [AUDIENCE, "account"],
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "typ": "Bearer",
            "azp": CLIENT_ID,
            "preferred_username": "alice",
        }
        return _apply(claims, overrides)

    def id_claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "typ": "ID",
            "azp": CLIENT_ID,
            "nonce": "n-0S6_WzA2Mj",
            "sid": "session-1",
        }
        return _apply(claims, overrides)

    def logout_claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "user-1",
            "sid": "session-1",
            "iat": now,
            "exp": now + 300,
            "jti": f"jti-{time.monotonic_ns()}",
            "typ": "Logout",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        return _apply(claims, overrides)

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: Any = None,
        alg: str = "RS256",
        kid: str | None = "default",
        headers: dict[str, Any] | None = None,
    ) -> str:
        """A token signed by PyJWT (by default with the realm's current key)."""
        all_headers = dict(headers or {})
        if kid is not None:
            all_headers["kid"] = self.kid if kid == "default" else kid
        return jwt.encode(claims, key or self.rsa_key, algorithm=alg, headers=all_headers)

    def unsigned(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """A hand-built ``alg: none`` token (PyJWT would refuse to help)."""
        header = {"alg": "none", "typ": "JWT", "kid": kid or self.kid}
        return f"{b64json(header)}.{b64json(claims)}."

    def hs256_with_public_pem(self, claims: dict[str, Any]) -> str:
        """The key-confusion attack: HS256 keyed with the realm's RSA public key PEM."""
        pem = self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing_input = f"{b64json({'alg': 'HS256', 'kid': self.kid})}.{b64json(claims)}"
        mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"


def _apply(claims: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides replace claims; an override of ``None`` removes the claim."""
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return tuple(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def realm(rsa_keys: Any, ec_key: Any) -> Realm:
    """A realm publishing one RS256 signing key plus Keycloak's RSA-OAEP enc key."""
    realm = Realm(rsa_key=rsa_keys[0], other_rsa_key=rsa_keys[1], ec_key=ec_key)
    realm.jwks = {
        "keys": [
            public_jwk(realm.rsa_key, "rsa-1"),
            public_jwk(realm.other_rsa_key, "enc-1", use="enc", alg="RSA-OAEP"),
        ]
    }
    return realm


@pytest.fixture
def clock() -> Callable[[], float]:
    """A hand-driven monotonic clock: ``clock.now += 31`` moves time on."""

    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    return Clock()


@pytest.fixture
def make_jwk() -> Callable[..., dict[str, Any]]:
    """``make_jwk(private_key, kid, **extra)``: the public JWK of a test key."""
    return public_jwk


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The platform database of a test: "" (SQLite in the data folder), or a new database
    on the session's PostgreSQL for the tests marked :data:`ON_BOTH_ENGINES`."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield ""
        return
    yield request.getfixturevalue("postgres_url")
    stop_listeners()  # the apps' LISTEN threads, before the database goes


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Flask:
    """The portal on a fresh data folder, the demo apps registered (a test module may
    define its own ``app`` for other settings)."""
    return make_app(tmp_path, database_url=database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app's test client: ``client.get(path, user="alice")`` signs alice in."""
    return app.test_client()
