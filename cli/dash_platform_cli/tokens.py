"""The token cache: one 0600 JSON file under the user's config directory.

Logins are kept per issuer (Keycloak URL + realm), so a laptop can be signed in to a
local stack and to a shared one at the same time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["TokenStore", "jwt_claims"]


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only for showing who signed in."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class TokenStore:
    """Read and write the cached logins in ``path`` (file 0600, folder 0700)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read_all(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        logins = data.get("logins") if isinstance(data, dict) else None
        return logins if isinstance(logins, dict) else {}

    def _write_all(self, logins: dict[str, Any]) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            folder.chmod(0o700)
        if not logins:
            self.path.unlink(missing_ok=True)
            return
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=folder)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)
                json.dump({"version": 1, "logins": logins}, out, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, issuer: str) -> dict[str, Any] | None:
        login = self._read_all().get(issuer)
        return login if isinstance(login, dict) and login.get("access_token") else None

    def save(self, issuer: str, answer: dict[str, Any], *, now: float | None = None) -> dict:
        """Store a token endpoint's answer; returns the entry as stored."""
        now = time.time() if now is None else now
        entry: dict[str, Any] = {
            "access_token": answer["access_token"],
            "refresh_token": answer.get("refresh_token"),
            "expires_at": now + float(answer.get("expires_in", 60)),
            "refresh_expires_at": (
                now + float(answer["refresh_expires_in"])
                if answer.get("refresh_expires_in")
                else None
            ),
            "username": jwt_claims(answer["access_token"]).get("preferred_username"),
        }
        logins = self._read_all()
        logins[issuer] = entry
        self._write_all(logins)
        return entry

    def forget(self, issuer: str) -> dict[str, Any] | None:
        """Remove the login of ``issuer``; returns what was stored."""
        logins = self._read_all()
        entry = logins.pop(issuer, None)
        if entry is not None:
            self._write_all(logins)
        return entry
