"""What runs inside an app on the Dash platform, in the spirit of dash-enterprise-auth.

    import dash_appkit

    dash_appkit.get_username()      # "bob", inside a callback or a route
    dash_appkit.logout_link()       # a "Sign out" link to the portal

Identity comes from the header the platform's front door sets after its access decision
(:mod:`dash_appkit.identity`). Row-level security is :mod:`dash_appkit.rls`, the gunicorn
entry point :mod:`dash_appkit.serve`, audit events :mod:`dash_appkit.platform`, and who may
do what the platform's own permission table, ``roles.py``, shipped as
:mod:`dash_appkit.roles`. Nothing here imports the portal: an app runs in its own
environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash_appkit.identity import (
    User,
    current_user,
    get_groups,
    get_user_data,
    get_username,
    has_role,
)

if TYPE_CHECKING:
    from dash import html

__all__ = [
    "LOGOUT_PATH",
    "User",
    "current_user",
    "get_groups",
    "get_user_data",
    "get_username",
    "has_role",
    "logout_link",
]

__version__ = "0.1.0"

#: The portal's sign-out page (GET shows a confirmation, which signs out with a POST).
LOGOUT_PATH = "/logout"


def logout_link(label: str = "Sign out", **style: Any) -> html.A:
    """A link to the portal's sign-out page; ``style`` is applied to the link."""
    from dash import html  # lazily: the library itself does not need Dash

    return html.A(label, href=LOGOUT_PATH, className="platform-logout-link", style=style)
