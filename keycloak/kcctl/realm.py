"""The realm Keycloak imports: the project's realm-export.json, patched for a test portal."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kcctl.distribution import REPO
from kcctl.errors import ConfigError

__all__ = ["REALM_FILE", "load_realm", "patch_realm", "write_realm"]

REALM_FILE = REPO / "realm-export.json"


def load_realm(path: Path = REALM_FILE) -> dict[str, Any]:
    """The realm export as a dict (tests patch it, then pass it to start())."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load realm file {path}: {exc}") from exc


def _spellings(url: str) -> list[str]:
    """The URL plus its localhost/127.0.0.1 twin: people type either."""
    url = url.rstrip("/")
    for a, b in (("//127.0.0.1", "//localhost"), ("//localhost", "//127.0.0.1")):
        if a in url:
            return [url, url.replace(a, b, 1)]
    return [url]


def patch_realm(
    realm: Mapping[str, Any] | Path | None = None,
    *,
    portal_url: str | None = None,
    backchannel_logout_url: str | None = None,
    access_token_lifespan: int | None = None,
) -> dict[str, Any]:
    """A copy of the realm with the `dash` client pointed at another portal.

    ``portal_url`` (e.g. ``http://127.0.0.1:18050``) replaces the redirect URIs, web origins,
    post-logout redirect URIs and back-channel logout URL of client ``dash``;
    ``backchannel_logout_url`` overrides the latter alone.
    """
    if realm is None or isinstance(realm, Path):
        data = load_realm(realm or REALM_FILE)
    else:
        data = copy.deepcopy(dict(realm))
    if access_token_lifespan is not None:
        data["accessTokenLifespan"] = int(access_token_lifespan)
    if portal_url is None and backchannel_logout_url is None:
        return data
    client = next((c for c in data.get("clients", []) if c.get("clientId") == "dash"), None)
    if client is None:
        raise ConfigError("the realm has no client 'dash' to patch")
    attributes = client.setdefault("attributes", {})
    if portal_url is not None:
        urls = _spellings(portal_url)
        client["rootUrl"] = urls[0]
        client["redirectUris"] = [f"{u}/auth/callback" for u in urls]
        client["webOrigins"] = urls
        attributes["post.logout.redirect.uris"] = "##".join(f"{u}/*" for u in urls)
        attributes["backchannel.logout.url"] = f"{urls[0]}/auth/backchannel-logout"
    if backchannel_logout_url is not None:
        attributes["backchannel.logout.url"] = backchannel_logout_url
    return data


def write_realm(home: Path, realm: Mapping[str, Any] | Path) -> str:
    """Put the realm into data/import (alone: Keycloak imports every file there)."""
    import_dir = home / "data" / "import"
    if import_dir.exists():
        shutil.rmtree(import_dir)
    import_dir.mkdir(parents=True)
    data = load_realm(realm) if isinstance(realm, Path) else dict(realm)
    (import_dir / "realm-export.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return str(data.get("realm", "dash"))
