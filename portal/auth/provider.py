"""Keycloak as the portal sees it: the code flow, refresh, end-session and token checks.

Authlib speaks OAuth (authorization URL with PKCE S256, state and nonce; the token
requests); our own verifier checks every token it returns (RS256 pinned, iss, aud,
exp, iat, nonce, azp). Framework-free apart from Authlib's client object.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError

from portal.auth.jwks import JwksCache
from portal.auth.reachability import Reachability
from portal.auth.replay import DatabaseJtiStore
from portal.auth.token_errors import TokenRevoked
from portal.auth.tokens import TokenError, TokenVerifier
from portal.identity import (
    ClaimsError,
    User,
    authenticated_at,
    is_service_account,
    service_account_name,
    user_from_claims,
)
from portal.settings import Settings

__all__ = [
    "AuthorizationRequest",
    "Provider",
    "ProviderUnavailable",
    "SignInError",
    "TokenSet",
]


class ProviderUnavailable(Exception):
    """Keycloak could not be reached (network error, timeout, 5xx)."""


class SignInError(Exception):
    """Keycloak answered, but the sign-in or refresh was refused or is invalid."""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str
    nonce: str


@dataclass(frozen=True, slots=True)
class TokenSet:
    """Tokens from Keycloak, after verification, and the user they describe."""

    user: User
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: float
    refresh_expires_at: float | None
    keycloak_sid: str | None
    #: When the user entered their password (``auth_time``): refreshes keep it.
    authenticated_at: float = 0.0


class Provider:
    """One realm's OpenID provider, reached through an Authlib client."""

    def __init__(
        self,
        *,
        settings: Settings,
        client: Any,
        verifier: TokenVerifier,
        reachability: Reachability | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.verifier = verifier
        self.reachability = reachability

    @classmethod
    def from_settings(cls, settings: Settings, *, oauth: Any) -> Provider:
        internal = settings.internal_issuer
        discovery_url = f"{internal}/.well-known/openid-configuration"
        client = oauth.register(
            name="keycloak",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=discovery_url,
            client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
            overwrite=True,
        )
        keys = JwksCache(jwks_uri=f"{internal}/protocol/openid-connect/certs")
        verifier = TokenVerifier(
            issuer=settings.issuer,
            audience=settings.audience,
            keys=keys,
            jti_store=DatabaseJtiStore(),
        )
        return cls(
            settings=settings,
            client=client,
            verifier=verifier,
            reachability=Reachability(discovery_url),
        )

    def metadata(self) -> dict[str, Any]:
        try:
            return self.client.load_server_metadata()
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable("Keycloak's discovery document is unreachable") from error

    def authorization_request(
        self, *, redirect_uri: str, reauthenticate: bool = False
    ) -> AuthorizationRequest:
        """The URL to send the browser to, and the secrets to keep for the callback.

        Only while Keycloak answers: the discovery document Authlib keeps says nothing
        about whether the browser will find Keycloak there now. ``reauthenticate`` asks
        Keycloak for the password even when its own session is still alive
        (``prompt=login``): after the platform revoked that session's sign-in.
        """
        problem = self.reachability.problem() if self.reachability else None
        if problem:
            raise ProviderUnavailable(f"Keycloak is unreachable: {problem}")
        self.metadata()
        extra = {"prompt": "login"} if reauthenticate else {}
        found = self.client.create_authorization_url(redirect_uri, **extra)
        return AuthorizationRequest(
            url=found["url"],
            state=found["state"],
            code_verifier=found["code_verifier"],
            nonce=found["nonce"],
        )

    def _token_request(self, **params: Any) -> dict[str, Any]:
        self.metadata()
        try:
            return dict(self.client.fetch_access_token(timeout=10, **params))
        except AuthlibBaseError as error:
            raise SignInError(getattr(error, "description", None) or str(error)) from error
        except requests.RequestException as error:
            raise ProviderUnavailable("Keycloak's token endpoint is unreachable") from error

    def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> TokenSet:
        """Trade the authorization code for tokens and verify them all."""
        tokens = self._token_request(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        id_token = tokens.get("id_token")
        if not id_token:
            raise SignInError("Keycloak returned no ID token")
        try:
            id_claims = self.verifier.verify_id_token(
                id_token, nonce=nonce, client_id=self.settings.client_id
            )
        except TokenError as error:
            raise SignInError(f"ID token refused: {error}") from error
        token_set = self._token_set(tokens, id_token=id_token)
        if token_set.user.sub != id_claims.get("sub"):
            raise SignInError("ID token and access token name different users")
        return token_set

    def refresh(self, *, refresh_token: str, id_token: str | None) -> TokenSet:
        """New tokens for a running session; raises SignInError when Keycloak ended it."""
        tokens = self._token_request(grant_type="refresh_token", refresh_token=refresh_token)
        return self._token_set(tokens, id_token=tokens.get("id_token") or id_token)

    def verify_bearer(
        self, token: str, *, not_before: Callable[[str], float | None] | None = None
    ) -> User:
        """The user of an ``Authorization: Bearer`` access token (audience ``dash``).

        A service account is a user only for the clients the platform maps on purpose
        (``Settings.service_account_clients``). ``not_before(sub)`` gives the time before
        which the user's sign-ins were revoked.
        """
        claims = self.verifier.verify_access_token(token)
        user = user_from_claims(claims, client_id=self.settings.client_id)
        if is_service_account(user.username) and (
            user.username
            not in {service_account_name(c) for c in self.settings.service_account_clients}
            or claims.get("azp") not in self.settings.service_account_clients
        ):
            raise ClaimsError("service accounts are not portal users")
        revoked = not_before(user.sub) if not_before else None
        if revoked is not None and authenticated_at(claims) < revoked:
            raise TokenRevoked()
        return user

    def _token_set(self, tokens: dict[str, Any], *, id_token: str | None) -> TokenSet:
        access_token = tokens.get("access_token")
        if not access_token:
            raise SignInError("Keycloak returned no access token")
        try:
            claims = self.verifier.verify_access_token(access_token)
            user = user_from_claims(claims, client_id=self.settings.client_id)
        except (TokenError, ClaimsError) as error:
            raise SignInError(f"access token refused: {error}") from error
        expires_at = float(claims["exp"])
        refresh_in = tokens.get("refresh_expires_in")
        return TokenSet(
            user=user,
            access_token=access_token,
            refresh_token=tokens.get("refresh_token"),
            id_token=id_token,
            expires_at=expires_at,
            refresh_expires_at=time.time() + float(refresh_in) if refresh_in else None,
            keycloak_sid=claims.get("sid"),
            authenticated_at=authenticated_at(claims),
        )

    def end_session_url(self, *, id_token: str | None, post_logout_redirect_uri: str) -> str:
        """Keycloak's end-session URL, so signing out ends the Keycloak session too."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            raise ProviderUnavailable("Keycloak announces no end-session endpoint")
        params = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        if id_token:
            params["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(params)}"
