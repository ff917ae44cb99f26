"""View decorators: who may reach a page or an API route.

Anonymous callers get 401 (JSON for /api and Dash internals, a redirect to /login for
pages); signed-in callers without the permission get 403. Every check is
``roles.can`` on the verified identity.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

from flask import redirect, request

from portal.errors import ApiError, wants_json
from portal.identity import current_user
from roles import Action, can

__all__ = ["anonymous_answer", "login_required", "requires"]

F = TypeVar("F", bound=Callable[..., Any])


def anonymous_answer() -> Any:
    """The answer to a request that needs an identity and has none."""
    if wants_json():
        raise ApiError(401, "Sign-in required.", login_url="/login")
    target = request.full_path if request.query_string else request.path
    return redirect("/login?next=" + quote(target, safe="/"), code=302)


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return anonymous_answer()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def requires(action: Action) -> Callable[[F], F]:
    """Require a platform-wide permission (per-app checks call ``roles.can`` with the app)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return anonymous_answer()
            if not can(user, action):
                raise ApiError(403, f"Your roles do not allow this ({action.value}).")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
