"""The portal's HTML pages: the Portal (/), the App Manager (/manager) and Admin (/admin).

Pages read through the registry and the directory and change things through the JSON
API (fetch with ``X-CSRF-Token``) or small form posts. This module holds what every
page shares: the template context, the directory lookup and display helpers.
"""

from __future__ import annotations

import zlib
from typing import Any

from flask import flash, redirect, request

from portal.auth.redirects import safe_next
from portal.identity import current_user
from roles import AccessLevel, Action, Role, can

__all__ = [
    "ACCESS_LABELS",
    "initials",
    "placeholder_class",
    "redirect_back",
    "split_names",
    "template_context",
]

#: How access levels read on a badge, with the sentence that explains them.
ACCESS_LABELS: dict[AccessLevel, tuple[str, str]] = {
    AccessLevel.UNAUTHENTICATED: ("Unauthenticated", "Anyone, signed in or not."),
    AccessLevel.AUTHENTICATED: ("Authenticated", "Anyone who signs in."),
    AccessLevel.RESTRICTED: (
        "Restricted",
        "Only the owner, co-owners, admins and the viewers listed below.",
    ),
}

_PLACEHOLDERS = 8  # portal.css defines .ph-0 … .ph-7


def placeholder_class(slug: str) -> str:
    """A stable colour for an app without a thumbnail (CSS classes, no inline styles)."""
    return f"ph-{zlib.crc32(slug.encode()) % _PLACEHOLDERS}"


def initials(title: str) -> str:
    """One or two letters for a placeholder thumbnail: "Sales" -> "S", "Sales Report" -> "SR"."""
    words = [w for w in title.replace("-", " ").replace("_", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][0].upper()
    return (words[0][0] + words[1][0]).upper()


def split_names(text: str | None) -> list[str]:
    """Names typed into a form box, separated by commas, spaces or new lines."""
    return [p for p in (text or "").replace(",", " ").split() if p]


def redirect_back(default: str, message: str | None = None, category: str = "ok") -> Any:
    """After a form post: flash ``message`` and return to the page the form was on."""
    if message:
        flash(message, category)
    # Only local paths, by the same rule as /login?next=: a form field must not become an
    # open redirect.
    return redirect(safe_next(request.form.get("back"), default=default), code=303)


def template_context() -> dict[str, Any]:
    """What every template may use: the user and the permission check."""
    user = current_user()
    return {
        "current_user": user,
        "can": can,
        "Action": Action,
        "AccessLevel": AccessLevel,
        "ACCESS_LABELS": ACCESS_LABELS,
        "Role": Role,
        "initials": initials,
        "placeholder_class": placeholder_class,
        "nav": {
            "manager": can(user, Action.VIEW_APP_MANAGER),
            "admin": can(user, Action.VIEW_LICENSE_SEATS),
        },
    }
