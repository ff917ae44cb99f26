"""Access tokens from Keycloak: a given token, client credentials (CI) or a cached login.

The endpoints come from the realm's discovery document
(``<keycloak>/realms/<realm>/.well-known/openid-configuration``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import requests

from .config import CLI_CLIENT_ID, Config
from .errors import EXIT_NOT_SIGNED_IN, EXIT_UNREACHABLE, NOT_SIGNED_IN, CliError
from .tokens import TokenStore

__all__ = ["DeviceLogin", "Keycloak", "TokenSource"]

#: Renew an access token this long before it expires (tokens may live only 20 s in tests).
LEEWAY = 5.0
TIMEOUT = 30
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Keycloak:
    """The realm's OpenID endpoints, discovered once."""

    def __init__(self, config: Config, session: requests.Session | None = None) -> None:
        self.config = config
        self.http = session or requests.Session()
        self._metadata: dict[str, Any] | None = None

    def post(self, url: str, data: dict[str, str]) -> requests.Response:
        try:
            return self.http.post(url, data=data, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise CliError(
                f"cannot reach Keycloak at {self.config.keycloak_url}: {type(error).__name__}",
                EXIT_UNREACHABLE,
            ) from error

    def endpoint(self, name: str) -> str:
        if self._metadata is None:
            url = f"{self.config.issuer}/.well-known/openid-configuration"
            try:
                answer = self.http.get(url, timeout=TIMEOUT)
            except requests.RequestException as error:
                raise CliError(
                    f"cannot reach Keycloak at {self.config.keycloak_url} "
                    "(set DASH_PLATFORM_KEYCLOAK_URL)",
                    EXIT_UNREACHABLE,
                ) from error
            if answer.status_code != 200:
                raise CliError(
                    f"Keycloak has no realm {self.config.realm!r} ({url}: {answer.status_code})"
                )
            self._metadata = answer.json()
        value = self._metadata.get(name)
        if not isinstance(value, str):
            raise CliError(f"Keycloak announces no {name} for realm {self.config.realm!r}")
        return value

    def token(self, data: dict[str, str]) -> dict[str, Any]:
        """POST to the token endpoint; raises CliError with Keycloak's reason."""
        answer = self.post(self.endpoint("token_endpoint"), data)
        body = _json(answer)
        if answer.status_code == 200 and body.get("access_token"):
            return body
        reason = body.get("error_description") or body.get("error") or answer.status_code
        if data.get("grant_type") == "client_credentials":
            raise CliError(
                f"Keycloak refused client {data.get('client_id')}: {reason}", EXIT_NOT_SIGNED_IN
            )
        raise CliError(f"{NOT_SIGNED_IN} (Keycloak: {reason})", EXIT_NOT_SIGNED_IN)

    def client_credentials(self) -> dict[str, Any]:
        return self.token(
            {
                "grant_type": "client_credentials",
                "client_id": self.config.client_id or "",
                "client_secret": self.config.client_secret or "",
            }
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self.token(
            {
                "grant_type": "refresh_token",
                "client_id": CLI_CLIENT_ID,
                "refresh_token": refresh_token,
            }
        )

    def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token (ends that login at Keycloak); False if Keycloak said no."""
        answer = self.post(
            self.endpoint("revocation_endpoint"),
            {
                "client_id": CLI_CLIENT_ID,
                "token": refresh_token,
                "token_type_hint": "refresh_token",
            },
        )
        return answer.status_code == 200

    def start_device_login(self) -> DeviceLogin:
        """Ask for a user code (RFC 8628), bound to a PKCE verifier as dash-cli requires."""
        verifier = secrets.token_urlsafe(64)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        answer = self.post(
            self.endpoint("device_authorization_endpoint"),
            {
                "client_id": CLI_CLIENT_ID,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        body = _json(answer)
        if answer.status_code != 200 or "device_code" not in body:
            reason = body.get("error_description") or body.get("error") or answer.status_code
            raise CliError(f"Keycloak refused the device login: {reason}")
        return DeviceLogin(self, body, verifier)


class DeviceLogin:
    """A started device authorization grant (RFC 8628): show the code, then poll."""

    def __init__(self, keycloak: Keycloak, answer: dict[str, Any], verifier: str) -> None:
        self.keycloak = keycloak
        self.verifier = verifier
        self.device_code: str = answer["device_code"]
        self.user_code: str = answer.get("user_code", "")
        self.verification_uri: str = answer.get("verification_uri", "")
        self.verification_uri_complete: str = answer.get(
            "verification_uri_complete", self.verification_uri
        )
        self.interval = float(answer.get("interval") or 5)
        self.expires_at = time.monotonic() + float(answer.get("expires_in") or 600)

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        """Poll the token endpoint until the person approved (or refused, or time ran out)."""
        url = self.keycloak.endpoint("token_endpoint")
        data = {
            "grant_type": DEVICE_GRANT,
            "client_id": CLI_CLIENT_ID,
            "device_code": self.device_code,
            "code_verifier": self.verifier,
        }
        while time.monotonic() < self.expires_at:
            sleep(self.interval)
            answer = self.keycloak.post(url, data)
            body = _json(answer)
            if answer.status_code == 200 and body.get("access_token"):
                return body
            error = body.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                self.interval += 5
                continue
            if error == "access_denied":
                raise CliError("sign-in was refused in the browser", EXIT_NOT_SIGNED_IN)
            reason = body.get("error_description") or error or answer.status_code
            raise CliError(f"sign-in failed: {reason}", EXIT_NOT_SIGNED_IN)
        raise CliError("sign-in timed out: run dash-platform login again", EXIT_NOT_SIGNED_IN)


class TokenSource:
    """The bearer token for the next request, renewed when it is about to expire."""

    def __init__(self, config: Config, keycloak: Keycloak | None = None) -> None:
        self.config = config
        self.keycloak = keycloak or Keycloak(config)
        self.store = TokenStore(config.token_file)
        self._token: str | None = None
        self._expires_at = 0.0

    def get(self, *, force: bool = False) -> str | None:
        """A usable access token, or None when there is no way to get one (anonymous)."""
        mode = self.config.auth_mode
        if mode == "token":
            return self.config.token
        now = time.time()
        if not force and self._token and now < self._expires_at - LEEWAY:
            return self._token
        if mode == "client":
            answer = self.keycloak.client_credentials()
            self._token = answer["access_token"]
            self._expires_at = now + float(answer.get("expires_in") or 60)
            return self._token
        login = self.store.get(self.config.issuer)
        if login is None:
            return None
        if force or now >= float(login.get("expires_at") or 0) - LEEWAY:
            login = self._refresh(login, now)
        self._token, self._expires_at = login["access_token"], float(login["expires_at"])
        return self._token

    @property
    def renewable(self) -> bool:
        return self.config.auth_mode != "token"

    def _refresh(self, login: dict[str, Any], now: float) -> dict[str, Any]:
        refresh_token = login.get("refresh_token")
        refresh_expires = login.get("refresh_expires_at")
        if not refresh_token or (refresh_expires and now >= float(refresh_expires)):
            self.store.forget(self.config.issuer)
            raise CliError(f"{NOT_SIGNED_IN} (the login expired)", EXIT_NOT_SIGNED_IN)
        try:
            answer = self.keycloak.refresh(refresh_token)
        except CliError as error:
            if error.exit_code == EXIT_NOT_SIGNED_IN:
                self.store.forget(self.config.issuer)
            raise
        answer.setdefault("refresh_token", refresh_token)
        return self.store.save(self.config.issuer, answer, now=now)


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
