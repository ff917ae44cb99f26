"""The identity header the platform's front door hands an app, for the app tests.

An app reads who is asking from ``Plotly-User-Data`` (set by nginx after the portal's access
decision; a client's own copy is overwritten). These tests call the app in-process, so they
send that header themselves, exactly as the front door would.
"""

from __future__ import annotations

import json
from typing import Any

from dash_appkit.identity import USER_HEADER

__all__ = ["identity_headers"]


def identity_headers(user: Any | None) -> dict[str, str]:
    """``{"Plotly-User-Data": ...}`` for ``user`` (any object with the User fields); {} if None."""
    if user is None:
        return {}
    data = {
        "username": user.username,
        "email": user.email,
        "groups": sorted(user.groups),
        "roles": sorted(user.roles),
    }
    if user.name:
        data["name"] = user.name
    return {USER_HEADER: json.dumps(data)}
