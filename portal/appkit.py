"""What app authors import, in the spirit of dash-enterprise-auth.

    from portal import appkit

    appkit.get_username()        # "bob", inside a callback or a route
    appkit.create_logout_button()

Identity always comes from the request the guard already checked; nothing here reads
what the browser sends.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from portal.auth.csrf import csrf_token
from portal.identity import (
    User,
    current_user,
    get_groups,
    get_user_data,
    get_username,
    has_role,
)

__all__ = [
    "User",
    "create_logout_button",
    "current_user",
    "get_groups",
    "get_user_data",
    "get_username",
    "has_role",
]


def create_logout_button(*, label: str = "Sign out", **style: Any) -> html.Form:
    """A form that POSTs to /logout with the session's CSRF token.

    Call it inside a layout function (``app.layout = serve_layout``) so the token is
    the current session's.
    """
    token = csrf_token() if current_user() else ""
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=token),
            html.Button(label, type="submit", className="platform-logout-button", style=style),
        ],
        action="/logout",
        method="POST",
        style={"display": "inline"},
    )
